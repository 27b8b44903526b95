//! The invalid manifests of `tests/fixtures/invalid/cases.yaml`, built from their bases. Shared
//! (by `#[path]`) by the offline CRD tests, the operator's bad-input tests, the real-API-server
//! suite and pvectl's tests, so that every layer is checked against the same table.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;

/// Who refuses a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// The CRD's schema or CEL rules.
    Schema,
    /// The operator, with a Stalled condition, before anything is created.
    Operator,
}

/// One invalid manifest and what its refusal must say.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's name (also the object's name).
    pub name: String,
    /// Who refuses it.
    pub refused_by: RefusedBy,
    /// The field (as the API server writes it, `spec.disks[0].size`) the message must name.
    pub field: String,
    /// Text the message must contain, when the field alone is not enough.
    pub expect: Option<String>,
    /// The condition reason, for operator cases.
    pub reason: Option<String>,
    /// The manifest.
    pub manifest: Value,
}

impl Case {
    /// The kind of the manifest.
    pub fn kind(&self) -> &str {
        self.manifest["kind"].as_str().unwrap()
    }

    /// Whether `message` says what is wrong: it names the field (for a missing field, its
    /// parent and its name) and contains `expect`.
    pub fn is_explained_by(&self, message: &str) -> bool {
        let names_field = message.contains(&self.field)
            || self.field.rsplit_once('.').is_some_and(|(parent, leaf)| {
                message.contains(parent) && message.contains(&format!("\"{leaf}\""))
            })
            || self
                .field
                .rsplit_once('.')
                .is_some_and(|(parent, leaf)| message.contains(&format!("{parent}.{leaf}")));
        let says_it = self.expect.as_deref().is_none_or(|e| message.contains(e));
        names_field && says_it
    }
}

/// The fixture file.
pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("tests/fixtures/invalid/cases.yaml").is_file())
        .expect("the workspace's tests/fixtures/invalid")
        .join("tests/fixtures/invalid/cases.yaml")
}

fn table() -> Value {
    let text = std::fs::read_to_string(fixture()).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The valid manifests the cases start from.
pub fn bases() -> Vec<Value> {
    table()["bases"]
        .as_object()
        .unwrap()
        .values()
        .cloned()
        .collect()
}

/// Every case of the fixture.
pub fn cases() -> Vec<Case> {
    let table = table();
    table["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let mut manifest = table["bases"][c["base"].as_str().unwrap()].clone();
            assert!(manifest.is_object(), "{name}: unknown base");
            manifest["metadata"]["name"] = Value::String(name.clone());
            for (pointer, value) in c["set"].as_object().cloned().unwrap_or_default() {
                set(&mut manifest, &pointer, value);
            }
            for pointer in c["unset"].as_array().cloned().unwrap_or_default() {
                let pointer = pointer.as_str().unwrap();
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                manifest
                    .pointer_mut(parent)
                    .and_then(Value::as_object_mut)
                    .unwrap()
                    .remove(key);
            }
            let text = |k: &str| c[k].as_str().map(str::to_string);
            Case {
                refused_by: match c["refusedBy"].as_str() {
                    Some("schema") => RefusedBy::Schema,
                    Some("operator") => RefusedBy::Operator,
                    other => panic!("{name}: refusedBy {other:?}"),
                },
                field: text("field").unwrap_or_else(|| panic!("{name}: no field")),
                expect: text("expect"),
                reason: text("reason"),
                name,
                manifest,
            }
        })
        .collect()
}

/// Sets the value at `pointer`, creating missing objects on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut node = doc;
    let keys: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for key in &keys[..keys.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    node.as_object_mut()
        .unwrap()
        .insert(keys[keys.len() - 1].to_string(), value);
}
