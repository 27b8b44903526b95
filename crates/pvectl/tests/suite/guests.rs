//! End to end: `vm`/`ct` list, get, describe and power commands against fakepve.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_get() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run(&["vm", "list"]).expect(0);
    eprintln!("{}", r.stdout);
    assert!(r.stdout.starts_with("VMID"), "{}", r.stdout);
    assert!(r.stdout.contains("web-01") && r.stdout.contains("db-01"));
    assert!(!r.stdout.contains("dns-01"), "containers are not VMs");
    let r = env
        .run(&["vm", "list", "-o", "name", "-l", "env=prod"])
        .expect(0);
    assert_eq!(r.stdout, "vm/150\nvm/152\n");
    let r = env
        .run(&["vm", "list", "-o", "json", "--status", "stopped"])
        .expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["vmid"], 151);
    let r = env.run(&["vm", "get", "150", "-o", "yaml"]).expect(0);
    assert!(r.stdout.contains("vmid: 150"), "{}", r.stdout);
    let r = env.run(&["ct", "describe", "dns-01"]).expect(0);
    assert!(
        r.stdout.contains("Config:") && r.stdout.contains("Recent tasks:"),
        "{}",
        r.stdout
    );
    let r = env.run(&["vm", "get", "200"]).expect(2);
    assert!(r.stderr.contains("pvectl ct"), "{}", r.stderr);
    let r = env.run(&["vm", "get", "999"]).expect(1);
    assert!(r.stderr.contains("no VM with VMID 999"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_commands_change_the_fake_and_print_upids() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run(&["vm", "start", "151"]).expect(0);
    assert!(r.stdout.contains("vm/151 qmstart UPID:"), "{}", r.stdout);
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
    // Already running: nothing to do, still success.
    let r = env.run(&["vm", "start", "web-02"]).expect(0);
    assert!(r.stdout.contains("already running"), "{}", r.stdout);
    // Bulk shutdown by selector asks first; --yes answers.
    env.run(&[
        "vm",
        "shutdown",
        "-l",
        "env=prod",
        "--timeout",
        "30",
        "--yes",
    ])
    .expect(0);
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    assert_eq!(env.status(152).await.as_deref(), Some("stopped"));
    // Restart of a stopped guest starts it.
    env.run(&["vm", "restart", "150"]).expect(0);
    assert_eq!(env.status(150).await.as_deref(), Some("running"));
    // Stop asks; answered yes on stdin.
    let r = env.run_stdin(&["vm", "stop", "150"], "y\n").expect(0);
    assert!(r.stderr.contains("About to stop"), "{}", r.stderr);
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    // Stop refused on stdin: exit 4 and nothing changes.
    let r = env.run_stdin(&["vm", "stop", "151"], "n\n").expect(4);
    assert!(r.stderr.contains("aborted"), "{}", r.stderr);
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
    // --no-wait returns the UPID at once.
    let r = env
        .run(&["ct", "stop", "200", "--yes", "--no-wait"])
        .expect(0);
    assert!(r.stdout.contains("ct/200 vzstop UPID:"), "{}", r.stdout);
    // Dry run changes nothing.
    let r = env.run(&["vm", "stop", "151", "--dry-run"]).expect(0);
    assert!(r.stdout.contains("would POST nodes/"), "{}", r.stdout);
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
    // Each mutating command is in the journal, dry runs are not.
    let j = env.journal();
    assert!(j.len() >= 5, "{j:?}");
    assert!(
        j.iter()
            .all(|r| r["context"] == "lab" && r["user"] == "tester")
    );
    assert!(
        j.iter()
            .any(|r| r["outcome"] == "ok"
                && r["upids"][0].as_str().unwrap_or("").starts_with("UPID:"))
    );
    let r = env
        .run(&["history", "--guest", "150", "-o", "json"])
        .expect(0);
    let h: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(h.as_array().unwrap().len() >= 3, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_partial_failure_has_its_own_exit_code() {
    let env = Env::new().await;
    env.seed().await;
    // 150 cannot be started while locked: a failed task; 151 starts.
    env.pve.lock_guest(151, "backup").await;
    let r = env.run(&["vm", "start", "151,152", "--dry-run"]).expect(0);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    env.run(&["vm", "shutdown", "152", "--yes"]).expect(0);
    let r = env.run(&["vm", "start", "151,152"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("1 of 2 VMs succeeded"), "{}", r.stderr);
    assert_eq!(env.status(152).await.as_deref(), Some("running"));
    assert_eq!(env.journal().last().unwrap()["outcome"], "partial");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_shows_what_goes_and_asks() {
    let env = Env::new().await;
    env.seed().await;
    // Running without --force: refused before any question.
    let r = env.run(&["vm", "delete", "150", "--yes"]).expect(1);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // Refused at the prompt.
    let r = env
        .run_stdin(&["vm", "delete", "150", "--force"], "no\n")
        .expect(4);
    assert!(r.stderr.contains("cannot be undone"), "{}", r.stderr);
    assert!(
        r.stderr.contains("scsi0") && r.stderr.contains("32G"),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(150).await.is_some());
    // No stdin at all: refused.
    env.run(&["vm", "delete", "151"]).expect(4);
    // Dry run: nothing happens.
    let r = env
        .run(&["vm", "delete", "150", "--force", "--dry-run"])
        .expect(0);
    assert!(r.stdout.contains("would DELETE"), "{}", r.stdout);
    assert!(env.pve.guest(150).await.is_some());
    // Answered: stopped, then deleted.
    let r = env
        .run_stdin(
            &["vm", "delete", "150", "--force", "--purge-disks"],
            "yes\n",
        )
        .expect(0);
    assert!(
        r.stdout.contains("qmstop") && r.stdout.contains("qmdestroy"),
        "{}",
        r.stdout
    );
    assert!(env.pve.guest(150).await.is_none());
    // Operator-owned guests get a warning.
    env.pve
        .add_vm(pve_testkit::VmSeed::new(160, "owned").config("tags", "kubepve;kubepve-owner-abc"))
        .await;
    let r = env.run(&["vm", "delete", "160", "--yes"]).expect(0);
    assert!(r.stderr.contains("kubepve operator"), "{}", r.stderr);
    assert!(env.pve.guest(160).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_node_filter_is_a_usage_error_not_an_empty_list() {
    let env = Env::new().await;
    env.seed().await;
    for args in [
        &["vm", "list", "--node", "nosuchnode"][..],
        &["vm", "stop", "--all", "--node", "nosuchnode", "--yes"],
    ] {
        let r = env.run(args).expect(2);
        assert!(
            r.stderr.contains("no node \"nosuchnode\" (nodes: pve1)"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stdout.contains("No VMs found"), "{}", r.stdout);
    }
    let r = env
        .run(&["vm", "list", "--node", "pve1", "-o", "name"])
        .expect(0);
    assert!(r.stdout.contains("vm/150"), "{}", r.stdout);
}
