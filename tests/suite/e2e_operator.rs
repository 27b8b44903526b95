//! End to end on a real API server (see `support/apiserver.rs`) and fakepve: the operator's
//! controllers run in this process against the API server; the samples' connection points at
//! fakepve. The VM and container samples become Ready with UPIDs in status, `kubectl get`
//! columns show VMID, node, phase and task, and deleting the objects removes the guests.
//!
//! One test, so that one API server serves every scenario and a run without one prints a single
//! SKIPPED line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use kubepve_api::{ProxmoxConnection, ProxmoxContainer, ProxmoxVM};
use serde_json::{Value, json};
use support::apiserver::{InProcessOperator, TestEnv, apply};

#[tokio::test]
async fn real_apiserver_operator_end_to_end() {
    let Some(env) = TestEnv::start("real-apiserver operator e2e").await else {
        return;
    };
    let client = env.client.clone();
    env.install_crds().await;
    let ns = format!("kubepve-e2e-{}", std::process::id());
    apply(
        &Api::<Namespace>::all(client.clone()),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;

    let (pve, token) = support::lab::sample_lab(0.01).await;

    // The samples, pointed at fakepve.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    apply(
        &secrets,
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pve-lab-credentials"},
            "stringData": {"tokenId": token.id, "tokenSecret": token.secret},
        }),
    )
    .await;
    apply(
        &secrets,
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-01-cloudinit"},
            "stringData": {"password": "change-me-please"},
        }),
    )
    .await;
    let conns: Api<ProxmoxConnection> = Api::namespaced(client.clone(), &ns);
    let mut conn = sample("connection.yaml", "ProxmoxConnection");
    conn["spec"]["endpoint"] = json!(pve.url());
    conn["spec"]["tls"] = json!({"caBundle": pve.ca_pem()});
    apply(&conns, conn).await;
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), &ns);
    let mut vm = sample("vm-from-template.yaml", "ProxmoxVM");
    vm["spec"]["node"] = json!("pve1");
    // fakepve accepts but does not model disk growth; keep the template's disk sizes.
    vm["spec"]["disks"] = json!([{"slot": "scsi0", "storage": "local-lvm", "size": "32Gi"}]);
    apply(&vms, vm).await;
    let cts: Api<ProxmoxContainer> = Api::namespaced(client.clone(), &ns);
    let mut ct = sample("container.yaml", "ProxmoxContainer");
    ct["spec"]["node"] = json!("pve1");
    apply(&cts, ct).await;

    // Run the operator until the end of the test.
    let operator = InProcessOperator::start(&client, &ns);

    let vm = wait_until(&vms, "web-01", Duration::from_secs(120), |o| {
        is_ready(o.status.as_ref().map(|s| &s.conditions))
    })
    .await;
    let status = vm.status.clone().unwrap();
    assert_eq!(status.vmid, Some(150));
    assert_eq!(status.node.as_deref(), Some("pve1"));
    assert!(
        status
            .last_task
            .as_ref()
            .is_some_and(|t| t.upid.starts_with("UPID:pve1:")),
        "{status:?}"
    );
    assert!(pve.guest(150).await.is_some(), "VM 150 exists in Proxmox");
    let ct = wait_until(&cts, "dns-01", Duration::from_secs(120), |o| {
        is_ready(o.status.as_ref().map(|s| &s.conditions))
    })
    .await;
    assert_eq!(ct.status.as_ref().and_then(|s| s.vmid), Some(200));

    // What `kubectl get pvm` shows.
    let table = support::apiserver::table(&client, &ns, "proxmoxvms").await;
    assert_eq!(
        table[0],
        [
            "Name", "VMID", "Node", "Phase", "Ready", "Task", "Age", "Message"
        ]
    );
    assert_eq!(
        &table[1][..5],
        ["web-01", "150", "pve1", "Running", "True"],
        "{table:?}"
    );

    adoption_and_placement(&client, &ns, &pve).await;

    // Deleting removes the guests and then the objects.
    vms.delete("web-01", &DeleteParams::default())
        .await
        .unwrap();
    cts.delete("dns-01", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&vms, "web-01").await;
    wait_gone(&cts, "dns-01").await;
    assert!(pve.guest(150).await.is_none(), "VM 150 was destroyed");
    assert!(pve.guest(200).await.is_none(), "CT 200 was destroyed");
    // The connection kept its finalizer while guests used it; with none left it goes.
    assert!(
        conns.list(&Default::default()).await.unwrap().items[0]
            .finalizers()
            .contains(&kubepve_api::FINALIZER.to_string()),
        "the connection carries the operator's finalizer"
    );
    assert!(
        support::apiserver::delete_connections(&client, &ns).await,
        "the connection went once no guest used it"
    );

    operator.stop().await;
    let _ = Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await;
}

/// Guests that exist before their objects (adopt, ObserveOnly, another owner), and a VM without
/// a node, on the running operator.
async fn adoption_and_placement(client: &Client, ns: &str, pve: &pve_testkit::FakePve) {
    use pve_testkit::VmSeed;
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), ns);
    let seed = |vmid: u32, name: &str, tags: &str| {
        VmSeed::new(vmid, name)
            .running()
            .config("cores", 2)
            .config("memory", 2048)
            .config("tags", tags.to_string())
    };
    pve.add_vm(seed(310, "legacy", "prod")).await;
    pve.add_vm(seed(320, "watched", "prod")).await;
    pve.add_vm(seed(330, "theirs", "kubepve;kubepve-owner-someone-else"))
        .await;
    let existing = |name: &str, vmid: u32, extra: Value| {
        let mut spec = json!({
            "connectionRef": {"name": "pve-lab"}, "vmid": vmid, "source": {"blank": {}},
            "memory": "2Gi", "cpu": {"cores": 2}, "tags": ["prod"],
        });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
               "metadata": {"name": name}, "spec": spec})
    };
    apply(&vms, existing("legacy", 310, json!({"adopt": {}}))).await;
    apply(
        &vms,
        existing(
            "watched",
            320,
            json!({"managementPolicy": "ObserveOnly", "cpu": {"cores": 4}}),
        ),
    )
    .await;
    apply(&vms, existing("intruder", 330, json!({"adopt": {}}))).await;
    let mut floating = existing("floating", 340, json!({}));
    floating["spec"]["source"] = json!({"blank": {}});
    apply(&vms, floating).await;

    let reason_of = |o: &ProxmoxVM, type_: &str| {
        o.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .map(|c| c.reason.clone())
            .unwrap_or_default()
    };
    let legacy = wait_until(&vms, "legacy", Duration::from_secs(60), |o| {
        is_ready(o.status.as_ref().map(|s| &s.conditions))
    })
    .await;
    assert_eq!(legacy.status.as_ref().unwrap().adopted, Some(true));
    let tags = pve.guest(310).await.unwrap()["config"]["tags"].to_string();
    assert!(tags.contains("kubepve-owner-"), "{tags}");

    let watched = wait_until(&vms, "watched", Duration::from_secs(60), |o| {
        reason_of(o, "Ready") == "Observed"
    })
    .await;
    let planned = &watched.status.as_ref().unwrap().planned_changes;
    assert!(
        planned.iter().any(|c| c.starts_with("cores")),
        "{planned:?}"
    );

    wait_until(&vms, "intruder", Duration::from_secs(60), |o| {
        reason_of(o, "Stalled") == "Conflict"
    })
    .await;
    let floating = wait_until(&vms, "floating", Duration::from_secs(60), |o| {
        is_ready(o.status.as_ref().map(|s| &s.conditions))
    })
    .await;
    assert_eq!(floating.status.unwrap().node.as_deref(), Some("pve1"));

    for name in ["legacy", "watched", "intruder", "floating"] {
        vms.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["legacy", "watched", "intruder", "floating"] {
        wait_gone(&vms, name).await;
    }
    assert!(
        pve.guest(310).await.is_none(),
        "the adopted guest was deleted with its object"
    );
    assert!(pve.guest(320).await.is_some(), "ObserveOnly never deletes");
    assert!(
        pve.guest(330).await.is_some(),
        "another owner's guest stays"
    );
    assert!(pve.guest(340).await.is_none());
}

fn sample(file: &str, kind: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/samples")
        .join(file);
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut doc = docs.into_iter().find(|d| d["kind"] == kind).unwrap();
    doc["metadata"].as_object_mut().unwrap().remove("namespace");
    doc
}

fn is_ready(
    conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> bool {
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn wait_until<K>(api: &Api<K>, name: &str, limit: Duration, done: impl Fn(&K) -> bool) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let started = Instant::now();
    loop {
        if let Ok(Some(object)) = api.get_opt(name).await
            && done(&object)
        {
            return object;
        }
        assert!(
            started.elapsed() < limit,
            "{name} not ready after {limit:?}: {:#?}",
            api.get_opt(name).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let started = Instant::now();
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{name} still there: {:#?}",
            api.get_opt(name).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
