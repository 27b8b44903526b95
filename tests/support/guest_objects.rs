//! The manifests the guest scenarios apply (a ProxmoxVM or ProxmoxContainer on connection
//! `pve`, node `pve1`) and the predicates they wait for (conditions, Ready, Stalled, gone).
//! Re-exported by `support::guest`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::guest::TEMPLATE;

/// The condition of this type, or Null.
pub fn condition(object: &Value, type_: &str) -> Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null)
}

/// The message of the condition of this type ("" when there is none).
pub fn condition_message(object: &Value, type_: &str) -> String {
    condition(object, type_)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Ready=True.
pub fn ready(object: Option<&Value>) -> bool {
    object.is_some_and(|o| condition(o, "Ready")["status"] == "True")
}

/// Ready=True for the object's current generation.
pub fn ready_now(object: Option<&Value>) -> bool {
    object.is_some_and(|o| {
        let c = condition(o, "Ready");
        c["status"] == "True" && c["observedGeneration"] == o["metadata"]["generation"]
    })
}

/// A predicate: Stalled=True with this reason.
pub fn stalled(reason: &'static str) -> impl Fn(Option<&Value>) -> bool {
    move |object| {
        object.is_some_and(|o| {
            let c = condition(o, "Stalled");
            c["status"] == "True" && c["reason"] == reason
        })
    }
}

/// The object is gone from the store.
pub fn gone(object: Option<&Value>) -> bool {
    object.is_none()
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    let mut full = json!({"connectionRef": {"name": "pve"}, "node": "pve1"});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": full,
    })
}

/// A ProxmoxVM on connection `pve`, node `pve1`, with `spec` merged in.
pub fn vm(name: &str, spec: Value) -> Value {
    object("ProxmoxVM", name, spec)
}

/// A ProxmoxVM that clones the template, with `spec` merged in.
pub fn clone_vm(name: &str, vmid: u32, spec: Value) -> Value {
    let mut full = json!({
        "vmid": vmid,
        "source": {"clone": {"templateName": TEMPLATE}},
        "cpu": {"cores": 2},
        "memory": "2Gi",
    });
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    vm(name, full)
}

/// A ProxmoxContainer on connection `pve`, node `pve1`, with `spec` merged in.
pub fn ct(name: &str, spec: Value) -> Value {
    object("ProxmoxContainer", name, spec)
}

/// The guest's tags in Proxmox, split.
pub fn tags(guest: &Value) -> Vec<String> {
    guest["config"]["tags"]
        .as_str()
        .unwrap_or_default()
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}
