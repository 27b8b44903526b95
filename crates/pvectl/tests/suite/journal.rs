//! The operations journal as a database, end to end against fakepve: what `history --guest`
//! shows changed, `rollback` (dry run, confirmation, journaled) putting recorded settings back
//! through `update`, several pvectl processes writing at once, the one-time import of an older
//! `journal.jsonl`, `--since` forms, the local user without `$USER`, and file modes.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, json_of};
use serde_json::{Value, json};

async fn key(env: &Env, vmid: u32, key: &str) -> Option<String> {
    let g = env.pve.guest(vmid).await.unwrap();
    match &g["config"][key] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_what_changed_and_rollback_puts_it_back() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "update", "151", "--memory", "4096"])
        .expect(0);
    env.run(&[
        "vm",
        "update",
        "151",
        "--memory",
        "8192",
        "--set",
        "description=tuned",
    ])
    .expect(0);
    // Another guest's change is not part of 151's history.
    env.run(&["vm", "update", "152", "--cores", "3"]).expect(0);

    let ops = json_of(
        &env.run(&["history", "--guest", "151", "-o", "json"])
            .expect(0)
            .stdout,
    );
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:#?}");
    let (first, second) = (
        ops[0]["id"].as_i64().unwrap(),
        ops[1]["id"].as_i64().unwrap(),
    );
    assert_eq!(
        ops[0]["changes"],
        json!([{"guest": "vm/151", "key": "memory", "before": null, "after": "4096"}]),
        "{ops:#?}"
    );
    let changed: Vec<&str> = ops[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["description", "memory"]);
    let table = env.run(&["history", "--guest", "151"]).expect(0).stdout;
    assert!(
        table.contains("memory: (unset) -> 4096")
            && table.contains("description: (unset) -> tuned; memory: 4096 -> 8192"),
        "{table}"
    );

    // A dry run shows the diff and changes nothing; no journal entry either.
    env.pve.clear_requests().await;
    let r = env.run(&["rollback", "vm", "151", "--dry-run"]).expect(0);
    assert!(
        r.stdout.contains(&format!(
            "rolling back to the settings before operation {second}"
        )) && r.stdout.contains("memory: 8192 -> 4096")
            && r.stdout.contains("description: tuned -> (unset)")
            && r.stdout.contains("(dry run)"),
        "{}",
        r.stdout
    );
    assert!(env.writes().await.is_empty(), "{:?}", env.writes().await);

    // "no" changes nothing and is journaled as declined.
    let r = env.run_stdin(&["rollback", "vm", "151"], "n\n").expect(4);
    assert!(
        r.stderr.contains(&format!(
            "Roll back vm/151 (web-02) to the settings before operation {second}? [y/N]"
        )),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "declined", "{last:#}");
    assert_eq!(last["command"], "pvectl rollback vm 151");

    // "yes": undoes the newest change, through update (journaled with what it changed).
    env.run_stdin(&["rollback", "vm", "151"], "y\n").expect(0);
    assert_eq!(key(&env, 151, "memory").await.as_deref(), Some("4096"));
    assert_eq!(key(&env, 151, "description").await, None);
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "ok", "{last:#}");
    assert_eq!(last["command"], "pvectl rollback vm 151");
    assert_eq!(last["changes"].as_array().unwrap().len(), 2, "{last:#}");

    // --to OPERATION: the settings that operation left.
    env.run(&[
        "rollback",
        "vm",
        "web-02",
        "--to",
        &second.to_string(),
        "--yes",
    ])
    .expect(0);
    assert_eq!(key(&env, 151, "memory").await.as_deref(), Some("8192"));
    assert_eq!(
        key(&env, 151, "description").await.as_deref(),
        Some("tuned")
    );
    let r = env
        .run(&[
            "rollback",
            "vm",
            "151",
            "--to",
            &second.to_string(),
            "--yes",
        ])
        .expect(0);
    assert!(r.stdout.contains("already has"), "{}", r.stdout);
    let r = env
        .run(&["rollback", "vm", "151", "--to", &first.to_string()])
        .expect(4);
    assert!(r.stdout.contains("memory: 8192 -> 4096"), "{}", r.stdout);
    // An operation that did not change this guest, and a guest without recorded changes.
    let other = env
        .journal()
        .iter()
        .find(|o| o["guests"] == json!(["vm/152"]))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = env
        .run(&["rollback", "vm", "151", "--to", &other.to_string()])
        .expect(2);
    assert!(
        r.stderr.contains("recorded no config change of vm/151"),
        "{}",
        r.stderr
    );
    let r = env.run(&["rollback", "vm", "150"]).expect(2);
    assert!(
        r.stderr.contains("no recorded config change of vm/150"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_pvectl_processes_write_the_journal_at_once() {
    let env = Env::new().await;
    env.seed().await;
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.command(&[
                "vm",
                "start",
                if i % 2 == 0 { "150" } else { "152" },
                "--no-wait",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            !stderr.contains("journal"),
            "a journal write failed: {stderr}"
        );
    }
    let ops = env.journal();
    assert_eq!(ops.len(), 8, "{ops:#?}");
    let mut ids: Vec<i64> = ops.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    // 150 and 152 are running already: every start had nothing to do.
    assert!(ops.iter().all(|o| o["outcome"] == "skipped"), "{ops:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_journal_jsonl_is_imported_once_and_left_alone() {
    let env = Env::new().await;
    let old = [
        json!({"time": "2025-01-31T12:00:00Z", "user": "ann", "principal": "root@pam",
               "context": "lab", "command": "pvectl vm stop 150 --yes", "guests": ["vm/150"],
               "upids": ["UPID:pve1:00001234:00005678:679CBB00:qmstop:150:root@pam:"],
               "outcome": "ok"}),
        json!({"time": "2025-01-31T13:00:00Z", "user": "ann", "principal": "root@pam",
               "context": "lab", "command": "pvectl vm shutdown -l app=web", "guests": ["vm/150", "vm/151"],
               "upids": [], "outcome": "started", "run": "r1"}),
        json!({"time": "2025-01-31T13:00:01Z", "user": "ann", "principal": "root@pam",
               "context": "lab", "command": "pvectl vm shutdown -l app=web", "guests": ["vm/150"],
               "upids": ["UPID:pve1:00001235:00005679:679CC910:qmshutdown:150:root@pam:"],
               "outcome": "task", "run": "r1"}),
    ];
    let text: String = old.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(env.path("journal.jsonl"), &text).unwrap();
    let ops = env.journal();
    assert_eq!(ops.len(), 2, "{ops:#?}");
    assert_eq!(ops[0]["command"], "pvectl vm stop 150 --yes");
    assert_eq!(ops[0]["time"], "2025-01-31T12:00:00Z");
    assert_eq!(ops[0]["tasks"][0]["type"], "qmstop");
    // The unfinished run is one operation, still `started`, with its task.
    assert_eq!(ops[1]["outcome"], "started");
    assert_eq!(ops[1]["guests"], json!(["vm/150", "vm/151"]));
    assert_eq!(ops[1]["tasks"][0]["guest"], "vm/150");
    // An older setup whose PVECTL_JOURNAL names the JSON-lines file finds the same database.
    let out = env
        .command(&["history", "-o", "json"])
        .env("PVECTL_JOURNAL", env.path("journal.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let same: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same, ops);
    // Not imported again; the old file is untouched.
    std::fs::write(env.path("journal.jsonl"), format!("{text}{}\n", old[0])).unwrap();
    assert_eq!(env.journal().len(), 2);
    assert_eq!(
        std::fs::read_to_string(env.path("journal.jsonl")).unwrap(),
        format!("{text}{}\n", old[0])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_compares_instants_and_rejects_what_is_not_a_time() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "start", "151"]).expect(0);
    let count = |since: &str| {
        let r = env
            .run(&["history", "--since", since, "-o", "json"])
            .expect(0);
        json_of(&r.stdout).as_array().unwrap().len()
    };
    assert_eq!(count("1h"), 1);
    assert_eq!(count("2d"), 1);
    // The same instants written in UTC and at +05:00 select the same operations.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |secs: i64, offset_h: i64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{}", secs + offset_h * 3600)])
            .arg("+%Y-%m-%dT%H:%M:%S")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap().trim().to_string();
        if offset_h == 0 {
            format!("{text}Z")
        } else {
            format!("{text}+{offset_h:02}:00")
        }
    };
    for (secs, expected) in [(now + 60, 0), (now - 3600, 1)] {
        assert_eq!(count(&at(secs, 0)), expected, "{}", at(secs, 0));
        assert_eq!(count(&at(secs, 5)), expected, "{}", at(secs, 5));
    }
    for bad in ["not-a-time", "2026-13-45", "yesterday"] {
        let r = env.run(&["history", "--since", bad]).expect(2);
        assert!(
            r.stderr.contains("RFC 3339") && r.stderr.contains("1h"),
            "{bad}: {}",
            r.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_names_the_uid_without_user_and_its_files_are_private() {
    let env = Env::new().await;
    env.seed().await;
    let out = env
        .command(&["vm", "start", "151"])
        .env_remove("USER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8(me.stdout).unwrap();
    assert_eq!(env.journal()[0]["user"], me.trim());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.path("journal.db")), 0o600);
    let wal = env.path("journal.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    assert_eq!(mode(&env.path("config.yaml")), 0o600);
    // Backups and their folder.
    env.run(&["vm", "delete", "151", "--force", "--yes"])
        .expect(0);
    let dir = env.path(".local/state/pvectl/backups");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    for file in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(mode(&file.unwrap().path()), 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_says_its_diff_once_and_names_what_it_leaves() {
    let env = Env::new().await;
    env.pve
        .add_vm(
            pve_testkit::VmSeed::new(153, "app")
                .config("memory", 2048)
                .config("cipassword", "s3cret")
                .config("scsi0", "local-lvm:vm-153-disk-0,size=8G"),
        )
        .await;
    env.run(&[
        "vm",
        "update",
        "153",
        "--memory",
        "1024",
        "--set",
        "scsi2=local-lvm:4",
    ])
    .expect(0);
    let r = env.run(&["rollback", "vm", "153", "--yes"]).expect(0);
    assert_eq!(
        r.stdout.matches("memory: 1024 -> 2048").count(),
        1,
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("dry run"), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "not rolled back: scsi2 (added since; remove with `pvectl vm update 153 --delete \
             scsi2`)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("cipassword"), "{}", r.stderr);
    assert_eq!(key(&env, 153, "memory").await.as_deref(), Some("2048"));
    let r = env.run(&["rollback", "vm", "153", "--dry-run"]).expect(0);
    assert!(r.stdout.contains("(dry run)"), "{}", r.stdout);
    let r = env.run(&["rollback", "vm", "153", "--to", "999"]).expect(2);
    assert!(
        r.stderr.contains("no operation 999 in the journal"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_still_pending_on_a_running_guest_is_in_the_history() {
    let env = Env::new().await;
    env.seed().await;
    // 150 runs: Proxmox keeps the new memory pending until its next start.
    let before = key(&env, 150, "memory").await;
    env.run(&["vm", "update", "150", "--memory", "8192"])
        .expect(0);
    let ops = json_of(
        &env.run(&["history", "--guest", "150", "-o", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(
        ops[0]["changes"],
        json!([{"guest": "vm/150", "key": "memory", "before": before, "after": "8192"}]),
        "{ops:#?}"
    );
}
