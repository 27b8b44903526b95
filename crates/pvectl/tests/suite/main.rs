//! pvectl's tests as one test binary (as cargo's own `tests/testsuite`): the real `pvectl` binary
//! against fakepve, one module per area, `common` compiled once instead of once per file. A new
//! test file goes into this folder with a `mod` line below.

mod common;

#[path = "../../../../tests/support/invalid.rs"]
mod invalid;

mod adopt;
mod apply;
mod apply_parallel;
mod backup;
mod bad_input;
mod commands;
mod config;
mod confirm;
mod connect_errors;
mod create;
mod create_checks;
mod discovery;
mod disk_replace;
mod dry_run;
mod formats;
mod guests;
mod interrupt;
mod journal;
mod journal_links;
mod manifest_checks;
mod migrate;
mod pipes_and_selectors;
mod progress;
mod request_counts;
mod secrets;
mod snapshots;
mod tasks;
mod verbose;
