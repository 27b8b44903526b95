//! The Proxmox value formats the planner reads and writes: property strings, disk sizes, tag
//! lists and the percent-encoding of `sshkeys`.
//!
//! `pve-client` has a property-string module too, but it drags an HTTP stack into this crate
//! (which must stay pure and quick to build) and was still changing while this was written, so
//! the planner keeps the few lenient helpers it needs here. They never fail: a value Proxmox
//! wrote that does not parse simply compares unequal, and the planner then rewrites it.

use std::collections::BTreeSet;
use std::fmt;

/// A parsed property string `default,key=value,...`, in its original order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Props {
    /// The first item when it has no `=` (the format's default key).
    pub default: Option<String>,
    /// The `key=value` items in order.
    pub items: Vec<(String, String)>,
}

impl Props {
    /// Parse leniently: key-less items after the first are kept as `(item, "")` so that nothing
    /// is lost when the value is printed again.
    pub fn parse(text: &str) -> Self {
        let mut out = Props::default();
        for (i, item) in text.split(',').enumerate() {
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) => out.set(k, v),
                None if i == 0 => out.default = Some(item.to_string()),
                None => out.items.push((item.to_string(), String::new())),
            }
        }
        out
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set `key` in place, or append it.
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

    /// The value of the format's default key, given either bare (`4096`) or by name
    /// (`current=4096`).
    pub fn default_or(&self, key: &str) -> Option<&str> {
        self.default.as_deref().or_else(|| self.get(key))
    }

    /// Replace the default key's value, keeping the form (bare or named) the value had.
    pub fn set_default_or(&mut self, key: &str, value: &str) {
        if self.default.is_none() && self.get(key).is_some() {
            self.set(key, value);
        } else {
            self.default = Some(value.to_string());
        }
    }
}

impl fmt::Display for Props {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(d) = &self.default {
            f.write_str(d)?;
            sep = ",";
        }
        for (k, v) in &self.items {
            if v.is_empty() {
                write!(f, "{sep}{k}")?;
            } else {
                write!(f, "{sep}{k}={v}")?;
            }
            sep = ",";
        }
        Ok(())
    }
}

const UNITS: [(char, u64); 4] = [
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
];

/// Bytes of a Proxmox size (`32G`, `512M`, `1.5G`, `10GiB`, `1024`), like `PVE::JSONSchema::parse_size`.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix("iB").unwrap_or(t);
    let (number, factor) = match t.chars().last()? {
        c if c.is_ascii_alphabetic() => {
            let factor = UNITS.iter().find(|(u, _)| *u == c)?.1;
            (&t[..t.len() - 1], factor)
        }
        _ => (t, 1),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = int.parse().ok()?;
    let mut bytes = whole.checked_mul(factor)?;
    if !frac.is_empty() {
        let digits = u32::try_from(frac.len().min(18)).ok()?;
        let num: u128 = frac.get(..digits as usize)?.parse().ok()?;
        let part = num * u128::from(factor) / 10u128.pow(digits);
        bytes = bytes.checked_add(u64::try_from(part).ok()?)?;
    }
    Some(bytes)
}

/// Bytes printed with the largest unit that divides them exactly (`32G`, `1536M`), as Proxmox
/// writes `size=`.
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, factor) in UNITS {
        if bytes != 0 && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    bytes.to_string()
}

/// Tags as Proxmox stores them: split on `;`, `,` or spaces, lowercased, deduplicated, sorted.
pub(crate) fn normalise_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    tags.into_iter()
        .flat_map(|t| t.split([';', ',', ' ']))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// A tag set in Proxmox's stored form, `a;b;c`.
pub(crate) fn join_tags(tags: &BTreeSet<String>) -> String {
    tags.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";")
}

/// Percent-encode everything but RFC 3986 unreserved characters, as Proxmox wants `sshkeys`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undo [`percent_encode`] (and any other percent-encoding); malformed escapes are kept as text.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SSH keys as a comparable list: one trimmed, non-empty line each, in order.
pub(crate) fn key_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_round_trip_and_default_key() {
        let p = Props::parse("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20");
        assert_eq!(p.default, None);
        assert_eq!(p.get("virtio"), Some("BC:24:11:AA:BB:CC"));
        assert_eq!(
            p.to_string(),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,tag=20"
        );
        let m = Props::parse("current=4096");
        assert_eq!(m.default_or("current"), Some("4096"));
        let mut d = Props::parse("local-lvm:vm-1-disk-0,size=32G");
        assert_eq!(d.default.as_deref(), Some("local-lvm:vm-1-disk-0"));
        d.set_default_or("volume", "x");
        assert_eq!(d.to_string(), "x,size=32G");
    }

    #[test]
    fn sizes_like_proxmox() {
        assert_eq!(parse_size("32G"), Some(32 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("x"), None);
        assert_eq!(format_size(32 << 30), "32G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn tags_and_encoding() {
        let t = normalise_tags(["Web,prod", "web", "a b"]);
        assert_eq!(join_tags(&t), "a;b;prod;web");
        let key = "ssh-ed25519 AAAA+/= me@host\nssh-rsa B";
        let enc = percent_encode(key);
        assert!(!enc.contains(' ') && !enc.contains('+'));
        assert_eq!(percent_decode(&enc), key);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(key_lines(" a \n\n b\n"), vec!["a", "b"]);
    }
}
