//! End to end against fakepve: the journal says which guests an operation really touched.
//! `history --guest` finds a guest by its Proxmox name as well as by VMID; `apply` is linked to
//! the VM it created and records the config changes it makes (so `rollback` sees them); a guest a bulk command had nothing to do for is reported and
//! journaled as skipped, not as a success.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, json_of};
use serde_json::json;

fn history(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let r = env
        .run(&[&["history", "-o", "json"][..], args].concat())
        .expect(0);
    json_of(&r.stdout).as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_finds_a_guest_by_its_name() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "update", "150", "--cores", "3"]).expect(0);
    env.run(&[
        "vm", "create", "--vmid", "160", "--name", "fresh", "--node", "pve1",
    ])
    .expect(0);
    let by_name = history(&env, &["--guest", "web-01"]);
    assert_eq!(by_name.len(), 1, "{by_name:#?}");
    assert_eq!(by_name[0]["guests"], json!(["vm/150"]));
    assert_eq!(by_name, history(&env, &["--guest", "150"]));
    let created = history(&env, &["--guest", "fresh"]);
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(created[0]["guests"], json!(["vm/160"]));
    let r = env.run(&["history", "--guest", "nosuchname"]).expect(0);
    assert_eq!(r.stdout.lines().count(), 1, "header only: {}", r.stdout);
    assert!(
        r.stderr.contains("No operations on guest \"nosuchname\""),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_linked_to_the_vm_it_created() {
    let env = Env::new().await;
    std::fs::write(
        env.path("m401.yaml"),
        "apiVersion: kubepve.io/v1alpha1\nkind: ProxmoxVM\nmetadata:\n  name: m401\n  \
         namespace: default\nspec:\n  connectionRef:\n    name: lab\n  node: pve1\n  vmid: 401\n  \
         source:\n    blank: {}\n  cpu:\n    cores: 1\n  memory: 512Mi\n  description: one\n  runStrategy: Always\n",
    )
    .unwrap();
    let file = env.path("m401.yaml").display().to_string();
    env.run(&["apply", "-f", &file]).expect(0);
    assert_eq!(env.status(401).await.as_deref(), Some("running"));
    let ops = history(&env, &["--guest", "401"]);
    assert_eq!(ops.len(), 1, "{ops:#?}");
    let guests = ops[0]["guests"].as_array().unwrap();
    assert!(guests.contains(&json!("vm/401")), "{ops:#?}");
    assert!(
        guests.contains(&json!("proxmoxvm/default/m401")),
        "{ops:#?}"
    );
    let types: Vec<&str> = ops[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"qmcreate"), "{ops:#?}");
    // A change applied later is recorded as a config change, so rollback can undo it.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("description: one", "description: two")).unwrap();
    env.run(&["apply", "-f", &file]).expect(0);
    let ops = history(&env, &["--guest", "401"]);
    assert_eq!(ops.len(), 2, "{ops:#?}");
    assert!(
        ops[1]["changes"].as_array().unwrap().contains(
            &json!({"guest": "vm/401", "key": "description", "before": "one", "after": "two"})
        ),
        "{ops:#?}"
    );
    let r = env.run(&["rollback", "vm", "401", "--dry-run"]).expect(0);
    assert!(r.stdout.contains("description: two -> one"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_with_nothing_to_do_is_skipped_not_ok() {
    let env = Env::new().await;
    env.seed().await;
    // 150 is running, 151 stopped: only 150 is shut down.
    let r = env.run(&["vm", "shutdown", "150,151", "--yes"]).expect(0);
    assert!(
        r.stderr
            .contains("shutdown: 1 of 2 VMs succeeded, 0 failed, 1 skipped (nothing to do)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("vm/151: already stopped"), "{}", r.stdout);
    let last = env.journal().pop().unwrap();
    assert_eq!(last["outcome"], "ok", "{last:#}");
    assert_eq!(last["guests"], json!(["vm/150"]), "{last:#}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("skipped: vm/151 (already stopped)"),
        "{last:#}"
    );
    // Nothing to do for any of them: skipped, and the journal says so.
    let r = env
        .run(&["vm", "stop", "--all", "--status", "stopped", "--yes"])
        .expect(0);
    assert!(r.stderr.contains("0 of 2 VMs succeeded"), "{}", r.stderr);
    let last = env.journal().pop().unwrap();
    assert_eq!(last["outcome"], "skipped", "{last:#}");
    assert_eq!(last["guests"], json!([]), "{last:#}");
    let failed = history(&env, &["--failed"]);
    assert!(
        failed.iter().all(|o| o["outcome"] != "skipped"),
        "{failed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_matches_command_words_and_records_changes_as_text() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&[
        "vm",
        "update",
        "151",
        "--set",
        "description=x",
        "--cores",
        "3",
    ])
    .expect(0);
    env.run(&["vm", "update", "151", "--delete", "description"])
        .expect(0);
    env.run(&["vm", "delete", "151", "--yes"]).expect(0);
    let deletes = history(&env, &["--command", "delete"]);
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert!(
        deletes[0]["command"]
            .as_str()
            .unwrap()
            .starts_with("pvectl vm delete 151"),
        "{deletes:#?}"
    );
    assert_eq!(history(&env, &["--command", "vm update"]).len(), 2);
    let first = &history(&env, &["--command", "update"])[0];
    for change in first["changes"].as_array().unwrap() {
        for side in ["before", "after"] {
            assert!(
                change[side].is_string() || change[side].is_null(),
                "{change:#}"
            );
        }
    }
    // A time without an offset is refused, not read as something else.
    let r = env
        .run(&["history", "--since", "2026-12-01T20:00:00"])
        .expect(2);
    assert!(r.stderr.contains("has no UTC offset"), "{}", r.stderr);
}
