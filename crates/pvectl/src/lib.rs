//! `pvectl`, the kubectl-like CLI for Proxmox VE, as a library with a thin binary on top: connection
//! contexts, guest commands for VMs (`vm`) and containers (`ct`), tasks with visible progress,
//! discovery, and declarative `apply`/`diff`/`export` with the same planner as the kubepve
//! operator. Every mutating command prints its UPIDs, waits with a progress display unless
//! `--no-wait`, honours `--dry-run`, asks before destroying anything unless `--yes`, and appends
//! to a local journal (`pvectl history`, `pvectl rollback`). Exit codes are documented in the
//! [`exit`] module: 0 ok, 1 failed, 2 usage, 3 partially failed, 4 declined.
//!
//! Layers, each using only the ones below it (kubectl's rings):
//! - [`cli`]: the clap tree and the dispatch to commands;
//! - [`commands`]: one file per verb group, arguments and `run`, over the services;
//! - services: [`context`] (the connected [`App`]), [`converge`] (the observe-plan-execute loop
//!   behind `apply`, `diff` and `create -f`), [`reconfigure`] (config changes for `update` and
//!   `rollback`), [`bulk`], [`safety`], [`backups`], [`journal`], [`select`], [`capacity`],
//!   [`preflight`], [`prepare`], [`clone`], [`manifest`], [`validate`], [`config_keys`],
//!   [`params`], [`progress`];
//! - the base: [`config`] (contexts and connection), [`args`] (shared argument groups),
//!   [`output`] and [`out`] (printing), [`exit`] (errors and exit codes), [`private`] (owner-only
//!   files), [`verbose`] (`-v` request logging).

#[macro_use]
pub mod out;

pub mod args;
pub mod backups;
pub mod bulk;
pub mod capacity;
pub mod cli;
pub mod clone;
pub mod commands;
pub mod config;
pub mod config_keys;
pub mod context;
pub mod converge;
pub mod exit;
pub mod journal;
pub mod manifest;
pub mod output;
pub mod params;
pub mod preflight;
pub mod prepare;
pub mod private;
pub mod progress;
pub mod reconfigure;
pub mod safety;
pub mod select;
pub mod validate;
pub mod verbose;

pub use context::App;
