//! pvectl killed (SIGKILL) in the middle of a bulk operation leaves a journal that says what it
//! set out to do and every Proxmox task it had started: nothing was changed that the journal
//! does not name, and `pvectl history` shows the unfinished run.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::Env;
use pve_testkit::VmSeed;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_shutdown_killed_midway_leaves_a_journal_of_what_was_done() {
    let env = Env::new().await;
    for vmid in 400..406 {
        env.pve
            .add_vm(
                VmSeed::new(vmid, &format!("bulk-{vmid}"))
                    .running()
                    .config("tags", "batch.nightly"),
            )
            .await;
        // A long shutdown (300 PVE s: 3 s at the fake's time scale), so pvectl is caught waiting.
        env.pve
            .guest_attrs(vmid, serde_json::json!({"shutdown_secs": 300}))
            .await;
    }
    env.pve.clear_requests().await;
    let mut child = env
        .command(&[
            "vm",
            "shutdown",
            "-l",
            "batch=nightly",
            "--yes",
            "--parallel",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its first task is journaled (bounded wait).
    let tasks = |ops: &[Value]| {
        ops.iter()
            .flat_map(|op| op["tasks"].as_array().cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let mut seen = false;
    for _ in 0..200 {
        if !tasks(&env.journal()).is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen, "no task journaled: {:#?}", env.journal());

    // One operation, still `started` (it never finished), naming every target.
    let journal = env.journal();
    assert_eq!(journal.len(), 1, "{journal:#?}");
    let op = &journal[0];
    assert_eq!(op["outcome"], "started", "killed, so no outcome: {op:#}");
    let targets: Vec<String> = (400..406).map(|v| format!("vm/{v}")).collect();
    assert_eq!(op["guests"], serde_json::json!(targets));
    assert!(op["command"].as_str().unwrap().contains("shutdown"));
    // Every shutdown Proxmox received is in the journal, with its UPID, and no other.
    let journaled: Vec<String> = tasks(&journal)
        .iter()
        .map(|t| t["guest"].as_str().unwrap().to_string())
        .collect();
    let sent: Vec<String> = env
        .pve
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/status/shutdown"))
        .map(|r| {
            let vmid = r.path.split('/').rev().nth(2).unwrap().to_string();
            format!("vm/{vmid}")
        })
        .collect();
    assert_eq!(journaled, sent, "{journal:#?}");
    for task in tasks(&journal) {
        let upid = task["upid"].as_str().unwrap();
        assert!(
            upid.starts_with("UPID:pve1:") && upid.contains(":qmshutdown:"),
            "{upid}"
        );
        assert_eq!(task["type"], "qmshutdown");
        assert!(task["start"].as_str().unwrap().ends_with('Z'), "{task}");
    }
    // The guests it had not reached are untouched.
    for vmid in 400..406 {
        if !journaled.contains(&format!("vm/{vmid}")) {
            assert_eq!(env.status(vmid).await.as_deref(), Some("running"));
        }
    }
    // `pvectl history` shows the unfinished run among the failed ones.
    let history = env.run(&["history", "--failed", "-o", "json"]).expect(0);
    let shown: Vec<Value> = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_eq!(shown[0]["outcome"], "started");

    // A run that finishes shows as one record.
    env.run(&["vm", "start", "-l", "batch=nightly", "--yes", "--no-wait"])
        .expect(0);
    let history = env
        .run(&["history", "--command", "start", "-o", "json"])
        .expect(0);
    let shown: Vec<Value> = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    // `ok` when it started a guest the shutdown had stopped; `skipped` when all still ran.
    let acted = !shown[0]["guests"].as_array().unwrap().is_empty();
    let expected = if acted { "ok" } else { "skipped" };
    assert_eq!(shown[0]["outcome"], expected, "{shown:#?}");
}
