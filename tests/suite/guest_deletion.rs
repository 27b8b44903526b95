//! Deleting a namespace that holds guests (VMs and a container), against fakepve and the fake Kubernetes API (which
//! refuses creates in a terminating namespace and deletes its objects in no particular order,
//! as the real one does): the guests are destroyed, the namespace goes, and their
//! configuration backups survive it in the operator's namespace, also when the connection's
//! Secret and the connection itself were deleted before the guests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use kubepve::guest::GuestError;
use kubepve::guest::backup::BACKUP_LABEL;
use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use serde_json::{Value, json};
use support::guest::{BACKUP_NS, Env, MAX_PASSES, clone_vm, condition, ct, ready};

const NS: &str = "team-a";
/// Kind (URL plural), name and VMID of each guest in the namespace.
const GUESTS: [(&str, &str, u32); 3] = [
    ("proxmoxvms", "web-1", 150),
    ("proxmoxvms", "web-2", 151),
    ("proxmoxcontainers", "cache", 200),
];
const TEMPLATE: &str = "debian-12-standard_12.7-1_amd64.tar.zst";

/// One reconcile of a guest object of either kind.
async fn pass(env: &Env, plural: &str, name: &str) -> Result<(), GuestError> {
    match plural {
        "proxmoxvms" => env.pass_kind::<ProxmoxVM>(plural, NS, name).await,
        _ => env.pass_kind::<ProxmoxContainer>(plural, NS, name).await,
    }
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "proxmoxvms" => "ProxmoxVM",
        _ => "ProxmoxContainer",
    }
}

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
    env.pve
        .store_file("local", TEMPLATE, 120 * 1024 * 1024, "vztmpl")
        .await;
    for (plural, name, vmid) in GUESTS {
        let mut object = if plural == "proxmoxvms" {
            clone_vm(name, vmid, json!({}))
        } else {
            ct(
                name,
                json!({
                    "vmid": vmid,
                    "ostemplate": format!("local:vztmpl/{TEMPLATE}"),
                    "rootfs": {"storage": "local-lvm", "size": "8Gi"},
                    "memory": "512Mi",
                }),
            )
        };
        object["metadata"]["namespace"] = json!(NS);
        env.kube.put_kind(plural, object);
        let mut passes = 0;
        while !ready(env.kube.get_kind(plural, NS, name).as_ref()) {
            passes += 1;
            assert!(
                passes < MAX_PASSES,
                "{name} not ready: {:#?}",
                env.kube.get_kind(plural, NS, name)
            );
            let _ = pass(&env, plural, name).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
        for (plural, name, _) in GUESTS {
            if env.kube.get_kind(plural, NS, name).is_some()
                && let Err(e) = pass(env, plural, name).await
            {
                eprintln!("{name}: {e}");
            }
        }
        let guests_left = GUESTS
            .iter()
            .any(|(plural, name, _)| env.kube.get_kind(plural, NS, name).is_some());
        assert!(
            !guests_left || env.kube.get_kind("proxmoxconnections", NS, "pve").is_some(),
            "the connection went before the guests that need it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<Value> = [
        "proxmoxvms",
        "proxmoxcontainers",
        "proxmoxconnections",
        "secrets",
        "configmaps",
    ]
    .iter()
    .flat_map(|p| env.kube.list(p, Some(NS)))
    .collect();
    panic!("namespace {NS} still holds {left:#?}");
}

/// The guests are gone from Proxmox and each left its backup in the operator's namespace,
/// labelled with where it came from.
async fn assert_destroyed_and_backed_up(env: &Env) {
    for (_, name, vmid) in GUESTS {
        assert!(
            env.pve.guest(vmid).await.is_none(),
            "{name}: VMID {vmid} still exists"
        );
    }
    let backups = env.kube.list("configmaps", Some(BACKUP_NS));
    for (plural, name, vmid) in GUESTS {
        let found = backups.iter().find(|cm| {
            let labels = &cm["metadata"]["labels"];
            labels[BACKUP_LABEL] == "true"
                && labels["kubepve.io/backup-of-namespace"] == NS
                && labels["kubepve.io/backup-of-kind"] == kind_of(plural)
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
