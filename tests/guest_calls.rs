//! What one guest costs in Proxmox requests, the figure `make bench` reports at scale (see
//! `bench/RESULTS.md`): creating and starting a guest reads its config once, right after the
//! create, and nothing more; a start does not make the operator read the config again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubepve_api::ProxmoxVM;
use pve_testkit::RecordedRequest;
use serde_json::json;
use support::guest::{Env, ready, vm};

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
    assert_eq!(count(&requests, "POST", "/qemu/170/status/start"), 1);
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
