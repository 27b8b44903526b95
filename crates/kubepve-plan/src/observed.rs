//! What the caller saw in Proxmox ([`Observed`]) and what the Kubernetes object asks for besides
//! its spec ([`Intent`]).
//!
//! The caller fills [`Observed`] from `GET .../config` (pending values already applied, which is
//! Proxmox's default), `GET .../pending` and `status/current` (or `/cluster/resources`). The
//! planner never asks for more, so everything it decides can be reproduced from these values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::format::normalise_tags;

/// The guest's power state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    /// Running (`status: running`, `qmpstatus` not paused).
    Running,
    /// Stopped.
    Stopped,
    /// QEMU paused or suspended (`status: running`, `qmpstatus: paused`).
    Paused,
    /// Not known yet (for example `/cluster/resources` right after a create).
    #[default]
    Unknown,
}

impl Power {
    /// From `status/current`: `status` and the optional `qmpstatus`.
    pub fn from_status(status: &str, qmpstatus: Option<&str>) -> Self {
        match (status, qmpstatus) {
            ("running", Some("paused" | "suspended" | "prelaunch")) => Power::Paused,
            ("running", _) => Power::Running,
            ("stopped", _) => Power::Stopped,
            _ => Power::Unknown,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Power::Running => "running",
            Power::Stopped => "stopped",
            Power::Paused => "paused",
            Power::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Power {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of `GET .../pending` that has a change (`pending`) or a deletion (`delete`) waiting
/// for the next cold start. Keys without either are not pending and must be left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingKey {
    /// The config key, such as `cores`.
    pub key: String,
    /// Whether the pending change is a deletion.
    #[serde(default)]
    pub delete: bool,
}

/// The guest as Proxmox reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Whether a guest with the VMID exists anywhere in the cluster.
    #[serde(default)]
    pub exists: bool,
    /// `GET .../config` as strings, pending changes applied; see [`config_from_json`].
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Keys with a change or deletion pending until the next cold start.
    #[serde(default)]
    pub pending: Vec<PendingKey>,
    /// Power state.
    #[serde(default)]
    pub power: Power,
    /// The config lock (`create`, `clone`, `backup`, ...), if any.
    #[serde(default)]
    pub lock: Option<String>,
    /// Whether the guest is a template.
    #[serde(default)]
    pub template: bool,
    /// The node the guest is on now.
    #[serde(default)]
    pub node: String,
    /// The resource pool the guest is in (from `/cluster/resources`), if known.
    #[serde(default)]
    pub pool: Option<String>,
}

impl Observed {
    /// No guest with the VMID.
    pub fn absent() -> Self {
        Self::default()
    }

    /// The guest's tags, normalised.
    pub fn tags(&self) -> std::collections::BTreeSet<String> {
        normalise_tags(self.config.get("tags").map(String::as_str))
    }

    /// The lock, from the field or, failing that, from the config.
    pub fn effective_lock(&self) -> Option<&str> {
        self.lock
            .as_deref()
            .or_else(|| self.config.get("lock").map(String::as_str))
            .filter(|l| !l.is_empty())
    }

    /// Whether the guest is a template, from the field or the config's `template: 1`.
    pub fn is_template(&self) -> bool {
        self.template || self.config.get("template").is_some_and(|t| t == "1")
    }

    /// Whether removing config key `key` loses something worth a backup: anything but a
    /// description that holds only the ownership line (which the first config step of a clone
    /// removes).
    pub fn loses_on_removal(&self, key: &str) -> bool {
        let marker_only = |text: &String| {
            text.lines().all(|l| {
                l.trim().is_empty() || l.trim().starts_with(kubepve_api::OWNER_DESCRIPTION_PREFIX)
            })
        };
        !(key == "description" && self.config.get(key).is_none_or(marker_only))
    }
}

/// A Proxmox JSON config object (`{"memory": 4096, "net0": "virtio=..."}`) as the string map
/// [`Observed::config`] holds; numbers and booleans become their text, `null` is dropped.
pub fn config_from_json(
    config: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    config
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                other => other.to_string(),
            };
            Some((k.clone(), text))
        })
        .collect()
}

/// What the Kubernetes object asks for besides its spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// The object has a deletionTimestamp.
    #[serde(default)]
    pub deleting: bool,
    /// The `kubepve.io/restartedAt` annotation differs from `status.restartedAt`.
    #[serde(default)]
    pub restart_requested: bool,
    /// The spec asks to take over an existing guest that carries no other object's marks.
    #[serde(default)]
    pub adopt: bool,
    /// `status.placedNode`: the `spec.node` the guest last settled for. A `spec.node` that
    /// differs from it asks for a migration; `None` (never recorded) never migrates.
    #[serde(default)]
    pub placed_node: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_from_status() {
        assert_eq!(Power::from_status("running", Some("paused")), Power::Paused);
        assert_eq!(Power::from_status("running", None), Power::Running);
        assert_eq!(Power::from_status("stopped", None), Power::Stopped);
        assert_eq!(Power::from_status("x", None), Power::Unknown);
    }

    #[test]
    fn json_config_to_strings() {
        let v = serde_json::json!({"memory": 4096, "onboot": true, "name": "a", "x": null});
        let m = config_from_json(v.as_object().unwrap_or(&serde_json::Map::new()));
        assert_eq!(m.get("memory").map(String::as_str), Some("4096"));
        assert_eq!(m.get("onboot").map(String::as_str), Some("1"));
        assert!(!m.contains_key("x"));
    }

    #[test]
    fn removing_only_the_ownership_line_loses_nothing() {
        let mut o = Observed::default();
        o.config
            .insert("description".into(), "kubepve.io/owner: abc".into());
        assert!(!o.loses_on_removal("description"));
        assert!(o.loses_on_removal("onboot"));
        o.config.insert(
            "description".into(),
            "kubepve.io/owner: abc\nmy notes".into(),
        );
        assert!(o.loses_on_removal("description"));
    }
}
