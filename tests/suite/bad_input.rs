//! The invalid manifests that pass the CRD schema (`tests/fixtures/invalid/cases.yaml`, refused
//! by the operator): each stalls with its reason and a message saying what to fix, and nothing
//! that could create a guest is sent to Proxmox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use crate::invalid;

use invalid::{Case, RefusedBy, cases};
use kubepve::guest::GuestObject;
use kubepve_api::{ProxmoxContainer, ProxmoxVM};
use serde_json::Value;
use support::guest::{Env, condition};

/// Requests that create a guest: a clone, or a POST to a node's `qemu` or `lxc` collection.
async fn creating_requests(env: &Env) -> Vec<String> {
    env.pve
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && (r.path.ends_with("/clone")
                    || r.path.ends_with("/qemu")
                    || r.path.ends_with("/lxc"))
        })
        .map(|r| format!("{} {} {}", r.method, r.path, r.body))
        .collect()
}

async fn refused_before_anything_is_created<K: GuestObject>(plural: &str, kind: &str) {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.refused_by == RefusedBy::Operator && c.kind() == kind)
        .collect();
    assert!(!cases.is_empty());
    let env = Env::new(plural).await;
    for case in &cases {
        env.kube.put(case.manifest.clone());
        let reason = case.reason.clone().unwrap();
        let stalled = |o: Option<&Value>| {
            o.is_some_and(|o| {
                let c = condition(o, "Stalled");
                c["status"] == "True" && c["reason"] == reason.as_str()
            })
        };
        let object = env.drive::<K>(&case.name, stalled).await.unwrap();
        let message = condition(&object, "Stalled")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            case.is_explained_by(&message),
            "{}: the message does not say what to fix: {message}",
            case.name
        );
        assert_eq!(condition(&object, "Ready")["status"], "False");
        // Reconciled again, it stays refused.
        env.passes::<K>(&case.name, 3).await;
        let again = env.kube.get(&case.name).unwrap();
        assert_eq!(condition(&again, "Stalled")["reason"], reason.as_str());
    }
    let creates = creating_requests(&env).await;
    assert!(creates.is_empty(), "sent to Proxmox: {creates:#?}");
    for vmid in [700, 701] {
        assert!(env.pve.guest(vmid).await.is_none(), "guest {vmid} exists");
    }
}

#[tokio::test]
async fn vm_manifests_the_schema_lets_through_are_refused_before_anything_is_created() {
    refused_before_anything_is_created::<ProxmoxVM>("proxmoxvms", "ProxmoxVM").await;
}

#[tokio::test]
async fn container_manifests_the_schema_lets_through_are_refused_before_anything_is_created() {
    refused_before_anything_is_created::<ProxmoxContainer>("proxmoxcontainers", "ProxmoxContainer")
        .await;
}
