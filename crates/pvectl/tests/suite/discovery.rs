//! Discovery and bookkeeping commands end to end against fakepve: `node list`, `storage list`,
//! `storage content`, `version`, `history` with its filters, `diff` exit codes, and shell
//! completions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Env, json_of};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_storages_and_version() {
    let env = Env::new().await;
    env.pve.add_node("pve2", true).await;
    env.pve
        .store_file("local", "debian-12.8.0-amd64-netinst.iso", 600 << 20, "iso")
        .await;
    env.store_lxc_template().await;
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
        failed[0]["reason"].as_str().unwrap().contains("locked"),
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
            "ID",
            "TIME",
            "CONTEXT",
            "OUTCOME",
            "GUESTS",
            "COMMAND",
            "USER",
            "PRINCIPAL",
            "UPIDS",
            "REASON",
            "CHANGES"
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
