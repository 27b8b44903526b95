//! One file per verb or verb group, each holding its clap arguments and the function that runs
//! it over the services (cargo's `commands/<verb>.rs` over `cargo::ops`). A command uses
//! services only, never another command; the `vm`/`ct` tree that joins several of them is
//! `cli::guest`.

pub mod apply;
pub mod backup;
pub mod config;
pub mod create;
pub mod describe;
pub mod discovery;
pub mod export;
pub mod guest;
pub mod history;
pub mod migrate;
pub mod rollback;
pub mod snapshot;
pub mod tasks;
