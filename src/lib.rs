//! The kubepve operator: controllers that make Proxmox VE match `ProxmoxVM`,
//! `ProxmoxContainer` and `ProxmoxConnection` objects (and the snapshot kinds, and
//! `ProxmoxVMSet`, which keeps a number of ProxmoxVMs).
//!
//! One reconcile runs observe -> plan -> act -> status: only the ends do I/O, and the planning in
//! between is the pure `kubepve-plan` crate shared with `pvectl`.
//!
//! Modules import downwards only, in rings: at the bottom `conditions`, `controller`,
//! `duration`, `finalizer`, `memory`, `metrics` and `writes`; then `proxmox` (the connection registry and
//! the resync pace) and `server`; then `context` (what every controller shares) and `status`;
//! then the controllers `connection` and `guest`, with `snapshot` and `schedule` above `guest`
//! (they act on its guests and run with its context); `run` wires them together.

pub mod conditions;
pub mod connection;
pub mod context;
pub mod controller;
pub mod duration;
pub mod finalizer;
pub mod guest;
pub mod memory;
pub mod metrics;
pub mod proxmox;
pub mod run;
pub mod schedule;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod vmset;
pub mod writes;
