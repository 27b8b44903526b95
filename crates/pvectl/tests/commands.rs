//! End to end, one command at a time: describe, the power verbs and their flags, containers,
//! discovery (nodes, storages, version), history filters, diff exit codes, completion, and
//! guest selection (names, comma lists, --all, -l, --status, --node, --template).

#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use pve_testkit::{CtSeed, VmSeed};
use serde_json::{Value, json};

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

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
async fn nodes_storages_and_version() {
    let env = Env::new().await;
    env.pve.add_node("pve2", true).await;
    env.pve
        .store_file("local", "debian-12.8.0-amd64-netinst.iso", 600 << 20, "iso")
        .await;
    env.pve
        .store_file(
            "local",
            "debian-12-standard_12.7-1_amd64.tar.zst",
            120 << 20,
            "vztmpl",
        )
        .await;
    let r = env.run(&["node", "list"]).expect(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME   STATUS"), "{}", r.stdout);
    assert!(
        lines[1].starts_with("pve1 ") && lines[2].starts_with("pve2 "),
        "{}",
        r.stdout
    );
    assert!(lines[1].contains("online"), "{}", r.stdout);
    let r = env.run(&["nodes", "list", "-o", "name"]).expect(0);
    assert_eq!(r.stdout, "pve1\npve2\n");
    let r = env.run(&["storage", "list"]).expect(0);
    assert!(r.stdout.starts_with("NODE   NAME"), "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().count(),
        5,
        "2 storages on 2 nodes: {}",
        r.stdout
    );
    let r = env
        .run(&[
            "storage",
            "list",
            "--node",
            "pve2",
            "--content",
            "iso",
            "-o",
            "json",
        ])
        .expect(0);
    let v = json_of(&r.stdout);
    let rows = v.as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    assert!(
        rows.iter().all(|s| s["node"] == "pve2"
            && s["content"]
                .as_str()
                .unwrap()
                .split(',')
                .any(|c| c == "iso")),
        "{v}"
    );
    // Templates and ISOs on a storage.
    let r = env
        .run(&["storage", "content", "local", "--content", "vztmpl"])
        .expect(0);
    assert!(
        r.stdout
            .contains("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst")
            && !r.stdout.contains(".iso"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("120M"), "{}", r.stdout);
    let r = env
        .run(&[
            "storage",
            "content",
            "local",
            "--content",
            "iso",
            "-o",
            "name",
        ])
        .expect(0);
    assert_eq!(r.stdout, "local:iso/debian-12.8.0-amd64-netinst.iso\n");
    let r = env
        .run(&["storage", "content", "local", "-o", "json"])
        .expect(0);
    let v = json_of(&r.stdout);
    let contents: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["iso", "vztmpl"], "{v}");
    env.run(&["storage", "content", "nosuch"]).expect(1);
    // version: client, server, context and user; a credentials check.
    let r = env.run(&["version"]).expect(0);
    assert!(
        r.stdout.starts_with("Client Version: pvectl ")
            && r.stdout.contains("Server Version: Proxmox VE ")
            && r.stdout.contains("Context: lab as root@pam!pvectl"),
        "{}",
        r.stdout
    );
    let r = env.run(&["version", "-o", "yaml"]).expect(0);
    let v: Value = serde_saphyr::from_str(&r.stdout).unwrap();
    assert_eq!(v["client"], env!("CARGO_PKG_VERSION"));
    assert!(v["server"].as_str().unwrap().starts_with('9'), "{v}");
    // A bad token: the check fails with a hint.
    let out = env
        .command(&["version"])
        .env("PVE_TOKEN_SECRET", "00000000-0000-0000-0000-000000000000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run(&["history"]).expect(0);
    assert_eq!(r.stdout.lines().count(), 1, "header only: {}", r.stdout);
    env.run(&["vm", "start", "151"]).expect(0);
    env.run(&["vm", "stop", "150", "--yes"]).expect(0);
    env.pve.lock_guest(152, "backup").await;
    env.run(&["vm", "shutdown", "152"]).expect(1);
    env.run(&["ct", "stop", "200", "--yes"]).expect(0);
    let all = json_of(&env.run(&["history", "-o", "json"]).expect(0).stdout);
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    let count = |args: &[&str]| {
        let mut a = vec!["history", "-o", "json"];
        a.extend_from_slice(args);
        json_of(&env.run(&a).expect(0).stdout)
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&["--guest", "151"]), 1);
    assert_eq!(count(&["--guest", "vm/150"]), 1);
    assert_eq!(count(&["--guest", "ct/200"]), 1);
    assert_eq!(count(&["--failed"]), 1);
    assert_eq!(count(&["--command", "stop"]), 2);
    assert_eq!(count(&["--context-name", "lab"]), 4);
    assert_eq!(count(&["--context-name", "other"]), 0);
    assert_eq!(count(&["--since", "2000-01-01"]), 4);
    assert_eq!(count(&["--since", "2999-01-01"]), 0);
    assert_eq!(count(&["--limit", "2"]), 2);
    // --limit keeps the newest.
    let r = env
        .run(&["history", "--limit", "1", "--no-headers"])
        .expect(0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("pvectl ct stop 200 --yes"),
        "{}",
        r.stdout
    );
    let failed = json_of(
        &env.run(&["history", "--failed", "-o", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(failed[0]["outcome"], "failed");
    assert_eq!(failed[0]["guests"], json!(["vm/152"]));
    assert!(
        failed[0]["error"].as_str().unwrap().contains("locked"),
        "{failed}"
    );
    let r = env.run(&["history", "-o", "wide"]).expect(0);
    let header: Vec<&str> = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "TIME",
            "CONTEXT",
            "OUTCOME",
            "GUESTS",
            "COMMAND",
            "USER",
            "PRINCIPAL",
            "UPIDS"
        ]
    );
    assert!(
        r.stdout.contains("root@pam!pvectl") && r.stdout.contains("tester"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_exit_codes() {
    let env = Env::new().await;
    let manifest = |memory: &str| {
        format!(
            "apiVersion: kubepve.io/v1alpha1\nkind: ProxmoxVM\nmetadata:\n  name: lab-vm\n  \
             namespace: default\nspec:\n  connectionRef:\n    name: pve-lab\n  vmid: 180\n  node: pve1\n  source:\n    blank: {{}}\n  \
             cpu:\n    cores: 1\n  memory: {memory}\n  disks:\n    - slot: scsi0\n      \
             storage: local-lvm\n      size: 4Gi\n  runStrategy: Halted\n"
        )
    };
    let file = env.path("vm.yaml");
    let path = file.display().to_string();
    std::fs::write(&file, manifest("1Gi")).unwrap();
    // Nothing there yet: changes, exit 1, and diff writes nothing.
    env.pve.clear_requests().await;
    let r = env.run(&["diff", "-f", &path]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("proxmoxvm/lab-vm"), "{}", r.stdout);
    assert!(env.writes().await.is_empty(), "{:?}", env.writes().await);
    assert!(env.pve.guest(180).await.is_none());
    env.run(&["apply", "-f", &path]).expect(0);
    // In sync: exit 0.
    let r = env.run(&["diff", "-f", &path]);
    assert_eq!(r.code, 0, "{r:?}");
    // A changed manifest: exit 1 and the change is named.
    std::fs::write(&file, manifest("2Gi")).unwrap();
    let r = env.run(&["diff", "-f", &path]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("memory"), "{}", r.stdout);
    // Could not compute: exit 2, whatever the cause.
    std::fs::write(
        env.path("bad.yaml"),
        "kind: ProxmoxVM\nspec: [not, a, map\n",
    )
    .unwrap();
    let bad = env.path("bad.yaml").display().to_string();
    env.run(&["diff", "-f", &bad]).expect(2);
    let missing = env.path("missing.yaml").display().to_string();
    env.run(&["diff", "-f", &missing]).expect(2);
    env.run(&["diff"]).expect(2);
    let r = env
        .command(&["diff", "-f", &path])
        .env("PVE_URL", "https://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2), "unreachable server");
}

#[test]
fn completion_scripts_for_each_shell() {
    let bin = env!("CARGO_BIN_EXE_pvectl");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _pvectl"),
        ("zsh", "#compdef pvectl"),
        ("fish", "complete -c pvectl"),
    ] {
        let out = run(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {marker} missing");
        for word in [
            "vm",
            "ct",
            "apply",
            "dry-run",
            "selector",
            "force-after-timeout",
        ] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
        assert!(out.stderr.is_empty(), "{shell}");
    }
    // bash accepts its script.
    let out = run(&["completion", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.bash"), &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(dir.path().join("c.bash"))
        .status()
        .unwrap();
    assert!(check.success(), "bash -n rejects the completion script");
    assert_eq!(run(&["completion", "tcsh"]).status.code(), Some(2));
    assert_eq!(run(&["completion"]).status.code(), Some(2));
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
    assert!(r.stderr.contains("selector term"), "{}", r.stderr);
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
