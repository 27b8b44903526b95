//! The operator's integration suite as one test binary (as cargo's own `tests/testsuite`): one
//! module per area, the shared support (`tests/support/`, also used by `bench/` and
//! `examples/demo`) compiled once instead of once per file. A new test file goes into this folder
//! with a `mod` line below; `layout::every_test_file_is_in_its_crates_suite` checks that.

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/invalid.rs"]
mod invalid;

mod apiserver_crds;
mod bad_input;
mod connection_reconcile;
mod crash_safety;
mod e2e_operator;
mod fake_kube;
mod fake_kube_watch;
mod faults;
mod generated_crds;
mod guest_adoption;
mod guest_backup;
mod guest_calls;
mod guest_deletion;
mod guest_lifecycle;
mod guest_migration;
mod guest_placement;
mod guest_reconcile;
mod guest_resync;
mod guest_safety;
mod layout;
mod packaging_args;
mod security;
mod snapshot_guest_deletion;
mod snapshot_reconcile;
mod snapshot_restore;
mod snapshot_schedule;
mod vmset_reconcile;
