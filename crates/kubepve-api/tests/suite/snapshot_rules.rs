//! The schema and CEL rules of the snapshot kinds, offline: Proxmox's snapshot name rules
//! (pattern, length, reserved names, and the object's name when snapshotName is not set),
//! includeVMState only for VMs, immutable guestRef and snapshotName, retention that bounds
//! something, a restore that cannot be changed, cron expressions of five fields, and guest
//! selector expressions checked as the kube-apiserver checks a label selector.

#![allow(clippy::unwrap_used)]

use crate::support;

use serde_json::{Value, json};
use support::*;

fn snapshot(name: &str, spec: Value) -> Value {
    let mut full = json!({"guestRef": {"kind": "ProxmoxVM", "name": "web-01"}});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshot",
        "metadata": {"name": name, "namespace": "default"}, "spec": full})
}

fn errors(kind: &str, doc: &Value, old: Option<&Value>) -> Vec<String> {
    let mut all = schema_errors(kind, doc);
    all.extend(cel_errors(kind, doc, old));
    all
}

fn rejected(kind: &str, doc: &Value, old: Option<&Value>, needle: &str) {
    let e = errors(kind, doc, old);
    assert!(
        e.iter().any(|m| m.contains(needle)),
        "expected {needle:?} in {e:#?}"
    );
}

#[test]
fn snapshot_names_follow_proxmox() {
    assert!(
        errors(
            "ProxmoxSnapshot",
            &snapshot("before-upgrade", json!({})),
            None
        )
        .is_empty()
    );
    let named = snapshot("x.y", json!({"snapshotName": "nightly_1"}));
    assert!(
        errors("ProxmoxSnapshot", &named, None).is_empty(),
        "{:?}",
        errors("ProxmoxSnapshot", &named, None)
    );
    for bad in ["1st", "dot.ted", "a", &"x".repeat(41)] {
        let doc = snapshot("ok-name", json!({"snapshotName": bad}));
        assert!(
            !errors("ProxmoxSnapshot", &doc, None).is_empty(),
            "{bad} accepted"
        );
    }
    for reserved in ["current", "PENDING"] {
        let doc = snapshot("ok-name", json!({"snapshotName": reserved}));
        rejected("ProxmoxSnapshot", &doc, None, "reserved by Proxmox");
    }
    // Without snapshotName the object's name must be a Proxmox name.
    rejected(
        "ProxmoxSnapshot",
        &snapshot("web.before", json!({})),
        None,
        "set spec.snapshotName",
    );
    rejected(
        "ProxmoxSnapshot",
        &snapshot(&format!("s{}", "x".repeat(40)), json!({})),
        None,
        "set spec.snapshotName",
    );
}

#[test]
fn vm_state_only_for_vms_and_identity_is_immutable() {
    let mut ct = snapshot("s1", json!({"includeVMState": true}));
    ct["spec"]["guestRef"]["kind"] = json!("ProxmoxContainer");
    rejected(
        "ProxmoxSnapshot",
        &ct,
        None,
        "includeVMState is for VMs only",
    );
    let old = snapshot("s1", json!({"snapshotName": "a1"}));
    let mut moved = old.clone();
    moved["spec"]["guestRef"]["name"] = json!("db-01");
    rejected(
        "ProxmoxSnapshot",
        &moved,
        Some(&old),
        "guestRef is immutable",
    );
    let renamed = snapshot("s1", json!({"snapshotName": "a2"}));
    rejected(
        "ProxmoxSnapshot",
        &renamed,
        Some(&old),
        "snapshotName is immutable",
    );
    let dropped = snapshot("s1", json!({}));
    rejected(
        "ProxmoxSnapshot",
        &dropped,
        Some(&old),
        "snapshotName is immutable",
    );
    let described = snapshot("s1", json!({"snapshotName": "a1", "description": "new"}));
    assert!(errors("ProxmoxSnapshot", &described, Some(&old)).is_empty());
}

fn schedule(spec: Value) -> Value {
    let mut full = json!({"schedule": "0 3 * * *", "guestSelector": {"matchLabels": {"a": "b"}},
        "retention": {"keepLast": 3}});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshotSchedule",
        "metadata": {"name": "nightly", "namespace": "default"}, "spec": full})
}

#[test]
fn schedules_need_five_fields_and_a_bounded_retention() {
    assert!(errors("ProxmoxSnapshotSchedule", &schedule(json!({})), None).is_empty());
    let zoned = schedule(json!({"timeZone": "Europe/Berlin", "retention": {"maxAge": "14d"}}));
    assert!(errors("ProxmoxSnapshotSchedule", &zoned, None).is_empty());
    assert!(
        !errors(
            "ProxmoxSnapshotSchedule",
            &schedule(json!({"schedule": "0 3 * *"})),
            None
        )
        .is_empty()
    );
    rejected(
        "ProxmoxSnapshotSchedule",
        &schedule(json!({"retention": {}})),
        None,
        "retention needs keepLast, maxAge or both",
    );
    assert!(
        !errors(
            "ProxmoxSnapshotSchedule",
            &schedule(json!({"retention": {"maxAge": "7y"}})),
            None
        )
        .is_empty()
    );
    assert!(
        !errors(
            "ProxmoxSnapshotSchedule",
            &schedule(json!({"retention": {"keepLast": 0}})),
            None
        )
        .is_empty()
    );
}

#[test]
fn a_restore_cannot_be_changed() {
    let old = json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxSnapshotRestore",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {"snapshotRef": {"name": "s1"}}});
    assert!(errors("ProxmoxSnapshotRestore", &old, None).is_empty());
    let mut new = old.clone();
    new["spec"]["snapshotRef"]["name"] = json!("s2");
    rejected(
        "ProxmoxSnapshotRestore",
        &new,
        Some(&old),
        "a restore is done once",
    );
}

#[test]
fn the_restore_sample_is_valid() {
    let path = samples_dir().join("restore/web-01-rollback.yaml");
    let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["kind"], "ProxmoxSnapshotRestore");
    assert!(errors("ProxmoxSnapshotRestore", &doc, None).is_empty());
    let typed: kubepve_api::ProxmoxSnapshotRestore = serde_json::from_value(doc).unwrap();
    assert!(typed.spec.start_after);
}

fn with_expression(expression: Value) -> Value {
    schedule(json!({"guestSelector": {"matchExpressions": [expression]}}))
}

#[test]
fn selector_expressions_are_checked_like_the_apiserver_does() {
    for good in [
        json!({"key": "tier", "operator": "In", "values": ["db"]}),
        json!({"key": "tier", "operator": "NotIn", "values": ["db", "web"]}),
        json!({"key": "tier", "operator": "Exists"}),
        json!({"key": "tier", "operator": "DoesNotExist", "values": []}),
    ] {
        let doc = with_expression(good.clone());
        assert!(
            errors("ProxmoxSnapshotSchedule", &doc, None).is_empty(),
            "{good}: {:?}",
            errors("ProxmoxSnapshotSchedule", &doc, None)
        );
    }
    let values_rule = "values must be non-empty for operator In and NotIn";
    for bad in [
        json!({"key": "tier", "operator": "In"}),
        json!({"key": "tier", "operator": "NotIn", "values": []}),
        json!({"key": "tier", "operator": "Exists", "values": ["db"]}),
    ] {
        rejected(
            "ProxmoxSnapshotSchedule",
            &with_expression(bad),
            None,
            values_rule,
        );
    }
    rejected(
        "ProxmoxSnapshotSchedule",
        &with_expression(json!({"key": "tier", "operator": "Equals", "values": ["db"]})),
        None,
        "Equals",
    );
    let many: Vec<Value> = (0..33)
        .map(|i| json!({"key": format!("k{i}"), "operator": "Exists"}))
        .collect();
    let doc = schedule(json!({"guestSelector": {"matchExpressions": many}}));
    assert!(!errors("ProxmoxSnapshotSchedule", &doc, None).is_empty());
}
