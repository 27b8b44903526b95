//! End to end against fakepve (issue 15): disk and NIC flags on a clone never replace what the
//! template brought; every flag is checked (schema, node, storage, VMID) before anything is
//! sent, with exit 2; a clone whose settings Proxmox refuses is deleted again.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;
use pve_testkit::{Fault, VmSeed};

async fn with_template() -> Env {
    let env = Env::new().await;
    env.pve
        .add_vm(
            VmSeed::new(9000, "debian-12")
                .template()
                .config("scsi0", "local-lvm:base-9000-disk-0,size=8G")
                .config("net0", "virtio=BC:24:11:00:90:00,bridge=vmbr0")
                .config("cores", 1),
        )
        .await;
    env
}

fn config(guest: &serde_json::Value, key: &str) -> String {
    guest["config"][key]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| guest["config"][key].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_flag_on_a_clone_adds_a_disk_and_keeps_the_templates() {
    let env = with_template().await;
    let args = ["vm", "create", "--vmid", "194", "--template", "debian-12"];
    let dry = [&args[..], &["--disk", "local-lvm:8", "--dry-run"]].concat();
    let r = env.run(&dry).expect(0);
    assert!(r.stdout.contains("scsi1=local-lvm:8"), "{}", r.stdout);
    assert!(!r.stdout.contains("scsi0=local-lvm:8"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("scsi1=local-lvm:8 is added (the template's disks stay)"),
        "{}",
        r.stdout
    );
    let real = [
        &args[..],
        &["--disk", "local-lvm:8", "--net", "bridge=vmbr0,tag=20"],
    ]
    .concat();
    env.run(&real).expect(0);
    let g = env.pve.guest(194).await.unwrap();
    assert!(config(&g, "scsi0").contains("vm-194-disk-0"), "{g:#}");
    assert!(config(&g, "scsi1").contains("local-lvm:"), "{g:#}");
    assert!(g["config"].get("unused0").is_none(), "{g:#}");
    // The template's NIC stays; the flag added a second one.
    assert!(config(&g, "net0").ends_with("bridge=vmbr0"), "{g:#}");
    assert!(config(&g, "net1").contains("tag=20"), "{g:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_the_templates_disk_slot_grows_it_and_a_smaller_size_is_refused() {
    let env = with_template().await;
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "195",
            "--template",
            "debian-12",
            "--disk",
            "scsi0=local-lvm:16",
            "--dry-run",
        ])
        .expect(0);
    assert!(
        r.stdout.contains("would grow scsi0 from 8G to 16G"),
        "{}",
        r.stdout
    );
    env.pve.clear_requests().await;
    env.run(&[
        "vm",
        "create",
        "--vmid",
        "195",
        "--template",
        "debian-12",
        "--disk",
        "scsi0=local-lvm:16",
    ])
    .expect(0);
    // fakepve does not model a VM disk's growth: the request is what Proxmox acts on.
    let resize: Vec<String> = env
        .writes()
        .await
        .into_iter()
        .filter(|w| w.contains("/qemu/195/resize"))
        .collect();
    assert_eq!(resize.len(), 1, "{:#?}", env.writes().await);
    assert!(
        resize[0].contains("scsi0") && resize[0].contains("16G"),
        "{resize:?}"
    );
    assert!(
        !env.writes()
            .await
            .iter()
            .any(|w| w.contains("/qemu/195/config")),
        "the template's disk was reconfigured: {:#?}",
        env.writes().await
    );
    let g = env.pve.guest(195).await.unwrap();
    assert!(config(&g, "scsi0").contains("vm-195-disk-0"), "{g:#}");
    env.pve.clear_requests().await;
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "196",
            "--template",
            "debian-12",
            "--disk",
            "scsi0=local-lvm:4",
        ])
        .expect(2);
    assert!(r.stderr.contains("cannot shrink"), "{}", r.stderr);
    assert!(r.stderr.contains("leave out the slot"), "{}", r.stderr);
    assert!(env.writes().await.is_empty(), "{:#?}", env.writes().await);
    assert!(env.pve.guest(196).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_exit_2_before_anything_is_sent() {
    let env = with_template().await;
    env.pve
        .add_vm(VmSeed::new(300, "web").config("cores", 2))
        .await;
    env.pve.add_node("pve2", true).await;
    env.pve.clear_requests().await;
    let clone = ["vm", "create", "--vmid", "193", "--template", "debian-12"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [&clone[..], &["--cores", "0"]].concat(),
            "cores: value must have a minimum value of 1",
        ),
        (
            [&clone[..], &["--set", "bogus=1"]].concat(),
            "bogus: not a VM config key",
        ),
        ([&clone[..], &["--memory", "lots"]].concat(), "expected MiB"),
        (
            vec!["vm", "create", "--vmid", "50"],
            "VMID 50 is out of range",
        ),
        (
            vec!["vm", "create", "--name", "bad name!"],
            "not a valid DNS name",
        ),
        (vec!["vm", "create", "--vmid", "300"], "VMID 300 is taken"),
        (
            vec!["vm", "create", "--node", "nosuchnode"],
            "no node \"nosuchnode\" (nodes: pve1, pve2)",
        ),
        (
            vec!["vm", "create", "--node", "pve1", "--disk", "nosuch:8"],
            "no storage \"nosuch\" on node pve1 (storages for images there: local-lvm",
        ),
        (
            vec!["vm", "create", "--node", "pve1", "--disk", "local:8,sdd=1"],
            "\"sdd\" is not a key",
        ),
        (
            vec!["vm", "create", "--node", "pve1", "--set", "ostype=dos"],
            "not one of",
        ),
        (
            vec![
                "ct",
                "create",
                "--node",
                "pve1",
                "--ostemplate",
                "local:vztmpl/x.tar.zst",
                "--cores",
                "0",
            ],
            "cores: value must have a minimum value of 1",
        ),
        (
            vec!["vm", "update", "300", "--cores", "0"],
            "minimum value of 1",
        ),
        (
            vec!["vm", "update", "300", "--set", "bogus=1"],
            "not a VM config key",
        ),
        (
            vec!["vm", "update", "300", "--delete", "bogus"],
            "not a VM config key",
        ),
        (
            vec!["vm", "update", "300", "--set", "scsi1=nosuch:8"],
            "no storage \"nosuch\" on node pve1",
        ),
        (
            vec!["vm", "create", "--node", "pve1", "--set", "scsi1=nosuch:4"],
            "no storage \"nosuch\" on node pve1 (storages for images there: local-lvm",
        ),
        (
            [&clone[..], &["--full", "--storage", "nosuch"]].concat(),
            "no storage \"nosuch\" on node pve1",
        ),
        (
            [&clone[..], &["--full", "--storage", "nosuch", "--dry-run"]].concat(),
            "no storage \"nosuch\" on node pve1",
        ),
        (
            [&clone[..], &["--set", "scsi1=nosuch:8"]].concat(),
            "no storage \"nosuch\" on node pve1",
        ),
        (vec!["vm", "list", "-o", "xml"], "xml"),
        (vec!["task", "status", "not-a-upid"], ""),
        (
            vec!["apply", "-f", "/nonexistent/vm.yaml"],
            "does not exist",
        ),
    ];
    for (args, message) in &cases {
        let r = env.run(args);
        assert_eq!(r.code, 2, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        // `vm update --cores 0` must not show a change it will not make.
        assert!(!r.stdout.contains("->"), "{args:?}: {}", r.stdout);
    }
    std::fs::write(env.path("bad.yaml"), "kind: [unclosed").unwrap();
    let bad = env.path("bad.yaml").display().to_string();
    env.run(&["apply", "-f", &bad]).expect(2);
    assert!(env.writes().await.is_empty(), "{:#?}", env.writes().await);
    assert!(env.pve.guest(193).await.is_none());
    let g = env.pve.guest(300).await.unwrap();
    assert_eq!(config(&g, "cores"), "2", "{g:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_proxmox_refuses_to_configure_is_deleted_again() {
    let env = with_template().await;
    env.pve
        .inject_fault(Fault::status(
            "PUT",
            "/nodes/pve1/qemu/197/config",
            400,
            "invalid parameters",
        ))
        .await;
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "197",
            "--template",
            "debian-12",
            "--cores",
            "2",
        ])
        .expect(1);
    assert!(
        r.stderr.contains("cannot configure the clone"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("the new clone vm/197 was deleted again"),
        "{}",
        r.stderr
    );
    assert!(
        env.pve.guest(197).await.is_none(),
        "the half-made clone stays"
    );
    // The same command works once Proxmox accepts it: the VMID is free again.
    env.pve.clear_faults().await;
    env.run(&[
        "vm",
        "create",
        "--vmid",
        "197",
        "--template",
        "debian-12",
        "--cores",
        "2",
    ])
    .expect(0);
    assert_eq!(config(&env.pve.guest(197).await.unwrap(), "cores"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_that_cannot_be_deleted_again_is_named_with_the_command_that_removes_it() {
    let env = with_template().await;
    for (method, path) in [
        ("PUT", "/nodes/pve1/qemu/198/config"),
        ("DELETE", "/nodes/pve1/qemu/198"),
    ] {
        env.pve
            .inject_fault(Fault::status(method, path, 500, "storage is busy"))
            .await;
    }
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "198",
            "--template",
            "debian-12",
            "--cores",
            "2",
        ])
        .expect(1);
    assert!(
        r.stderr.contains("the new clone vm/198 is kept")
            && r.stderr.contains("`pvectl vm delete 198 --yes`"),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(198).await.is_some());
}
