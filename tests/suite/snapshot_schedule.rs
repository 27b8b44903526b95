//! ProxmoxSnapshotSchedule scenarios against fakepve and stateful fake Kubernetes APIs, with the
//! schedule reconciled at chosen times: every minute with `keepLast: 3` keeps exactly three
//! snapshots of each selected guest (objects and Proxmox snapshots); a missed stretch runs once;
//! a run never starts a second snapshot of a guest while one is still being taken; suspend
//! stops the runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use jiff::Timestamp;
use kubepve_api::ProxmoxSnapshotSchedule;
use pve_client::GuestKind;
use serde_json::{Value, json};
use support::guest::{gone, ready};
use support::snapshots::{CTID, SnapEnv, VMID};

fn schedule(spec: Value) -> Value {
    let mut full = json!({
        "schedule": "* * * * *",
        "guestSelector": {"matchLabels": {"backup": "nightly"}},
        "retention": {"keepLast": 3},
    });
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshotSchedule",
        "metadata": {"name": "nightly", "namespace": "default",
            "creationTimestamp": "2026-11-01T10:00:30Z"},
        "spec": full,
    })
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// One schedule reconcile at `now`.
async fn run_at(env: &SnapEnv, now: &str) {
    let object: ProxmoxSnapshotSchedule =
        serde_json::from_value(env.schedules.get("nightly").unwrap()).unwrap();
    kubepve::schedule::reconcile_at(&object, &env.ctx(), at(now))
        .await
        .unwrap();
}

/// The names of the ProxmoxSnapshot objects stored now.
fn snapshot_objects(env: &SnapEnv) -> Vec<String> {
    env.snaps.names()
}

/// Drives every stored ProxmoxSnapshot to Ready, or away when it is being deleted.
async fn settle(env: &SnapEnv) {
    for name in snapshot_objects(env) {
        let deleting = env.snaps.get(&name).unwrap()["metadata"]
            .get("deletionTimestamp")
            .is_some();
        if deleting {
            env.drive(&name, gone).await;
        } else {
            env.drive(&name, ready).await;
        }
    }
}

async fn proxmox_names(env: &SnapEnv, kind: GuestKind, vmid: u32) -> Vec<String> {
    let mut names: Vec<String> = env
        .proxmox_snapshots(kind, vmid)
        .await
        .into_iter()
        .map(|s| s.0)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_minute_with_keep_last_three_keeps_exactly_three_per_guest() {
    let env = SnapEnv::new().await;
    env.schedules.put(schedule(json!({})));
    for minute in 1..=5 {
        run_at(&env, &format!("2026-11-01T10:0{minute}:05Z")).await;
        settle(&env).await;
    }
    // The prune after the last run, and the deletions it started.
    run_at(&env, "2026-11-01T10:05:30Z").await;
    settle(&env).await;

    let mut objects = snapshot_objects(&env);
    objects.sort();
    assert_eq!(
        objects,
        [
            "nightly-cache-20261101t1003",
            "nightly-cache-20261101t1004",
            "nightly-cache-20261101t1005",
            "nightly-web-20261101t1003",
            "nightly-web-20261101t1004",
            "nightly-web-20261101t1005",
        ]
    );
    let newest = [
        "nightly-20261101t1003",
        "nightly-20261101t1004",
        "nightly-20261101t1005",
    ];
    assert_eq!(proxmox_names(&env, GuestKind::Qemu, VMID).await, newest);
    assert_eq!(proxmox_names(&env, GuestKind::Lxc, CTID).await, newest);

    let st = env.schedules.get("nightly").unwrap()["status"].clone();
    assert_eq!(st["lastScheduleTime"], "2026-11-01T10:05:00Z");
    assert_eq!(st["nextScheduleTime"], "2026-11-01T10:06:00Z");
    assert_eq!(st["guests"], 2);
    // The snapshots are owned by the schedule (Kubernetes deletes them with it).
    let one = env.snaps.get("nightly-web-20261101t1005").unwrap();
    let owners = one["metadata"]["ownerReferences"].as_array().unwrap();
    assert!(
        owners
            .iter()
            .any(|o| o["kind"] == "ProxmoxSnapshotSchedule" && o["controller"] == true)
    );
}

#[tokio::test]
async fn a_missed_stretch_runs_once_and_a_busy_guest_is_skipped() {
    let env = SnapEnv::new().await;
    env.schedules.put(schedule(json!({})));
    run_at(&env, "2026-11-01T10:01:05Z").await;
    assert_eq!(snapshot_objects(&env).len(), 2);
    // The next minute comes before the first snapshots are Ready: no second snapshot of a
    // guest while one is being taken.
    run_at(&env, "2026-11-01T10:02:05Z").await;
    assert_eq!(snapshot_objects(&env).len(), 2);
    assert!(!env.events_with("RunSkipped").is_empty());
    settle(&env).await;

    // The operator was down from 10:02 to 10:30: one run, for 10:30, not 28.
    run_at(&env, "2026-11-01T10:30:10Z").await;
    let objects = snapshot_objects(&env);
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert!(objects.contains(&"nightly-web-20261101t1030".to_string()));
    let st = env.schedules.get("nightly").unwrap()["status"].clone();
    assert_eq!(st["lastScheduleTime"], "2026-11-01T10:30:00Z");
    // Reconciling again in the same minute creates nothing more.
    run_at(&env, "2026-11-01T10:30:40Z").await;
    assert_eq!(snapshot_objects(&env).len(), 4);
}

#[tokio::test]
async fn suspend_stops_runs_and_a_bad_schedule_is_stalled() {
    let env = SnapEnv::new().await;
    env.schedules.put(schedule(json!({"suspend": true})));
    run_at(&env, "2026-11-01T10:05:05Z").await;
    assert!(snapshot_objects(&env).is_empty());
    let st = env.schedules.get("nightly").unwrap()["status"].clone();
    assert!(st.get("nextScheduleTime").is_none(), "{st:#}");

    env.schedules
        .put(schedule(json!({"timeZone": "Mars/Olympus"})));
    run_at(&env, "2026-11-01T10:05:05Z").await;
    let object = env.schedules.get("nightly").unwrap();
    let stalled = support::guest::condition(&object, "Stalled");
    assert_eq!(stalled["reason"], "InvalidSchedule");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains("IANA time zone")
    );
    assert!(snapshot_objects(&env).is_empty());
}

#[tokio::test]
async fn an_invalid_selector_is_stalled_and_selects_no_guest() {
    let env = SnapEnv::new().await;
    env.schedules.put(schedule(json!({"guestSelector": {
        "matchLabels": {"backup": "nightly"},
        "matchExpressions": [{"key": "tier", "operator": "Bogus"}],
    }})));
    run_at(&env, "2026-11-01T10:05:05Z").await;
    // Before, the bad selector fell back to the empty one, which selects every guest.
    assert!(
        snapshot_objects(&env).is_empty(),
        "{:?}",
        snapshot_objects(&env)
    );
    let object = env.schedules.get("nightly").unwrap();
    let stalled = support::guest::condition(&object, "Stalled");
    assert_eq!(stalled["status"], "True");
    assert_eq!(stalled["reason"], "InvalidSelector");
    let message = stalled["message"].as_str().unwrap();
    assert!(message.contains("matchExpressions[0]"), "{message}");
    assert!(message.contains("\"Bogus\""), "{message}");
}

#[tokio::test]
async fn a_failed_snapshot_is_pruned_and_does_not_stop_the_guests_runs() {
    let env = SnapEnv::new().await;
    env.schedules.put(schedule(json!({})));
    run_at(&env, "2026-11-01T10:01:05Z").await;
    // The web snapshot fails for good (a failed task, SnapshotLost, Conflict: phase Failed).
    let mut failed = env.snaps.get("nightly-web-20261101t1001").unwrap();
    failed["status"] = json!({"phase": "Failed", "readyToUse": false});
    env.snaps.put(failed);

    run_at(&env, "2026-11-01T10:02:05Z").await;
    let objects = snapshot_objects(&env);
    // Web gets its next snapshot; cache's first is still being taken, so cache is skipped.
    assert!(
        objects.contains(&"nightly-web-20261101t1002".to_string()),
        "{objects:?}"
    );
    assert!(!objects.contains(&"nightly-cache-20261101t1002".to_string()));
    // The failed one is deleted by the schedule.
    let gone_or_deleting = env
        .snaps
        .get("nightly-web-20261101t1001")
        .is_none_or(|o| o["metadata"].get("deletionTimestamp").is_some());
    assert!(gone_or_deleting, "the failed snapshot was kept");
}

#[tokio::test]
async fn a_guest_not_under_full_management_is_left_out_with_a_note() {
    let env = SnapEnv::new().await;
    let mut cache = env.cts.get("cache").unwrap();
    cache["spec"]["managementPolicy"] = json!("ObserveOnly");
    env.cts.put(cache);
    env.schedules.put(schedule(json!({})));
    run_at(&env, "2026-11-01T10:01:05Z").await;
    assert_eq!(snapshot_objects(&env), ["nightly-web-20261101t1001"]);
    settle(&env).await;
    run_at(&env, "2026-11-01T10:01:30Z").await;
    let object = env.schedules.get("nightly").unwrap();
    assert_eq!(object["status"]["guests"], 1);
    let ready = support::guest::condition(&object, "Ready");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("left out (managementPolicy is not Full): cache"),
        "{message}"
    );
}
