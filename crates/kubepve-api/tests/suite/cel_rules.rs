//! Each CEL rule of the CRDs, evaluated offline against old and new objects built from the
//! samples: the allowed case passes and the rejected case fails with the rule's message.

#![allow(clippy::unwrap_used)]

use crate::support;

use serde_json::{Value, json};
use support::*;

fn sample(kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
    samples_of(kind)
        .into_iter()
        .map(|(_, doc)| doc)
        .find(|doc| pick(doc))
        .unwrap_or_else(|| panic!("no matching {kind} sample"))
}

fn clone_vm() -> Value {
    sample("ProxmoxVM", |d| d["spec"]["source"].get("clone").is_some())
}

/// `doc` with the field at `pointer` set (added when missing) to `value`.
fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match parent {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => {
            other
                .as_object_mut()
                .unwrap()
                .insert(key.to_string(), value);
        }
    }
    doc
}

fn without(mut doc: Value, parent: &str, key: &str) -> Value {
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    doc
}

fn assert_rejected(kind: &str, new: &Value, old: Option<&Value>, message: &str) {
    let errors = cel_errors(kind, new, old);
    assert!(
        errors.iter().any(|e| e.contains(message)),
        "expected a rejection saying {message:?}, got {errors:#?}"
    );
}

fn assert_allowed(kind: &str, new: &Value, old: Option<&Value>) {
    let errors = cel_errors(kind, new, old);
    assert!(errors.is_empty(), "expected no CEL errors, got {errors:#?}");
}

#[test]
fn vmid_can_be_set_later_but_never_changed_or_removed() {
    let old = clone_vm();
    assert_eq!(old["spec"]["vmid"], 150);
    let changed = with(old.clone(), "/spec/vmid", json!(151));
    assert_rejected(
        "ProxmoxVM",
        &changed,
        Some(&old),
        "vmid is immutable once set",
    );
    let removed = without(old.clone(), "/spec", "vmid");
    assert_rejected(
        "ProxmoxVM",
        &removed,
        Some(&old),
        "vmid is immutable once set",
    );
    assert_allowed("ProxmoxVM", &old, Some(&removed));
    // Other fields stay editable.
    let resized = with(old.clone(), "/spec/memory", json!("8Gi"));
    assert_allowed("ProxmoxVM", &resized, Some(&old));
}

#[test]
fn container_vmid_and_unprivileged_are_immutable() {
    let old = sample("ProxmoxContainer", |_| true);
    let changed = with(old.clone(), "/spec/vmid", json!(201));
    assert_rejected(
        "ProxmoxContainer",
        &changed,
        Some(&old),
        "vmid is immutable once set",
    );
    let privileged = with(old.clone(), "/spec/unprivileged", json!(false));
    assert_rejected(
        "ProxmoxContainer",
        &privileged,
        Some(&old),
        "unprivileged is immutable",
    );
    assert_allowed("ProxmoxContainer", &privileged, None);
}

#[test]
fn source_needs_exactly_one_of_clone_and_blank() {
    let vm = clone_vm();
    let both = with(vm.clone(), "/spec/source/blank", json!({}));
    assert_rejected(
        "ProxmoxVM",
        &both,
        None,
        "set exactly one of source.clone and source.blank",
    );
    let neither = with(vm.clone(), "/spec/source", json!({}));
    assert_rejected(
        "ProxmoxVM",
        &neither,
        None,
        "set exactly one of source.clone and source.blank",
    );
    let blank = with(vm, "/spec/source", json!({"blank": {}}));
    assert_allowed("ProxmoxVM", &blank, None);
}

#[test]
fn clone_names_its_template_exactly_once() {
    let vm = clone_vm();
    let both = with(vm.clone(), "/spec/source/clone/templateVmid", json!(9000));
    assert_rejected(
        "ProxmoxVM",
        &both,
        None,
        "set exactly one of templateVmid and templateName",
    );
    let by_id = without(both, "/spec/source/clone", "templateName");
    assert_allowed("ProxmoxVM", &by_id, None);
    let neither = without(by_id, "/spec/source/clone", "templateVmid");
    assert_rejected(
        "ProxmoxVM",
        &neither,
        None,
        "set exactly one of templateVmid and templateName",
    );
}

#[test]
fn linked_clones_cannot_choose_a_storage() {
    let vm = clone_vm();
    assert_eq!(vm["spec"]["source"]["clone"]["storage"], "local-lvm");
    let linked = with(vm.clone(), "/spec/source/clone/mode", json!("Linked"));
    assert_rejected(
        "ProxmoxVM",
        &linked,
        None,
        "storage can only be set for a Full clone",
    );
    let linked = without(linked, "/spec/source/clone", "storage");
    assert_allowed("ProxmoxVM", &linked, None);
    // mode defaults to Full, so a storage without a mode is fine.
    let defaulted = without(vm, "/spec/source/clone", "mode");
    assert_allowed("ProxmoxVM", &defaulted, None);
}

#[test]
fn insecure_tls_excludes_ca_and_fingerprint() {
    let conn = sample("ProxmoxConnection", |_| true);
    let insecure = with(conn.clone(), "/spec/tls/insecureSkipVerify", json!(true));
    assert_rejected(
        "ProxmoxConnection",
        &insecure,
        None,
        "insecureSkipVerify turns verification off",
    );
    let insecure_only = with(
        conn.clone(),
        "/spec/tls",
        json!({"insecureSkipVerify": true}),
    );
    assert_allowed("ProxmoxConnection", &insecure_only, None);
    let secure = with(
        conn,
        "/spec/tls",
        json!({"insecureSkipVerify": false, "caBundle": "PEM"}),
    );
    assert_allowed("ProxmoxConnection", &secure, None);
}

#[test]
fn a_gateway_needs_a_static_address() {
    let vm = clone_vm();
    let dhcp = with(vm.clone(), "/spec/cloudInit/ipConfigs/0/ip", json!("dhcp"));
    assert_rejected("ProxmoxVM", &dhcp, None, "gateway needs a static ip");
    let ct = sample("ProxmoxContainer", |_| true);
    let manual = with(ct.clone(), "/spec/networks/0/ip", json!("manual"));
    assert_rejected(
        "ProxmoxContainer",
        &manual,
        None,
        "gateway needs a static ip",
    );
    let v6 = with(ct, "/spec/networks/0/gateway6", json!("fd00::1"));
    assert_rejected("ProxmoxContainer", &v6, None, "gateway6 needs a static ip6");
    let v6 = with(v6, "/spec/networks/0/ip6", json!("fd00::5/64"));
    assert_allowed("ProxmoxContainer", &v6, None);
}

#[test]
fn observe_only_and_adopt_need_the_vmid_of_an_existing_guest() {
    for kind in ["ProxmoxVM", "ProxmoxContainer"] {
        let doc = sample(kind, |d| d["spec"].get("vmid").is_some());
        let observe = with(doc.clone(), "/spec/managementPolicy", json!("ObserveOnly"));
        assert_allowed(kind, &observe, None);
        assert_rejected(
            kind,
            &without(observe, "/spec", "vmid"),
            None,
            "managementPolicy ObserveOnly needs spec.vmid",
        );
        let adopt = with(doc.clone(), "/spec/adopt", json!({"applyChanges": false}));
        assert_allowed(kind, &adopt, None);
        assert_rejected(
            kind,
            &without(adopt, "/spec", "vmid"),
            None,
            "adopt needs spec.vmid",
        );
    }
}

#[test]
fn a_named_node_must_be_one_of_the_allowed_nodes() {
    let vm = clone_vm();
    let node = vm["spec"]["node"].as_str().unwrap().to_string();
    let allowed = with(
        vm.clone(),
        "/spec/placement",
        json!({"allowedNodes": [node, "pve9"]}),
    );
    assert_allowed("ProxmoxVM", &allowed, None);
    let elsewhere = with(
        vm.clone(),
        "/spec/placement",
        json!({"allowedNodes": ["pve9"]}),
    );
    assert_rejected(
        "ProxmoxVM",
        &elsewhere,
        None,
        "node must be one of placement.allowedNodes",
    );
    let placed = without(elsewhere, "/spec", "node");
    assert_allowed("ProxmoxVM", &placed, None);
}

#[test]
fn a_migration_target_must_be_one_of_the_allowed_nodes() {
    // Changing spec.node of an existing guest migrates it (docs/migration.md): the update is
    // checked against placement.allowedNodes like a create, for both kinds.
    for kind in ["ProxmoxVM", "ProxmoxContainer"] {
        let old = sample(kind, |d| d["spec"].get("node").is_some());
        let node = old["spec"]["node"].as_str().unwrap().to_string();
        let old = with(
            old,
            "/spec/placement",
            json!({"allowedNodes": [node, "pve2"]}),
        );
        let moved = with(old.clone(), "/spec/node", json!("pve2"));
        assert_allowed(kind, &moved, Some(&old));
        let outside = with(old.clone(), "/spec/node", json!("pve9"));
        assert_rejected(
            kind,
            &outside,
            Some(&old),
            "node must be one of placement.allowedNodes",
        );
    }
    let vm = with(
        clone_vm(),
        "/spec/migration",
        json!({"withLocalDisks": true}),
    );
    assert_allowed("ProxmoxVM", &vm, None);
}

#[test]
fn a_vmid_range_starts_before_it_ends() {
    let conn = sample("ProxmoxConnection", |_| true);
    let good = with(
        conn.clone(),
        "/spec/vmidRange",
        json!({"start": 1000, "end": 1999}),
    );
    assert_allowed("ProxmoxConnection", &good, None);
    let backwards = with(conn, "/spec/vmidRange", json!({"start": 2000, "end": 1999}));
    assert_rejected(
        "ProxmoxConnection",
        &backwards,
        None,
        "vmidRange.start must not be greater than vmidRange.end",
    );
}
