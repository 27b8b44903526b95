//! Guest reconcile scenarios about moving guests between nodes (docs/migration.md): a changed
//! `spec.node` migrates the guest (restart mode for a running container, online for a running
//! VM), a guest someone else moved is followed and not moved back, Proxmox's pre-flight
//! refusals (local disks, an offline target) and a target outside `placement.allowedNodes`
//! stall with what to fix and send no migration.
//!
//! fakepve implements container migration (`POST .../lxc/{vmid}/migrate`, restart mode, the
//! guest really moves). Its QEMU migrate is only the schema's generic answer: a real UPID of a
//! task that succeeds without moving the VM, and `GET .../qemu/{vmid}/migrate` is generic too
//! (the tests answer it through `answer_get`). The VM scenarios therefore assert what can be
//! shown: the request sent (`online=1`, `with-local-disks` only when asked), the UPID in
//! status and the Migrating phase, and the pre-flight refusals. A failed migration task is
//! injected with fakepve's own `migration_aborted` error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeSet;

use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use pve_client::Params;
use pve_testkit::Fault;
use serde_json::{Value, json};
use support::guest::{Env, condition, condition_message, ct, ready_now, stalled, vm};

const CT_TEMPLATE: &str = "debian-12-standard_12.7-1_amd64.tar.zst";

/// A running container on pve1 that the operator created and settled; pve2 is a second node.
async fn settled_container(env: &Env, name: &str, vmid: u32) {
    env.pve.add_node("pve2", true).await;
    env.pve
        .store_file("local", CT_TEMPLATE, 120 * 1024 * 1024, "vztmpl")
        .await;
    env.kube.put(ct(
        name,
        json!({
            "vmid": vmid,
            "ostemplate": format!("local:vztmpl/{CT_TEMPLATE}"),
            "rootfs": {"storage": "local-lvm", "size": "8Gi"},
            "memory": "512Mi",
        }),
    ));
    let object = env
        .drive::<ProxmoxContainer>(name, ready_now)
        .await
        .unwrap();
    assert_eq!(object["status"]["placedNode"], "pve1", "{object:#}");
    assert_eq!(env.pve.guest(vmid).await.unwrap()["status"], "running");
}

/// The migrate requests fakepve saw for `vmid`, as (path, body).
async fn migrations(env: &Env, vmid: u32) -> Vec<(String, String)> {
    env.pve
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/{vmid}/migrate")))
        .map(|r| (r.path, r.body))
        .collect()
}

fn phase(object: &Value) -> String {
    object["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_running_container_whose_spec_node_changes_is_migrated_in_restart_mode() {
    let env = Env::new("proxmoxcontainers").await;
    settled_container(&env, "cache", 300).await;
    env.kube.edit_spec("cache", |s| s["node"] = json!("pve2"));
    let mut phases = BTreeSet::new();
    let mut upids = BTreeSet::new();
    let object = env
        .drive_watching::<ProxmoxContainer>(
            "cache",
            |o| ready_now(o) && o.is_some_and(|o| o["status"]["node"] == "pve2"),
            |o| {
                phases.insert(phase(o));
                if let Some(u) = o["status"]["currentTask"]["upid"].as_str() {
                    upids.insert(u.to_string());
                }
            },
        )
        .await
        .unwrap();
    let guest = env.pve.guest(300).await.unwrap();
    assert_eq!(guest["node"], "pve2");
    assert_eq!(guest["status"], "running", "restart mode starts it again");
    let sent = migrations(&env, 300).await;
    assert_eq!(sent.len(), 1, "one migration: {sent:?}");
    assert!(
        sent[0].0.ends_with("/nodes/pve1/lxc/300/migrate"),
        "{sent:?}"
    );
    assert!(sent[0].1.contains("target=pve2"), "{sent:?}");
    assert!(sent[0].1.contains("restart=1"), "{sent:?}");
    assert!(
        !sent[0].1.contains("online"),
        "LXC has no live migration: {sent:?}"
    );
    assert!(phases.contains("Migrating"), "{phases:?}");
    assert!(
        upids.iter().any(|u| u.contains(":vzmigrate:300:")),
        "the migration's UPID was in status.currentTask: {upids:?}"
    );
    assert_eq!(object["status"]["lastTask"]["type"], "vzmigrate");
    assert_eq!(object["status"]["lastTask"]["exitStatus"], "OK");
    assert_eq!(object["status"]["placedNode"], "pve2");
    let started: Vec<Value> = env.events_with("TaskStarted");
    assert!(
        started.iter().any(|e| e["action"] == "migrate"),
        "an Event when the migration starts: {started:?}"
    );
    assert!(
        env.events_with("TaskSucceeded")
            .iter()
            .any(|e| e["action"] == "vzmigrate"),
        "an Event when it ends"
    );
    // Settled: further passes migrate nothing.
    env.passes::<ProxmoxContainer>("cache", 3).await;
    assert_eq!(migrations(&env, 300).await.len(), 1);
}

#[tokio::test]
async fn a_container_someone_else_moved_is_followed_and_not_moved_back() {
    let env = Env::new("proxmoxcontainers").await;
    settled_container(&env, "dns", 301).await;
    // A person migrates it in Proxmox.
    let client = env.pve_client();
    let upid: String = client
        .post(
            "nodes/pve1/lxc/301/migrate",
            Params::new().set("target", "pve2").set("restart", 1),
        )
        .await
        .unwrap();
    env.wait(&upid.parse().unwrap()).await;
    assert_eq!(env.pve.guest(301).await.unwrap()["node"], "pve2");
    env.pve.clear_requests().await;

    let object = env
        .drive::<ProxmoxContainer>("dns", |o| o.is_some_and(|o| o["status"]["node"] == "pve2"))
        .await
        .unwrap();
    env.passes::<ProxmoxContainer>("dns", 5).await;
    assert!(migrations(&env, 301).await.is_empty(), "not moved back");
    assert_eq!(env.pve.guest(301).await.unwrap()["node"], "pve2");
    let object = env.kube.get("dns").unwrap_or(object);
    assert!(ready_now(Some(&object)), "{object:#}");
    assert_eq!(
        object["status"]["placedNode"], "pve1",
        "spec.node did not change"
    );
    let moved = env.events_with("GuestMoved");
    assert_eq!(moved.len(), 1, "{moved:?}");
    let note = moved[0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("pve1") && note.contains("pve2"), "{note}");

    // Now the user asks for another node: that is a migration.
    env.pve.add_node("pve3", true).await;
    env.kube.edit_spec("dns", |s| s["node"] = json!("pve3"));
    env.drive::<ProxmoxContainer>("dns", |o| {
        ready_now(o) && o.is_some_and(|o| o["status"]["node"] == "pve3")
    })
    .await;
    let sent = migrations(&env, 301).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].0.ends_with("/nodes/pve2/lxc/301/migrate"),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_migration_to_an_offline_node_or_outside_allowed_nodes_stalls_and_sends_nothing() {
    let env = Env::new("proxmoxcontainers").await;
    settled_container(&env, "web", 302).await;
    env.pve.add_node("pve3", true).await;
    env.pve.set_node_offline("pve3", true).await;
    env.pve.clear_requests().await;
    env.kube.edit_spec("web", |s| s["node"] = json!("pve3"));
    let object = env
        .drive::<ProxmoxContainer>("web", stalled("MigrationBlocked"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("'pve3' is offline"), "{message}");
    assert!(migrations(&env, 302).await.is_empty());
    assert_eq!(env.pve.guest(302).await.unwrap()["node"], "pve1");

    // CEL refuses this on a real API server; the planner refuses it as well.
    env.kube.edit_spec("web", |s| {
        s["node"] = json!("pve2");
        s["placement"] = json!({"allowedNodes": ["pve1", "pve3"]});
    });
    let object = env
        .drive::<ProxmoxContainer>("web", stalled("MigrationRefused"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("allowedNodes"), "{message}");
    assert!(migrations(&env, 302).await.is_empty());
    assert_eq!(object["status"]["placedNode"], "pve1");
}

/// A running blank VM 310 on pve1, settled; pve2 exists; `GET .../migrate` answers `check`.
async fn settled_vm(env: &Env, check: Value) {
    env.pve.add_node("pve2", true).await;
    env.kube.put(vm(
        "app",
        json!({"vmid": 310, "source": {"blank": {}}, "memory": "1Gi"}),
    ));
    env.drive::<ProxmoxVM>("app", ready_now).await;
    env.pve
        .answer_get("/nodes/pve1/qemu/310/migrate", check)
        .await;
    env.pve.clear_requests().await;
}

#[tokio::test]
async fn a_running_vm_with_local_disks_needs_with_local_disks_then_migrates_online() {
    let env = Env::new("proxmoxvms").await;
    settled_vm(
        &env,
        json!({
            "running": 1, "allowed_nodes": ["pve2"], "not_allowed_nodes": {},
            "local_disks": [{"volid": "local-lvm:vm-310-disk-0", "size": 1, "cdrom": 0}],
            "local_resources": [],
        }),
    )
    .await;
    env.kube.edit_spec("app", |s| s["node"] = json!("pve2"));
    let object = env
        .drive::<ProxmoxVM>("app", stalled("MigrationBlocked"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("with-local-disks"), "{message}");
    assert!(message.contains("local-lvm:vm-310-disk-0"), "{message}");
    assert!(migrations(&env, 310).await.is_empty(), "nothing sent");
    assert_eq!(env.events_with("MigrationBlocked").len(), 1);

    // fakepve's QEMU migrate is a generic stub (a task that succeeds, the VM stays): what it
    // shows is the request, the UPID in status and the phase.
    env.kube.edit_spec("app", |s| {
        s["migration"] = json!({"withLocalDisks": true});
    });
    let mut phases = BTreeSet::new();
    let object = env
        .drive_watching::<ProxmoxVM>(
            "app",
            |o| o.is_some_and(|o| o["status"]["currentTask"]["upid"].is_string()),
            |o| {
                phases.insert(phase(o));
            },
        )
        .await
        .unwrap();
    assert_eq!(phase(&object), "Migrating", "{object:#}");
    let upid = object["status"]["currentTask"]["upid"].as_str().unwrap();
    assert!(upid.contains(":310:"), "{upid}");
    let sent = migrations(&env, 310).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].0.ends_with("/nodes/pve1/qemu/310/migrate"),
        "{sent:?}"
    );
    for part in ["target=pve2", "online=1", "with-local-disks=1"] {
        assert!(sent[0].1.contains(part), "{part}: {sent:?}");
    }
    assert!(!sent[0].1.contains("restart"), "{sent:?}");
}

#[tokio::test]
async fn a_running_vm_without_local_disks_migrates_online_without_with_local_disks() {
    let env = Env::new("proxmoxvms").await;
    settled_vm(
        &env,
        json!({"running": 1, "allowed_nodes": ["pve2"], "not_allowed_nodes": {},
               "local_disks": [], "local_resources": []}),
    )
    .await;
    env.kube.edit_spec("app", |s| s["node"] = json!("pve2"));
    let object = env
        .drive::<ProxmoxVM>("app", |o| {
            o.is_some_and(|o| o["status"]["currentTask"]["upid"].is_string())
        })
        .await
        .unwrap();
    assert_eq!(phase(&object), "Migrating");
    let sent = migrations(&env, 310).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains("online=1"), "{sent:?}");
    assert!(!sent[0].1.contains("with-local-disks"), "{sent:?}");
}

#[tokio::test]
async fn a_failed_migration_task_is_stalled_with_proxmoxs_message_then_retried() {
    // A backoff long enough that a pass right after the failure falls inside it.
    let settings = kubepve::context::Settings {
        backoff: (
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(5),
        ),
        ..support::guest::fast_settings()
    };
    let env =
        Env::with_settings("proxmoxcontainers", settings, support::guest::POLL_INTERVAL).await;
    settled_container(&env, "queue", 303).await;
    env.pve
        .inject_fault(
            Fault::named("POST", "/nodes/pve1/lxc/303/migrate", "migration_aborted").times(1),
        )
        .await;
    env.kube.edit_spec("queue", |s| s["node"] = json!("pve2"));
    let object = env
        .drive::<ProxmoxContainer>("queue", stalled("MigrationFailed"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("migration aborted"), "{message}");
    assert_eq!(object["status"]["lastTask"]["type"], "vzmigrate");
    assert_eq!(object["status"]["placedNode"], "pve1", "still asked for");
    assert_eq!(env.pve.guest(303).await.unwrap()["node"], "pve1");
    assert!(
        env.events_with("TaskFailed")
            .iter()
            .any(|e| e["action"] == "vzmigrate")
    );
    // Held back until the backoff ends: no new migration task on the passes meanwhile.
    env.passes::<ProxmoxContainer>("queue", 3).await;
    assert_eq!(
        migrations(&env, 303).await.len(),
        1,
        "no retry inside the backoff"
    );
    let held = env.kube.get("queue").unwrap();
    assert_eq!(condition(&held, "Stalled")["reason"], "MigrationFailed");
    // The next attempt (after the backoff the controller would wait) succeeds.
    env.drive::<ProxmoxContainer>("queue", |o| {
        ready_now(o) && o.is_some_and(|o| o["status"]["node"] == "pve2")
    })
    .await;
    assert_eq!(migrations(&env, 303).await.len(), 2);
}
