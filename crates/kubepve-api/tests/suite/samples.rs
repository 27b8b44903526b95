//! Every sample in `config/samples/` deserializes into the Rust types, validates against the
//! generated CRD schema, passes the CEL rules, and survives a round trip through the types
//! unchanged (so the operator reads exactly what the user wrote).

#![allow(clippy::unwrap_used)]

use crate::support;

use kubepve_api::{
    ProxmoxConnection, ProxmoxContainer, ProxmoxSnapshot, ProxmoxSnapshotRestore,
    ProxmoxSnapshotSchedule, ProxmoxVM, ProxmoxVMSet,
};
use serde_json::Value;
use support::*;

#[test]
fn every_kind_has_a_sample_and_vms_cover_clone_and_blank() {
    assert!(!samples_of("ProxmoxConnection").is_empty());
    assert!(!samples_of("ProxmoxContainer").is_empty());
    assert!(!samples_of("ProxmoxVMSet").is_empty());
    let vms = samples_of("ProxmoxVM");
    assert!(
        vms.iter()
            .any(|(_, d)| d["spec"]["source"].get("clone").is_some())
    );
    assert!(
        vms.iter()
            .any(|(_, d)| d["spec"]["source"].get("blank").is_some())
    );
    let cloned = vms
        .iter()
        .find(|(_, d)| d["spec"]["source"].get("clone").is_some())
        .unwrap();
    assert_eq!(
        cloned.1["spec"]["disks"].as_array().unwrap().len(),
        2,
        "the clone sample has two disks"
    );
    assert!(cloned.1["spec"].get("cloudInit").is_some());
}

#[test]
fn samples_deserialize_and_round_trip() {
    for (file, doc) in sample_documents() {
        let back = match doc["kind"].as_str().unwrap() {
            "ProxmoxConnection" => reserialize::<ProxmoxConnection>(&doc),
            "ProxmoxVM" => reserialize::<ProxmoxVM>(&doc),
            "ProxmoxContainer" => reserialize::<ProxmoxContainer>(&doc),
            "ProxmoxSnapshot" => reserialize::<ProxmoxSnapshot>(&doc),
            "ProxmoxSnapshotSchedule" => reserialize::<ProxmoxSnapshotSchedule>(&doc),
            "ProxmoxSnapshotRestore" => reserialize::<ProxmoxSnapshotRestore>(&doc),
            "ProxmoxVMSet" => reserialize::<ProxmoxVMSet>(&doc),
            "Secret" => continue,
            other => panic!("{file}: unexpected kind {other}"),
        };
        if let Some(path) = first_difference(&doc, &back, String::new()) {
            panic!("{file}: the types lose or change {path}");
        }
    }
}

#[test]
fn samples_validate_against_the_generated_schema_and_cel_rules() {
    for kind in KINDS {
        for (file, doc) in samples_of(kind) {
            let errors = schema_errors(kind, &doc);
            assert!(errors.is_empty(), "{file}: schema errors: {errors:#?}");
            let errors = cel_errors(kind, &doc, None);
            assert!(
                errors.is_empty(),
                "{file}: CEL errors on create: {errors:#?}"
            );
            let errors = cel_errors(kind, &doc, Some(&doc));
            assert!(
                errors.is_empty(),
                "{file}: CEL errors on a no-op update: {errors:#?}"
            );
        }
    }
}

fn reserialize<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
    let typed: T = serde_json::from_value(doc.clone()).unwrap();
    serde_json::to_value(typed).unwrap()
}

/// Where `typed` lacks or changes something `written` says (the typed form may add defaults).
fn first_difference(written: &Value, typed: &Value, path: String) -> Option<String> {
    match (written, typed) {
        (Value::Object(w), Value::Object(t)) => w.iter().find_map(|(k, v)| match t.get(k) {
            Some(tv) => first_difference(v, tv, format!("{path}.{k}")),
            None => Some(format!("{path}.{k}")),
        }),
        (Value::Array(w), Value::Array(t)) if w.len() == t.len() => w
            .iter()
            .zip(t)
            .enumerate()
            .find_map(|(i, (w, t))| first_difference(w, t, format!("{path}[{i}]"))),
        // Quantities are written as numbers or strings and kept as strings.
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => None,
        (w, t) if w == t => None,
        _ => Some(path),
    }
}

#[test]
fn the_schema_rejects_bad_values_with_the_field_named() {
    let (_, vm) = samples_of("ProxmoxVM")
        .into_iter()
        .find(|(_, d)| d["spec"]["source"].get("clone").is_some())
        .unwrap();
    let cases: [(&str, Value, &str); 8] = [
        ("/spec/vmid", serde_json::json!(99), "/spec/vmid"),
        ("/spec/vmid", serde_json::json!(1_000_000_000), "/spec/vmid"),
        ("/spec/memory", serde_json::json!("4GB"), "/spec/memory"),
        ("/spec/memory", serde_json::json!(-1), "/spec/memory"),
        (
            "/spec/tags/0",
            serde_json::json!("bad tag!"),
            "/spec/tags/0",
        ),
        (
            "/spec/disks/0/slot",
            serde_json::json!("scsi31"),
            "/spec/disks/0/slot",
        ),
        (
            "/spec/networks/0/vlan",
            serde_json::json!(4095),
            "/spec/networks/0/vlan",
        ),
        (
            "/spec/runStrategy",
            serde_json::json!("Sometimes"),
            "/spec/runStrategy",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut bad = vm.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        let errors = schema_errors("ProxmoxVM", &bad);
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{pointer} = {value} should be rejected at {field}, got {errors:?}"
        );
    }
}
