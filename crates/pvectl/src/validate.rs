//! Manifests are checked against the CRDs' schema and CEL rules before anything is planned, as
//! the API server checks them for the operator: a wrong type, an out-of-range value, a bad tag or
//! two sources is refused with the field named, before any request could half-create a guest.
//! An apiVersion the CRD does not serve, or a kubepve.io kind that does not exist, is refused
//! too. Unknown fields (`spec.bogusField`, `spec.cpu.coresTypo`, in nested objects and list
//! items alike) follow kubectl's `--validate`: `strict` (the default) refuses them, `warn`
//! prints them and goes on, `ignore` drops them as the API server prunes them. The CRDs, their
//! schemas and the compiled JSON Schema validators are made once per process, not per document
//! (an apply of 100 manifests spent most of its time rendering CRDs).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::Value;

/// kubepve's CRDs, rendered once (`None` if they do not render).
fn crds() -> Option<&'static [CustomResourceDefinition]> {
    static CRDS: OnceLock<Option<Vec<CustomResourceDefinition>>> = OnceLock::new();
    CRDS.get_or_init(|| kubepve_api::crds::all().ok())
        .as_deref()
}

/// The schema of each kind's CRD, its compiled validator (or why it does not load) and its
/// compiled CEL rules.
struct KindSchema {
    schema: Value,
    validator: Result<jsonschema::Validator, String>,
    rules: CompiledSchema,
}

/// The kinds' schemas, made on first use from the CRDs rendered once ([`crds`]); taken from
/// those CRDs as `kubepve_api::crds::schema` takes them, which would render every CRD again
/// for each kind.
fn schema_of(kind: &str) -> Option<&'static KindSchema> {
    static SCHEMAS: OnceLock<BTreeMap<String, KindSchema>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            crds()
                .unwrap_or_default()
                .iter()
                .filter_map(|crd| {
                    let kind = crd.spec.names.kind.clone();
                    let version = crd.spec.versions.first()?;
                    let openapi = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
                    let schema = serde_json::to_value(openapi).ok()?;
                    let validator =
                        jsonschema::validator_for(&kubepve_api::crds::to_json_schema(&schema))
                            .map_err(|e| e.to_string());
                    let rules = compile_schema(&schema);
                    Some((
                        kind,
                        KindSchema {
                            schema,
                            validator,
                            rules,
                        },
                    ))
                })
                .collect()
        })
        .get(kind)
}

/// The CEL functions of Kubernetes, registered once.
fn cel() -> &'static Validator {
    static CEL: OnceLock<Validator> = OnceLock::new();
    CEL.get_or_init(Validator::new)
}

/// `--validate`, as in kubectl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateMode {
    /// Unknown fields are errors.
    #[default]
    #[value(alias = "true")]
    Strict,
    /// Unknown fields are warnings.
    Warn,
    /// Unknown fields are dropped.
    #[value(alias = "false")]
    Ignore,
}

/// The API group of kubepve's CRDs.
const GROUP: &str = "kubepve.io";

/// What is wrong with the apiVersion and kind of `doc`, for a kubepve.io document.
pub fn type_problem(doc: &Value) -> Option<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let crds = crds()?;
    let ours = api_version.split('/').next() == Some(GROUP);
    let Some(crd) = crds.iter().find(|c| c.spec.names.kind == kind) else {
        return ours.then(|| {
            let kinds: Vec<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
            format!(
                "kind {kind:?} does not exist in {GROUP} (kinds: {})",
                kinds.join(", ")
            )
        });
    };
    let served: Vec<String> = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| format!("{}/{}", crd.spec.group, v.name))
        .collect();
    (!served.iter().any(|v| v == api_version)).then(|| {
        format!(
            "apiVersion {api_version:?} is not served for {kind} (use {})",
            served.join(" or ")
        )
    })
}

/// The fields of `doc` that its kind's CRD schema does not know (`spec.cpu.coresTypo`).
pub fn unknown_fields(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(KindSchema { schema, .. }) = schema_of(kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(meta) = doc["metadata"].as_object() {
        for k in meta.keys().filter(|k| !OBJECT_META.contains(&k.as_str())) {
            out.push(format!("metadata.{k}"));
        }
    }
    let mut top = schema.clone();
    // The API server checks the type and metadata itself (above), not through the CRD's schema.
    if let Some(props) = top["properties"].as_object_mut() {
        for k in ["apiVersion", "kind", "metadata"] {
            props.entry(k).or_insert_with(
                || serde_json::json!({"x-kubernetes-preserve-unknown-fields": true}),
            );
        }
    }
    walk(&top, doc, "", &mut out);
    out
}

/// The fields of `metadata` (ObjectMeta).
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn walk(schema: &Value, doc: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match doc {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            for (k, v) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => walk(sub, v, &join(k), out),
                    None if additional.is_object() => walk(additional, v, &join(k), out),
                    None if *additional == Value::Bool(true) => {}
                    // A schema without properties is a wrong type, which `problems` reports.
                    None if props.is_none() => {}
                    None => out.push(join(k)),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// What the CRD of `doc`'s kind says is wrong with it, one line per problem (`spec.vmid: ...`);
/// empty when it is valid or not a kubepve kind.
pub fn problems(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(KindSchema {
        validator, rules, ..
    }) = schema_of(kind)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match validator {
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
        && let Err(errors) = cel().validate_compiled(rules, doc, None)
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

    #[test]
    fn unknown_fields_are_found_in_nested_objects_and_list_items() {
        let vm = serde_json::json!({
            "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
            "metadata": {"name": "x", "labelz": {}},
            "spec": {"connectionRef": {"name": "pve"}, "node": "pve1", "vmid": 700,
                     "bogusField": 42, "cpu": {"cores": 2, "coresTypo": 3},
                     "source": {"blank": {}},
                     "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "8Gi", "sizee": 1}]},
        });
        let found = unknown_fields(&vm);
        for f in [
            "metadata.labelz",
            "spec.bogusField",
            "spec.cpu.coresTypo",
            "spec.disks[0].sizee",
        ] {
            assert!(found.iter().any(|x| x == f), "{f} in {found:?}");
        }
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(type_problem(&vm), None);
        let mut v9 = vm.clone();
        v9["apiVersion"] = serde_json::json!("kubepve.io/v9");
        assert!(type_problem(&v9).unwrap().contains("kubepve.io/v1alpha1"));
        let typo = serde_json::json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVm"});
        assert!(type_problem(&typo).unwrap().contains("ProxmoxVM"));
        assert_eq!(
            type_problem(&serde_json::json!({"apiVersion": "v1", "kind": "Secret"})),
            None
        );
    }
}
