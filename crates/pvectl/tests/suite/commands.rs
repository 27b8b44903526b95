//! End to end, one command at a time: describe, the power verbs and their flags, containers,
//! guest selection (names, comma lists, --all, -l, --status, --node, --template) and flag
//! validation. Discovery, history, diff and completion are in `discovery.rs`.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, json_of};
use pve_testkit::{CtSeed, VmSeed};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_config_pending_changes_and_recent_tasks() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "restart", "150"]).expect(0);
    // Memory on a running VM waits for the next start: pending.
    let r = env
        .run(&["vm", "update", "150", "--memory", "4G"])
        .expect(0);
    assert!(
        r.stdout
            .contains("vm/150: pending until the next restart: memory"),
        "{}",
        r.stdout
    );
    let r = env.run(&["vm", "describe", "web-01"]).expect(0);
    let d = &r.stdout;
    for want in [
        "Name:        web-01\n",
        "VMID:        150\n",
        "Kind:        vm (qemu)\n",
        "Node:        pve1\n",
        "Status:      running",
        "Tags:        env.prod;web\n",
        "Config:\n",
        "  memory: 2048\n",
        "  scsi0: local-lvm:vm-150-disk-0,size=32G\n",
        "Pending changes (applied at the next cold start):\n  memory: 2048 -> 4096\n",
        "Recent tasks:\n",
    ] {
        assert!(d.contains(want), "{want:?} missing:\n{d}");
    }
    let tasks = d.split("Recent tasks:\n").nth(1).unwrap();
    assert!(
        tasks.contains("qmreboot") && tasks.contains("OK") && tasks.contains("UPID:pve1:"),
        "{d}"
    );
    assert!(!d.contains("digest"), "the digest is noise: {d}");
    // A cold start applies it: no more pending changes.
    env.run(&["vm", "stop", "150", "--yes"]).expect(0);
    env.run(&["vm", "start", "150"]).expect(0);
    let r = env.run(&["vm", "describe", "150"]).expect(0);
    assert!(
        r.stdout.contains("  memory: 4096\n")
            && r.stdout
                .contains("Pending changes (applied at the next cold start):\n  <none>"),
        "{}",
        r.stdout
    );
    // Two guests: both, separated by a blank line; a guest without tasks says so.
    let r = env.run(&["vm", "describe", "150,151"]).expect(0);
    let parts: Vec<&str> = r.stdout.split("\n\nName:").collect();
    assert_eq!(parts.len(), 2, "{}", r.stdout);
    assert!(
        parts[1].contains("web-02") && parts[1].contains("Recent tasks:\n  <none>"),
        "{}",
        r.stdout
    );
    // Operator-owned guests say who manages them.
    env.pve
        .add_vm(VmSeed::new(160, "owned").config("tags", "kubepve;kubepve-owner-0a1b"))
        .await;
    let r = env.run(&["vm", "describe", "owned"]).expect(0);
    assert!(
        r.stdout.contains("Managed by:  the kubepve operator"),
        "{}",
        r.stdout
    );
    env.run(&["vm", "describe"]).expect(2);
    env.run(&["vm", "describe", "nope"]).expect(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_and_force_after_timeout() {
    let env = Env::new().await;
    env.seed().await;
    // The guest ignores ACPI: a graceful shutdown cannot succeed.
    env.pve.guest_attrs(150, json!({"acpi": false})).await;
    let r = env
        .run(&["vm", "shutdown", "150", "--timeout", "5"])
        .expect(1);
    assert!(r.stderr.contains("got timeout"), "{}", r.stderr);
    assert!(
        env.last_body("POST", "/150/status/shutdown")
            .await
            .contains("timeout=5"),
    );
    assert_eq!(env.status(150).await.as_deref(), Some("running"));
    assert_eq!(env.journal().last().unwrap()["outcome"], "failed");
    // --force-after-timeout: Proxmox stops it hard after the timeout.
    let r = env
        .run(&[
            "vm",
            "shutdown",
            "150",
            "--timeout",
            "5",
            "--force-after-timeout",
        ])
        .expect(0);
    assert!(r.stdout.contains("vm/150 qmshutdown UPID:"), "{}", r.stdout);
    let body = env.last_body("POST", "/150/status/shutdown").await;
    assert!(
        body.contains("timeout=5") && body.contains("forceStop=1"),
        "{body}"
    );
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    // A guest that is off: nothing to do, no request.
    env.pve.clear_requests().await;
    let r = env.run(&["vm", "shutdown", "150"]).expect(0);
    assert!(
        r.stdout.contains("vm/150: already stopped, nothing to do"),
        "{}",
        r.stdout
    );
    assert!(env.writes().await.is_empty());
    // Without --timeout no timeout is sent (Proxmox's default applies).
    env.run(&["vm", "shutdown", "152"]).expect(0);
    let body = env.last_body("POST", "/152/status/shutdown").await;
    assert!(
        !body.contains("timeout") && !body.contains("forceStop"),
        "{body}"
    );
    assert_eq!(env.status(152).await.as_deref(), Some("stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reboots_running_guests_and_starts_stopped_ones() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run(&["vm", "restart", "db-01"]).expect(0);
    assert!(r.stdout.contains("vm/152 qmreboot UPID:"), "{}", r.stdout);
    assert_eq!(env.status(152).await.as_deref(), Some("running"));
    let r = env.run(&["vm", "reboot", "151"]).expect(0);
    assert!(r.stdout.contains("vm/151 qmstart UPID:"), "{}", r.stdout);
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
    // More than one guest: asked first.
    env.pve.clear_requests().await;
    let r = env.run(&["vm", "restart", "-l", "web"]).expect(4);
    assert!(
        r.stderr.contains("About to restart:") && r.stderr.contains("vm/150 (web-01)"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());
    let r = env.run(&["vm", "restart", "-l", "web", "--yes"]).expect(0);
    assert_eq!(
        r.stdout.matches("qmreboot UPID:").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("restart: 2 of 2 VMs succeeded"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_force_sends_overrule_shutdown() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "stop", "150", "--yes"]).expect(0);
    let body = env.last_body("POST", "/150/status/stop").await;
    assert!(!body.contains("overrule"), "{body}");
    // --force asks Proxmox to abort a shutdown task that may be running (overrule-shutdown).
    // (fakepve records the flag but does not model the abort, so no shutdown runs here.)
    let r = env
        .run(&["ct", "stop", "200", "--force", "--yes"])
        .expect(0);
    assert!(r.stdout.contains("ct/200 vzstop UPID:"), "{}", r.stdout);
    let body = env.last_body("POST", "/200/status/stop").await;
    assert!(body.contains("overrule-shutdown=1"), "{body}");
    assert_eq!(env.status(200).await.as_deref(), Some("stopped"));
    // Stopping a stopped guest: nothing to do.
    let r = env.run(&["ct", "stop", "200", "--yes"]).expect(0);
    assert!(r.stdout.contains("already stopped"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_verbs() {
    let env = Env::new().await;
    env.seed().await;
    env.pve
        .add_ct(
            CtSeed::new(201, "cache-01")
                .config("tags", "env.dev")
                .config("memory", 512),
        )
        .await;
    let r = env.run(&["ct", "list", "-o", "name"]).expect(0);
    assert_eq!(r.stdout, "ct/200\nct/201\n");
    let r = env.run(&["container", "list"]).expect(0);
    assert!(
        r.stdout.contains("dns-01") && !r.stdout.contains("web-01"),
        "{}",
        r.stdout
    );
    let r = env.run(&["ct", "get", "cache-01", "-o", "json"]).expect(0);
    let v = json_of(&r.stdout);
    assert_eq!(
        (v["kind"].as_str(), v["vmid"].as_u64()),
        (Some("ct"), Some(201))
    );
    assert!(v["config"]["hostname"].is_string(), "{v}");
    let r = env.run(&["ct", "describe", "201"]).expect(0);
    assert!(r.stdout.contains("Kind:        ct (lxc)"), "{}", r.stdout);
    // A VMID of the other kind is a usage error that says which command to use.
    let r = env.run(&["ct", "start", "150"]).expect(2);
    assert!(r.stderr.contains("pvectl vm"), "{}", r.stderr);

    let r = env.run(&["ct", "start", "201"]).expect(0);
    assert!(r.stdout.contains("ct/201 vzstart UPID:"), "{}", r.stdout);
    assert_eq!(env.status(201).await.as_deref(), Some("running"));
    let r = env.run(&["ct", "restart", "201"]).expect(0);
    assert!(r.stdout.contains("ct/201 vzreboot UPID:"), "{}", r.stdout);
    assert_eq!(env.status(201).await.as_deref(), Some("running"));
    let r = env
        .run(&["ct", "shutdown", "cache-01", "--timeout", "30"])
        .expect(0);
    assert!(r.stdout.contains("ct/201 vzshutdown UPID:"), "{}", r.stdout);
    assert_eq!(env.status(201).await.as_deref(), Some("stopped"));
    let r = env
        .run(&["ct", "update", "201", "--memory", "1G", "--add-tag", "web"])
        .expect(0);
    assert!(r.stdout.contains("memory: 512 -> 1024"), "{}", r.stdout);
    let g = env.pve.guest(201).await.unwrap();
    assert_eq!(g["config"]["memory"].to_string().trim_matches('"'), "1024");
    assert!(g["config"]["tags"].to_string().contains("web"), "{g}");
    let r = env.run_stdin(&["ct", "stop", "200"], "y\n").expect(0);
    assert!(r.stdout.contains("ct/200 vzstop UPID:"), "{}", r.stdout);
    assert_eq!(env.status(200).await.as_deref(), Some("stopped"));
    let r = env.run(&["ct", "delete", "200,201", "--yes"]).expect(0);
    assert_eq!(
        r.stdout.matches("vzdestroy UPID:").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(env.pve.guest(200).await.is_none() && env.pve.guest(201).await.is_none());
    let r = env.run(&["ct", "list"]).expect(0);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("No containers found."), "{}", r.stderr);
    let labels: Vec<String> = env
        .journal()
        .iter()
        .flat_map(|r| r["guests"].as_array().unwrap().clone())
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    assert!(labels.iter().all(|l| l.starts_with("ct/")), "{labels:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_by_name_list_all_selector_and_filters() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.add_node("pve2", true).await;
    env.pve
        .add_vm(
            VmSeed::new(160, "far-01")
                .node("pve2")
                .config("tags", "env.prod"),
        )
        .await;
    env.pve
        .add_vm(
            VmSeed::new(9000, "tmpl")
                .template()
                .config("tags", "env.prod"),
        )
        .await;
    let names = |args: &[&str]| {
        let mut a = vec!["vm", "list", "-o", "name"];
        a.extend_from_slice(args);
        env.run(&a)
            .expect(0)
            .stdout
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&[]),
        ["vm/150", "vm/151", "vm/152", "vm/160", "vm/9000"]
    );
    // Names, VMIDs and comma lists, in any mix; each guest once, in VMID order.
    assert_eq!(names(&["db-01"]), ["vm/152"]);
    assert_eq!(names(&["152,web-01", "150"]), ["vm/150", "vm/152"]);
    assert_eq!(names(&["--all"]), names(&[]));
    // Selectors over tags.
    assert_eq!(
        names(&["-l", "env=prod"]),
        ["vm/150", "vm/152", "vm/160", "vm/9000"]
    );
    assert_eq!(
        names(&["-l", "env=prod,!db"]),
        ["vm/150", "vm/160", "vm/9000"]
    );
    assert_eq!(names(&["-l", "web"]), ["vm/150", "vm/151"]);
    assert_eq!(names(&["-l", "env!=prod"]), ["vm/151"]);
    assert_eq!(names(&["--selector", "!env"]), Vec::<String>::new());
    // Filters narrow any selection.
    assert_eq!(names(&["--status", "running"]), ["vm/150", "vm/152"]);
    assert_eq!(names(&["--node", "pve2"]), ["vm/160"]);
    assert_eq!(names(&["--template", "true"]), ["vm/9000"]);
    assert_eq!(
        names(&["--template", "false", "-l", "env=prod", "--node", "pve1"]),
        ["vm/150", "vm/152"]
    );
    assert_eq!(names(&["150,151", "--status", "stopped"]), ["vm/151"]);
    // Mutating commands never touch templates unless asked.
    let r = env.run(&["vm", "start", "--all", "--dry-run"]).expect(0);
    assert!(!r.stdout.contains("9000"), "{}", r.stdout);
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
    let r = env
        .run(&["vm", "stop", "-l", "env=prod", "--node", "pve1", "--yes"])
        .expect(0);
    assert_eq!(r.stdout.matches("qmstop UPID:").count(), 2, "{}", r.stdout);
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    assert_eq!(env.status(152).await.as_deref(), Some("stopped"));
    assert_eq!(env.status(160).await.as_deref(), Some("stopped"));
    // Errors: nothing selected, nothing matched, unknown name, ambiguous name, bad selector.
    let r = env.run(&["vm", "start"]).expect(2);
    assert!(r.stderr.contains("--all, or -l SELECTOR"), "{}", r.stderr);
    let r = env.run(&["vm", "start", "-l", "env=qa"]).expect(1);
    assert!(
        r.stderr.contains("no VM matches the selection"),
        "{}",
        r.stderr
    );
    let r = env.run(&["vm", "start", "web-99"]).expect(1);
    assert!(r.stderr.contains("no VM named \"web-99\""), "{}", r.stderr);
    env.pve.add_vm(VmSeed::new(161, "web-01")).await;
    let r = env.run(&["vm", "start", "web-01"]).expect(2);
    assert!(r.stderr.contains("VMIDs 150, 161"), "{}", r.stderr);
    let r = env.run(&["vm", "list", "-l", "a.b=c"]).expect(2);
    assert!(
        r.stderr.contains("selector \"a.b=c\": a key holds no '.'"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_are_validated_before_anything_happens() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.clear_requests().await;
    for args in [
        &["vm", "start", "150", "--parallel", "0"][..],
        &["vm", "start", "151", "--wait-timeout", "soon"],
        &["vm", "list", "--template", "maybe"],
        &["vm", "list", "--sort-by", "colour"],
        &["vm", "update", "150", "--memory", "4X"],
        &["vm", "update", "150", "--add-tag", "bad tag"],
        &["vm", "update", "150", "--set", "novalue"],
        &["vm", "shutdown", "150", "--timeout", "-1"],
        &[
            "vm", "create", "--memory", "2G", "--name", "x", "--vmid", "abc",
        ],
        &["vm", "stop", "150", "--no-such-flag"],
        &["task", "logs", "nope"],
        &["node"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(!r.stderr.is_empty(), "{args:?} says why");
    }
    assert!(env.writes().await.is_empty(), "{:?}", env.writes().await);
    assert_eq!(env.status(151).await.as_deref(), Some("stopped"));
    assert!(env.journal().is_empty());
    let r = env.run(&["--version"]).expect(0);
    assert_eq!(r.stdout, format!("pvectl {}\n", env!("CARGO_PKG_VERSION")));
    let r = env.run(&["vm", "--help"]).expect(0);
    for verb in [
        "list", "get", "describe", "create", "start", "stop", "shutdown", "restart", "update",
        "delete",
    ] {
        assert!(r.stdout.contains(verb), "{verb}: {}", r.stdout);
    }
}
