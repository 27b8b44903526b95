//! ProxmoxSnapshot scenarios against fakepve (which implements snapshot create, list, delete
//! and rollback for QEMU and LXC) and stateful fake Kubernetes APIs: a snapshot of a running
//! VM becomes Ready with its UPID in status and exists in Proxmox, marked with the object's
//! UID; deleting the object deletes it; a snapshot of that name that is not ours is a Conflict
//! and is never deleted; a snapshot deleted behind the operator's back is reported, not taken
//! again; Retain keeps the Proxmox snapshot; a snapshot deleted with its deleting guest is
//! released without a task; no owner reference is put back while the guest is deleting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use pve_client::GuestKind;
use serde_json::{Value, json};
use support::guest::{condition, gone, ready, stalled};
use support::snapshots::{CTID, SnapEnv, VMID, snapshot};

fn phase(object: &Value) -> &str {
    object["status"]["phase"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn snapshot_of_a_running_vm_becomes_ready_and_goes_with_its_object() {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot(
        "before-upgrade",
        "ProxmoxVM",
        "web",
        json!({"description": "kernel 6.8"}),
    ));
    let object = env.drive("before-upgrade", ready).await.unwrap();
    let st = &object["status"];
    assert_eq!(phase(&object), "Ready");
    assert_eq!(st["readyToUse"], true);
    assert_eq!(st["snapshotName"], "before-upgrade");
    assert_eq!(st["vmid"], VMID);
    let upid = st["lastTask"]["upid"].as_str().unwrap();
    assert!(upid.starts_with("UPID:pve1:"), "{upid}");
    assert_eq!(st["lastTask"]["type"], "qmsnapshot");
    assert_eq!(st["lastTask"]["exitStatus"], "OK");
    assert!(st["creationTime"].is_string(), "{st:#}");
    assert!(st.get("currentTask").is_none());

    // In Proxmox, marked as the object's.
    let snaps = env.proxmox_snapshots(GuestKind::Qemu, VMID).await;
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0].0, "before-upgrade");
    assert_eq!(
        snaps[0].1,
        "kubepve.io/owner: uid-before-upgrade\nkernel 6.8"
    );

    // It goes with its guest object: an owner reference to the ProxmoxVM.
    let owners = object["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(owners[0]["kind"], "ProxmoxVM");
    assert_eq!(owners[0]["uid"], "uid-web");
    assert!(!env.events_with("SnapshotReady").is_empty());

    // More passes change nothing: one snapshot task in all.
    env.passes("before-upgrade", 5).await;
    assert_eq!(env.pve.count("POST", "/snapshot").await, 1);

    // Deleting the object deletes the snapshot, then releases the object.
    env.snaps.delete("before-upgrade");
    env.drive("before-upgrade", gone).await;
    assert!(
        env.proxmox_snapshots(GuestKind::Qemu, VMID)
            .await
            .is_empty()
    );
    assert_eq!(env.pve.count("DELETE", "/snapshot/before-upgrade").await, 1);
}

#[tokio::test]
async fn container_snapshots_work_the_same() {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot(
        "ct-snap",
        "ProxmoxContainer",
        "cache",
        json!({"snapshotName": "nightly_1"}),
    ));
    let object = env.drive("ct-snap", ready).await.unwrap();
    assert_eq!(object["status"]["lastTask"]["type"], "vzsnapshot");
    let snaps = env.proxmox_snapshots(GuestKind::Lxc, CTID).await;
    assert_eq!(
        snaps.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["nightly_1"]
    );
    env.snaps.delete("ct-snap");
    env.drive("ct-snap", gone).await;
    assert!(env.proxmox_snapshots(GuestKind::Lxc, CTID).await.is_empty());
}

#[tokio::test]
async fn a_foreign_snapshot_of_that_name_is_a_conflict_and_never_deleted() {
    let env = SnapEnv::new().await;
    let pve = env.pve_client();
    let upid = pve
        .qemu("pve1", VMID)
        .create_snapshot("manual", Some("taken by hand"), false)
        .await
        .unwrap();
    pve.wait_task(&upid, Default::default()).await.unwrap();

    env.snaps.put(snapshot(
        "mine",
        "ProxmoxVM",
        "web",
        json!({"snapshotName": "manual"}),
    ));
    let object = env.drive("mine", stalled("Conflict")).await.unwrap();
    assert_eq!(phase(&object), "Failed");
    assert_eq!(object["status"]["readyToUse"], false);
    assert!(
        condition(&object, "Stalled")["message"]
            .as_str()
            .unwrap()
            .contains("choose another snapshotName")
    );
    assert_eq!(env.events_with("Conflict").len(), 1, "one Warning event");
    env.passes("mine", 3).await;
    assert_eq!(
        env.events_with("Conflict").len(),
        1,
        "not repeated every pass"
    );

    env.snaps.delete("mine");
    env.drive("mine", gone).await;
    let snaps = env.proxmox_snapshots(GuestKind::Qemu, VMID).await;
    assert_eq!(snaps, [("manual".to_string(), "taken by hand".to_string())]);
    assert_eq!(env.pve.count("DELETE", "/snapshot/manual").await, 0);
    assert_eq!(
        env.pve.count("POST", "/snapshot").await,
        1,
        "only the manual one"
    );
}

#[tokio::test]
async fn a_snapshot_deleted_behind_our_back_is_reported_not_retaken() {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot("s1", "ProxmoxVM", "web", json!({})));
    env.drive("s1", ready).await;
    let pve = env.pve_client();
    let upid = pve.qemu("pve1", VMID).delete_snapshot("s1").await.unwrap();
    pve.wait_task(&upid, Default::default()).await.unwrap();

    let object = env.drive("s1", stalled("SnapshotLost")).await.unwrap();
    assert_eq!(object["status"]["readyToUse"], false);
    env.passes("s1", 3).await;
    assert_eq!(
        env.pve.count("POST", "/snapshot").await,
        1,
        "never taken again"
    );
}

#[tokio::test]
async fn retain_keeps_the_proxmox_snapshot() {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot(
        "keep",
        "ProxmoxVM",
        "web",
        json!({"deletionPolicy": "Retain"}),
    ));
    env.drive("keep", ready).await;
    env.snaps.delete("keep");
    env.drive("keep", gone).await;
    let snaps = env.proxmox_snapshots(GuestKind::Qemu, VMID).await;
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].1.contains("kubepve.io/owner: uid-keep"));
}

#[tokio::test]
async fn waits_for_a_guest_object_that_is_not_there_yet() {
    let env = SnapEnv::new().await;
    env.snaps
        .put(snapshot("early", "ProxmoxVM", "db", json!({})));
    env.passes("early", 2).await;
    let object = env.snaps.get("early").unwrap();
    assert_eq!(phase(&object), "Pending");
    assert_eq!(
        condition(&object, "Reconciling")["reason"],
        "GuestObjectNotFound"
    );
    assert_eq!(env.pve.count("POST", "/snapshot").await, 0);
}

#[tokio::test]
async fn a_failed_snapshot_task_is_reported_and_held_back_not_repeated_every_pass() {
    // A backoff far longer than the test: any second task would be a pass not holding back.
    let settings = kubepve::context::Settings {
        backoff: (Duration::from_secs(60), Duration::from_secs(600)),
        ..support::guest::fast_settings()
    };
    let env = SnapEnv::with_settings(settings).await;
    // A raw disk on directory storage: Proxmox cannot snapshot it, and its task says so.
    env.pve
        .add_vm(
            pve_testkit::VmSeed::new(160, "legacy")
                .running()
                .config("scsi0", "local:160/vm-160-disk-0.raw,size=8G")
                .config("tags", "kubepve;kubepve-owner-uid-legacy"),
        )
        .await;
    env.vms.put(support::snapshots::guest_object(
        "ProxmoxVM",
        "legacy",
        160,
        json!({"source": {"blank": {}}}),
    ));
    env.snaps
        .put(snapshot("s1", "ProxmoxVM", "legacy", json!({})));
    let object = env.drive("s1", stalled("TaskFailed")).await.unwrap();
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("snapshot feature is not available"),
        "{message}"
    );
    assert!(message.contains("retrying in 60s"), "{message}");
    assert_eq!(object["status"]["lastTask"]["type"], "qmsnapshot");
    assert_ne!(object["status"]["lastTask"]["exitStatus"], "OK");
    // Reconciles right away (its own status write wakes it) start no new task.
    env.passes("s1", 5).await;
    assert_eq!(env.pve.count("POST", "/160/snapshot").await, 1);
    assert!(!env.events_with("TaskFailed").is_empty());
}

#[tokio::test]
async fn no_owner_reference_is_added_while_the_guest_object_is_being_deleted() {
    let env = SnapEnv::new().await;
    // `kubectl delete --cascade=orphan`: the guest object is deleting and the garbage
    // collector has stripped its owner reference from the snapshot.
    let mut web = env.vms.get("web").unwrap();
    web["metadata"]["deletionTimestamp"] = json!("2026-11-01T10:00:00Z");
    env.vms.put(web);
    env.snaps
        .put(snapshot("orphaned", "ProxmoxVM", "web", json!({})));
    env.passes("orphaned", 3).await;
    let object = env.snaps.get("orphaned").unwrap();
    let owners = object["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        owners.iter().all(|o| o["uid"] != "uid-web"),
        "the guest's owner reference was put back: {owners:?}"
    );
}

#[tokio::test]
async fn a_snapshot_deleted_with_its_deleting_guest_is_released_without_a_task() {
    let env = SnapEnv::new().await;
    env.snaps
        .put(snapshot("before-upgrade", "ProxmoxVM", "web", json!({})));
    env.drive("before-upgrade", ready).await.unwrap();
    // Namespace or foreground deletion: the guest object (deletionPolicy Delete) is deleting
    // too, so Proxmox destroys the snapshot with the guest.
    let mut web = env.vms.get("web").unwrap();
    web["metadata"]["deletionTimestamp"] = json!("2026-11-01T10:00:00Z");
    env.vms.put(web);
    env.snaps.delete("before-upgrade");
    env.drive("before-upgrade", gone).await;
    assert_eq!(
        env.pve.count("DELETE", "/snapshot/before-upgrade").await,
        0,
        "a delsnapshot task raced the guest's destroy"
    );
}

#[tokio::test]
async fn a_snapshot_waiting_for_a_missing_guest_costs_no_proxmox_reads_of_its_own() {
    let env = SnapEnv::new().await;
    // A shared read that stays fresh for the whole test: every read after the first pass's
    // would be the snapshot's own.
    let conn = kubepve::connection::registry::Connection::new(
        env.pve_client(),
        Duration::from_secs(600),
        "test".into(),
    );
    env.ctx().connections.set(
        ("default".into(), "pve".into()),
        Ok(std::sync::Arc::new(conn)),
    );
    env.vms.put(support::snapshots::guest_object(
        "ProxmoxVM",
        "ghost",
        999,
        json!({"source": {"blank": {}}}),
    ));
    env.snaps
        .put(snapshot("s-ghost", "ProxmoxVM", "ghost", json!({})));

    env.pass("s-ghost").await;
    let object = env.snaps.get("s-ghost").unwrap();
    assert_eq!(condition(&object, "Reconciling")["reason"], "GuestNotFound");
    let reads = env.pve.count("GET", "/cluster/resources").await;
    for _ in 0..5 {
        env.pass("s-ghost").await;
    }
    assert_eq!(
        env.pve.count("GET", "/cluster/resources").await,
        reads,
        "passes while waiting read only the shared, cached list"
    );
    let object = env.snaps.get("s-ghost").unwrap();
    assert_eq!(condition(&object, "Reconciling")["reason"], "GuestNotFound");
    assert_eq!(phase(&object), "Pending");
}
