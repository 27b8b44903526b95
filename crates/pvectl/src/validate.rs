//! Manifests are checked against the CRDs' schema and CEL rules before anything is planned, as
//! the API server checks them for the operator: a wrong type, an out-of-range value, a bad tag or
//! two sources is refused with the field named, before any request could half-create a guest.

use kube::core::cel::Validator;
use serde_json::Value;

/// What the CRD of `doc`'s kind says is wrong with it, one line per problem (`spec.vmid: ...`);
/// empty when it is valid or not a kubepve kind.
pub fn problems(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(schema) = kubepve_api::crds::schema(kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match jsonschema::validator_for(&kubepve_api::crds::to_json_schema(&schema)) {
        Ok(validator) => {
            for e in validator.iter_errors(doc) {
                out.push(format!(
                    "{}: {e}",
                    field_path(&e.instance_path().to_string())
                ));
            }
        }
        Err(e) => out.push(format!("the {kind} schema does not load: {e}")),
    }
    // CEL rules assume the structure is right; the API server skips them too when it is not.
    if out.is_empty()
        && let Err(errors) = Validator::new().validate(&schema, doc, None)
    {
        out.extend(errors.into_vec().into_iter().map(|e| e.to_string()));
    }
    out
}

/// `/spec/disks/0/size` as the API server writes it: `spec.disks[0].size`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_api_servers() {
        assert_eq!(field_path("/spec/disks/0/size"), "spec.disks[0].size");
        assert_eq!(field_path("/spec/extraConfig/a~1b"), "spec.extraConfig.a/b");
        assert_eq!(field_path(""), "(document)");
    }

    #[test]
    fn a_wrong_type_and_a_cel_rule_are_both_reported_with_the_field() {
        let vm = serde_json::json!({
            "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
            "metadata": {"name": "x"},
            "spec": {"connectionRef": {"name": "pve"}, "node": "pve1", "vmid": "abc",
                     "source": {"blank": {}}},
        });
        let p = problems(&vm);
        assert!(p.iter().any(|m| m.starts_with("spec.vmid: ")), "{p:?}");
        let mut two = vm.clone();
        two["spec"]["vmid"] = serde_json::json!(700);
        two["spec"]["source"]["clone"] = serde_json::json!({"templateVmid": 9000});
        let p = problems(&two);
        assert!(
            p.iter()
                .any(|m| m.contains("set exactly one of source.clone and source.blank")),
            "{p:?}"
        );
        assert!(problems(&serde_json::json!({"kind": "Secret"})).is_empty());
    }
}
