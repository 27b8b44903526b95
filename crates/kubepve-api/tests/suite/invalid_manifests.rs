//! The invalid manifests of `tests/fixtures/invalid/cases.yaml` against the generated CRDs,
//! offline: every case the table says the schema refuses is refused by the OpenAPI schema or a
//! CEL rule, with a message that names the field; every case left to the operator passes both
//! (so that the operator's own checks are what stands between it and Proxmox).

#![allow(clippy::unwrap_used)]

use crate::support;

use crate::invalid;

use invalid::{RefusedBy, bases, cases};
use support::{cel_errors, schema_errors};

/// `/spec/disks/0/size: ...` as the API server writes it: `spec.disks[0].size: ...`.
fn as_api_server_path(error: &str) -> String {
    let (path, rest) = error.split_once(": ").unwrap_or(("", error));
    let mut out = String::new();
    for segment in path.trim_start_matches('/').split('/') {
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    format!("{out}: {rest}")
}

fn errors(kind: &str, manifest: &serde_json::Value) -> Vec<String> {
    let mut all: Vec<String> = schema_errors(kind, manifest)
        .iter()
        .map(|e| as_api_server_path(e))
        .collect();
    all.extend(cel_errors(kind, manifest, None));
    all
}

#[test]
fn the_table_has_at_least_thirty_cases_of_each_kind_of_mistake() {
    let cases = cases();
    let schema = cases
        .iter()
        .filter(|c| c.refused_by == RefusedBy::Schema)
        .count();
    assert!(schema >= 30, "{schema} schema cases");
    for kind in ["ProxmoxVM", "ProxmoxContainer", "ProxmoxConnection"] {
        assert!(cases.iter().any(|c| c.kind() == kind), "no {kind} case");
    }
}

#[test]
fn the_manifests_the_cases_start_from_are_valid() {
    for base in bases() {
        let kind = base["kind"].as_str().unwrap();
        assert!(errors(kind, &base).is_empty(), "{base:#}");
    }
}

#[test]
fn every_schema_case_is_refused_with_the_field_named() {
    let mut wrong = Vec::new();
    for case in cases().iter().filter(|c| c.refused_by == RefusedBy::Schema) {
        let errors = errors(case.kind(), &case.manifest);
        if !errors.iter().any(|e| case.is_explained_by(e)) {
            wrong.push(format!("{}: {errors:#?}", case.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as expected:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_operator_case_passes_the_schema() {
    for case in cases()
        .iter()
        .filter(|c| c.refused_by == RefusedBy::Operator)
    {
        let errors = errors(case.kind(), &case.manifest);
        assert!(errors.is_empty(), "{}: {errors:#?}", case.name);
    }
}
