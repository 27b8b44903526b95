//! Turning a `ProxmoxConnection` and its Secret into Proxmox client settings.
//!
//! The Secret holds either `tokenId` + `tokenSecret` or `username` + `password`. What is wrong
//! with it is said by key name only: values never reach errors, logs, events or status.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kubepve_api::ProxmoxConnectionSpec;
use pve_client::{Auth, Tls};

/// Why a connection's settings cannot be used. Messages name keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret has neither credential pair.
    #[error(
        "secret {secret} has no credentials: set tokenId and tokenSecret (API token), or username and password"
    )]
    Missing {
        /// Secret name.
        secret: String,
    },
    /// The Secret has both pairs, so which one to use is ambiguous.
    #[error("secret {secret} has both an API token and a password: keep only one pair")]
    Ambiguous {
        /// Secret name.
        secret: String,
    },
    /// One half of a pair is missing.
    #[error("secret {secret} has {present} but no {missing}")]
    Incomplete {
        /// Secret name.
        secret: String,
        /// The key that is there.
        present: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// A value is not UTF-8 or is malformed.
    #[error("secret {secret}: key {key} {problem}")]
    Invalid {
        /// Secret name.
        secret: String,
        /// The key.
        key: &'static str,
        /// What is wrong, without the value.
        problem: &'static str,
    },
}

/// Reads the credentials out of `secret`.
pub fn auth_from_secret(secret: &Secret) -> Result<Auth, CredentialsError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    for key in ["tokenId", "tokenSecret", "username", "password"] {
        if let Some(value) = read_key(secret, key, &name)? {
            values.insert(key, value);
        }
    }
    let pair = |a: &'static str, b: &'static str| match (values.get(a), values.get(b)) {
        (Some(x), Some(y)) => Ok(Some((x.clone(), y.clone()))),
        (Some(_), None) => Err(CredentialsError::Incomplete {
            secret: name.clone(),
            present: a,
            missing: b,
        }),
        (None, Some(_)) => Err(CredentialsError::Incomplete {
            secret: name.clone(),
            present: b,
            missing: a,
        }),
        (None, None) => Ok(None),
    };
    match (
        pair("tokenId", "tokenSecret")?,
        pair("username", "password")?,
    ) {
        (Some(_), Some(_)) => Err(CredentialsError::Ambiguous { secret: name }),
        (Some((id, token)), None) => {
            if !id.contains('@') || !id.contains('!') {
                return Err(CredentialsError::Invalid {
                    secret: name,
                    key: "tokenId",
                    problem: "must look like user@realm!tokenname",
                });
            }
            Ok(Auth::token(id, token.as_str()))
        }
        (None, Some((user, password))) => {
            if !user.contains('@') {
                return Err(CredentialsError::Invalid {
                    secret: name,
                    key: "username",
                    problem: "must look like user@realm (for example root@pam)",
                });
            }
            Ok(Auth::password(user, password.as_str()))
        }
        (None, None) => Err(CredentialsError::Missing { secret: name }),
    }
}

/// How the server certificate is checked, from the connection's spec.
pub fn tls_from_spec(spec: &ProxmoxConnectionSpec) -> Tls {
    let tls = &spec.tls;
    if tls.insecure_skip_verify {
        Tls::Insecure
    } else if let Some(fingerprint) = &tls.fingerprint {
        Tls::Fingerprint(fingerprint.clone())
    } else if let Some(ca) = &tls.ca_bundle {
        Tls::CaBundle(ca.clone())
    } else {
        Tls::SystemRoots
    }
}

/// Per-request timeout from the spec.
pub fn request_timeout(spec: &ProxmoxConnectionSpec) -> Duration {
    Duration::from_secs(u64::try_from(spec.limits.request_timeout_seconds.max(1)).unwrap_or(30))
}

fn read_key(
    secret: &Secret,
    key: &'static str,
    name: &str,
) -> Result<Option<String>, CredentialsError> {
    let invalid = |problem| CredentialsError::Invalid {
        secret: name.to_string(),
        key,
        problem,
    };
    let raw = match (
        secret.data.as_ref().and_then(|d| d.get(key)),
        secret.string_data.as_ref().and_then(|d| d.get(key)),
    ) {
        (Some(ByteString(bytes)), _) => {
            String::from_utf8(bytes.clone()).map_err(|_| invalid("is not UTF-8"))?
        }
        (None, Some(text)) => text.clone(),
        (None, None) => return Ok(None),
    };
    let value = raw.trim().to_string();
    if value.is_empty() {
        return Err(invalid("is empty"));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("creds".into()),
                ..Default::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    const TOKEN: &str = "6b0e0c4a-1c5e-4c57-9d0e-9a5cf1f00d11";

    #[test]
    fn token_and_password_pairs() {
        let auth = auth_from_secret(&secret(&[
            ("tokenId", "kubepve@pve!op"),
            ("tokenSecret", TOKEN),
        ]))
        .unwrap();
        assert_eq!(auth.principal(), "kubepve@pve!op");
        let auth = auth_from_secret(&secret(&[
            ("username", "root@pam"),
            ("password", "hunter22\n"),
        ]))
        .unwrap();
        assert_eq!(auth.principal(), "root@pam");
    }

    #[test]
    fn problems_are_named_by_key_and_never_show_values() {
        let cases = [
            (secret(&[]), "has no credentials"),
            (
                secret(&[("tokenId", "kubepve@pve!op")]),
                "has tokenId but no tokenSecret",
            ),
            (
                secret(&[("password", TOKEN)]),
                "has password but no username",
            ),
            (
                secret(&[
                    ("tokenId", "a@pve!b"),
                    ("tokenSecret", TOKEN),
                    ("username", "u@pam"),
                    ("password", TOKEN),
                ]),
                "keep only one pair",
            ),
            (
                secret(&[("tokenId", "no-realm"), ("tokenSecret", TOKEN)]),
                "user@realm!tokenname",
            ),
            (
                secret(&[("tokenId", "a@pve!b"), ("tokenSecret", "  ")]),
                "tokenSecret is empty",
            ),
        ];
        for (secret, expected) in cases {
            let err = auth_from_secret(&secret).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
            assert!(!err.contains(TOKEN), "the secret value leaked: {err}");
        }
    }

    #[test]
    fn secret_values_do_not_appear_in_debug_output() {
        let auth = auth_from_secret(&secret(&[
            ("tokenId", "kubepve@pve!op"),
            ("tokenSecret", TOKEN),
        ]))
        .unwrap();
        assert!(!format!("{auth:?}").contains(TOKEN));
    }

    #[test]
    fn tls_choice_follows_the_spec() {
        let mut spec: ProxmoxConnectionSpec = serde_json::from_value(serde_json::json!({
            "endpoint": "https://pve:8006", "credentialsSecretRef": {"name": "c"}
        }))
        .unwrap();
        assert!(matches!(tls_from_spec(&spec), Tls::SystemRoots));
        spec.tls.ca_bundle = Some("PEM".into());
        assert!(matches!(tls_from_spec(&spec), Tls::CaBundle(_)));
        spec.tls.fingerprint = Some("AA".into());
        assert!(matches!(tls_from_spec(&spec), Tls::Fingerprint(_)));
        assert_eq!(request_timeout(&spec), Duration::from_secs(30));
    }
}
