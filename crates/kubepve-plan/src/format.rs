//! The Proxmox value formats the planner reads and writes: property strings, disk sizes, tag
//! lists and the percent-encoding of `sshkeys`.
//!
//! Property strings and sizes come from `pve-format`, shared with the client; the planner reads
//! property strings leniently: a value Proxmox wrote that does not parse simply compares
//! unequal, and the planner then rewrites it.

use std::collections::BTreeSet;

/// Property strings as the planner reads them (leniently: see
/// [`pve_format::PropertyString::parse_lenient`]).
pub(crate) use pve_format::PropertyString as Props;
pub(crate) use pve_format::{format_size, parse_size};

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
