//! Output formats stay stable and parseable: `-o json` and `-o yaml` are the same document with
//! the same keys on every run, `-o name` prints `kind/id` lines, tables align with or without
//! headers, and `--sort-by` orders rows (numbers as numbers).

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;

use common::Env;
use pve_testkit::{TaskSeed, VmSeed};
use serde_json::Value;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Run with `-o json` twice and `-o yaml` once: byte-identical JSON, the same document in YAML.
fn doc(env: &Env, args: &[&str]) -> Value {
    let run = |fmt: &str| {
        let mut a = args.to_vec();
        a.extend(["-o", fmt]);
        env.run(&a).expect(0).stdout
    };
    let json = run("json");
    assert_eq!(json, run("json"), "{args:?}: JSON differs between runs");
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{args:?}: {e}\n{json}"));
    let yaml = run("yaml");
    let y: Value =
        serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{args:?}: {e}\n{yaml}"));
    assert_eq!(v, y, "{args:?}: YAML and JSON differ\n{yaml}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_yaml_are_the_same_stable_document() {
    let env = Env::new().await;
    env.seed().await;
    env.pve
        .add_vm(VmSeed::new(153, "locked").lock("backup").pool("web"))
        .await;
    env.run(&["vm", "start", "151"]).expect(0);
    let guest_keys = set(&[
        "kind", "vmid", "name", "node", "status", "template", "tags", "cpus", "memory", "disk",
    ]);
    let list = doc(&env, &["vm", "list"]);
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 4);
    for item in items {
        let k = keys(item);
        assert!(k.is_superset(&guest_keys), "{item}");
        // Optional fields appear only when set.
        assert!(
            k.difference(&guest_keys)
                .all(|x| ["pool", "lock", "hastate"].contains(&x.as_str())),
            "{item}"
        );
    }
    assert_eq!(items[0]["vmid"], 150);
    // Counts print as integers (`"cpus": 1`, not `1.0`), in JSON and YAML alike.
    for format in ["json", "yaml"] {
        let raw = env.run(&["vm", "list", "-o", format]).expect(0).stdout;
        let counts: Vec<&str> = raw
            .lines()
            .map(|l| l.trim().trim_start_matches("- "))
            .filter_map(|l| {
                l.strip_prefix("\"cpus\":")
                    .or_else(|| l.strip_prefix("cpus:"))
            })
            .collect();
        assert_eq!(counts.len(), 4, "{raw}");
        for c in counts {
            assert!(
                c.trim().trim_end_matches(',').parse::<u64>().is_ok(),
                "{format}: cpus {c}"
            );
        }
    }
    assert_eq!(items[0]["tags"], serde_json::json!(["env.prod", "web"]));
    assert_eq!(items[0]["memory"], 2048u64 << 20, "memory in bytes");
    assert_eq!(items[3]["lock"], "backup");
    assert_eq!(items[3]["pool"], "web");
    // get of one guest: one object with its config; of several: a list.
    let one = doc(&env, &["vm", "get", "150"]);
    assert_eq!(keys(&one), &guest_keys | &set(&["config"]));
    assert_eq!(one["config"]["name"], "web-01");
    let two = doc(&env, &["vm", "get", "150,151"]);
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert!(two[1]["config"].is_object());
    let ct = doc(&env, &["ct", "list"]);
    assert_eq!(ct[0]["kind"], "ct");
    // The other commands' documents.
    let node_keys = set(&[
        "node",
        "status",
        "cpus",
        "cpu",
        "memory",
        "memoryUsed",
        "uptime",
        "fingerprint",
    ]);
    assert_eq!(keys(&doc(&env, &["node", "list"])[0]), node_keys);
    let storage_keys = set(&[
        "node", "storage", "type", "content", "shared", "active", "total", "used", "avail",
    ]);
    assert_eq!(keys(&doc(&env, &["storage", "list"])[0]), storage_keys);
    env.pve
        .store_file("local", "debian-12.8.0-amd64-netinst.iso", 600 << 20, "iso")
        .await;
    let content = doc(&env, &["storage", "content", "local"]);
    assert_eq!(
        keys(&content[0]),
        set(&["volid", "content", "format", "size", "vmid"])
    );
    let task_keys = set(&[
        "upid", "node", "type", "id", "user", "started", "ended", "status",
    ]);
    let tasks = doc(&env, &["task", "list"]);
    assert_eq!(keys(&tasks[0]), task_keys);
    let upid = tasks[0]["upid"].as_str().unwrap().to_string();
    assert_eq!(
        keys(&doc(&env, &["task", "status", &upid])),
        set(&[
            "upid",
            "node",
            "type",
            "id",
            "user",
            "started",
            "status",
            "exitstatus"
        ])
    );
    let history = doc(&env, &["history"]);
    assert_eq!(
        keys(&history[0]),
        set(&[
            "id",
            "time",
            "user",
            "principal",
            "context",
            "command",
            "guests",
            "upids",
            "tasks",
            "changes",
            "outcome",
            "reason"
        ])
    );
    assert_eq!(
        keys(&doc(&env, &["version"])),
        set(&["client", "server", "release", "repoid", "context", "user"])
    );
    let view = doc(&env, &["config", "view"]);
    assert_eq!(view["current-context"], "lab");
    let token_file = std::fs::canonicalize(env.path("token")).unwrap();
    assert_eq!(
        view["contexts"]["lab"]["token-secret-file"],
        token_file.display().to_string()
    );
    // Empty lists are empty documents, not tables or messages.
    let none = doc(&env, &["vm", "list", "-l", "env=qa"]);
    assert_eq!(none, serde_json::json!([]));
    let r = env
        .run(&["vm", "list", "-l", "env=qa", "-o", "name"])
        .expect(0);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
}

/// The start column of each header in a table's header line.
fn columns(header: &str) -> Vec<usize> {
    let mut cols = vec![0];
    let b = header.as_bytes();
    for i in 1..b.len() {
        if b[i] != b' ' && b[i - 1] == b' ' {
            cols.push(i);
        }
    }
    cols
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_tables_headers_and_sorting() {
    let env = Env::new().await;
    env.seed().await;
    env.pve
        .add_vm(VmSeed::new(149, "app-zz").config("memory", 8192))
        .await;
    env.pve
        .start_task(TaskSeed::new("qmigrate", "150").secs(0.0))
        .await;
    // -o name: one kind/id per line, for scripts.
    let r = env.run(&["vm", "list", "-o", "name"]).expect(0);
    assert_eq!(r.stdout, "vm/149\nvm/150\nvm/151\nvm/152\n");
    let r = env.run(&["ct", "get", "dns-01", "-o", "name"]).expect(0);
    assert_eq!(r.stdout, "ct/200\n");
    let r = env.run(&["task", "list", "-o", "name"]).expect(0);
    assert!(
        r.stdout.lines().all(|l| l.starts_with("UPID:")),
        "{}",
        r.stdout
    );
    // Tables: each cell starts under its header, at least three spaces apart, no trailing blanks.
    for args in [
        &["vm", "list"][..],
        &["vm", "list", "-o", "wide"],
        &["node", "list"],
        &["storage", "list"],
        &["task", "list"],
        &["config", "get-contexts"],
    ] {
        let r = env.run(args).expect(0);
        let mut lines = r.stdout.lines();
        let header = lines.next().unwrap();
        assert!(
            header
                .split_whitespace()
                .all(|w| w.chars().all(|c| c.is_ascii_uppercase())),
            "{args:?}: {header}"
        );
        let cols = columns(header);
        for line in r.stdout.lines() {
            assert_eq!(line, line.trim_end(), "{args:?}: trailing blanks");
            for c in &cols[1..] {
                let chars: Vec<char> = line.chars().collect();
                assert!(
                    chars.len() <= *c || chars[c - 3..*c].iter().all(|x| *x == ' '),
                    "{args:?}: column at {c} misaligned in {line:?}"
                );
            }
        }
    }
    // --no-headers: the same rows without the header.
    let with = env.run(&["vm", "list"]).expect(0).stdout;
    let without = env.run(&["vm", "list", "--no-headers"]).expect(0).stdout;
    let cells = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    assert_eq!(cells(&with)[1..], cells(&without)[..]);
    assert!(without.starts_with("149 "), "{without}");
    for args in [
        &["node", "list"][..],
        &["storage", "list"],
        &["task", "list"],
        &["history"],
    ] {
        let mut a = args.to_vec();
        a.push("--no-headers");
        let r = env.run(&a).expect(0);
        assert!(
            !r.stdout.lines().any(|l| l.starts_with("NAME")
                || l.starts_with("NODE")
                || l.starts_with("STARTED")
                || l.starts_with("TIME")),
            "{a:?}: {}",
            r.stdout
        );
    }
    // --sort-by: text, numbers as numbers, kubectl's JSONPath-ish spellings.
    let order = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["vm", "list", "-o", "name"];
        a.extend_from_slice(args);
        env.run(&a)
            .expect(0)
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        order(&["--sort-by", "name"]),
        ["vm/149", "vm/152", "vm/150", "vm/151"]
    );
    assert_eq!(
        order(&["--sort-by", ".name"]),
        order(&["--sort-by", "name"])
    );
    // 512M (151, 152) < 2G (150) < 8G (149): numeric, not "2147483648" < "536870912".
    assert_eq!(
        order(&["--sort-by", "memory"]),
        ["vm/151", "vm/152", "vm/150", "vm/149"]
    );
    assert_eq!(
        order(&["--sort-by", "{.memory}"]),
        order(&["--sort-by", "memory"])
    );
    assert_eq!(order(&["--sort-by", "status"])[..2], ["vm/150", "vm/152"]);
    let r = env.run(&["vm", "list", "--sort-by", "name"]).expect(0);
    let names: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(names, ["app-zz", "db-01", "web-01", "web-02"]);
    let v: Value = serde_json::from_str(
        &env.run(&["vm", "list", "--sort-by", "name", "-o", "json"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(v[0]["name"], "app-zz");
    let r = env.run(&["vm", "list", "--sort-by", "colour"]).expect(2);
    assert!(
        r.stderr.contains("vmid, name, node, status"),
        "{}",
        r.stderr
    );
}
