//! Proxmox VE API client for kubepve: how the operator and `pvectl` talk to Proxmox.
//!
//! - [`Client`], built with [`Client::builder`]: API token or password/ticket auth ([`Auth`]),
//!   TLS by system roots, CA bundle, SHA-256 fingerprint pin or explicit insecure mode ([`Tls`]),
//!   timeouts, a cap on requests in flight, retries for reads ([`RetryPolicy`]), and a metrics
//!   hook ([`Metrics`], [`CallCounters`]).
//! - Typed calls: version, nodes, storage and content, `/cluster/resources`, `nextid`, pools,
//!   guests through [`Guest`] (QEMU and LXC), tasks ([`Client::wait_task`],
//!   [`Client::watch_task`]).
//! - [`Error`] says what the caller can do: retry, check first, fix parameters, wait for a lock.
//! - [`Upid`], [`PropertyString`], [`parse_size`]/[`format_size`]: PVE's formats, exactly.
//! - Pending changes: [`types::PendingItem::is_change`], [`types::GuestConfig::with_pending`]
//!   and the redacted record a backup keeps ([`redacted_pending`]).
//!
//! Drive a VM through create, start, shutdown and delete:
//!
//! ```no_run
//! use pve_client::{Auth, Client, DeleteOptions, Params, ShutdownOptions, Tls, WaitOptions};
//!
//! # async fn demo() -> Result<(), pve_client::Error> {
//! let pve = Client::builder("https://pve.example:8006", Auth::token("kubepve@pve!op", "uuid-secret"))
//!     .tls(Tls::Fingerprint("AA:BB:...".into()))
//!     .build()?;
//! let vmid = pve.next_id(None).await?;
//! let config = Params::new().set("name", "web").set("memory", 2048).set("scsi0", "local-lvm:32");
//! let wait = WaitOptions::default();
//! pve.wait_task(&pve.create_qemu("pve1", vmid, config).await?, wait).await?;
//! let vm = pve.qemu("pve1", vmid);
//! pve.wait_task(&vm.start().await?, wait).await?;
//! pve.wait_task(&vm.shutdown(ShutdownOptions { timeout: Some(60), force_stop: true }).await?, wait).await?;
//! pve.wait_task(&vm.delete(DeleteOptions { purge: true, ..Default::default() }).await?, wait).await?;
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod base_url;
mod client;
mod error;
mod metrics;
mod params;
mod pending;
mod retry;
mod task;
mod tls;
pub mod types;
mod upid;

pub use api::{CloneOptions, DeleteOptions, Guest, ShutdownOptions};
pub use auth::{Auth, Secret, TICKET_RENEW_AFTER};
pub use base_url::check_server_url;
pub use client::{Client, ClientBuilder, DEFAULT_MAX_IN_FLIGHT};
pub use error::{Error, classify};
pub use metrics::{CallCounters, CallRecord, Metrics};
pub use params::Params;
pub use pending::redacted_pending;
pub use pve_format::{
    GuestKind, PropertyError, PropertyString, REDACTED, SECRET_KEYS, format_size, is_secret_key,
    parse_size, shown,
};
pub use reqwest::Method;
pub use retry::RetryPolicy;
pub use task::{
    TaskFilter, TaskListItem, TaskLogLine, TaskOutcome, TaskProgress, TaskStatus, WaitOptions,
};
pub use tls::{CertRejected, Tls, fingerprint_of, parse_fingerprint};
pub use upid::Upid;
