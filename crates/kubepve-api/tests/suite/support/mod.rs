//! Shared helpers for the CRD tests: the generated schemas as JSON, the samples, an offline JSON
//! Schema validator for OpenAPI v3 schemas, and the CEL validator.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;

/// The openAPIV3Schema of the CRD for `kind`, as the API server will get it.
pub fn schema(kind: &str) -> Value {
    kubepve_api::crds::schema(kind).unwrap_or_else(|| panic!("no CRD for kind {kind}"))
}

/// Every kubepve kind.
pub const KINDS: [&str; 7] = [
    "ProxmoxConnection",
    "ProxmoxVM",
    "ProxmoxContainer",
    "ProxmoxSnapshot",
    "ProxmoxSnapshotSchedule",
    "ProxmoxSnapshotRestore",
    "ProxmoxVMSet",
];

/// `config/samples/` of the workspace.
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/samples")
}

/// Every YAML document of every sample file, with the file it came from.
pub fn sample_documents() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if !doc.is_null() {
                docs.push((name.clone(), doc));
            }
        }
    }
    docs
}

/// The samples of one kind.
pub fn samples_of(kind: &str) -> Vec<(String, Value)> {
    sample_documents()
        .into_iter()
        .filter(|(_, doc)| doc["kind"] == kind)
        .collect()
}

/// Turns an OpenAPI v3 schema into JSON Schema: `nullable: true` becomes a `null` type.
pub fn to_json_schema(schema: &Value) -> Value {
    kubepve_api::crds::to_json_schema(schema)
}

/// Schema errors of `object` against the CRD of its kind (empty when valid).
pub fn schema_errors(kind: &str, object: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&to_json_schema(&schema(kind))).unwrap();
    validator
        .iter_errors(object)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect()
}

/// CEL errors of `object` (with `old` for updates) against the CRD of its kind.
pub fn cel_errors(kind: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(&schema(kind), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| e.to_string())
            .collect(),
    }
}
