//! The kinds the fake Kubernetes API serves, by URL plural: their group, kind, scope, whether
//! they have a status subresource, and (for our CRDs) the OpenAPI schema the real API server
//! takes its defaults from and the scale subresource's paths, read from the generated CRDs (`CustomResourceExt::crd()`), never
//! from a hand-written list.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

/// What the fake knows about one kind.
pub struct Kind {
    /// URL plural (`proxmoxvms`).
    pub plural: &'static str,
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// `apiVersion` of stored objects.
    pub api_version: &'static str,
    /// `kind` of stored objects.
    pub kind: &'static str,
    /// Namespaced (everything but Namespaces).
    pub namespaced: bool,
    /// Writes to the main resource ignore `.status`; `/status` writes change only `.status`.
    pub status_subresource: bool,
    /// The CRD's `openAPIV3Schema`, for defaults.
    pub schema: Option<Value>,
    /// The CRD's scale subresource (`.../scale`), when it declares one.
    pub scale: Option<Scale>,
}

/// The JSON paths of a scale subresource, as the CRD declares them (`.spec.replicas`, ...).
pub struct Scale {
    /// `specReplicasPath`.
    pub spec_replicas: String,
    /// `statusReplicasPath`.
    pub status_replicas: String,
    /// `labelSelectorPath`.
    pub label_selector: Option<String>,
}

impl Kind {
    /// `proxmoxvms.kubepve.io`, `configmaps`: how the API server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

fn schema_of(crd: impl serde::Serialize) -> Option<Value> {
    let crd = serde_json::to_value(crd).ok()?;
    Some(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
}

fn scale_of(crd: impl serde::Serialize) -> Option<Scale> {
    let crd = serde_json::to_value(crd).ok()?;
    let scale = &crd["spec"]["versions"][0]["subresources"]["scale"];
    Some(Scale {
        spec_replicas: scale["specReplicasPath"].as_str()?.to_string(),
        status_replicas: scale["statusReplicasPath"].as_str()?.to_string(),
        label_selector: scale["labelSelectorPath"].as_str().map(str::to_string),
    })
}

fn core(plural: &'static str, kind: &'static str, namespaced: bool, status: bool) -> Kind {
    Kind {
        plural,
        group: "",
        api_version: "v1",
        kind,
        namespaced,
        status_subresource: status,
        schema: None,
        scale: None,
    }
}

fn ours(plural: &'static str, kind: &'static str, schema: Option<Value>) -> Kind {
    Kind {
        plural,
        group: "kubepve.io",
        api_version: "kubepve.io/v1alpha1",
        kind,
        namespaced: true,
        status_subresource: true,
        schema,
        scale: None,
    }
}

/// Every kind the fake serves.
pub fn all() -> &'static [Kind] {
    static KINDS: OnceLock<Vec<Kind>> = OnceLock::new();
    KINDS.get_or_init(|| {
        vec![
            core("namespaces", "Namespace", false, true),
            core("secrets", "Secret", true, false),
            core("configmaps", "ConfigMap", true, false),
            Kind {
                plural: "events",
                group: "events.k8s.io",
                api_version: "events.k8s.io/v1",
                kind: "Event",
                namespaced: true,
                status_subresource: false,
                schema: None,
                scale: None,
            },
            ours(
                "proxmoxvms",
                "ProxmoxVM",
                schema_of(kubepve_api::ProxmoxVM::crd()),
            ),
            ours(
                "proxmoxcontainers",
                "ProxmoxContainer",
                schema_of(kubepve_api::ProxmoxContainer::crd()),
            ),
            ours(
                "proxmoxconnections",
                "ProxmoxConnection",
                schema_of(kubepve_api::ProxmoxConnection::crd()),
            ),
            ours(
                "proxmoxsnapshots",
                "ProxmoxSnapshot",
                schema_of(kubepve_api::ProxmoxSnapshot::crd()),
            ),
            ours(
                "proxmoxsnapshotschedules",
                "ProxmoxSnapshotSchedule",
                schema_of(kubepve_api::ProxmoxSnapshotSchedule::crd()),
            ),
            ours(
                "proxmoxsnapshotrestores",
                "ProxmoxSnapshotRestore",
                schema_of(kubepve_api::ProxmoxSnapshotRestore::crd()),
            ),
            Kind {
                scale: scale_of(kubepve_api::ProxmoxVMSet::crd()),
                ..ours(
                    "proxmoxvmsets",
                    "ProxmoxVMSet",
                    schema_of(kubepve_api::ProxmoxVMSet::crd()),
                )
            },
        ]
    })
}

/// The kind served under `plural`.
pub fn find(plural: &str) -> Option<&'static Kind> {
    all().iter().find(|k| k.plural == plural)
}

/// Fills in the schema's defaults, as the API server does on every create, update and read:
/// a missing property with a `default` gets it, recursively into objects, maps and lists that
/// exist (a default inside an absent optional object does not apply).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    if let (Some(props), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) {
        for (key, sub) in props {
            if !object.contains_key(key)
                && let Some(default) = sub.get("default")
            {
                object.insert(key.clone(), default.clone());
            }
            if let Some(child) = object.get_mut(key) {
                apply_defaults(sub, child);
            }
        }
    }
    if let (Some(sub), Some(object)) = (
        schema.get("additionalProperties").filter(|s| s.is_object()),
        value.as_object_mut(),
    ) {
        for child in object.values_mut() {
            apply_defaults(sub, child);
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array_mut()) {
        for child in list {
            apply_defaults(items, child);
        }
    }
}
