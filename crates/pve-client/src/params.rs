//! Request parameters as PVE takes them in form bodies and query strings: strings, integers,
//! and booleans as `0`/`1` (PVE rejects `true` in form bodies).

use std::fmt;

/// Ordered `name=value` parameters.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may hold passwords (cipassword) or keys.
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add `name=value`.
    pub fn set(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.push(name, value);
        self
    }
    /// Add `name=value` if there is a value.
    pub fn opt(mut self, name: &str, value: Option<impl fmt::Display>) -> Self {
        if let Some(v) = value {
            self.push(name, v);
        }
        self
    }
    /// Add `name=0|1`.
    pub fn flag(self, name: &str, value: bool) -> Self {
        self.set(name, u8::from(value))
    }
    /// Add `name=0|1` if given.
    pub fn opt_flag(self, name: &str, value: Option<bool>) -> Self {
        self.opt(name, value.map(u8::from))
    }
    /// Add `name=value` in place.
    pub fn push(&mut self, name: &str, value: impl fmt::Display) {
        self.0.push((name.to_string(), value.to_string()));
    }
    /// Add every pair of `other`.
    pub fn extend(mut self, other: Params) -> Self {
        self.0.extend(other.0);
        self
    }
    /// The pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
    /// True without parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: fmt::Display> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Params(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.to_string()))
                .collect(),
        )
    }
}
