//! Planner tests for snapshots: create, already there, foreign, one at a time, delete, and
//! the rollback guards.

use super::*;

fn snap(name: &str, description: &str) -> ObservedSnapshot {
    ObservedSnapshot {
        name: name.into(),
        description: description.into(),
        ..Default::default()
    }
}

fn guest(snapshots: Vec<ObservedSnapshot>) -> ObservedGuest {
    ObservedGuest {
        exists: true,
        running: true,
        lock: None,
        snapshots,
    }
}

fn wanted() -> WantedSnapshot {
    WantedSnapshot {
        name: "before-upgrade".into(),
        uid: "u-1".into(),
        description: Some("kernel 6.8".into()),
        vmstate: false,
        deleting: false,
        retain: false,
    }
}

#[test]
fn creates_with_the_owner_line_first() {
    let plan = plan_snapshot(&wanted(), &guest(vec![]));
    assert_eq!(
        plan,
        SnapshotPlan::Create {
            name: "before-upgrade".into(),
            description: "kubepve.io/owner: u-1\nkernel 6.8".into(),
            vmstate: false,
        }
    );
}

#[test]
fn vmstate_only_for_a_running_guest() {
    let mut w = wanted();
    w.vmstate = true;
    let mut g = guest(vec![]);
    assert!(matches!(
        plan_snapshot(&w, &g),
        SnapshotPlan::Create { vmstate: true, .. }
    ));
    g.running = false;
    assert!(matches!(
        plan_snapshot(&w, &g),
        SnapshotPlan::Create { vmstate: false, .. }
    ));
}

#[test]
fn already_there_is_ready_and_foreign_is_conflict() {
    let ours = snap("before-upgrade", "kubepve.io/owner: u-1\nkernel 6.8");
    assert_eq!(
        plan_snapshot(&wanted(), &guest(vec![ours.clone()])),
        SnapshotPlan::Ready(ours)
    );
    let foreign = snap("before-upgrade", "made by hand");
    let SnapshotPlan::Blocked { reason, message } =
        plan_snapshot(&wanted(), &guest(vec![foreign.clone()]))
    else {
        panic!("a foreign snapshot must block")
    };
    assert_eq!(reason, "Conflict");
    assert!(message.contains("choose another snapshotName"));
    // Another object's snapshot is foreign too.
    let other = snap("before-upgrade", "kubepve.io/owner: u-2");
    assert!(matches!(
        plan_snapshot(&wanted(), &guest(vec![other])),
        SnapshotPlan::Blocked { .. }
    ));
}

#[test]
fn one_snapshot_at_a_time_per_guest() {
    let mut g = guest(vec![]);
    g.lock = Some("snapshot".into());
    assert!(matches!(
        plan_snapshot(&wanted(), &g),
        SnapshotPlan::Wait {
            reason: "GuestLocked",
            ..
        }
    ));
}

#[test]
fn missing_guest_waits() {
    let g = ObservedGuest::default();
    assert!(matches!(
        plan_snapshot(&wanted(), &g),
        SnapshotPlan::Wait {
            reason: "GuestNotFound",
            ..
        }
    ));
}

#[test]
fn deletion_deletes_only_our_snapshot() {
    let mut w = wanted();
    w.deleting = true;
    let ours = snap("before-upgrade", "kubepve.io/owner: u-1");
    assert_eq!(
        plan_snapshot(&w, &guest(vec![ours.clone()])),
        SnapshotPlan::Delete {
            name: "before-upgrade".into()
        }
    );
    let foreign = snap("before-upgrade", "by hand");
    assert!(matches!(
        plan_snapshot(&w, &guest(vec![foreign])),
        SnapshotPlan::Release { .. }
    ));
    assert!(matches!(
        plan_snapshot(&w, &guest(vec![])),
        SnapshotPlan::Release { .. }
    ));
    assert!(matches!(
        plan_snapshot(&w, &ObservedGuest::default()),
        SnapshotPlan::Release { .. }
    ));
    w.retain = true;
    assert!(matches!(
        plan_snapshot(&w, &guest(vec![ours.clone()])),
        SnapshotPlan::Release { .. }
    ));
    w.retain = false;
    let mut locked = guest(vec![ours]);
    locked.lock = Some("backup".into());
    assert!(matches!(
        plan_snapshot(&w, &locked),
        SnapshotPlan::Wait { .. }
    ));
}

fn rollback_input() -> RollbackInput<'static> {
    RollbackInput {
        name: "before-upgrade",
        owner_uid: Some("u-1"),
        run_strategy: Some(RunStrategy::Manual),
        managed: true,
        start_after: false,
    }
}

#[test]
fn rollback_guards() {
    let ours = snap("before-upgrade", "kubepve.io/owner: u-1");
    let g = guest(vec![ours.clone()]);
    assert_eq!(check_rollback(&rollback_input(), &g), Ok(()));

    let mut always = rollback_input();
    always.run_strategy = Some(RunStrategy::Always);
    let refusal = check_rollback(&always, &g).unwrap_err();
    assert_eq!(refusal.reason, "RunStrategyForbidsStop");
    assert!(!refusal.transient);
    always.start_after = true;
    assert_eq!(check_rollback(&always, &g), Ok(()), "startAfter resumes it");
    always.start_after = false;
    let mut stopped = g.clone();
    stopped.running = false;
    assert_eq!(check_rollback(&always, &stopped), Ok(()), "nothing to stop");

    let foreign = guest(vec![snap("before-upgrade", "by hand")]);
    assert_eq!(
        check_rollback(&rollback_input(), &foreign)
            .unwrap_err()
            .reason,
        "Conflict"
    );
    assert_eq!(
        check_rollback(&rollback_input(), &guest(vec![]))
            .unwrap_err()
            .reason,
        "SnapshotNotFound"
    );
    let mut locked = g.clone();
    locked.lock = Some("backup".into());
    let refusal = check_rollback(&rollback_input(), &locked).unwrap_err();
    assert!(refusal.transient);
    let mut unmanaged = rollback_input();
    unmanaged.managed = false;
    assert_eq!(
        check_rollback(&unmanaged, &g).unwrap_err().reason,
        "GuestNotManaged"
    );
    // pvectl names any snapshot.
    let mut any = rollback_input();
    any.owner_uid = None;
    assert_eq!(check_rollback(&any, &foreign), Ok(()));
}

#[test]
fn descriptions_round_trip_without_the_owner_line() {
    let d = description_with_owner("u-1", Some("kernel 6.8"));
    assert_eq!(user_description(&d), "kernel 6.8");
    assert_eq!(
        description_with_owner("u-1", Some("  ")),
        "kubepve.io/owner: u-1"
    );
}
