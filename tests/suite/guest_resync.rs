//! The slow path of observation: the full resync that re-reads every managed guest's config and
//! pending changes within an interval, because `/cluster/resources` never shows pending values
//! or most settings. Against fakepve (real HTTPS) and the stateful fake Kubernetes API, pass
//! after pass; every loop is bounded by passes, never by time.
//!
//! Also here: a converged guest's status is not rewritten while nothing changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use kubepve::connection::resync::ResyncSettings;
use kubepve::context::Settings;
use kubepve_api::ProxmoxVM;
use serde_json::{Value, json};
use support::guest::{Env, POLL_INTERVAL, clone_vm, fast_settings, ready};

/// The scenario timings with a full resync every `interval` (at most `per_second` reads per
/// second per connection).
fn resyncing(interval: Duration, reads_per_second: f64) -> Settings {
    Settings {
        full_resync: ResyncSettings {
            interval,
            reads_per_second,
        },
        ..fast_settings()
    }
}

fn running(o: Option<&Value>) -> bool {
    ready(o) && o.is_some_and(|o| o["status"]["phase"] == "Running")
}

/// Someone changes the memory of the running VM 153 in the web UI: Proxmox holds it as pending.
async fn change_memory_behind_the_operators_back(env: &Env, vmid: u32) {
    env.pve_client()
        .qemu("pve1", vmid)
        .update_config(pve_client::Params::new().set("memory", 1024))
        .await
        .unwrap();
    let guest = env.pve.guest(vmid).await.unwrap();
    assert_eq!(text(&guest["pending"]["memory"]), "1024", "{guest:#}");
    assert_eq!(text(&guest["config"]["memory"]), "2048", "{guest:#}");
}

/// A config value as text (fakepve keeps what it was given: a number or a string).
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

#[tokio::test]
async fn a_pending_change_behind_the_operators_back_is_restored_by_the_full_resync() {
    let settings = resyncing(Duration::from_millis(300), 1000.0);
    let env = Env::with_settings("proxmoxvms", settings, POLL_INTERVAL).await;
    env.kube.put(clone_vm("pending", 153, json!({})));
    env.drive::<ProxmoxVM>("pending", running).await.unwrap();
    change_memory_behind_the_operators_back(&env, 153).await;

    let corrected = |o: Option<&Value>| running(o) && !env.events_with("DriftCorrected").is_empty();
    env.drive::<ProxmoxVM>("pending", corrected).await.unwrap();
    // What the guest gets at its next start is the spec's memory again. (fakepve keeps a
    // pending value equal to the current one; PVE drops it, `cleanup_pending`.)
    let guest = env.pve.guest(153).await.unwrap();
    let next_boot = match &guest["pending"]["memory"] {
        Value::Null => &guest["config"]["memory"],
        pending => pending,
    };
    assert_eq!(
        text(next_boot),
        "2048",
        "the pending 1024 is undone: {guest:#}"
    );
    assert_eq!(text(&guest["config"]["memory"]), "2048", "{guest:#}");
    let notes: Vec<String> = env
        .events_with("DriftCorrected")
        .iter()
        .map(|e| e["note"].to_string())
        .collect();
    assert!(notes.iter().any(|n| n.contains("memory")), "{notes:?}");
}

#[tokio::test]
async fn the_fast_path_alone_never_notices_a_pending_change() {
    // The default full-resync interval (minutes) is far longer than these passes.
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("unseen", 154, json!({})));
    env.drive::<ProxmoxVM>("unseen", running).await.unwrap();
    change_memory_behind_the_operators_back(&env, 154).await;
    env.pve.clear_requests().await;
    env.passes::<ProxmoxVM>("unseen", 40).await;
    assert_eq!(env.count("GET", "/154/config").await, 0);
    assert!(env.events_with("DriftCorrected").is_empty());
    let guest = env.pve.guest(154).await.unwrap();
    assert_eq!(text(&guest["pending"]["memory"]), "1024", "{guest:#}");
    assert!(
        ready(env.kube.get("unseen").as_ref()),
        "the object still claims Ready"
    );
}

#[tokio::test]
async fn a_restarted_operator_spreads_its_first_reads_over_the_rate_limit() {
    // One read an hour: after the restart, only one guest may be read before the others wait.
    let settings = resyncing(Duration::from_secs(600), 1.0 / 3600.0);
    let env = Env::with_settings("proxmoxvms", settings, POLL_INTERVAL).await;
    let names = ["a", "b", "c"];
    for (i, name) in names.iter().enumerate() {
        env.kube.put(clone_vm(name, 160 + i as u32, json!({})));
        env.drive::<ProxmoxVM>(name, running).await.unwrap();
    }
    env.restart_operator();
    env.pve.clear_requests().await;
    let writes_before = env.kube.mock.matching("PATCH", "/status").len();
    for name in names {
        env.pass::<ProxmoxVM>(name).await.unwrap();
    }
    let mut reads = 0;
    for vmid in [160, 161, 162] {
        reads += env.count("GET", &format!("/{vmid}/config")).await;
    }
    assert_eq!(reads, 1, "{:?}", env.pve.requests().await);
    assert_eq!(
        env.kube.mock.matching("PATCH", "/status").len(),
        writes_before,
        "waiting guests keep their status as it was"
    );
    for name in names {
        assert!(ready(env.kube.get(name).as_ref()), "{name}");
    }

    // A spec change is read at once, whatever the rate limit.
    env.kube.edit_spec("c", |s| s["memory"] = json!("3Gi"));
    env.pass::<ProxmoxVM>("c").await.unwrap();
    assert_eq!(env.count("GET", "/162/config").await, 1);
}

#[tokio::test]
async fn a_converged_guest_does_not_rewrite_its_status() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("calm", 155, json!({})));
    env.drive::<ProxmoxVM>("calm", running).await.unwrap();
    let before = env.kube.get("calm").unwrap()["metadata"]["resourceVersion"].clone();
    let writes = env.kube.mock.matching("PATCH", "/status").len();
    env.passes::<ProxmoxVM>("calm", 20).await;
    assert_eq!(env.kube.mock.matching("PATCH", "/status").len(), writes);
    assert_eq!(
        env.kube.get("calm").unwrap()["metadata"]["resourceVersion"],
        before
    );
}
