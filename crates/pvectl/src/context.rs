//! What every command that talks to Proxmox gets, built once per invocation: the connection
//! (the resolved context and its client), how to wait for tasks, `--yes`, `--parallel`, and the
//! progress display. The first ring of services; everything that needs a connection takes an
//! [`App`].

use std::path::Path;
use std::time::Duration;

use crate::config::{self, Connection};
use crate::journal;
use crate::progress::{Progress, WaitSettings};

/// What commands that talk to Proxmox get.
pub struct App {
    /// The connection.
    pub conn: Connection,
    /// Task waiting.
    pub wait: WaitSettings,
    /// `--yes`.
    pub yes: bool,
    /// `--parallel` as given (each command has its own default).
    pub parallel: Option<usize>,
    /// The progress display.
    pub progress: Progress,
}

impl App {
    /// Connect with the context `wanted` (else the current one) of the config file at `path`.
    pub fn connect(
        path: &Path,
        wanted: Option<&str>,
        request_timeout: Duration,
        wait: WaitSettings,
        yes: bool,
        parallel: Option<usize>,
    ) -> anyhow::Result<App> {
        Ok(App {
            conn: config::connect(path, wanted, request_timeout)?,
            wait,
            yes,
            parallel,
            progress: Progress::new(),
        })
    }

    /// A journal record for this command, to be filled and appended.
    pub fn record(&self) -> journal::Record {
        journal::record(&self.conn.context, &self.conn.principal)
    }
}

/// How often task status is polled: `$PVECTL_POLL_MS` (tests make it short), else a second.
pub fn poll_interval() -> Duration {
    std::env::var("PVECTL_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}
