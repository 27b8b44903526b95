//! Offline checks of what a real kube-apiserver enforces on the generated CRDs (see
//! shared/reference/crd-rules.md): structural schemas, no unknown integer formats, defaults that
//! validate, CEL rules that compile and stay within the cost budget, and a description on every
//! field (the `///` docs).

#![allow(clippy::unwrap_used)]

use crate::support;

use serde_json::Value;
use support::*;

/// Walks every schema node with its path.
fn walk<'a>(node: &'a Value, path: String, visit: &mut dyn FnMut(&str, &'a Value)) {
    let Some(map) = node.as_object() else { return };
    visit(&path, node);
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(child, format!("{path}.{name}"), visit);
        }
    }
    if let Some(items) = map.get("items") {
        walk(items, format!("{path}[]"), visit);
    }
    if let Some(extra) = map.get("additionalProperties").filter(|v| v.is_object()) {
        walk(extra, format!("{path}{{}}"), visit);
    }
}

/// The API server's structural-schema rules, as a list of violations.
fn structural_violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, String::new(), &mut |path, node| {
        let map = node.as_object().unwrap();
        let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
        let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if !map.contains_key("type") && !int_or_string && !preserve {
            out.push(format!("{path}: no type"));
        }
        if map.contains_key("properties") && map.contains_key("additionalProperties") {
            out.push(format!(
                "{path}: properties and additionalProperties together"
            ));
        }
        if let Some(format) = map.get("format").and_then(Value::as_str)
            && (map.get("type").and_then(Value::as_str) == Some("integer")
                || format.starts_with("uint"))
        {
            out.push(format!("{path}: integer format {format}"));
        }
        for junction in ["oneOf", "anyOf", "allOf", "not"] {
            let Some(branches) = map.get(junction) else {
                continue;
            };
            let canonical = serde_json::json!([{"type": "integer"}, {"type": "string"}]);
            if int_or_string && junction == "anyOf" && *branches == canonical {
                continue;
            }
            let branches = branches
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![branches.clone()]);
            for branch in branches {
                for forbidden in [
                    "type",
                    "description",
                    "default",
                    "properties",
                    "additionalProperties",
                    "items",
                ] {
                    if branch.get(forbidden).is_some() {
                        out.push(format!("{path}: {junction} carries {forbidden}"));
                    }
                }
            }
        }
        if int_or_string && map.contains_key("type") {
            out.push(format!("{path}: int-or-string with a type"));
        }
    });
    out
}

#[test]
fn crds_are_structural() {
    for kind in KINDS {
        let violations = structural_violations(&schema(kind));
        assert!(violations.is_empty(), "{kind}: {violations:#?}");
    }
}

#[test]
fn the_structural_check_catches_what_the_api_server_rejects() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"oneOf": [{"type": "string"}]},
            "b": {"type": "integer", "format": "uint32"},
            "c": {"description": "untyped"},
            "d": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
        }
    });
    let violations = structural_violations(&bad);
    assert_eq!(violations.len(), 5, "{violations:#?}");
}

#[test]
fn every_spec_and_status_field_has_a_description() {
    for kind in KINDS {
        let schema = schema(kind);
        let mut missing = Vec::new();
        for top in ["spec", "status"] {
            walk(
                &schema["properties"][top],
                format!(".{top}"),
                &mut |path, node| {
                    // List items and map values inherit the description of their list or map.

                    if !path.ends_with("[]")
                        && !path.ends_with("{}")
                        && node.get("description").is_none()
                    {
                        missing.push(path.to_string());
                    }
                },
            );
        }
        assert!(
            missing.is_empty(),
            "{kind}: fields without a description: {missing:#?}"
        );
    }
}

#[test]
fn defaults_validate_against_their_own_schema() {
    for kind in KINDS {
        let mut checked = 0;
        walk(&schema(kind), String::new(), &mut |path, node| {
            if let Some(default) = node.get("default") {
                let mut own = to_json_schema(node);
                own.as_object_mut().unwrap().remove("default");
                let validator = jsonschema::validator_for(&own).unwrap();
                let errors: Vec<_> = validator
                    .iter_errors(default)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{kind}{path}: default {default} is invalid: {errors:?}"
                );
                checked += 1;
            }
        });
        assert!(checked > 0, "{kind}: expected schema defaults");
    }
}

/// The variables that comprehension macros bind in `rule` (`k` in `m.all(k, ...)`): kube-cel's
/// scope analysis lists them among the rule's free variables, though CEL (and the API server)
/// binds them; every other variable must still be one the API server provides.
fn macro_variables(rule: &str) -> Vec<String> {
    ["all", "exists", "exists_one", "map", "filter"]
        .iter()
        .flat_map(|m| {
            let call = format!(".{m}(");
            rule.match_indices(&call)
                .filter_map(|(i, _)| {
                    let var = rule[i + call.len()..].split(',').next()?.trim();
                    let ident = !var.is_empty()
                        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    ident.then(|| var.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn macro_variables_are_the_bound_ones_only() {
    let rule = "self.m.all(k, k in self.n) && self.l.exists(x, x == y)";
    assert_eq!(macro_variables(rule), ["k", "x"]);
}

#[test]
fn cel_rules_compile_and_fit_the_cost_budget() {
    use kube::core::cel::{ScopeContext, analyze_rule, compile_schema};
    for kind in KINDS {
        let schema = schema(kind);
        let compiled = compile_schema(&schema);
        let errors: Vec<_> = compiled
            .compilation_errors()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{kind}: CEL compilation errors: {errors:#?}"
        );
        walk(&schema, String::new(), &mut |path, node| {
            for rule in node
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = rule["rule"].as_str().unwrap();
                let bound = macro_variables(text);
                let warnings: Vec<_> = analyze_rule(text, &compiled, ScopeContext::CrdValidation)
                    .into_iter()
                    .filter(|w| {
                        w.kind != kube::core::cel::WarningKind::WrongScope
                            || !bound
                                .iter()
                                .any(|v| w.message.starts_with(&format!("variable '{v}' ")))
                    })
                    .collect();
                assert!(
                    warnings.is_empty(),
                    "{kind}{path}: rule {text:?}: {warnings:?}"
                );
            }
        });
    }
}

#[test]
fn list_merge_keys_are_declared_for_keyed_lists() {
    let vm = schema("ProxmoxVM");
    for list in ["disks", "networks"] {
        let node = &vm["properties"]["spec"]["properties"][list];
        assert_eq!(node["x-kubernetes-list-type"], "map", "{list}");
        assert_eq!(
            node["x-kubernetes-list-map-keys"],
            serde_json::json!(["slot"]),
            "{list}"
        );
    }
    let conditions = &vm["properties"]["status"]["properties"]["conditions"];
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
}
