//! Guest reconcile scenarios against fakepve (real HTTPS) and a stateful fake of the Kubernetes
//! API: the reconcile is run pass after pass, as the controller would, until the object reaches
//! the state under test. Each scenario checks both the object's status and the guest in Proxmox.
//!
//! This file: creation (VM clone, container from an OS template), the run strategy, and updates
//! of a running VM (live changes, RestartRequired, restart requests, restartPolicy Automatic).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use serde_json::{Value, json};
use support::guest::{Env, clone_vm, condition, ct, ready, ready_now, tags};

#[tokio::test]
async fn a_vm_cloned_from_a_template_becomes_ready_and_running() {
    let env = Env::new("proxmoxvms").await;
    env.kube
        .put_secret("web-ci", &[("password", "s3cret-Passw0rd")]);
    env.kube.put(clone_vm(
        "web",
        150,
        json!({
            "memory": "4Gi",
            "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "8Gi"}],
            "networks": [{"slot": "net0", "bridge": "vmbr0", "vlan": 20}],
            "cloudInit": {"user": "debian", "passwordSecretRef": {"name": "web-ci", "key": "password"}},
            "tags": ["Web"],
        }),
    ));
    let object = env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    let status = &object["status"];
    assert_eq!(status["vmid"], 150);
    assert_eq!(status["phase"], "Running", "{status:#}");
    assert_eq!(status["node"], "pve1");
    assert!(
        status["lastTask"]["upid"]
            .as_str()
            .unwrap()
            .starts_with("UPID:pve1:"),
        "{status:#}"
    );
    assert_eq!(status["lastTask"]["exitStatus"], "OK");
    assert!(status.get("currentTask").is_none());
    assert_eq!(
        object["metadata"]["finalizers"],
        json!(["kubepve.io/finalizer"])
    );

    let guest = env.pve.guest(150).await.expect("guest 150 exists");
    assert_eq!(guest["status"], "running", "{guest:#}");
    let t = tags(&guest);
    assert!(t.contains(&"kubepve".to_string()), "{guest:#}");
    assert!(
        t.contains(&"kubepve-owner-uid-web".to_string()),
        "{guest:#}"
    );
    assert!(t.contains(&"web".to_string()), "{guest:#}");
    assert_eq!(guest["config"]["cores"].to_string().trim_matches('"'), "2");
    assert!(guest["config"]["net0"].as_str().unwrap().contains("tag=20"));
    assert_eq!(guest["config"]["ciuser"], "debian");
    env.assert_no_leak("web", "s3cret-Passw0rd");
}

/// The task types that passed through `status.lastTask` while driving, in order.
fn record_last_task(history: &mut Vec<String>, object: &Value) {
    let last = &object["status"]["lastTask"];
    let Some(upid) = last["upid"].as_str() else {
        return;
    };
    let entry = format!(
        "{} {upid} {}",
        last["type"].as_str().unwrap_or_default(),
        last["exitStatus"]
    );
    if history.last() != Some(&entry) {
        history.push(entry);
    }
}

#[tokio::test]
async fn a_container_from_an_ostemplate_becomes_ready_and_running() {
    let env = Env::new("proxmoxcontainers").await;
    let template = "debian-12-standard_12.7-1_amd64.tar.zst";
    env.pve
        .store_file("local", template, 120 * 1024 * 1024, "vztmpl")
        .await;
    env.kube
        .put_secret("cache-root", &[("password", "r00t-Passw0rd-xyz")]);
    env.kube.put(ct(
        "cache",
        json!({
            "vmid": 200,
            "ostemplate": format!("local:vztmpl/{template}"),
            "rootfs": {"storage": "local-lvm", "size": "8Gi"},
            "unprivileged": true,
            "cores": 1,
            "memory": "512Mi",
            "networks": [{"slot": "net0", "name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}],
            "passwordSecretRef": {"name": "cache-root", "key": "password"},
            "tags": ["cache"],
        }),
    ));
    let mut history = Vec::new();
    let object = env
        .drive_watching::<ProxmoxContainer>("cache", ready, |o| record_last_task(&mut history, o))
        .await
        .unwrap();
    record_last_task(&mut history, &object);
    let status = &object["status"];
    assert_eq!(status["phase"], "Running", "{status:#}");
    assert_eq!(status["vmid"], 200);
    assert!(status.get("currentTask").is_none(), "{status:#}");
    let types: Vec<&str> = history
        .iter()
        .map(|h| h.split(' ').next().unwrap())
        .collect();
    assert!(
        types.contains(&"vzcreate"),
        "lastTask history: {history:#?}"
    );
    // The create task started the container (start=1).
    assert!(
        !types.contains(&"vzstart"),
        "lastTask history: {history:#?}"
    );
    assert!(
        history
            .iter()
            .all(|h| h.contains(" UPID:pve1:") && h.ends_with("\"OK\"")),
        "{history:#?}"
    );
    // Each task's end is told as an event.
    let ended: Vec<String> = env
        .events_with("TaskSucceeded")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(ended.contains(&"vzcreate".to_string()), "{ended:?}");
    assert!(!ended.contains(&"vzstart".to_string()), "{ended:?}");

    let guest = env.pve.guest(200).await.expect("container 200 exists");
    assert_eq!(guest["status"], "running", "{guest:#}");
    let config = &guest["config"];
    assert_eq!(
        config["unprivileged"].to_string().trim_matches('"'),
        "1",
        "{guest:#}"
    );
    assert_eq!(config["hostname"], "cache", "{guest:#}");
    let rootfs = config["rootfs"].as_str().unwrap();
    assert!(
        rootfs.starts_with("local-lvm:") && rootfs.contains("size=8G"),
        "{rootfs}"
    );
    let net0 = config["net0"].as_str().unwrap();
    assert!(
        net0.contains("name=eth0") && net0.contains("bridge=vmbr0"),
        "{net0}"
    );
    let t = tags(&guest);
    assert!(
        t.contains(&"kubepve-owner-uid-cache".to_string()),
        "{guest:#}"
    );
    assert_eq!(env.creates_for(200).await.len(), 1);
    env.assert_no_leak("cache", "r00t-Passw0rd-xyz");
}

#[tokio::test]
async fn run_strategy_halted_shuts_the_guest_down_and_always_starts_it_again() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 150, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    assert_eq!(env.pve.guest(150).await.unwrap()["status"], "running");
    assert_eq!(env.count("POST", "/qemu/150/status/start").await, 1);

    env.kube
        .edit_spec("web", |s| s["runStrategy"] = json!("Halted"));
    let object = env.drive::<ProxmoxVM>("web", ready_now).await.unwrap();
    assert_eq!(object["status"]["phase"], "Stopped", "{object:#}");
    assert_eq!(condition(&object, "Ready")["status"], "True");
    assert_eq!(env.pve.guest(150).await.unwrap()["status"], "stopped");
    assert_eq!(env.count("POST", "/qemu/150/status/shutdown").await, 1);
    // Halted stays halted.
    env.passes::<ProxmoxVM>("web", 5).await;
    assert_eq!(env.pve.guest(150).await.unwrap()["status"], "stopped");
    assert_eq!(env.count("POST", "/qemu/150/status/start").await, 1);

    env.kube
        .edit_spec("web", |s| s["runStrategy"] = json!("Always"));
    let object = env.drive::<ProxmoxVM>("web", ready_now).await.unwrap();
    assert_eq!(object["status"]["phase"], "Running", "{object:#}");
    assert_eq!(env.pve.guest(150).await.unwrap()["status"], "running");
    assert_eq!(env.count("POST", "/qemu/150/status/start").await, 2);
    assert_eq!(env.count("POST", "/qemu/150/status/stop").await, 0);
}

fn restart_required(object: &Value) -> Value {
    condition(object, "RestartRequired")
}

#[tokio::test]
async fn updates_of_a_running_vm_apply_live_or_wait_for_a_requested_or_automatic_reboot() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("app", 151, json!({"tags": ["app"]})));
    env.drive::<ProxmoxVM>("app", ready).await.unwrap();
    let reboots = "/qemu/151/status/reboot";

    // Tags apply live: no RestartRequired, no reboot.
    env.kube
        .edit_spec("app", |s| s["tags"] = json!(["app", "blue"]));
    let object = env.drive::<ProxmoxVM>("app", ready_now).await.unwrap();
    assert!(restart_required(&object).is_null(), "{object:#}");
    let guest = env.pve.guest(151).await.unwrap();
    assert!(tags(&guest).contains(&"blue".to_string()), "{guest:#}");
    assert_eq!(guest["pending"], json!({}), "{guest:#}");
    assert_eq!(env.count("POST", reboots).await, 0);

    // Cores need a reboot: pending, reported, and not rebooted under restartPolicy Manual.
    env.kube.edit_spec("app", |s| s["cpu"]["cores"] = json!(4));
    let wanted = |o: Option<&Value>| {
        ready_now(o) && o.is_some_and(|o| restart_required(o)["status"] == "True")
    };
    let object = env.drive::<ProxmoxVM>("app", wanted).await.unwrap();
    let message = restart_required(&object)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("cores"), "{message}");
    env.passes::<ProxmoxVM>("app", 5).await;
    assert_eq!(env.count("POST", reboots).await, 0);
    let guest = env.pve.guest(151).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert_eq!(
        guest["pending"]["cores"].to_string().trim_matches('"'),
        "4",
        "{guest:#}"
    );
    let object = env.kube.get("app").unwrap();
    assert_eq!(restart_required(&object)["status"], "True", "{object:#}");

    // A restart request: exactly one reboot, which applies the pending change.
    let at = "2026-11-25T10:00:00Z";
    env.kube.annotate("app", "kubepve.io/restartedAt", at);
    let rebooted = |o: Option<&Value>| {
        ready(o)
            && o.is_some_and(|o| o["status"]["restartedAt"] == at && restart_required(o).is_null())
    };
    env.drive::<ProxmoxVM>("app", rebooted).await.unwrap();
    env.passes::<ProxmoxVM>("app", 5).await;
    assert_eq!(env.count("POST", reboots).await, 1);
    let guest = env.pve.guest(151).await.unwrap();
    assert_eq!(
        guest["config"]["cores"].to_string().trim_matches('"'),
        "4",
        "{guest:#}"
    );
    assert_eq!(guest["pending"], json!({}), "{guest:#}");

    // restartPolicy Automatic: a reboot-needing change is applied by a reboot.
    env.kube.edit_spec("app", |s| {
        s["restartPolicy"] = json!("Automatic");
        s["cpu"]["type"] = json!("host");
    });
    let applied =
        |o: Option<&Value>| ready_now(o) && o.is_some_and(|o| restart_required(o).is_null());
    let object = env.drive::<ProxmoxVM>("app", applied).await.unwrap();
    assert_eq!(object["status"]["phase"], "Running");
    assert_eq!(env.count("POST", reboots).await, 2);
    let guest = env.pve.guest(151).await.unwrap();
    assert_eq!(guest["config"]["cpu"], "host", "{guest:#}");
    assert_eq!(guest["pending"], json!({}), "{guest:#}");
    assert_eq!(guest["status"], "running");
}

#[tokio::test]
async fn drift_in_proxmox_is_corrected_and_reported() {
    let env = Env::new("proxmoxvms").await;
    env.kube
        .put(clone_vm("drift", 152, json!({"tags": ["app"]})));
    env.drive::<ProxmoxVM>("drift", ready).await.unwrap();
    assert_eq!(
        env.ctx()
            .metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("kubepve_pve_tasks_in_flight")),
        Some("kubepve_pve_tasks_in_flight 0")
    );

    // Someone adds a tag (keeping the ownership marks) and stops the guest behind the
    // operator's back.
    let vm = env.pve_client().qemu("pve1", 152);
    vm.update_config(
        pve_client::Params::new().set("tags", "app;hand-edited;kubepve;kubepve-owner-uid-drift"),
    )
    .await
    .unwrap();
    env.wait(&vm.stop().await.unwrap()).await;
    let object = env
        .drive::<ProxmoxVM>("drift", |o| {
            ready(o) && !env.events_with("DriftCorrected").is_empty()
        })
        .await
        .unwrap();
    assert_eq!(object["status"]["phase"], "Running", "{object:#}");
    let guest = env.pve.guest(152).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert!(
        !tags(&guest).contains(&"hand-edited".to_string()),
        "{guest:#}"
    );
    let notes: Vec<String> = env
        .events_with("DriftCorrected")
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(notes.iter().any(|n| n.contains("tags")), "{notes:?}");
}

#[tokio::test]
async fn a_converged_guest_costs_one_reconcile_per_poll_and_no_write() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 150, json!({})));
    env.drive::<ProxmoxVM>("web", ready_now).await.unwrap();
    // Let the last transition's own write settle, then count steady polls.
    env.reconciles_per_trigger::<ProxmoxVM>("web", 10).await;
    let writes = env.kube.writes("proxmoxvms", "default", "web");
    for poll in 0..3 {
        tokio::time::sleep(support::guest::POLL_INTERVAL).await;
        let n = env.reconciles_per_trigger::<ProxmoxVM>("web", 10).await;
        assert_eq!(
            n, 1,
            "poll {poll}: a status write woke the object's own watch"
        );
    }
    assert_eq!(
        env.kube.writes("proxmoxvms", "default", "web"),
        writes,
        "steady polls write nothing: watchers (ArgoCD, kubectl get -w) see no change"
    );
}
