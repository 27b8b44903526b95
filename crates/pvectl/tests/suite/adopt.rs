//! End to end: `export --adopt` and `apply` of guests that exist before their manifest, and
//! placement of manifests without a node.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, json_of};
use pve_testkit::VmSeed;

fn hand_made(vmid: u32, name: &str) -> VmSeed {
    VmSeed::new(vmid, name)
        .running()
        .config("cores", 2)
        .config("memory", 1024)
        .config("scsi0", "local-lvm:vm-disk-0,size=8G")
        .config("net0", "virtio=BC:24:11:00:00:71,bridge=vmbr0")
        .config("tags", "env.lab")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_adopt_then_apply_changes_only_the_owner_tags() {
    let env = Env::new().await;
    env.pve.add_vm(hand_made(171, "legacy")).await;
    let before = env.pve.guest(171).await.unwrap();
    let r = env
        .run(&["export", "vm", "171", "--adopt", "-o", "json"])
        .expect(0);
    let doc = json_of(&r.stdout);
    assert_eq!(doc["spec"]["adopt"], serde_json::json!({}));
    assert!(doc["metadata"].get("uid").is_none(), "{}", r.stdout);
    std::fs::write(env.path("legacy.json"), &r.stdout).unwrap();
    let path = env.path("legacy.json").display().to_string();

    // No --adopt flag needed: the manifest says so. The plan shows the one change.
    let r = env.run(&["diff", "-f", &path]).expect(1);
    assert!(r.stdout.contains("kubepve-owner-pvectl-"), "{}", r.stdout);
    env.pve.clear_requests().await;
    let r = env.run(&["apply", "-f", &path]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let writes = env.writes().await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(
        writes[0].starts_with("PUT /api2/json/nodes/pve1/qemu/171/config"),
        "{writes:#?}"
    );
    let after = env.pve.guest(171).await.unwrap();
    for key in ["cores", "memory", "scsi0", "net0", "name"] {
        assert_eq!(after["config"][key], before["config"][key], "{key} changed");
    }
    assert_eq!(after["status"], "running");
    env.run(&["diff", "-f", &path]).expect(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_adopt_refuses_a_guest_the_operator_owns() {
    let env = Env::new().await;
    env.pve
        .add_vm(hand_made(172, "owned").config("tags", "kubepve;kubepve-owner-0a1b2c3d"))
        .await;
    let r = env.run(&["export", "vm", "172", "--adopt"]).expect(2);
    assert!(r.stderr.contains("0a1b2c3d"), "{}", r.stderr);
    assert!(r.stderr.contains("Orphan"), "{}", r.stderr);
    // Without --adopt the manifest keeps the operator's UID, so applying it is no conflict.
    let r = env.run(&["export", "vm", "172"]).expect(0);
    assert!(r.stdout.contains("uid: 0a1b2c3d"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_without_a_node_goes_to_the_node_with_most_free_memory() {
    let env = Env::new().await;
    env.pve.add_node("pve2", true).await;
    env.pve.node_memory("pve1", 8 << 30, 7 << 30).await;
    env.pve.node_memory("pve2", 8 << 30, 1 << 30).await;
    let manifest = r#"
apiVersion: kubepve.io/v1alpha1
kind: ProxmoxVM
metadata: {name: floating, namespace: default}
spec:
  connectionRef: {name: lab}
  vmid: 180
  memory: 2Gi
  source: {blank: {}}
  runStrategy: Halted
"#;
    std::fs::write(env.path("floating.yaml"), manifest).unwrap();
    let path = env.path("floating.yaml").display().to_string();
    let r = env.run(&["apply", "-f", &path]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(env.pve.guest(180).await.unwrap()["node"], "pve2");

    // Nothing fits 64 GiB: a clear error, and nothing created.
    let big = manifest
        .replace("floating", "huge")
        .replace("vmid: 180", "vmid: 181")
        .replace("2Gi", "64Gi");
    std::fs::write(env.path("huge.yaml"), big).unwrap();
    let path = env.path("huge.yaml").display().to_string();
    let r = env.run(&["apply", "-f", &path]).expect(1);
    assert!(r.stderr.contains("unschedulable"), "{}", r.stderr);
    assert!(r.stderr.contains("pve2 has 7168 MiB free"), "{}", r.stderr);
    assert!(env.pve.guest(181).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_keeps_a_nic_written_without_a_mac() {
    let env = Env::new().await;
    env.pve
        .add_vm(hand_made(193, "two-nics").config("net1", "virtio,bridge=vmbr9"))
        .await;
    let r = env
        .run(&["export", "vm", "193", "--adopt", "-o", "json"])
        .expect(0);
    let doc = json_of(&r.stdout);
    let nets = doc["spec"]["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2, "{}", r.stdout);
    let net1 = nets.iter().find(|n| n["slot"] == "net1").unwrap();
    assert_eq!(net1["bridge"], "vmbr9", "{net1}");
    assert_eq!(net1["model"], "virtio", "{net1}");
    assert!(net1.get("mac").is_none(), "{net1}");
    // The manifest applies unchanged: the NIC is the one the guest has.
    std::fs::write(env.path("two.json"), &r.stdout).unwrap();
    let path = env.path("two.json").display().to_string();
    env.run(&["apply", "-f", &path]).expect(0);
    let after = env.pve.guest(193).await.unwrap();
    assert!(
        after["config"]["net1"]
            .as_str()
            .unwrap()
            .contains("bridge=vmbr9"),
        "{after:#}"
    );
}
