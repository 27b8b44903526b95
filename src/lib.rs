//! The kubepve operator: controllers that make Proxmox VE match `ProxmoxVM`,
//! `ProxmoxContainer` and `ProxmoxConnection` objects (and the snapshot kinds, and
//! `ProxmoxVMSet`, which keeps a number of ProxmoxVMs).
//!
//! One reconcile runs observe -> plan -> act -> status: only the ends do I/O, and the planning in
//! between is the pure `kubepve-plan` crate shared with `pvectl`.

pub mod conditions;
pub mod connection;
pub mod context;
pub mod controller;
pub mod finalizer;
pub mod guest;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod server;
pub mod snapshot;
pub mod vmset;
