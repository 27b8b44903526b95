//! The client's error type and the classification of Proxmox's answers into it.
//!
//! PVE signals most failures with HTTP 500 and a one-line message in the reason phrase (newer
//! servers also put it in the JSON `message`). What a caller can do depends on the wording, so
//! [`classify`] reads the reason phrase first, falls back to `message`, and maps PVE's exact
//! phrases (see `shared/reference/pve-api-notes.md` §3, §5, §7) to a variant.

use std::collections::BTreeMap;

/// What went wrong, shaped by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured (bad URL, bad PEM, bad fingerprint).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The request never reached Proxmox (connect failure, reset during the handshake): safe
    /// to retry.
    #[error("request not sent")]
    NotSent {
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake refused the server's certificate (a pin mismatch, no trusted CA), so
    /// nothing was sent; the rejection names the fingerprint the server presented. Repeating
    /// it cannot help until the settings or the certificate change.
    #[error("{0}")]
    Tls(crate::tls::CertRejected),
    /// The TLS handshake failed for another reason (the two sides share no protocol, say).
    /// Nothing was sent, and repeating it cannot help until the settings or the server change.
    #[error("TLS handshake refused the server")]
    TlsRejected {
        /// The transport error (its chain holds the TLS error).
        #[source]
        source: reqwest::Error,
    },
    /// The request was sent but no answer arrived (timeout, reset): it may or may not have
    /// happened. Check before repeating a write.
    #[error("request sent, outcome unknown")]
    UnknownOutcome {
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// 401: the credentials were refused (bad token, expired ticket, missing CSRF token).
    #[error("authentication failed: {message}")]
    Auth {
        /// PVE's message.
        message: String,
    },
    /// 403: logged in, but not allowed.
    #[error("permission denied: {message}")]
    Permission {
        /// PVE's message, e.g. `Permission check failed (/vms/100, VM.PowerMgmt)`.
        message: String,
    },
    /// 400: parameters rejected, with PVE's message per field.
    #[error("invalid parameters: {message} {errors:?}")]
    InvalidParams {
        /// Usually `Parameter verification failed.`.
        message: String,
        /// Field name to PVE's message for that field.
        errors: BTreeMap<String, String>,
    },
    /// The guest, node, storage, pool, task or file does not exist.
    #[error("not found: {message}")]
    NotFound {
        /// PVE's message.
        message: String,
    },
    /// The guest (or id) already exists.
    #[error("already exists: {message}")]
    AlreadyExists {
        /// PVE's message.
        message: String,
    },
    /// The guest has a config lock (`backup`, `clone`, `create`, ...).
    #[error("guest is locked ({lock})")]
    Locked {
        /// The lock's name.
        lock: String,
        /// PVE's message.
        message: String,
    },
    /// The guest's config file lock could not be taken in time: another operation is running.
    #[error("config lock timeout: {message}")]
    LockTimeout {
        /// PVE's message.
        message: String,
    },
    /// The operation needs a stopped guest.
    #[error("guest is running: {message}")]
    GuestRunning {
        /// PVE's message.
        message: String,
    },
    /// The operation needs a running guest.
    #[error("guest is not running: {message}")]
    GuestNotRunning {
        /// PVE's message.
        message: String,
    },
    /// The config changed since the digest the caller sent.
    #[error("config changed concurrently: {message}")]
    DigestMismatch {
        /// PVE's message.
        message: String,
    },
    /// `protection` is set on the guest.
    #[error("guest is protected: {message}")]
    Protected {
        /// PVE's message.
        message: String,
    },
    /// The node behind the API endpoint could not be reached (595-599 from PVE's proxy).
    #[error("node unreachable ({status}): {message}")]
    NodeUnreachable {
        /// The pseudo status.
        status: u16,
        /// The reason.
        message: String,
    },
    /// Any other error answer.
    #[error("proxmox error {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// PVE's message.
        message: String,
    },
    /// The answer could not be read as the expected type.
    #[error("unexpected response from {path}: {message}")]
    Decode {
        /// The API path.
        path: String,
        /// What did not match.
        message: String,
    },
    /// A task ended with `TASK ERROR`.
    #[error("task {upid} failed: {exit_status}")]
    TaskFailed {
        /// The task.
        upid: String,
        /// PVE's exit status (the text after `TASK ERROR: `).
        exit_status: String,
    },
    /// Waiting for a task ran out of time; the task may still be running.
    #[error("timed out waiting for task {upid}")]
    TaskTimeout {
        /// The task.
        upid: String,
    },
    /// A UPID string did not parse.
    #[error("invalid UPID {0:?}")]
    InvalidUpid(String),
}

impl Error {
    /// Safe to repeat whatever the method: Proxmox never saw the request, or rejected it before
    /// acting (a config lock wait that timed out).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NotSent { .. } | Error::LockTimeout { .. })
    }

    /// Likely to pass on a later attempt. For reads this is what the client retries; a write
    /// with such an error must be checked (did it happen?) before it is repeated.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::NotSent { .. }
            | Error::UnknownOutcome { .. }
            | Error::LockTimeout { .. }
            | Error::NodeUnreachable { .. } => true,
            Error::Api { status, message } => {
                matches!(status, 502..=504) || message.contains("no quorum")
            }
            _ => false,
        }
    }

    /// Will not fix itself by waiting: the settings, the credentials or the server's certificate
    /// must change first (a pin mismatch, an unknown CA, refused credentials, a missing
    /// permission). Callers should not repeat it soon: report it and back off.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::Tls(_)
                | Error::TlsRejected { .. }
                | Error::Auth { .. }
                | Error::Permission { .. }
        )
    }

    /// The thing does not exist (already gone counts as success for deletes).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The HTTP status Proxmox answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Error::Auth { .. } => 401,
            Error::Permission { .. } => 403,
            Error::InvalidParams { .. } => 400,
            Error::NodeUnreachable { status, .. } | Error::Api { status, .. } => *status,
            Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::Locked { .. }
            | Error::LockTimeout { .. }
            | Error::GuestRunning { .. }
            | Error::GuestNotRunning { .. }
            | Error::DigestMismatch { .. }
            | Error::Protected { .. } => 500,
            _ => return None,
        })
    }

    /// A short label for metrics: `ok` is never produced here.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::NotSent { .. } => "not_sent",
            Error::Tls(_) | Error::TlsRejected { .. } => "tls_rejected",
            Error::UnknownOutcome { .. } => "unknown_outcome",
            Error::Auth { .. } => "auth",
            Error::Permission { .. } => "permission",
            Error::InvalidParams { .. } => "invalid_params",
            Error::NotFound { .. } => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Locked { .. } => "locked",
            Error::LockTimeout { .. } => "lock_timeout",
            Error::GuestRunning { .. } => "guest_running",
            Error::GuestNotRunning { .. } => "guest_not_running",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::Protected { .. } => "protected",
            Error::NodeUnreachable { .. } => "node_unreachable",
            Error::Api { .. } => "api",
            Error::Decode { .. } => "decode",
            Error::TaskFailed { .. } => "task_failed",
            Error::TaskTimeout { .. } => "task_timeout",
            Error::InvalidUpid(_) => "invalid_upid",
        }
    }

    /// Map a transport error: connect failures never left the client, and a TLS refusal is
    /// told apart from them because retrying it is pointless.
    pub(crate) fn transport(source: reqwest::Error) -> Self {
        if let Some(rejected) = crate::tls::rejection_in(&source) {
            Error::Tls(rejected)
        } else if source.is_connect() && tls_refusal(&source) {
            Error::TlsRejected { source }
        } else if source.is_connect() {
            Error::NotSent { source }
        } else if source.is_builder() {
            Error::Config(source.to_string())
        } else {
            Error::UnknownOutcome { source }
        }
    }
}

/// Whether the chain of `error` holds a rustls error: the handshake refused the server. An
/// `io::Error` hides what it wraps from `source()` (it skips one link), so the walk goes into
/// what it wraps instead.
fn tls_refusal(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(link) = next {
        if link.is::<rustls::Error>() {
            return true;
        }
        next = match link
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(wrapped) => Some(wrapped),
            None => link.source(),
        };
    }
    false
}

/// The parts of an error answer [`classify`] reads.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<BTreeMap<String, serde_json::Value>>,
}

/// Turn an error answer into an [`Error`]. `reason` is the reason phrase when it differs from
/// the standard one for the status (PVE puts its message there); `body` is the raw body.
pub fn classify(status: u16, reason: Option<&str>, body: &[u8]) -> Error {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let body_text = || {
        let text = String::from_utf8_lossy(body).trim().to_string();
        // Errors raised before PVE's API handler come as the raw text, not JSON.
        (!text.is_empty() && !text.starts_with('{')).then_some(text)
    };
    let message = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .or_else(|| parsed.message.as_deref().map(|m| m.trim().to_string()))
        .or_else(body_text)
        .unwrap_or_else(|| http_reason(status).unwrap_or("unknown error").to_string());
    let errors: BTreeMap<String, String> = parsed
        .errors
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    match status {
        401 => Error::Auth { message },
        403 => Error::Permission { message },
        400 => Error::InvalidParams { message, errors },
        595..=599 => Error::NodeUnreachable { status, message },
        _ => classify_text(status, message),
    }
}

/// Classify a 5xx (or any other) message by PVE's wording.
fn classify_text(status: u16, message: String) -> Error {
    let lower = message.to_ascii_lowercase();
    if let Some(lock) = locked_name(&message) {
        return Error::Locked { lock, message };
    }
    if lower.starts_with("can't lock file") && lower.contains("got timeout") {
        return Error::LockTimeout { message };
    }
    if lower.contains("protection mode enabled") {
        return Error::Protected { message };
    }
    if lower.contains("checksum mismatch") || lower.contains("file changed by other user") {
        return Error::DigestMismatch { message };
    }
    if lower.contains("already exists") || lower.contains("config file already exists") {
        return Error::AlreadyExists { message };
    }
    // "not running" before "running": `VM 100 not running` must not read as running.
    if lower.contains("not running") {
        return Error::GuestNotRunning { message };
    }
    if lower.contains("is running")
        || lower.contains("already running")
        || lower.contains("container is running")
    {
        return Error::GuestRunning { message };
    }
    if lower.contains("does not exist")
        || lower.starts_with("no such")
        || lower.contains("unable to parse worker upid")
    {
        return Error::NotFound { message };
    }
    Error::Api { status, message }
}

/// `VM is locked (backup)` / `CT is locked (create)` -> `backup` / `create`.
fn locked_name(message: &str) -> Option<String> {
    let start = message.find("is locked (")? + "is locked (".len();
    let end = message[start..].find(')')? + start;
    Some(message[start..end].to_string())
}

fn http_reason(status: u16) -> Option<&'static str> {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
}
