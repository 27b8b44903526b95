//! The invalid guest manifests of `tests/fixtures/invalid/cases.yaml` through `pvectl apply -f`
//! and `pvectl vm|ct create -f`: each fails with a message naming what to fix, and nothing is
//! written to Proxmox.

#![allow(clippy::unwrap_used)]

use crate::common;

use crate::invalid;

use common::Env;
use invalid::cases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_fail_with_the_field_named_and_nothing_written() {
    let env = Env::new().await;
    env.seed_templates("debian-12-cloudinit").await;
    env.pve.clear_requests().await;
    let guests: Vec<_> = cases()
        .into_iter()
        .filter(|c| c.kind() != "ProxmoxConnection")
        .collect();
    assert!(guests.len() >= 30, "{} guest cases", guests.len());
    let mut unclear = Vec::new();
    for (i, case) in guests.iter().enumerate() {
        let file = env.path(&format!("{}.yaml", case.name));
        std::fs::write(&file, serde_json::to_string_pretty(&case.manifest).unwrap()).unwrap();
        let file = file.display().to_string();
        // Alternate the two ways a manifest goes in.
        let resource = if case.kind() == "ProxmoxVM" {
            "vm"
        } else {
            "ct"
        };
        let args: Vec<&str> = if i.is_multiple_of(2) {
            vec!["apply", "-f", &file]
        } else {
            vec![resource, "create", "-f", &file]
        };
        let run = env.run(&args);
        if run.code == 0 {
            unclear.push(format!(
                "{} ({args:?}): accepted: {}",
                case.name, run.stdout
            ));
            continue;
        }
        assert!(
            !run.stderr.contains("panicked"),
            "{}: {}",
            case.name,
            run.stderr
        );
        // pvectl names fields without the `spec.` of the Kubernetes object.
        let message = run.stderr.replace("spec.", "");
        let mut plain = case.clone();
        plain.field = case.field.trim_start_matches("spec.").to_string();
        if !plain.is_explained_by(&message) && !case.is_explained_by(&run.stderr) {
            unclear.push(format!("{} ({args:?}): {}", case.name, run.stderr.trim()));
        }
    }
    assert!(
        unclear.is_empty(),
        "messages that do not say what to fix:\n{}",
        unclear.join("\n")
    );
    let writes: Vec<String> = env
        .pve
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {} {}", r.method, r.path, r.body))
        .collect();
    assert!(writes.is_empty(), "written to Proxmox: {writes:#?}");
    for vmid in [700, 701] {
        assert!(env.status(vmid).await.is_none(), "guest {vmid} exists");
    }
    // Nothing was done, and the journal does not claim otherwise.
    for record in env.journal() {
        assert!(
            record["upids"].as_array().is_none_or(Vec::is_empty),
            "{record:#}"
        );
    }
}
