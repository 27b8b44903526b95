//! The Proxmox value formats the planner reads and writes: property strings, disk sizes, tag
//! lists and the percent-encoding of `sshkeys`.
//!
//! Property strings and sizes come from `pve-format`, shared with the client; the planner reads
//! property strings leniently: a value Proxmox wrote that does not parse simply compares
//! unequal, and the planner then rewrites it.

use std::collections::BTreeSet;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

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

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode everything but RFC 3986 unreserved characters, as Proxmox wants `sshkeys`.
pub(crate) fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// Undo [`percent_encode`] (and any other percent-encoding); malformed escapes are kept as text.
pub(crate) fn percent_decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
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
        assert_eq!(percent_encode("a b+/~é"), "a%20b%2B%2F~%C3%A9");
        assert_eq!(key_lines(" a \n\n b\n"), vec!["a", "b"]);
    }
}
