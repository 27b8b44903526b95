//! The CRDs and samples on a real API server (see `support/apiserver.rs` for how one is found):
//! `crds/` installs and becomes Established, every sample passes server-side validation, applying
//! a sample twice changes nothing, the printer columns are served, bad values (among them every
//! schema case of `tests/fixtures/invalid/cases.yaml`) are refused by the schema and CEL with
//! messages that name the field, and `vmid` cannot change once set.
//!
//! Everything runs in one test so that one API server serves every scenario and a run without a
//! server prints one SKIPPED line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use crate::invalid;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use support::apiserver::TestEnv;

const MANAGER: &str = "kubepve-test";

#[tokio::test]
async fn real_apiserver_crds_and_samples() {
    let Some(env) = TestEnv::start("real-apiserver CRD suite").await else {
        return;
    };
    eprintln!("real-apiserver CRD suite on {}", env.description);
    let client = env.client.clone();
    env.install_crds().await;
    let ns = create_namespace(&client).await;

    samples_pass_server_side_validation(&client, &ns).await;
    applying_a_sample_twice_changes_nothing(&client, &ns).await;
    printer_columns_are_served(&client, &ns).await;
    vmid_cannot_change_once_set(&client, &ns).await;
    bad_values_are_refused_with_the_field_named(&client, &ns).await;
    the_invalid_manifests_table_is_refused_by_the_api_server(&client, &ns).await;
    status_is_a_subresource(&client, &ns).await;

    let _ = Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await;
}

async fn create_namespace(client: &Client) -> String {
    let name = format!("kubepve-test-{}", std::process::id());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let api: Api<Namespace> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .unwrap();
    name
}

fn api_for(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(kubepve_api::GROUP, kubepve_api::VERSION, kind);
    let plural = format!("{}s", kind.to_lowercase());
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    )
}

/// Every document of `config/samples/`, moved into the test namespace.
fn samples(ns: &str) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        for mut doc in
            serde_saphyr::from_multiple::<Value>(&std::fs::read_to_string(&file).unwrap()).unwrap()
        {
            if doc.is_null() {
                continue;
            }
            doc["metadata"]["namespace"] = json!(ns);
            docs.push(doc);
        }
    }
    docs
}

/// Applies one sample document; a freshly established CRD may need a moment to be served.
async fn apply(client: &Client, ns: &str, doc: &Value) -> Result<Value, kube::Error> {
    let name = doc["metadata"]["name"].as_str().unwrap().to_string();
    let params = PatchParams::apply(MANAGER).force();
    let kind = doc["kind"].as_str().unwrap();
    for attempt in 0.. {
        let outcome = if kind == "Secret" {
            let api: Api<Secret> = Api::namespaced(client.clone(), ns);
            api.patch(&name, &params, &Patch::Apply(doc))
                .await
                .map(|s| serde_json::to_value(s).unwrap())
        } else {
            api_for(client, ns, kind)
                .patch(&name, &params, &Patch::Apply(doc))
                .await
                .map(|o| serde_json::to_value(o).unwrap())
        };
        match outcome {
            Err(kube::Error::Api(status)) if status.code == 404 && attempt < 20 => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
    unreachable!()
}

/// The top-level `spec` fields that the generated CRD of `kind` gives a default, with it.
fn spec_defaults(kind: &str) -> Vec<(String, Value)> {
    let crds = kubepve_api::crds::all().unwrap();
    let crd = crds
        .iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"));
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let props = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"];
    props
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(field, s)| s.get("default").map(|d| (field.clone(), d.clone())))
        .collect()
}

async fn samples_pass_server_side_validation(client: &Client, ns: &str) {
    let docs = samples(ns);
    assert!(docs.iter().any(|d| d["kind"] == "ProxmoxVM"));
    for doc in &docs {
        let stored = apply(client, ns, doc)
            .await
            .unwrap_or_else(|e| panic!("sample {} refused: {e}", doc["metadata"]["name"]));
        let kind = doc["kind"].as_str().unwrap();
        if kind == "Secret" {
            continue;
        }
        // Schema defaults are filled in by the server (per kind, as the CRD declares them), so
        // the controller never writes spec.
        let defaults = spec_defaults(kind);
        if kind != "ProxmoxConnection" {
            for field in ["runStrategy", "deletionPolicy"] {
                assert!(
                    defaults.iter().any(|(f, _)| f == field),
                    "{kind} defaults spec.{field}"
                );
            }
        }
        for (field, default) in defaults {
            if doc["spec"].get(&field).is_none() {
                assert_eq!(
                    stored["spec"][&field], default,
                    "{kind} {}: spec.{field} defaulted by the server: {stored}",
                    doc["metadata"]["name"]
                );
            }
        }
    }
}

async fn applying_a_sample_twice_changes_nothing(client: &Client, ns: &str) {
    for doc in samples(ns).iter().filter(|d| d["kind"] != "Secret") {
        let first = apply(client, ns, doc).await.unwrap();
        let second = apply(client, ns, doc).await.unwrap();
        assert_eq!(
            first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"],
            "re-applying {} changed the object",
            doc["metadata"]["name"]
        );
        assert_eq!(
            first["metadata"]["generation"],
            second["metadata"]["generation"]
        );
    }
}

async fn printer_columns_are_served(client: &Client, ns: &str) {
    let table = support::apiserver::table(client, ns, "proxmoxvms").await;
    assert_eq!(
        table[0],
        [
            "Name", "VMID", "Node", "Phase", "Ready", "Task", "Age", "Message"
        ]
    );
}

async fn vmid_cannot_change_once_set(client: &Client, ns: &str) {
    let vm = samples(ns)
        .into_iter()
        .find(|d| d["kind"] == "ProxmoxVM" && d["spec"]["vmid"].is_number())
        .unwrap();
    let mut changed = vm.clone();
    changed["spec"]["vmid"] = json!(vm["spec"]["vmid"].as_i64().unwrap() + 1);
    let err = apply(client, ns, &changed)
        .await
        .expect_err("vmid change must be refused");
    assert!(
        err.to_string().contains("vmid is immutable once set"),
        "{err}"
    );

    // A VM created without a vmid may get one later.
    let mut late = vm.clone();
    late["metadata"]["name"] = json!("late-vmid");
    late["spec"].as_object_mut().unwrap().remove("vmid");
    apply(client, ns, &late).await.unwrap();
    late["spec"]["vmid"] = json!(4242);
    apply(client, ns, &late)
        .await
        .expect("setting vmid for the first time is allowed");
}

async fn bad_values_are_refused_with_the_field_named(client: &Client, ns: &str) {
    let vm = samples(ns)
        .into_iter()
        .find(|d| d["kind"] == "ProxmoxVM")
        .unwrap();
    let api = api_for(client, ns, "ProxmoxVM");
    let cases: [(&str, Value, &str); 5] = [
        ("/spec/vmid", json!(99), "spec.vmid"),
        ("/spec/memory", json!("4GB"), "spec.memory"),
        ("/spec/tags", json!(["bad tag!"]), "spec.tags[0]"),
        (
            "/spec/source",
            json!({"clone": {"templateVmid": 9000}, "blank": {}}),
            "set exactly one of source.clone and source.blank",
        ),
        ("/spec/runStrategy", json!("Sometimes"), "spec.runStrategy"),
    ];
    for (i, (pointer, value, expected)) in cases.into_iter().enumerate() {
        let mut bad = vm.clone();
        bad["metadata"]["name"] = json!(format!("bad-{i}"));
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        let object: DynamicObject = serde_json::from_value(bad).unwrap();
        let err = api
            .create(
                &PostParams {
                    dry_run: true,
                    ..PostParams::default()
                },
                &object,
            )
            .await
            .expect_err("bad value must be refused");
        assert!(
            err.to_string().contains(expected),
            "{pointer} = {value}: {err}"
        );
    }
}

/// Every case of `tests/fixtures/invalid/cases.yaml` that the schema or CEL refuses offline is
/// refused by the real API server too, with the field named; the cases left to the operator are
/// accepted (server-side dry run: nothing is stored).
async fn the_invalid_manifests_table_is_refused_by_the_api_server(client: &Client, ns: &str) {
    let mut wrong = Vec::new();
    for case in invalid::cases() {
        let mut doc = case.manifest.clone();
        doc["metadata"]["namespace"] = json!(ns);
        let object: DynamicObject = serde_json::from_value(doc).unwrap();
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let outcome = api_for(client, ns, case.kind())
            .create(&dry_run, &object)
            .await;
        match (case.refused_by, outcome) {
            (invalid::RefusedBy::Schema, Err(e)) if case.is_explained_by(&e.to_string()) => {}
            (invalid::RefusedBy::Operator, Ok(_)) => {}
            (_, outcome) => wrong.push(format!("{}: {outcome:?}", case.name)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn status_is_a_subresource(client: &Client, ns: &str) {
    let api = api_for(client, ns, "ProxmoxVM");
    let name = "installer-lab";
    let status = json!({
        "apiVersion": "kubepve.io/v1alpha1",
        "kind": "ProxmoxVM",
        "status": {"vmid": 4000, "node": "pve1", "phase": "Stopped", "observedGeneration": 1}
    });
    api.patch_status(
        name,
        &PatchParams::apply("kubepve").force(),
        &Patch::Apply(&status),
    )
    .await
    .unwrap();
    let stored = api.get(name).await.unwrap();
    assert_eq!(stored.data["status"]["vmid"], 4000);
    // Writes to the main resource ignore status.
    let mut doc = serde_json::to_value(&stored).unwrap();
    doc["status"]["vmid"] = json!(1);
    doc["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let object: DynamicObject = serde_json::from_value(doc).unwrap();
    let replaced = api
        .replace(name, &PostParams::default(), &object)
        .await
        .unwrap();
    assert_eq!(replaced.data["status"]["vmid"], 4000);
}
