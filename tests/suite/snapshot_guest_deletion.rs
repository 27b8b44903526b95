//! Guest deletion with snapshots: snapshots taken by ProxmoxSnapshot objects (an owner line in
//! their description) go with the guest, as their objects go with the guest object (owner
//! references); a snapshot taken by hand still holds the deletion back, naming only itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kubepve_api::ProxmoxVM;
use kubepve_plan::snapshot::description_with_owner;
use serde_json::json;
use support::guest::{Env, MAX_PASSES, clone_vm, condition, ready};

async fn take(env: &Env, vmid: u32, name: &str, description: &str) {
    let upid = env
        .pve_client()
        .qemu("pve1", vmid)
        .create_snapshot(name, Some(description), false)
        .await
        .unwrap();
    env.wait(&upid).await;
}

#[tokio::test]
async fn our_snapshots_go_with_the_guest_and_foreign_ones_still_hold_it_back() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 151, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    take(
        &env,
        151,
        "nightly-1",
        &description_with_owner("uid-nightly-1", Some("x")),
    )
    .await;
    take(&env, 151, "by-hand", "taken in the Proxmox UI").await;

    env.kube.delete("web");
    let mut message = String::new();
    for _ in 0..MAX_PASSES {
        let _ = env.pass::<ProxmoxVM>("web").await;
        let object = env.kube.get("web").unwrap();
        let stalled = condition(&object, "Stalled");
        if stalled["reason"] == "HasSnapshots" {
            message = stalled["message"].as_str().unwrap().to_string();
            break;
        }
    }
    assert!(
        message.contains("(by-hand)"),
        "only the foreign one is named: {message}"
    );
    assert!(!message.contains("nightly-1"), "{message}");
    assert_eq!(env.pve.guest(151).await.unwrap()["status"], "running");

    // Without the foreign snapshot, the deletion goes ahead and takes ours with the guest.
    let upid = env
        .pve_client()
        .qemu("pve1", 151)
        .delete_snapshot("by-hand")
        .await
        .unwrap();
    env.wait(&upid).await;
    env.drive::<ProxmoxVM>("web", support::guest::gone).await;
    assert!(
        env.pve.guest(151).await.is_none(),
        "destroyed with its snapshot"
    );
}
