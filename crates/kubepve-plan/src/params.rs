//! Proxmox form parameters ready to send, with secret values kept out of every printed form.
//!
//! Plans end up in logs, events, status messages and `pvectl diff` output, so `Debug`, `Display`
//! and `Serialize` all print `(redacted)` for a secret value; only [`Params::expose`], which the
//! code that sends the request calls, hands out the real text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// What every printed form shows instead of a secret value (the one constant both binaries use).
pub use pve_format::REDACTED;

/// One parameter value; `secret` values are never printed.
#[derive(Clone, PartialEq, Eq)]
struct Value {
    text: String,
    secret: bool,
}

/// Proxmox form parameters (`memory=4096`, `net0=virtio,bridge=vmbr0`), sorted by name so that
/// plans are deterministic and easy to compare.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, Value>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a plain parameter.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(
            key.into(),
            Value {
                text: value.into(),
                secret: false,
            },
        );
    }

    /// Set a parameter whose value must never be printed (passwords, keys).
    pub fn insert_secret(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(
            key.into(),
            Value {
                text: value.into(),
                secret: true,
            },
        );
    }

    /// Set a parameter, secret or not.
    pub(crate) fn insert_as(&mut self, key: &str, value: String, secret: bool) {
        self.0.insert(
            key.to_string(),
            Value {
                text: value,
                secret,
            },
        );
    }

    /// The printable value of `key`: the text, or `(redacted)`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(Value::shown)
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether `key` holds a secret.
    pub fn is_secret(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| v.secret)
    }

    /// Parameter names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The real name/value pairs, secrets included, for the request body only. Never log them.
    pub fn expose(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.text.as_str()))
    }

    /// The printable name/value pairs, secrets redacted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.shown()))
    }
}

impl Value {
    fn shown(&self) -> &str {
        if self.secret { REDACTED } else { &self.text }
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (k, v) in self.iter() {
            write!(f, "{sep}{k}={v}")?;
            sep = " ";
        }
        Ok(())
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut p = Params::new();
        p.insert("memory", "4096");
        p.insert_secret("cipassword", "hunter22");
        let shown = format!(
            "{p:?} {p} {}",
            serde_json::to_string(&p).unwrap_or_default()
        );
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("memory=4096"));
        assert_eq!(p.get("cipassword"), Some(REDACTED));
        assert!(
            p.expose()
                .any(|(k, v)| k == "cipassword" && v == "hunter22")
        );
    }
}
