//! Shared helpers for the CRD tests: the generated schemas as JSON, the samples, an offline JSON
//! Schema validator for OpenAPI v3 schemas, and the CEL validator.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;

/// The openAPIV3Schema of the CRD for `kind`, as the API server will get it.
pub fn schema(kind: &str) -> Value {
    let crd = kubepve_api::crds::all()
        .unwrap()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let version = &crd.spec.versions[0];
    serde_json::to_value(
        version
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// Every kubepve kind.
pub const KINDS: [&str; 3] = ["ProxmoxConnection", "ProxmoxVM", "ProxmoxContainer"];

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
    match schema {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), to_json_schema(v));
            }
            if out.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), serde_json::json!([t, "null"]));
                } else if out.contains_key("x-kubernetes-int-or-string") {
                    out.insert(
                        "anyOf".into(),
                        serde_json::json!([{"type": "integer"}, {"type": "string"}, {"type": "null"}]),
                    );
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
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
