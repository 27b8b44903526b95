//! What one guest costs in Proxmox requests, the figure `make bench` reports at scale (see
//! `bench/RESULTS.md`): a created guest is started by its create task and its config read once,
//! right after; a start does not make the operator read the config again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kubepve_api::ProxmoxVM;
use pve_testkit::RecordedRequest;
use serde_json::json;
use support::guest::{Env, clone_vm, ready, vm};

fn count(requests: &[RecordedRequest], method: &str, suffix: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

#[tokio::test]
async fn creating_and_starting_a_blank_vm_reads_its_config_once_and_never_its_pending_changes() {
    let env = Env::new("proxmoxvms").await;
    env.pve.clear_requests().await;
    env.kube.put(vm(
        "lab",
        json!({
            "vmid": 170,
            "source": {"blank": {}},
            "memory": "1Gi",
            "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "4Gi"}],
            "runStrategy": "Always",
        }),
    ));
    env.drive::<ProxmoxVM>("lab", ready).await.unwrap();
    assert_eq!(env.pve.guest(170).await.unwrap()["status"], "running");

    let requests = env.pve.requests().await;
    assert_eq!(
        count(&requests, "POST", "/nodes/pve1/qemu"),
        1,
        "{requests:#?}"
    );
    // The create task starts it (start=1): no separate start task.
    assert!(
        requests
            .iter()
            .any(|r| r.path.ends_with("/nodes/pve1/qemu") && r.body.contains("start=1")),
        "{requests:#?}"
    );
    assert_eq!(count(&requests, "POST", "/qemu/170/status/start"), 0);
    assert_eq!(
        count(&requests, "GET", "/qemu/170/config"),
        1,
        "one config read, after the create: {requests:#?}"
    );
    assert_eq!(
        count(&requests, "GET", "/qemu/170/pending"),
        0,
        "a new guest has nothing pending: {requests:#?}"
    );
    assert_eq!(count(&requests, "GET", "/qemu/170/status/current"), 0);
}

#[tokio::test]
async fn starting_a_configured_clone_does_not_read_its_config_again() {
    let env = Env::new("proxmoxvms").await;
    env.pve.clear_requests().await;
    env.kube.put(clone_vm("web", 171, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    let requests = env.pve.requests().await;
    assert_eq!(count(&requests, "POST", "/qemu/9000/clone"), 1);
    assert_eq!(count(&requests, "POST", "/qemu/171/status/start"), 1);
    // After the clone, and after the config step; not after the start.
    assert_eq!(
        count(&requests, "GET", "/qemu/171/config"),
        2,
        "{requests:#?}"
    );
}
