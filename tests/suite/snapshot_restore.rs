//! ProxmoxSnapshotRestore scenarios against fakepve: a restore rolls the VM back to its
//! snapshot (its config, and running again with startAfter), with the rollback's UPID in status, a configuration
//! backup saved first (the guest controller's backup ConfigMap, reason `rollback`) and an
//! Event on the guest object; it is done once. The guards: runStrategy Always without
//! startAfter, and a snapshot that is not Ready yet, start no rollback. A status write lost
//! after the rollback request does not make a second rollback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use pve_client::Params;
use serde_json::{Value, json};
use support::guest::{BACKUP_NS, condition, ready};
use support::snapshots::{Kind, SnapEnv, VMID, snapshot};

fn restore(name: &str, snapshot: &str, spec: Value) -> Value {
    let mut full = json!({"snapshotRef": {"name": snapshot}});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshotRestore",
        "metadata": {"name": name, "namespace": "default"},
        "spec": full,
    })
}

fn phase_is(phase: &'static str) -> impl Fn(Option<&Value>) -> bool {
    move |o| o.is_some_and(|o| o["status"]["phase"] == phase)
}

/// The VM's `onboot` as Proxmox reports its config ("" when unset).
async fn onboot(env: &SnapEnv) -> String {
    let config = env.pve_client().qemu("pve1", VMID).config().await.unwrap();
    config.get("onboot").unwrap_or_default()
}

#[tokio::test]
async fn a_restore_rolls_the_guest_back_once_with_a_backup_first() {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot("s1", "ProxmoxVM", "web", json!({})));
    env.drive("s1", ready).await;
    // A change after the snapshot, which the rollback undoes.
    env.pve_client()
        .qemu("pve1", VMID)
        .update_config(Params::new().set("onboot", 1))
        .await
        .unwrap();
    assert_eq!(onboot(&env).await, "1");

    env.restores
        .put(restore("undo", "s1", json!({"startAfter": true})));
    let object = env
        .drive_of(Kind::Restore, "undo", phase_is("Succeeded"))
        .await
        .unwrap();
    let st = &object["status"];
    assert_eq!(st["lastTask"]["type"], "qmrollback");
    assert_eq!(st["lastTask"]["exitStatus"], "OK");
    assert!(
        st["lastTask"]["upid"]
            .as_str()
            .unwrap()
            .starts_with("UPID:pve1:")
    );
    assert_eq!(condition(&object, "Ready")["reason"], "RolledBack");
    assert!(st["completionTime"].is_string());

    // Proxmox: the snapshot's config, running again (startAfter).
    assert_eq!(onboot(&env).await, "", "the snapshot had no onboot");
    assert_eq!(env.pve.guest(VMID).await.unwrap()["status"], "running");

    // The configuration from before is saved, with the rollback's UPID.
    let location = st["backup"].as_str().unwrap();
    let (cm_ns, rest) = location.split_once('/').unwrap();
    let (cm_name, key) = rest.split_once('/').unwrap();
    assert_eq!(cm_ns, BACKUP_NS, "backups live in the operator's namespace");
    assert_eq!(cm_name, "kubepve-backup-proxmoxvm-default.web");
    let cm = env.snaps.config_map(cm_name).unwrap();
    let entry: Value = serde_json::from_str(cm["data"][key].as_str().unwrap()).unwrap();
    assert_eq!(entry["reason"], "rollback");
    assert_eq!(entry["config"]["onboot"], "1");
    assert_eq!(entry["upid"], st["lastTask"]["upid"]);

    // The guest object is told; the restore is done for good.
    let on_guest: Vec<Value> = env
        .events_with("RolledBack")
        .into_iter()
        .filter(|e| e["regarding"]["kind"] == "ProxmoxVM")
        .collect();
    assert_eq!(on_guest.len(), 1, "{on_guest:#?}");
    for _ in 0..3 {
        env.pass_of(Kind::Restore, "undo").await;
    }
    assert_eq!(env.pve.count("POST", "/snapshot/s1/rollback").await, 1);
}

#[tokio::test]
async fn a_status_write_lost_after_the_rollback_request_follows_that_task_instead_of_rolling_back_twice()
 {
    let env = SnapEnv::new().await;
    env.snaps.put(snapshot("s1", "ProxmoxVM", "web", json!({})));
    env.drive("s1", ready).await;
    env.restores
        .put(restore("undo", "s1", json!({"startAfter": true})));

    // The pass records the request's time, sends the rollback, and then its status write with
    // the UPID is lost (the operator killed, the API server gone for a moment).
    env.restores.fail_status_writes_after(1);
    env.pass_of(Kind::Restore, "undo").await;
    env.restores.fail_status_writes(false);
    assert_eq!(env.pve.count("POST", "/snapshot/s1/rollback").await, 1);
    let st = env.restores.get("undo").unwrap()["status"].clone();
    assert!(st["requestedTime"].is_string(), "{st:#}");
    assert!(st["currentTask"].is_null(), "the UPID was lost: {st:#}");

    // The next passes find the task in the node's task list and follow it to its end.
    let object = env
        .drive_of(Kind::Restore, "undo", phase_is("Succeeded"))
        .await
        .unwrap();
    assert_eq!(
        env.pve.count("POST", "/snapshot/s1/rollback").await,
        1,
        "rolled back exactly once"
    );
    assert_eq!(object["status"]["lastTask"]["type"], "qmrollback");
    assert_eq!(object["status"]["lastTask"]["exitStatus"], "OK");
}

#[tokio::test]
async fn guards_start_no_rollback() {
    let env = SnapEnv::new().await;
    // Not Ready yet: the restore waits.
    env.snaps.put(snapshot("s1", "ProxmoxVM", "web", json!({})));
    env.restores.put(restore("early", "s1", json!({})));
    env.pass_of(Kind::Restore, "early").await;
    let object = env.restores.get("early").unwrap();
    assert_eq!(object["status"]["phase"], "Pending");
    assert_eq!(
        condition(&object, "Reconciling")["reason"],
        "SnapshotNotReady"
    );

    // Ready, but the running guest's runStrategy Always forbids the stop without startAfter.
    env.drive("s1", ready).await;
    let object = env
        .drive_of(Kind::Restore, "early", phase_is("Failed"))
        .await
        .unwrap();
    let stalled = condition(&object, "Stalled");
    assert_eq!(stalled["reason"], "RunStrategyForbidsStop");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains("startAfter: true")
    );
    assert_eq!(env.pve.count("POST", "/snapshot/s1/rollback").await, 0);
    assert!(
        env.snaps
            .config_map("kubepve-backup-proxmoxvm-default.web")
            .is_none(),
        "no backup either"
    );
}

#[tokio::test]
async fn the_guest_controller_converges_after_a_rollback_without_a_fight() {
    let env = SnapEnv::new().await;
    // The spec asks for onboot; the guest controller applies it, then the snapshot is taken.
    env.vms
        .edit_spec("web", |spec| spec["onBoot"] = json!(true));
    env.drive_vm("web", |o| {
        ready(o) && o.is_some_and(|o| o["status"]["observedGeneration"] == 2)
    })
    .await;
    assert_eq!(onboot(&env).await, "1");
    // A snapshot without onboot: taken after the guest controller's change is undone by hand.
    env.pve_client()
        .qemu("pve1", VMID)
        .update_config(Params::new().set("delete", "onboot"))
        .await
        .unwrap();
    env.snaps.put(snapshot("s1", "ProxmoxVM", "web", json!({})));
    env.drive("s1", ready).await;
    env.pve_client()
        .qemu("pve1", VMID)
        .update_config(Params::new().set("onboot", 1))
        .await
        .unwrap();

    env.restores
        .put(restore("undo", "s1", json!({"startAfter": true})));
    env.drive_of(Kind::Restore, "undo", phase_is("Succeeded"))
        .await;
    assert_eq!(onboot(&env).await, "", "the snapshot's config");

    // The guest controller reads the guest afresh and applies the spec again, once; the
    // snapshot stays, nothing is rolled back again, the guest keeps running.
    let object = env
        .drive_vm("web", |o| {
            ready(o) && o.is_some_and(|o| o["status"].get("currentTask").is_none())
        })
        .await;
    assert_eq!(condition(&object, "Ready")["status"], "True");
    assert_eq!(
        onboot(&env).await,
        "1",
        "the spec applied after the rollback"
    );
    assert_eq!(env.pve.guest(VMID).await.unwrap()["status"], "running");
    assert_eq!(env.pve.count("POST", "/snapshot/s1/rollback").await, 1);
    env.drive("s1", ready).await;
}
