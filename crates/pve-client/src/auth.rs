//! Credentials and the ticket session. Secrets live in [`Secret`], whose `Debug` and `Display`
//! never show the value, so they cannot leak through errors, logs or `{:?}` of the client.
//!
//! API tokens are stateless (`Authorization: PVEAPIToken=ID=SECRET`, no CSRF). Password logins
//! get a ticket from `POST /access/ticket`, sent as the `PVEAuthCookie` cookie, plus the
//! `CSRFPreventionToken` header on every write; tickets live 2 h, so the client renews them
//! after [`TICKET_RENEW_AFTER`].

use std::fmt;
use std::time::{Duration, Instant};

/// Renew a ticket once it is this old (PVE's lifetime is 2 h; proxmoxer renews at 1 h).
pub const TICKET_RENEW_AFTER: Duration = Duration::from_secs(3600);

/// A secret string: the value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for putting on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// How the client logs in.
#[derive(Clone, Debug)]
pub enum Auth {
    /// An API token: `user@realm!tokenid` and its secret.
    Token {
        /// `user@realm!tokenid`.
        id: String,
        /// The token's secret (a UUID).
        secret: Secret,
    },
    /// A user and password, exchanged for a ticket.
    Password {
        /// `user@realm`.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl Auth {
    /// API token credentials.
    pub fn token(id: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Auth::Token {
            id: id.into(),
            secret: secret.into(),
        }
    }

    /// Password credentials.
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Auth::Password {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user (or token) id, safe to log.
    pub fn principal(&self) -> &str {
        match self {
            Auth::Token { id, .. } => id,
            Auth::Password { username, .. } => username,
        }
    }
}

/// A ticket from `POST /access/ticket`.
#[derive(Clone)]
pub(crate) struct Ticket {
    pub(crate) ticket: Secret,
    pub(crate) csrf: Secret,
    pub(crate) issued: Instant,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("age", &self.issued.elapsed())
            .finish_non_exhaustive()
    }
}

impl Ticket {
    pub(crate) fn needs_renewal(&self, renew_after: Duration) -> bool {
        self.issued.elapsed() >= renew_after
    }
}

/// The answer of `POST /access/ticket`.
#[derive(serde::Deserialize)]
pub(crate) struct TicketAnswer {
    pub(crate) ticket: String,
    #[serde(rename = "CSRFPreventionToken")]
    pub(crate) csrf: String,
    #[serde(rename = "NeedTFA", default)]
    pub(crate) need_tfa: Option<serde_json::Value>,
}
