//! The fake Kubernetes API (`tests/support/fakekube/`) behaves like the real API server where a
//! controller can tell: each test talks to it only through a `kube::Client`, as the operator
//! does, and asserts what a real kube-apiserver answers (codes, reasons, messages, which
//! writes move the resourceVersion, defaults, finalizers, the status subresource and
//! server-side apply ownership).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubepve_api::{ProxmoxConnection, ProxmoxVM};
use serde_json::{Value, json};
use support::fakekube::FakeKube;

fn vm(name: &str) -> Value {
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "metadata": {"name": name},
        "spec": {"connectionRef": {"name": "pve"}, "source": {"blank": {}}},
    })
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

async fn create_ns(kube: &FakeKube, ns: &str) {
    let namespaces: Api<Namespace> = Api::all(kube.mock.client.clone());
    let body = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    namespaces
        .create(&PostParams::default(), &body)
        .await
        .unwrap();
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn create_vm(api: &Api<ProxmoxVM>, name: &str, finalizers: &[&str]) -> ProxmoxVM {
    let mut body = vm(name);
    body["metadata"]["finalizers"] = json!(finalizers);
    let object: ProxmoxVM = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap()
}

#[tokio::test]
async fn a_terminating_namespace_refuses_creates_with_the_real_forbidden_status() {
    let kube = FakeKube::new("proxmoxvms");
    create_ns(&kube, "team").await;
    let client = kube.mock.client.clone();
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), "team");
    let held = create_vm(&vms, "held", &["kubepve.io/finalizer"]).await;
    Api::<Namespace>::all(client.clone())
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let ns = Api::<Namespace>::all(client.clone())
        .get("team")
        .await
        .unwrap();
    assert!(ns.metadata.deletion_timestamp.is_some());
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let refused = api_error(cms.create(&PostParams::default(), &cm("backup")).await);
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        refused.message,
        "configmaps \"backup\" is forbidden: unable to create new content in namespace team \
         because it is being terminated"
    );
    let details = refused.details.unwrap();
    assert_eq!(details.causes[0].reason, "NamespaceTerminating");
    // A server-side apply that would create is a create too.
    let apply = PatchParams::apply("kubepve").force();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}});
    let refused = api_error(cms.patch("other", &apply, &Patch::Apply(&body)).await);
    assert_eq!(refused.code, 403);
    // Writes to what is already there still work (a finalizer can be removed, status written).
    let status = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "status": {"phase": "Deleting"}});
    vms.patch_status("held", &apply, &Patch::Apply(&status))
        .await
        .unwrap();
    let patch = json!({"metadata": {"finalizers": null,
        "resourceVersion": vms.get("held").await.unwrap().metadata.resource_version}});
    vms.patch("held", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(api_error(vms.get("held").await).code, 404);
    assert!(held.metadata.uid.is_some());
}

#[tokio::test]
async fn deleting_a_namespace_deletes_every_kind_in_it_then_the_namespace() {
    let kube = FakeKube::new("proxmoxvms");
    create_ns(&kube, "team").await;
    let client = kube.mock.client.clone();
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), "team");
    create_vm(&vms, "held", &["kubepve.io/finalizer"]).await;
    create_vm(&vms, "free", &[]).await;
    let conns: Api<ProxmoxConnection> = Api::namespaced(client.clone(), "team");
    let conn = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
        "metadata": {"name": "pve"},
        "spec": {"endpoint": "https://pve:8006", "credentialsSecretRef": {"name": "creds"}}});
    conns
        .create(
            &PostParams::default(),
            &serde_json::from_value(conn).unwrap(),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    let secret = serde_json::from_value(json!({"metadata": {"name": "creds"}})).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    cms.create(&PostParams::default(), &cm("data"))
        .await
        .unwrap();
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    other
        .create(&PostParams::default(), &cm("data"))
        .await
        .unwrap();

    Api::<Namespace>::all(client.clone())
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(secrets.get("creds").await).code, 404);
    assert_eq!(api_error(cms.get("data").await).code, 404);
    assert_eq!(api_error(conns.get("pve").await).code, 404);
    assert_eq!(api_error(vms.get("free").await).code, 404);
    let held = vms.get("held").await.unwrap();
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "marked, kept for its finalizer"
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get("team")
            .await
            .is_ok()
    );
    assert!(
        other.get("data").await.is_ok(),
        "other namespaces are untouched"
    );

    let patch = json!({"metadata": {"finalizers": []}});
    vms.patch("held", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let gone = api_error(Api::<Namespace>::all(client.clone()).get("team").await);
    assert_eq!(gone.code, 404, "the namespace goes once it is empty");
}

#[tokio::test]
async fn every_write_moves_the_resource_version_status_included_and_no_op_patches_do_not() {
    let kube = FakeKube::new("proxmoxvms");
    let vms: Api<ProxmoxVM> = Api::namespaced(kube.mock.client.clone(), "default");
    let created = create_vm(&vms, "web", &[]).await;
    let rv = |o: &ProxmoxVM| o.metadata.resource_version.clone().unwrap();
    let apply = PatchParams::apply("kubepve").force();
    let status = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "status": {"phase": "Pending"}});
    let written = vms
        .patch_status("web", &apply, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_ne!(rv(&written), rv(&created), "a status write is a write");
    assert_eq!(
        written.metadata.generation,
        Some(1),
        "status leaves generation alone"
    );
    assert_eq!(kube.writes("proxmoxvms", "default", "web"), 2);
    let again = vms
        .patch_status("web", &apply, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(
        rv(&again),
        rv(&written),
        "the same status again changes nothing"
    );
    let spec = json!({"spec": {"description": "hello"}});
    let edited = vms
        .patch("web", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    assert_eq!(
        edited.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
    assert_eq!(kube.writes("proxmoxvms", "default", "web"), 3);
}

#[tokio::test]
async fn crd_schema_defaults_are_applied_on_create_per_kind() {
    let kube = FakeKube::new("proxmoxvms");
    let client = kube.mock.client.clone();
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), "default");
    let created = create_vm(&vms, "web", &[]).await;
    let crd = serde_json::to_value(ProxmoxVM::crd()).unwrap();
    let spec_schema =
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let stored = serde_json::to_value(&created).unwrap();
    for field in ["runStrategy", "deletionPolicy"] {
        let default = &spec_schema["properties"][field]["default"];
        assert!(!default.is_null(), "the CRD defaults spec.{field}");
        assert_eq!(&stored["spec"][field], default, "spec.{field}");
    }
    let conns: Api<ProxmoxConnection> = Api::namespaced(client, "default");
    let conn = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
        "metadata": {"name": "pve"},
        "spec": {"endpoint": "https://pve:8006", "credentialsSecretRef": {"name": "creds"}}});
    let created = conns
        .create(
            &PostParams::default(),
            &serde_json::from_value(conn).unwrap(),
        )
        .await
        .unwrap();
    let stored = serde_json::to_value(&created).unwrap();
    assert!(stored["spec"].get("runStrategy").is_none(), "{stored:#}");
    assert!(
        stored["spec"]["limits"].is_object(),
        "connection limits are defaulted"
    );
}

#[tokio::test]
async fn a_stale_resource_version_conflicts_and_a_deleted_object_is_not_found() {
    let kube = FakeKube::new("proxmoxvms");
    let vms: Api<ProxmoxVM> = Api::namespaced(kube.mock.client.clone(), "default");
    let created = create_vm(&vms, "web", &[]).await;
    let old_rv = created.metadata.resource_version.clone();
    let spec = json!({"spec": {"description": "one"}});
    vms.patch("web", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    let stale = json!({"metadata": {"resourceVersion": old_rv}, "spec": {"description": "two"}});
    let conflict = api_error(
        vms.patch("web", &PatchParams::default(), &Patch::Merge(&stale))
            .await,
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.starts_with(
            "Operation cannot be fulfilled on proxmoxvms.kubepve.io \"web\": the object has been modified"
        ),
        "{}",
        conflict.message
    );
    let dup = api_error(vms.create(&PostParams::default(), &created).await);
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));
    vms.delete("web", &DeleteParams::default()).await.unwrap();
    let gone = api_error(vms.get("web").await);
    assert_eq!(
        (gone.code, gone.message.as_str()),
        (404, "proxmoxvms.kubepve.io \"web\" not found")
    );
    let gone = api_error(
        vms.patch_status("web", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(gone.code, 404);
}

#[tokio::test]
async fn no_new_finalizer_while_deleting_and_the_last_one_removed_deletes_the_object() {
    let kube = FakeKube::new("proxmoxvms");
    let vms: Api<ProxmoxVM> = Api::namespaced(kube.mock.client.clone(), "default");
    create_vm(&vms, "web", &["a.example/one", "b.example/two"]).await;
    let marked = vms.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(marked.left().unwrap().metadata.deletion_timestamp.is_some());
    let add =
        json!({"metadata": {"finalizers": ["a.example/one", "b.example/two", "c.example/new"]}});
    let refused = api_error(
        vms.patch("web", &PatchParams::default(), &Patch::Merge(&add))
            .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert!(
        refused.message.contains("no new finalizers can be added"),
        "{}",
        refused.message
    );
    let one = json!({"metadata": {"finalizers": ["b.example/two"]}});
    vms.patch("web", &PatchParams::default(), &Patch::Merge(&one))
        .await
        .unwrap();
    assert!(vms.get("web").await.is_ok(), "one finalizer left");
    let none = json!({"metadata": {"finalizers": []}});
    vms.patch("web", &PatchParams::default(), &Patch::Merge(&none))
        .await
        .unwrap();
    assert_eq!(api_error(vms.get("web").await).code, 404);
}

#[tokio::test]
async fn status_goes_through_its_subresource_and_apply_ownership_conflicts_without_force() {
    let kube = FakeKube::new("proxmoxvms");
    let vms: Api<ProxmoxVM> = Api::namespaced(kube.mock.client.clone(), "default");
    let mut body = vm("web");
    body["status"] = json!({"phase": "Running"});
    let created = vms
        .create(
            &PostParams::default(),
            &serde_json::from_value(body).unwrap(),
        )
        .await
        .unwrap();
    assert!(created.status.is_none(), "a create ignores .status");
    let patch = json!({"status": {"phase": "Running"}, "spec": {"description": "x"}});
    let written = vms
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert!(
        written.status.is_none(),
        "the main resource ignores .status"
    );
    let status = json!({"status": {"phase": "Running"}, "spec": {"description": "y"}});
    let written = vms
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        written.spec.guest.description.as_deref(),
        Some("x"),
        "/status ignores the spec"
    );
    let phase = serde_json::to_value(written.status.unwrap().phase).unwrap();
    assert_eq!(phase, "Running");

    let applied = |d: &str| {
        json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
            "metadata": {"name": "web"}, "spec": {"description": d}})
    };
    vms.patch(
        "web",
        &PatchParams::apply("gitops"),
        &Patch::Apply(applied("mine")),
    )
    .await
    .unwrap();
    let conflict = api_error(
        vms.patch(
            "web",
            &PatchParams::apply("someone"),
            &Patch::Apply(applied("theirs")),
        )
        .await,
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(
        conflict.message,
        "Apply failed with 1 conflict: conflict with \"gitops\": .spec.description"
    );
    let forced = vms
        .patch(
            "web",
            &PatchParams::apply("someone").force(),
            &Patch::Apply(applied("theirs")),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.guest.description.as_deref(), Some("theirs"));
    // A manager that stops applying a field it owns removes it.
    let without = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "metadata": {"name": "web"}, "spec": {"tags": ["a"]}});
    let pruned = vms
        .patch(
            "web",
            &PatchParams::apply("someone").force(),
            &Patch::Apply(without),
        )
        .await
        .unwrap();
    assert_eq!(pruned.spec.guest.description, None);
}
