//! The ProxmoxVMSet CRD, offline: the scale subresource points at paths the schema has (what a
//! real API server needs for `kubectl scale`: an integer replicas with minimum 0 and a string
//! label selector in status), the printer columns and names, and the CEL rules (a selector the
//! template meets, no template vmid, replicas within vmidRange, an immutable selector, a short
//! set name, rollingUpdate only with RollingUpdate), with the ProxmoxVM rules applying to the
//! template because it is the same type.

#![allow(clippy::unwrap_used)]

use crate::support;

use kube::CustomResourceExt;
use serde_json::{Value, json};
use support::*;

const KIND: &str = "ProxmoxVMSet";

fn set(name: &str, spec: Value) -> Value {
    let mut full = json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "front"}},
            "spec": {"connectionRef": {"name": "pve"}, "source": {"blank": {}}, "memory": "1Gi"},
        },
    });
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "kubepve.io/v1alpha1", "kind": KIND,
        "metadata": {"name": name, "namespace": "default"}, "spec": full})
}

fn errors(doc: &Value, old: Option<&Value>) -> Vec<String> {
    let mut all = schema_errors(KIND, doc);
    all.extend(cel_errors(KIND, doc, old));
    all
}

fn rejected(doc: &Value, old: Option<&Value>, needle: &str) {
    let e = errors(doc, old);
    assert!(
        e.iter().any(|m| m.contains(needle)),
        "expected {needle:?} in {e:#?}"
    );
}

fn at<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.trim_start_matches('.')
        .split('.')
        .fold(schema, |node, key| &node["properties"][key])
}

#[test]
fn the_scale_subresource_points_at_paths_the_schema_has() {
    let crd = serde_json::to_value(kubepve_api::ProxmoxVMSet::crd()).unwrap();
    let version = &crd["spec"]["versions"][0];
    let scale = &version["subresources"]["scale"];
    assert_eq!(scale["specReplicasPath"], ".spec.replicas");
    assert_eq!(scale["statusReplicasPath"], ".status.replicas");
    assert_eq!(scale["labelSelectorPath"], ".status.labelSelector");
    assert!(version["subresources"]["status"].is_object());
    let schema = schema(KIND);
    let replicas = at(&schema, ".spec.replicas");
    assert_eq!(replicas["type"], "integer");
    assert_eq!(replicas["minimum"].as_f64(), Some(0.0));
    assert!(replicas.get("format").is_none(), "{replicas}");
    assert_eq!(at(&schema, ".status.replicas")["type"], "integer");
    assert_eq!(at(&schema, ".status.labelSelector")["type"], "string");
}

#[test]
fn names_and_printer_columns() {
    let crd = kubepve_api::ProxmoxVMSet::crd();
    let names = &crd.spec.names;
    assert_eq!(
        names.short_names.as_deref(),
        Some(&["pvmset".to_string()][..])
    );
    assert_eq!(
        names.categories.as_deref(),
        Some(&["proxmox".to_string()][..])
    );
    assert_eq!(crd.spec.scope, "Namespaced");
    let columns: Vec<(String, String)> = crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .filter(|c| c.priority.unwrap_or(0) == 0)
        .map(|c| (c.name.clone(), c.json_path.clone()))
        .collect();
    for (name, path) in [
        ("Desired", ".spec.replicas"),
        ("Ready", ".status.readyReplicas"),
        ("Age", ".metadata.creationTimestamp"),
    ] {
        assert!(
            columns.contains(&(name.to_string(), path.to_string())),
            "{name} {path} in {columns:?}"
        );
    }
}

#[test]
fn a_valid_set_passes_and_replicas_default_to_one() {
    let doc = set("web", json!({}));
    assert!(errors(&doc, None).is_empty(), "{:#?}", errors(&doc, None));
    assert!(errors(&doc, Some(&doc)).is_empty());
    let schema = schema(KIND);
    let replicas = &at(&schema, ".spec.replicas")["default"];
    assert_eq!(replicas.as_f64(), Some(1.0));
    rejected(&set("web", json!({"replicas": -1})), None, "/spec/replicas");
}

#[test]
fn the_selector_must_be_met_by_the_template_and_not_be_empty() {
    let other = set("web", json!({"selector": {"matchLabels": {"app": "db"}}}));
    rejected(
        &other,
        None,
        "selector.matchLabels must match template.metadata.labels",
    );
    let mut no_labels = set("web", json!({}));
    no_labels["spec"]["template"]["metadata"] = json!({});
    rejected(&no_labels, None, "must match template.metadata.labels");
    rejected(
        &set("web", json!({"selector": {}})),
        None,
        "selector must not be empty",
    );
    // An expression selector is checked by the controller (a Stalled condition), not CEL.
    let expr = set(
        "web",
        json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}),
    );
    assert!(errors(&expr, None).is_empty(), "{:#?}", errors(&expr, None));
}

#[test]
fn the_selector_is_immutable() {
    let old = set("web", json!({}));
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"tier": "front"}});
    rejected(&new, Some(&old), "selector is immutable");
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(errors(&scaled, Some(&old)).is_empty());
}

#[test]
fn the_template_has_no_vmid_and_keeps_the_proxmoxvm_rules() {
    let mut doc = set("web", json!({}));
    doc["spec"]["template"]["spec"]["vmid"] = json!(150);
    rejected(&doc, None, "template.spec.vmid cannot be set");
    // The template IS a ProxmoxVM spec: its rules apply (one source; node within allowedNodes).
    let mut two = set("web", json!({}));
    two["spec"]["template"]["spec"]["source"] =
        json!({"blank": {}, "clone": {"templateVmid": 9000}});
    rejected(
        &two,
        None,
        "set exactly one of source.clone and source.blank",
    );
    let mut bad_memory = set("web", json!({}));
    bad_memory["spec"]["template"]["spec"]["memory"] = json!("4GB");
    rejected(&bad_memory, None, "/spec/template/spec/memory");
}

#[test]
fn replicas_fit_the_vmid_range() {
    let fits = set("web", json!({"vmidRange": {"start": 300, "end": 302}}));
    assert!(errors(&fits, None).is_empty(), "{:#?}", errors(&fits, None));
    let small = set(
        "web",
        json!({"replicas": 4, "vmidRange": {"start": 300, "end": 302}}),
    );
    rejected(&small, None, "replicas is larger than vmidRange holds");
}

#[test]
fn the_set_name_leaves_room_for_ordinals() {
    rejected(
        &set(&"w".repeat(53), json!({})),
        None,
        "at most 52 characters",
    );
    assert!(errors(&set(&"w".repeat(52), json!({})), None).is_empty());
}

#[test]
fn update_strategy_and_scale_down_policy() {
    let with = |v: Value| {
        set(
            "web",
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": v}}}),
        )
    };
    // A number or a string: int-or-string. Bad values (0, "150%") stall the set in the
    // controller (the set planner's tests), since CEL's type() is not checkable offline here.
    for good in [json!(1), json!(5), json!("25%"), json!("100%")] {
        let doc = with(good.clone());
        assert!(
            errors(&doc, None).is_empty(),
            "{good}: {:#?}",
            errors(&doc, None)
        );
    }
    rejected(&with(json!(true)), None, "maxUnavailable");
    let on_delete = set(
        "web",
        json!({"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"maxUnavailable": 2}}}),
    );
    rejected(
        &on_delete,
        None,
        "rollingUpdate only applies to type RollingUpdate",
    );
    rejected(
        &set("web", json!({"updateStrategy": {"type": "Recreate"}})),
        None,
        "/spec/updateStrategy/type",
    );
    rejected(
        &set("web", json!({"scaleDownPolicy": "Random"})),
        None,
        "/spec/scaleDownPolicy",
    );
}

#[test]
fn label_values_are_bounded_so_the_selector_rules_fit_the_api_servers_cost_budget() {
    // The API server prices an unbounded string as its largest request (about 3 MiB): the rule
    // comparing matchLabels with the template's labels then exceeds the CRD cost budget and the
    // whole CRD is refused at install.
    let schema = schema(KIND);
    for path in [
        ".spec.selector.matchLabels",
        ".spec.template.metadata.labels",
    ] {
        let values = &at(&schema, path)["additionalProperties"];
        assert_eq!(values["maxLength"].as_u64(), Some(63), "{path}: {values}");
        assert!(
            at(&schema, path)["maxProperties"].as_u64().is_some(),
            "{path}"
        );
    }
}

#[test]
fn members_cannot_orphan_their_guests() {
    let mut orphan = set("web", json!({}));
    orphan["spec"]["template"]["spec"]["deletionPolicy"] = json!("Orphan");
    rejected(&orphan, None, "deletionPolicy cannot be Orphan");
    let mut delete = set("web", json!({}));
    delete["spec"]["template"]["spec"]["deletionPolicy"] = json!("Delete");
    assert!(
        errors(&delete, None).is_empty(),
        "{:#?}",
        errors(&delete, None)
    );
}
