//! Deleting a namespace that holds guests, against fakepve and the fake Kubernetes API (which
//! refuses creates in a terminating namespace and deletes its objects in no particular order,
//! as the real one does): the guests are destroyed, the namespace goes, and their
//! configuration backups survive it in the operator's namespace, also when the connection's
//! Secret and the connection itself were deleted before the guests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kubepve::guest::backup::BACKUP_LABEL;
use kubepve_api::ProxmoxVM;
use serde_json::{Value, json};
use support::guest::{BACKUP_NS, Env, MAX_PASSES, clone_vm, condition, ready};

const NS: &str = "team-a";
const GUESTS: [(&str, u32); 2] = [("web-1", 150), ("web-2", 151)];

/// A namespace with a Secret, a ProxmoxConnection (checked by the connection controller) and
/// two running VMs.
async fn connected_namespace() -> Env {
    let env = Env::new("proxmoxvms").await;
    env.kube.create_namespace(NS);
    let token = env.token().clone();
    env.kube.put_secret_in(
        NS,
        "pve-credentials",
        &[("tokenId", &token.id), ("tokenSecret", &token.secret)],
    );
    env.kube.put_kind(
        "proxmoxconnections",
        json!({
            "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
            "metadata": {"name": "pve", "namespace": NS},
            "spec": {
                "endpoint": env.pve.url(),
                "credentialsSecretRef": {"name": "pve-credentials"},
                "tls": {"caBundle": env.pve.ca_pem()},
                "limits": {"pollIntervalSeconds": 5},
            },
        }),
    );
    env.connection_pass(NS, "pve").await;
    let conn = env.kube.get_kind("proxmoxconnections", NS, "pve").unwrap();
    assert_eq!(condition(&conn, "Ready")["status"], "True", "{conn:#}");
    for (name, vmid) in GUESTS {
        let mut object = clone_vm(name, vmid, json!({}));
        object["metadata"]["namespace"] = json!(NS);
        env.kube.put(object);
        env.drive_in::<ProxmoxVM>(NS, name, ready, |_| {}).await;
    }
    env
}

/// Runs the controllers (the connection's, then each guest's, as their queues would) until the
/// namespace is gone; bounded.
async fn until_namespace_gone(env: &Env) {
    for _ in 0..MAX_PASSES {
        if env.kube.namespace(NS).is_none() {
            return;
        }
        if env.kube.get_kind("proxmoxconnections", NS, "pve").is_some() {
            env.connection_pass(NS, "pve").await;
        }
        for (name, _) in GUESTS {
            if env.kube.get_kind("proxmoxvms", NS, name).is_some()
                && let Err(e) = env.pass_in::<ProxmoxVM>(NS, name).await
            {
                eprintln!("{name}: {e}");
            }
        }
        let guests_left = !env.kube.list("proxmoxvms", Some(NS)).is_empty();
        assert!(
            !guests_left || env.kube.get_kind("proxmoxconnections", NS, "pve").is_some(),
            "the connection went before the guests that need it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<Value> = ["proxmoxvms", "proxmoxconnections", "secrets", "configmaps"]
        .iter()
        .flat_map(|p| env.kube.list(p, Some(NS)))
        .collect();
    panic!("namespace {NS} still holds {left:#?}");
}

/// The guests are gone from Proxmox and each left its backup in the operator's namespace,
/// labelled with where it came from.
async fn assert_destroyed_and_backed_up(env: &Env) {
    for (name, vmid) in GUESTS {
        assert!(
            env.pve.guest(vmid).await.is_none(),
            "{name}: VMID {vmid} still exists"
        );
    }
    let backups = env.kube.list("configmaps", Some(BACKUP_NS));
    for (name, vmid) in GUESTS {
        let found = backups.iter().find(|cm| {
            let labels = &cm["metadata"]["labels"];
            labels[BACKUP_LABEL] == "true"
                && labels["kubepve.io/backup-of-namespace"] == NS
                && labels["kubepve.io/backup-of-kind"] == "ProxmoxVM"
                && cm["metadata"]["annotations"]["kubepve.io/backup-of-name"] == name
        });
        let cm =
            found.unwrap_or_else(|| panic!("no backup of {name} in {BACKUP_NS}: {backups:#?}"));
        let data = cm["data"].as_object().unwrap();
        assert!(
            data.values()
                .any(|v| v.as_str().unwrap().contains(&format!("\"vmid\": {vmid}"))),
            "{cm:#}"
        );
    }
}

#[tokio::test]
async fn deleting_a_namespace_destroys_its_guests_and_keeps_their_backups_elsewhere() {
    let env = connected_namespace().await;
    env.kube.delete_namespace(NS);
    until_namespace_gone(&env).await;
    assert_destroyed_and_backed_up(&env).await;
}

#[tokio::test]
async fn guests_are_destroyed_even_when_the_connection_secret_was_deleted_first() {
    let env = connected_namespace().await;
    // The namespace controller deletes in no particular order: here the Secret goes first and
    // the connection controller notices before the guests are deleted.
    env.kube.delete_kind("secrets", NS, "pve-credentials");
    env.connection_pass(NS, "pve").await;
    env.kube.delete_namespace(NS);
    until_namespace_gone(&env).await;
    assert_destroyed_and_backed_up(&env).await;
}
