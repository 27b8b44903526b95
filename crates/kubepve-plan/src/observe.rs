//! The observed guest built from the reads both binaries make: its `/cluster/resources` entry,
//! `GET .../config`, `GET .../pending` and the power state. The reads themselves stay with the
//! caller (the operator caches and defers them, `pvectl` reads once); what they mean is decided
//! here once.

use pve_client::types::{GuestConfig, PendingItem};

use crate::observed::{Observed, PendingKey, Power, config_from_json};

/// What `/cluster/resources` listed for the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listed<'a> {
    /// The node it is on.
    pub node: &'a str,
    /// The lock the listing shows, if any.
    pub lock: Option<&'a str>,
    /// Whether the listing marks it a template.
    pub template: bool,
    /// Its resource pool, if any.
    pub pool: Option<&'a str>,
}

impl Observed {
    /// An existing guest from its reads: the config with pending values applied (what the guest
    /// gets at its next start, which the planner compares against), the keys with a change
    /// pending, and the lock and template mark from the config or, failing that, the listing.
    pub fn from_reads(
        listed: Listed<'_>,
        config: GuestConfig,
        pending: &[PendingItem],
        power: Power,
    ) -> Observed {
        let config = config_from_json(&config.with_pending(pending).0.into_iter().collect());
        Observed {
            exists: true,
            lock: config
                .get("lock")
                .cloned()
                .or(listed.lock.map(str::to_string)),
            template: config.get("template").is_some_and(|t| t == "1") || listed.template,
            config,
            pending: pending
                .iter()
                .filter(|p| p.is_change())
                .map(|p| PendingKey {
                    key: p.key.clone(),
                    delete: p.is_delete(),
                })
                .collect(),
            power,
            node: listed.node.to_string(),
            pool: listed.pool.map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pending_values_are_applied_and_their_keys_listed() {
        let config: GuestConfig =
            serde_json::from_value(json!({"memory": 2048, "onboot": 1, "template": 1}))
                .expect("config");
        let pending: Vec<PendingItem> = serde_json::from_value(json!([
            {"key": "memory", "value": 2048, "pending": 4096},
            {"key": "onboot", "value": 1, "delete": 1},
            {"key": "template", "value": 1},
        ]))
        .expect("pending");
        let listed = Listed {
            node: "pve1",
            lock: Some("backup"),
            template: false,
            pool: Some("web"),
        };
        let o = Observed::from_reads(listed, config, &pending, Power::Stopped);
        assert!(o.exists && o.template);
        assert_eq!(o.config.get("memory").map(String::as_str), Some("4096"));
        assert!(!o.config.contains_key("onboot"));
        assert_eq!(
            o.pending,
            [
                PendingKey {
                    key: "memory".into(),
                    delete: false
                },
                PendingKey {
                    key: "onboot".into(),
                    delete: true
                },
            ]
        );
        assert_eq!(o.lock.as_deref(), Some("backup"));
        assert_eq!((o.node.as_str(), o.pool.as_deref()), ("pve1", Some("web")));
    }
}
