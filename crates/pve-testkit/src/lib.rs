//! Test support for everything in kubepve that talks to Proxmox VE: starts
//! [fakepve](https://pypi.org/project/fakepve/) (a fake PVE API, run as a separate process,
//! never copied) on a free loopback port over real HTTPS, and drives it through the control
//! channel of our launcher (`tools/fakepve/launcher.py`): seeding nodes, storages, templates and
//! guests, API tokens, faults, and the log of requests fakepve saw.
//!
//! Python comes from the project-local venv made by `make venv`: `$KUBEPVE_VENV/bin/python`, or
//! `<workspace>/.venv/bin/python`. Without it (or without fakepve in it) starting fails with a
//! message that says to run `make venv`; tests never skip silently.
//!
//! ```no_run
//! # async fn demo() {
//! let pve = pve_testkit::FakePve::start().await;
//! let token = pve.create_token("root@pam", "ci").await;
//! pve.add_vm(pve_testkit::VmSeed::new(100, "web").running()).await;
//! println!("{} pinned at {}", pve.url(), pve.fingerprint());
//! # let _ = token;
//! # }
//! ```

mod cert;
mod control;
mod process;

pub use cert::fingerprint;
pub use control::{CtSeed, Fault, RecordedRequest, TaskSeed, Token, VmSeed};
pub use process::{FakePve, FakePveBuilder};

/// Why the fake could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The venv or its Python is missing.
    #[error("no Python venv with fakepve at {path}: run `make venv` (or set KUBEPVE_VENV)")]
    VenvMissing {
        /// Where the Python interpreter was looked for.
        path: String,
    },
    /// The launcher exited or never said it was ready.
    #[error("fakepve launcher did not start: {reason}\n--- launcher stderr ---\n{stderr}")]
    Launch {
        /// What went wrong.
        reason: String,
        /// What the launcher printed on stderr (it says "run `make venv`" when fakepve is absent).
        stderr: String,
    },
    /// Creating the test certificate failed.
    #[error("test PKI: {0}")]
    Pki(String),
    /// A file or process operation failed.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
    /// A control-channel call failed.
    #[error("fakepve control op `{op}` failed: {message}")]
    Control {
        /// The op name.
        op: String,
        /// The launcher's or the transport's message.
        message: String,
    },
}
