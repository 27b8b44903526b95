//! Which guest config values are secrets, and the one text shown instead of them: in plans,
//! diffs, events, status, journals, backups and every `pvectl` output.

/// What every printed or stored form shows instead of a secret value. Backup documents already
/// on disk carry this text, and a restore recognises it, so it must not change.
pub const REDACTED: &str = "(redacted)";

/// The config keys whose values are secrets: the cloud-init password (`cipassword`), a
/// container's root `password`, and `sshkeys` (kubepve takes them from Kubernetes Secrets).
pub const SECRET_KEYS: &[&str] = &["cipassword", "password", "sshkeys"];

/// Whether the value of config key `key` is a secret that must never be shown, logged or
/// stored in a backup.
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// `text`, or [`REDACTED`] when `key` holds a secret.
pub fn shown<'a>(key: &str, text: &'a str) -> &'a str {
    if is_secret_key(key) { REDACTED } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_shown_redacted_and_the_rest_as_is() {
        for key in ["cipassword", "password", "sshkeys"] {
            assert!(is_secret_key(key), "{key}");
            assert_eq!(shown(key, "hunter2"), REDACTED);
        }
        assert!(!is_secret_key("ciuser"));
        assert_eq!(shown("memory", "4096"), "4096");
    }
}
