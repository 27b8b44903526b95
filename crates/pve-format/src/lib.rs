//! Proxmox VE's value formats, shared by the client, the planner and `pvectl`: property strings,
//! disk sizes, the guest kind and which config values are secrets.
//!
//! A property string is `key=value,...` where the first item may omit its key (the format's
//! default key): `virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10` or
//! `local-lvm:vm-100-disk-0,size=32G`. Order is kept, so printing gives back the input.
//! Sizes follow `PVE::JSONSchema::parse_size`/`format_size`: K/M/G/T (or KiB..TiB) in powers of
//! 1024, no unit meaning bytes, printed with the largest exact unit.

use std::fmt;

mod kind;
mod secret;

pub use kind::GuestKind;
pub use secret::{REDACTED, SECRET_KEYS, is_secret_key, shown};

/// One parsed property string, in its original order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyString {
    /// The value given without a key (the format's default key), if any.
    pub default_value: Option<String>,
    /// The `key=value` items, in order.
    pub items: Vec<(String, String)>,
}

impl PropertyString {
    /// Parse `text`. An item without `=` is taken as the default value when it comes first
    /// (PVE allows only one such item); later key-less items are an error.
    pub fn parse(text: &str) -> Result<Self, PropertyError> {
        let mut out = PropertyString::default();
        if text.is_empty() {
            return Ok(out);
        }
        for (i, item) in text.split(',').enumerate() {
            match item.split_once('=') {
                Some((k, v)) => {
                    if k.is_empty() {
                        return Err(PropertyError(format!("empty key in {item:?}")));
                    }
                    if out.get(k).is_some() {
                        return Err(PropertyError(format!("duplicate key {k:?}")));
                    }
                    out.items.push((k.to_string(), v.to_string()));
                }
                None if i == 0 && !item.is_empty() => out.default_value = Some(item.to_string()),
                None => return Err(PropertyError(format!("value without key: {item:?}"))),
            }
        }
        Ok(out)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set `key` (in place if present, else at the end).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.items.iter_mut().find(|(k, _)| k == key) {
            Some(item) => item.1 = value,
            None => self.items.push((key.to_string(), value)),
        }
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.items.iter().position(|(k, _)| k == key)?;
        Some(self.items.remove(pos).1)
    }

    /// Parse without failing, for comparing what Proxmox wrote: empty items are skipped, a later
    /// key-less item is kept as a key with an empty value, and a repeated key keeps the last
    /// value. A value that does not parse then simply compares unequal and gets rewritten.
    pub fn parse_lenient(text: &str) -> Self {
        let mut out = PropertyString::default();
        for (i, item) in text.split(',').enumerate() {
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) => out.set(k, v),
                None if i == 0 => out.default_value = Some(item.to_string()),
                None => out.items.push((item.to_string(), String::new())),
            }
        }
        out
    }

    /// The value of the format's default key, given either bare (`4096`) or by name
    /// (`current=4096`).
    pub fn default_or(&self, key: &str) -> Option<&str> {
        self.default_value.as_deref().or_else(|| self.get(key))
    }

    /// Replace the default key's value, keeping the form (bare or named) the value had.
    pub fn set_default_or(&mut self, key: &str, value: &str) {
        if self.default_value.is_none() && self.get(key).is_some() {
            self.set(key, value);
        } else {
            self.default_value = Some(value.to_string());
        }
    }

    /// For NICs written as `virtio=MAC`: the first item's key and value (model and MAC).
    pub fn first(&self) -> Option<(&str, &str)> {
        self.items.first().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Display for PropertyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if let Some(v) = &self.default_value {
            f.write_str(v)?;
            first = false;
        }
        for (k, v) in &self.items {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
            first = false;
        }
        Ok(())
    }
}

/// A property string or size that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid property string: {0}")]
pub struct PropertyError(pub String);

const UNITS: [(char, u64); 4] = [
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
];

/// Parse a PVE size (`32G`, `512M`, `1.5G`, `10GiB`, `1024`) into bytes.
pub fn parse_size(text: &str) -> Result<u64, PropertyError> {
    let bad = || {
        PropertyError(format!(
            "value does not look like a valid disk size: {text}"
        ))
    };
    let t = text.strip_suffix("iB").unwrap_or(text);
    let (number, factor) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let factor = UNITS
                .iter()
                .find(|(u, _)| *u == c)
                .map(|(_, f)| *f)
                .ok_or_else(bad)?;
            (&t[..t.len() - 1], factor)
        }
        _ if t.len() != text.len() => return Err(bad()), // "iB" with no unit letter
        _ => (t, 1),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(bad());
    }
    let whole: u64 = int.parse().map_err(|_| bad())?;
    let mut bytes = whole.checked_mul(factor).ok_or_else(bad)?;
    if !frac.is_empty() {
        // Exact decimal fraction of the unit, truncated to whole bytes like PVE's int().
        let digits = frac.len().min(18) as u32;
        let num: u128 = frac[..digits as usize].parse().map_err(|_| bad())?;
        let part = num * u128::from(factor) / 10u128.pow(digits);
        bytes = bytes
            .checked_add(u64::try_from(part).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    Ok(bytes)
}

/// Print bytes with the largest unit that divides them exactly (`32G`, `1536M`, `1000`).
/// Like PVE's `format_size`, zero prints as `0T`.
pub fn format_size(bytes: u64) -> String {
    for (unit, factor) in UNITS {
        if bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_parsing_keeps_the_default_key_and_order() {
        let p = PropertyString::parse_lenient("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20");
        assert_eq!(p.default_value, None);
        assert_eq!(p.get("virtio"), Some("BC:24:11:AA:BB:CC"));
        assert_eq!(
            p.to_string(),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20"
        );
        let m = PropertyString::parse_lenient("current=4096");
        assert_eq!(m.default_or("current"), Some("4096"));
        let mut d = PropertyString::parse_lenient("local-lvm:vm-1-disk-0,size=32G");
        assert_eq!(d.default_value.as_deref(), Some("local-lvm:vm-1-disk-0"));
        d.set_default_or("volume", "x");
        assert_eq!(d.to_string(), "x,size=32G");
        // What the strict parser refuses, the lenient one keeps.
        assert!(PropertyString::parse("a,b,,c=1").is_err());
        let l = PropertyString::parse_lenient("a,b,,c=1");
        assert_eq!(
            (l.default_value.as_deref(), l.get("b"), l.get("c")),
            (Some("a"), Some(""), Some("1"))
        );
    }
}
