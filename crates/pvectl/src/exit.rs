//! Exit codes and the errors that carry them.
//!
//! `pvectl` exits with 0 when everything worked, 1 when an operation failed (Proxmox refused, a
//! task ended in error, a guest was not found), 2 for usage and configuration errors (bad flags,
//! no context, unreadable file), 3 when a bulk operation failed for some guests and worked for
//! others, and 4 when the user declined a confirmation prompt. `pvectl diff` follows `kubectl
//! diff`: 0 no differences, 1 differences found, and 2 or more when it could not compute them.
//! Errors that are not one of the typed ones below are operation failures (exit 1).

use std::fmt;

/// Everything worked.
pub const OK: i32 = 0;
/// An operation failed.
pub const FAILED: i32 = 1;
/// The command line or the configuration is wrong.
pub const USAGE: i32 = 2;
/// A bulk operation failed for some guests and worked for others.
pub const PARTIAL: i32 = 3;
/// The user answered "no" at a confirmation prompt (or there was nobody to ask).
pub const ABORTED: i32 = 4;

/// An error with an explicit exit code. The message says what to fix.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: i32,
    /// What to print (empty: nothing more to say, the details were already printed).
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: USAGE,
        message: message.into(),
    }
    .into()
}

/// A failed operation whose details were already printed (exit 1, or another code).
pub fn quiet(code: i32) -> anyhow::Error {
    Exit {
        code,
        message: String::new(),
    }
    .into()
}

/// The exit code for an error: its own code if it has one, else 1.
pub fn code_of(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Exit>().map_or(FAILED, |e| e.code)
}

/// The exit code of a bulk operation from the number of guests that succeeded and failed.
pub fn bulk_code(ok: usize, failed: usize) -> i32 {
    match (ok, failed) {
        (_, 0) => OK,
        (0, _) => FAILED,
        _ => PARTIAL,
    }
}

/// The journal outcome of a bulk operation: `ok`, `partial` or `failed`.
pub fn bulk_outcome(ok: usize, failed: usize) -> &'static str {
    match bulk_code(ok, failed) {
        OK => "ok",
        PARTIAL => "partial",
        _ => "failed",
    }
}

/// The end of a bulk operation where `refused` of the `failed` were refused for bad input:
/// nothing done and only bad input is a usage error (exit 2), else as [`bulk_result`].
pub fn bulk_finish(ok: usize, failed: usize, refused: usize) -> anyhow::Result<()> {
    if ok == 0 && failed > 0 && refused == failed {
        return Err(quiet(USAGE));
    }
    bulk_result(ok, failed)
}

/// The error for a bulk result that is not a full success; `None` when all worked.
pub fn bulk_result(ok: usize, failed: usize) -> anyhow::Result<()> {
    match bulk_code(ok, failed) {
        OK => Ok(()),
        code => Err(quiet(code)),
    }
}

/// The context this process connected with, for hints that name the command to run.
static CONNECTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Note the context pvectl connected with.
pub fn connected_with(context: &str) {
    let _ = CONNECTED.set(context.to_string());
}

/// The context for a hint; `NAME` before a connection or for one made from `PVE_URL` alone.
fn context_for_hint() -> &'static str {
    CONNECTED
        .get()
        .map(String::as_str)
        .filter(|n| *n != "env")
        .unwrap_or("NAME")
}

/// A hint for a Proxmox error: what the user can do about it.
pub fn hint(err: &pve_client::Error) -> Option<String> {
    use pve_client::Error as E;
    Some(match err {
        E::Auth { .. } => {
            "check the token or password of the context (`pvectl config get-contexts`)".into()
        }
        E::Permission { message } if !message.contains("does not exist") => {
            "the user or token lacks a privilege on this path".into()
        }
        E::NotSent { .. } => "could not connect: check the URL, the network and the TLS \
                              settings (`--ca-file`, `--fingerprint`)"
            .into(),
        E::Tls(r) if r.pinned.is_some() => format!(
            "if the server's certificate was replaced on purpose, compare the fingerprint with \
             `pvenode cert info` on the node, then pin it: `pvectl config set-context {} \
             --fingerprint {}`; otherwise something may be intercepting the connection",
            context_for_hint(),
            r.presented
        ),
        E::Tls(r) => format!(
            "to trust it, pin it: `pvectl config set-context {} --fingerprint {}` (or \
             --ca-file with the cluster's CA, /etc/pve/pve-root-ca.pem)",
            context_for_hint(),
            r.presented
        ),
        E::TlsRejected { .. } => {
            "the TLS handshake failed: check that the URL names Proxmox's HTTPS port (8006) \
             and the TLS settings (`--ca-file`, `--fingerprint`)"
                .into()
        }
        E::Locked { .. } | E::LockTimeout { .. } => {
            "another operation holds the guest; wait for it (`pvectl task list --running`)".into()
        }
        E::GuestRunning { .. } => "stop the guest first, or pass --force".into(),
        E::Protected { .. } => {
            "clear protection first: `pvectl vm|ct update ID --set protection=0`".into()
        }
        _ => return None,
    })
}

/// "WHAT: the Proxmox error (hint)".
pub fn pve_err(what: &str, e: pve_client::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", describe(&e))
}

/// A Proxmox error with its hint, as one message.
pub fn describe(err: &pve_client::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    match hint(err) {
        Some(h) => format!("{text} ({h})"),
        None => text,
    }
}
