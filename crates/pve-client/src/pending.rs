//! Pending changes (`GET .../pending`) as both binaries read them: which items are a change
//! still waiting for the guest's next start, the config the guest gets then (pending values
//! applied), and the redacted record a configuration backup keeps of them.

use serde_json::{Value, json};

use crate::types::{GuestConfig, PendingItem};

impl PendingItem {
    /// Whether the key is marked for deletion (`delete` 1, or 2 for a forced delete).
    pub fn is_delete(&self) -> bool {
        self.delete.unwrap_or(0) > 0
    }

    /// Whether the item is a change waiting for the next start: a new value or a deletion.
    /// `GET .../pending` also lists every unchanged key with its current value only.
    pub fn is_change(&self) -> bool {
        self.pending.is_some() || self.is_delete()
    }
}

impl GuestConfig {
    /// The config the guest gets at its next start: each pending value set, each pending
    /// deletion removed (a deletion wins over a value). Proxmox's default config read already
    /// shows pending values, but applying them explicitly keeps the result independent of that
    /// default (a server answering with the current values would otherwise make a change it
    /// already accepted look missing).
    pub fn with_pending(mut self, items: &[PendingItem]) -> GuestConfig {
        for item in items {
            if item.is_delete() {
                self.0.remove(&item.key);
            } else if let Some(value) = &item.pending {
                self.0.insert(item.key.clone(), value.clone());
            }
        }
        self
    }

    /// A copy with every secret value replaced by [`crate::REDACTED`]; the other values as
    /// they are (numbers stay numbers), `null` stays `null`.
    pub fn redacted(&self) -> GuestConfig {
        let hide = |k: &str, v: &Value| {
            if v.is_null() || !pve_format::is_secret_key(k) {
                v.clone()
            } else {
                json!(crate::REDACTED)
            }
        };
        GuestConfig(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), hide(k, v)))
                .collect(),
        )
    }
}

/// `value` as text, or [`crate::REDACTED`] for a secret key; `null` stays `null`.
fn redacted_value(key: &str, value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => json!(pve_format::shown(key, s)),
        other => json!(pve_format::shown(key, &other.to_string())),
    }
}

/// The pending changes as a configuration backup records them: only the changes (see
/// [`PendingItem::is_change`]), each `{"key", "value"?, "pending"?, "delete": 1?}` with values
/// as text and secrets redacted.
pub fn redacted_pending(items: &[PendingItem]) -> Vec<Value> {
    items
        .iter()
        .filter(|p| p.is_change())
        .map(|p| {
            let mut item = json!({"key": p.key});
            if let Some(v) = &p.value {
                item["value"] = redacted_value(&p.key, v);
            }
            if let Some(v) = &p.pending {
                item["pending"] = redacted_value(&p.key, v);
            }
            if p.is_delete() {
                item["delete"] = json!(1);
            }
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, value: Option<Value>, pending: Option<Value>, delete: u64) -> PendingItem {
        PendingItem {
            key: key.into(),
            value,
            pending,
            delete: (delete > 0).then_some(delete),
        }
    }

    fn config(pairs: &[(&str, Value)]) -> GuestConfig {
        GuestConfig(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn only_new_values_and_deletions_are_changes() {
        assert!(!item("memory", Some(json!(2048)), None, 0).is_change());
        assert!(item("memory", Some(json!(2048)), Some(json!(4096)), 0).is_change());
        assert!(item("onboot", Some(json!(1)), None, 1).is_change());
        assert!(item("onboot", None, None, 2).is_delete());
    }

    #[test]
    fn the_next_start_config_has_values_set_and_deletions_removed() {
        let items = [
            item("memory", Some(json!(2048)), Some(json!(4096)), 0),
            item("onboot", Some(json!(1)), None, 1),
            item("name", Some(json!("web")), None, 0),
            // A deletion wins over a value given with it.
            item("tags", Some(json!("a")), Some(json!("b")), 1),
        ];
        let cfg = config(&[
            ("memory", json!(2048)),
            ("onboot", json!(1)),
            ("name", json!("web")),
            ("tags", json!("a")),
        ])
        .with_pending(&items);
        assert_eq!(cfg.get("memory").as_deref(), Some("4096"));
        assert_eq!(cfg.get("onboot"), None);
        assert_eq!(cfg.get("tags"), None);
        assert_eq!(cfg.get("name").as_deref(), Some("web"));
    }

    #[test]
    fn backups_record_changes_only_with_secrets_redacted() {
        let items = [
            item("cipassword", None, Some(json!("hunter2")), 0),
            item("memory", Some(json!(2048)), Some(json!(4096)), 0),
            item("name", Some(json!("web")), None, 0),
            item("onboot", Some(json!(1)), None, 2),
        ];
        let record = redacted_pending(&items);
        assert_eq!(
            record,
            vec![
                json!({"key": "cipassword", "pending": crate::REDACTED}),
                json!({"key": "memory", "value": "2048", "pending": "4096"}),
                json!({"key": "onboot", "value": "1", "delete": 1}),
            ]
        );
        assert!(!serde_json::to_string(&record).unwrap().contains("hunter2"));
    }

    #[test]
    fn a_redacted_config_hides_secrets_and_keeps_the_rest() {
        let cfg = config(&[
            ("password", json!("hunter2")),
            ("sshkeys", Value::Null),
            ("memory", json!(512)),
        ])
        .redacted();
        assert_eq!(cfg.0["password"], json!(crate::REDACTED));
        assert_eq!(cfg.0["sshkeys"], Value::Null);
        assert_eq!(cfg.0["memory"], json!(512));
    }
}
