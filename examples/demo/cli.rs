//! The `pvectl` part of `make demo`: every command is printed as a user would type it, then run
//! (the binary from `PVECTL`) against a fresh fake Proxmox, with its own config and journal in a
//! temporary folder that is removed at the end.

use std::path::{Path, PathBuf};

use crate::support::lab::sample_lab;
use crate::support::pvectl::Pvectl;

/// Runs the tour; panics (failing `make demo`) when a command that should work does not.
pub async fn run() {
    let bin = PathBuf::from(
        std::env::var("PVECTL").expect("PVECTL names the pvectl binary (make demo sets it)"),
    );
    let (pve, token) = sample_lab(0.02).await;
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let samples = samples.to_str().unwrap();
    let pvectl = Tour(Pvectl::with_binary(bin));

    println!(
        "A fake Proxmox VE runs at {} with template 9000 (debian-12-cloudinit).\n",
        pve.url()
    );
    let context = pvectl.0.context_args("lab", &pve, &token);
    pvectl.run(&context.iter().map(String::as_str).collect::<Vec<_>>());
    pvectl.run(&["version"]);
    pvectl.run(&["diff", "-f", samples]);
    pvectl.run(&["apply", "-f", samples]);
    pvectl.run(&["vm", "list"]);
    pvectl.run(&["ct", "list", "-o", "wide"]);
    pvectl.run(&["apply", "-f", samples]);
    let tasks = pvectl.output(&["task", "list", "--vmid", "150", "-o", "json"]);
    let upid = serde_json::from_str::<serde_json::Value>(&tasks)
        .ok()
        .and_then(|v| {
            v.as_array()?.iter().find_map(|t| {
                t["upid"]
                    .as_str()
                    .filter(|u| u.contains(":qmstart:"))
                    .map(str::to_string)
            })
        });
    if let Some(upid) = upid {
        pvectl.run(&["task", "logs", &upid]);
    }
    pvectl.run(&["vm", "update", "web-01", "--memory", "8Gi", "--dry-run"]);
    pvectl.run(&["vm", "delete", "web-01,installer-lab", "--force", "--yes"]);
    pvectl.run(&["ct", "delete", "dns-01", "--force", "--yes"]);
    pvectl.run(&["vm", "list"]);
    pvectl.run(&["history"]);
}

/// pvectl as the tour runs it: each command printed as a user would type it.
struct Tour(Pvectl);

impl Tour {
    /// Prints `$ pvectl ARGS` and runs it, showing its output; a failure ends the demo.
    fn run(&self, args: &[&str]) {
        println!("$ pvectl {}", shell_words(args));
        let status = self.0.command(args).status().expect("pvectl runs");
        // `diff` exits 1 when there are changes, as kubectl does.
        let expected = if args.first() == Some(&"diff") {
            [0, 1].as_slice()
        } else {
            [0].as_slice()
        };
        assert!(
            status.code().is_some_and(|c| expected.contains(&c)),
            "pvectl {} failed with {status}",
            args.join(" ")
        );
        println!();
    }

    /// Runs quietly and returns stdout.
    fn output(&self, args: &[&str]) -> String {
        let out = self.0.command(args).output().expect("pvectl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The arguments as a user would type them (secrets are in files, never on the line).
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(['!', ' ', '$']) {
                format!("'{a}'")
            } else {
                (*a).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
