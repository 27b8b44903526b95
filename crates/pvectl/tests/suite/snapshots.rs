//! `pvectl vm|ct snapshot` end to end against fakepve: create (one guest and bulk with -l),
//! list as a tree and as JSON, rollback with its confirmation listing what is lost, delete
//! with confirmation, --dry-run changing nothing, bad names refused before any request, and
//! the journal.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, json_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_rollback_delete() {
    let env = Env::new().await;
    env.seed().await;

    // Create, waiting for the task, with a description.
    let r = env
        .run(&[
            "vm",
            "snapshot",
            "create",
            "150",
            "before-upgrade",
            "--description",
            "kernel 6.8",
        ])
        .expect(0);
    assert!(r.stdout.contains("vm/150 qmsnapshot UPID:pve1:"), "{r:?}");
    env.run(&["vm", "snapshot", "create", "web-01", "after-upgrade"])
        .expect(0);
    // The same name again is refused before anything is sent.
    env.pve.clear_requests().await;
    let r = env.run(&["vm", "snapshot", "create", "150", "before-upgrade"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("exists already on vm/150"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());

    // List: a tree (after-upgrade is a child of before-upgrade), and JSON.
    let r = env.run(&["vm", "snapshot", "list", "150"]).expect(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{}", r.stdout);
    assert!(lines[1].starts_with("before-upgrade") && lines[1].contains("kernel 6.8"));
    assert!(lines[2].starts_with("  after-upgrade") && lines[2].contains("before-upgrade"));
    let doc = json_of(
        &env.run(&["vm", "snapshot", "list", "150", "-o", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(doc[1]["name"], "after-upgrade");
    assert_eq!(doc[1]["parent"], "before-upgrade");
    assert!(doc[0]["time"].as_str().unwrap().ends_with('Z'));

    // Rollback asks, saying what is lost; "no" changes nothing.
    env.pve.clear_requests().await;
    let r = env.run_stdin(
        &["vm", "snapshot", "rollback", "150", "before-upgrade"],
        "n\n",
    );
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr
            .contains("every change to its disks and config since")
            && r.stderr.contains("its running state (it is stopped)")
            && r.stderr.contains("Roll back 1 guest(s)? [y/N]"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());
    // --dry-run shows the request and changes nothing.
    let r = env
        .run(&[
            "vm",
            "snapshot",
            "rollback",
            "150",
            "before-upgrade",
            "--start",
            "--dry-run",
        ])
        .expect(0);
    assert!(
        r.stdout
            .contains("would POST nodes/pve1/qemu/150/snapshot/before-upgrade/rollback start=1"),
        "{}",
        r.stdout
    );
    assert!(env.writes().await.is_empty());
    // Yes: rolled back and, with --start, running again.
    env.run_stdin(
        &[
            "vm",
            "snapshot",
            "rollback",
            "150",
            "before-upgrade",
            "--start",
        ],
        "y\n",
    )
    .expect(0);
    assert_eq!(env.status(150).await.as_deref(), Some("running"));
    let guest = env.pve.guest(150).await.unwrap();
    assert_eq!(guest["config"]["parent"], "before-upgrade", "{guest:#}");

    // Delete asks too; a snapshot that is not there is refused before any request.
    let r = env.run(&["vm", "snapshot", "delete", "150", "nope"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("no snapshot nope on vm/150: nothing was changed"),
        "{}",
        r.stderr
    );
    env.run(&["vm", "snapshot", "delete", "150", "after-upgrade", "--yes"])
        .expect(0);
    let doc = json_of(
        &env.run(&["vm", "snapshot", "list", "150", "-o", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(doc.as_array().unwrap().len(), 1);

    // The journal has the mutating commands with their UPIDs.
    let journal = env.journal();
    let done: Vec<_> = journal.iter().filter(|r| r["outcome"] == "ok").collect();
    assert!(done.iter().any(
        |r| r["command"].as_str().unwrap().contains("snapshot rollback")
            && r["upids"][0].as_str().unwrap().contains(":qmrollback:")
    ));
    assert!(
        done.iter()
            .any(|r| r["upids"][0].as_str().unwrap().contains(":qmdelsnapshot:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_forms_and_bad_input() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.clear_requests().await;
    // Bad names and shapes never reach Proxmox.
    for args in [
        vec!["vm", "snapshot", "create", "150", "1st"],
        vec!["vm", "snapshot", "create", "150", "current"],
        vec!["vm", "snapshot", "create", "150", "dot.ted"],
        vec!["vm", "snapshot", "create", "-l", "env=prod", "150", "x1"],
        vec!["vm", "snapshot", "create", "150"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
    }
    let r = env.run(&["ct", "snapshot", "create", "200", "withram", "--vmstate"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("containers have no RAM state"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty(), "{:?}", env.writes().await);

    // -l: both production VMs, one line each, a summary; --dry-run first.
    let r = env
        .run(&[
            "vm",
            "snapshot",
            "create",
            "-l",
            "env=prod",
            "nightly_1",
            "--dry-run",
        ])
        .expect(0);
    assert_eq!(r.stdout.matches("would POST").count(), 2, "{}", r.stdout);
    assert!(env.writes().await.is_empty());
    let r = env
        .run(&["vm", "snapshot", "create", "-l", "env=prod", "nightly_1"])
        .expect(0);
    assert!(r.stdout.contains("vm/150 qmsnapshot") && r.stdout.contains("vm/152 qmsnapshot"));
    assert!(
        r.stderr.contains("snapshot: 2 of 2 VMs succeeded"),
        "{}",
        r.stderr
    );
    // Bulk delete: one confirmation for all; a guest without the snapshot stops it all.
    let r = env.run(&["vm", "snapshot", "delete", "--all", "nightly_1", "--yes"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no snapshot nightly_1 on vm/151"),
        "{}",
        r.stderr
    );
    let r = env
        .run(&[
            "vm",
            "snapshot",
            "delete",
            "-l",
            "env=prod",
            "nightly_1",
            "--yes",
        ])
        .expect(0);
    assert!(
        r.stderr.contains("delete snapshot: 2 of 2 VMs succeeded"),
        "{}",
        r.stderr
    );
}
