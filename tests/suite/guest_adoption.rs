//! Guest reconcile scenarios about guests that exist before their object: explicit adoption
//! (`spec.adopt`) with its approval gate, ObserveOnly, conflicts with another owner, and the
//! `pvectl export --adopt` round trip that must not change the guest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kubepve_api::ProxmoxVM;
use pve_testkit::VmSeed;
use serde_json::{Value, json};
use support::guest::{Env, condition, condition_message, gone, ready_now, stalled, tags, vm};

/// A running VM 310-style guest made by hand: 2 cores, 2 GiB, one disk, one NIC, tag `prod`.
fn legacy(vmid: u32, name: &str) -> VmSeed {
    VmSeed::new(vmid, name)
        .running()
        .config("cores", 2)
        .config("memory", 2048)
        .config("scsi0", "local-lvm:vm-disk-0,size=16G")
        .config("net0", "virtio=BC:24:11:AA:BB:01,bridge=vmbr0")
        .config("tags", "prod")
}

/// A ProxmoxVM for the existing guest `vmid` with `spec` merged in.
fn existing(name: &str, vmid: u32, spec: Value) -> Value {
    let mut full =
        json!({"vmid": vmid, "source": {"blank": {}}, "tags": ["prod"], "memory": "2Gi"});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    vm(name, full)
}

fn reason(object: &Value, type_: &str) -> String {
    condition(object, type_)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn planned(object: &Value) -> Vec<String> {
    object["status"]["plannedChanges"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn adoption_adds_only_the_owner_tags_and_applies_differences_only_when_approved() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(310, "legacy")).await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "legacy",
        310,
        json!({"adopt": {}, "cpu": {"cores": 2}, "onBoot": true}),
    ));

    let object = env
        .drive::<ProxmoxVM>("legacy", stalled("AwaitingApproval"))
        .await
        .unwrap();
    // One write: the ownership tags, nothing else.
    let writes = env.writes_for(310).await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].path.ends_with("/qemu/310/config"), "{writes:#?}");
    let guest = env.pve.guest(310).await.unwrap();
    let mut got = tags(&guest);
    got.sort();
    assert_eq!(got, ["kubepve", "kubepve-owner-uid-legacy", "prod"]);
    assert!(
        guest["config"].get("onboot").is_none(),
        "changed before approval"
    );
    assert_eq!(guest["status"], "running");
    assert_eq!(object["status"]["adopted"], true);
    let changes = planned(&object);
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("onboot: (unset) -> 1")),
        "{changes:?}"
    );
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("applyChanges"), "{message}");
    assert_eq!(env.events_with("Conflict").len(), 0);

    // More passes change nothing while the spec does not approve.
    env.passes::<ProxmoxVM>("legacy", 5).await;
    assert_eq!(env.writes_for(310).await.len(), 1);

    env.kube
        .edit_spec("legacy", |spec| spec["adopt"]["applyChanges"] = json!(true));
    let object = env.drive::<ProxmoxVM>("legacy", ready_now).await.unwrap();
    let guest = env.pve.guest(310).await.unwrap();
    assert_eq!(guest["config"]["onboot"].to_string().trim_matches('"'), "1");
    assert!(planned(&object).is_empty(), "{object:#}");
    assert_eq!(
        env.creates_for(310).await.len(),
        0,
        "adoption never creates"
    );
}

#[tokio::test]
async fn adopting_a_guest_that_matches_the_spec_is_ready_after_the_tag_write() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(311, "legacy")).await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "legacy",
        311,
        json!({"adopt": {}, "cpu": {"cores": 2}}),
    ));
    let object = env.drive::<ProxmoxVM>("legacy", ready_now).await.unwrap();
    assert_eq!(env.writes_for(311).await.len(), 1);
    assert_eq!(object["status"]["phase"], "Running");
    assert!(planned(&object).is_empty());
}

#[tokio::test]
async fn observe_only_mirrors_the_guest_and_never_writes_even_on_delete() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(320, "watched")).await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "watched",
        320,
        json!({"managementPolicy": "ObserveOnly", "cpu": {"cores": 4}}),
    ));

    let object = env.drive::<ProxmoxVM>("watched", ready_now).await.unwrap();
    assert_eq!(reason(&object, "Ready"), "Observed");
    assert_eq!(object["status"]["phase"], "Running");
    assert_eq!(object["status"]["node"], "pve1");
    let changes = planned(&object);
    assert!(
        changes.iter().any(|c| c.starts_with("cores: 2 -> 4")),
        "{changes:?}"
    );

    // The guest stops behind the operator's back: status follows, the operator does not start it.
    env.pve_client()
        .guest(pve_client::GuestKind::Qemu, "pve1", 320)
        .stop()
        .await
        .unwrap();
    env.drive::<ProxmoxVM>("watched", |o| {
        o.is_some_and(|o| o["status"]["phase"] == "Stopped")
    })
    .await;

    env.kube.delete("watched");
    env.drive::<ProxmoxVM>("watched", gone).await;
    // Only the test's own stop reached the guest.
    let writes = env.writes_for(320).await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].path.ends_with("/status/stop"), "{writes:#?}");
    let guest = env.pve.guest(320).await.expect("the observed guest stays");
    assert_eq!(tags(&guest), vec!["prod".to_string()]);
}

#[tokio::test]
async fn observe_only_of_a_missing_guest_reports_it_and_creates_nothing() {
    let env = Env::new("proxmoxvms").await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "ghost",
        321,
        json!({"managementPolicy": "ObserveOnly"}),
    ));
    let object = env
        .drive::<ProxmoxVM>("ghost", stalled("GuestNotFound"))
        .await
        .unwrap();
    assert!(condition_message(&object, "Stalled").contains("321"));
    assert_eq!(env.creates_for(321).await.len(), 0);
    assert!(env.pve.guest(321).await.is_none());
}

#[tokio::test]
async fn a_guest_owned_by_another_object_is_a_conflict_even_with_adopt() {
    let env = Env::new("proxmoxvms").await;
    env.pve
        .add_vm(legacy(330, "theirs").config("tags", "kubepve;kubepve-owner-uid-other"))
        .await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "mine",
        330,
        json!({"adopt": {"applyChanges": true}, "cpu": {"cores": 8}}),
    ));
    let object = env
        .drive::<ProxmoxVM>("mine", stalled("Conflict"))
        .await
        .unwrap();
    env.passes::<ProxmoxVM>("mine", 5).await;
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("uid-other"), "{message}");
    assert!(env.writes_for(330).await.is_empty());
    assert_eq!(env.events_with("Conflict").len(), 1);
    let guest = env.pve.guest(330).await.unwrap();
    assert_eq!(guest["config"]["cores"], 2);
}

#[tokio::test]
async fn an_exported_guest_applied_with_adopt_reconciles_with_no_change_but_the_owner_tags() {
    let env = Env::new("proxmoxvms").await;
    env.pve
        .add_vm(
            legacy(340, "app")
                .config("description", "hand made")
                .config("onboot", 1)
                .config("ostype", "l26"),
        )
        .await;
    let before = env.pve.guest(340).await.unwrap();
    let cli = env.pvectl();
    let (code, manifest, err) = cli.run(&[
        "export",
        "vm",
        "340",
        "--adopt",
        "--connection",
        "pve",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let object: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(object["spec"]["adopt"], json!({}));
    assert!(object["metadata"].get("uid").is_none(), "{manifest}");
    env.pve.clear_requests().await;
    env.kube.put(object);

    let name = "app";
    let object = env.drive::<ProxmoxVM>(name, ready_now).await.unwrap();
    assert!(planned(&object).is_empty(), "{object:#}");
    let writes = env.writes_for(340).await;
    assert_eq!(writes.len(), 1, "only the ownership tags: {writes:#?}");
    let after = env.pve.guest(340).await.unwrap();
    for key in [
        "cores",
        "memory",
        "scsi0",
        "net0",
        "description",
        "onboot",
        "ostype",
        "name",
    ] {
        assert_eq!(after["config"][key], before["config"][key], "{key} changed");
    }
    assert_eq!(after["status"], "running");
    // Reconciling again changes nothing more.
    env.passes::<ProxmoxVM>(name, 5).await;
    assert_eq!(env.writes_for(340).await.len(), 1);
}

#[tokio::test]
async fn from_observe_only_to_full_the_changes_wait_in_status_until_the_spec_approves_them() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(350, "moving")).await;
    env.pve.clear_requests().await;
    env.kube.put(existing(
        "moving",
        350,
        json!({"managementPolicy": "ObserveOnly", "cpu": {"cores": 2}, "onBoot": true}),
    ));
    let object = env.drive::<ProxmoxVM>("moving", ready_now).await.unwrap();
    // What Full management would do: set onboot, and add the ownership tags.
    let mut observed_changes = planned(&object);
    assert_eq!(observed_changes.len(), 2, "{observed_changes:?}");
    assert!(
        observed_changes[0].starts_with("onboot: (unset) -> 1"),
        "{observed_changes:?}"
    );
    assert!(
        observed_changes[1].starts_with("tags: prod -> kubepve;kubepve-owner-uid-moving;prod"),
        "{observed_changes:?}"
    );

    env.kube.edit_spec("moving", |spec| {
        spec["managementPolicy"] = json!("Full");
        spec["adopt"] = json!({});
    });
    let object = env
        .drive::<ProxmoxVM>("moving", stalled("AwaitingApproval"))
        .await
        .unwrap();
    // Only the owner tags were written; the rest of what ObserveOnly showed waits.
    observed_changes.pop();
    assert_eq!(planned(&object), observed_changes);
    assert_eq!(env.writes_for(350).await.len(), 1);
    assert!(
        env.pve.guest(350).await.unwrap()["config"]
            .get("onboot")
            .is_none()
    );

    env.kube
        .edit_spec("moving", |spec| spec["adopt"]["applyChanges"] = json!(true));
    env.drive::<ProxmoxVM>("moving", ready_now).await;
    let onboot = env.pve.guest(350).await.unwrap()["config"]["onboot"].to_string();
    assert_eq!(onboot.trim_matches('"'), "1");
}

#[tokio::test]
async fn deleting_an_adopted_object_whose_guest_is_gone_completes() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(310, "legacy")).await;
    env.kube.put(existing(
        "legacy",
        310,
        json!({"adopt": {}, "cpu": {"cores": 2}, "onBoot": false}),
    ));
    env.drive::<ProxmoxVM>("legacy", |o| {
        o.is_some_and(|o| o["status"]["adopted"] == true)
    })
    .await
    .unwrap();
    // Someone destroys the guest in Proxmox, then the object is deleted: "already gone" is
    // success, whatever spec.adopt says about creating.
    let pve = env.pve_client();
    let guest = pve.guest(pve_client::GuestKind::Qemu, "pve1", 310);
    env.wait(&guest.stop().await.unwrap()).await;
    env.wait(&guest.delete(Default::default()).await.unwrap())
        .await;
    assert!(env.pve.guest(310).await.is_none());
    env.kube.delete("legacy");
    env.drive::<ProxmoxVM>("legacy", gone).await;
}

#[tokio::test]
async fn deleting_an_adopted_object_destroys_its_guest_and_completes() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(legacy(311, "legacy")).await;
    env.kube.put(existing(
        "legacy",
        311,
        json!({"adopt": {}, "cpu": {"cores": 2}}),
    ));
    env.drive::<ProxmoxVM>("legacy", ready_now).await.unwrap();
    // The destroy task ends with the guest gone: that ends the deletion, it is no
    // GuestNotFound for spec.adopt.
    env.kube.delete("legacy");
    env.drive::<ProxmoxVM>("legacy", gone).await;
    assert!(
        env.pve.guest(311).await.is_none(),
        "deletionPolicy Delete destroys it"
    );
}
