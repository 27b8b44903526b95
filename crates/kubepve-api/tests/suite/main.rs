//! kubepve-api's tests as one test binary (as cargo's own `tests/testsuite`): the CRD schemas,
//! their CEL rules and the samples, one module per area, the support compiled once. A new test
//! file goes into this folder with a `mod` line below.

mod support;

#[path = "../../../../tests/support/invalid.rs"]
mod invalid;

mod cel_rules;
mod invalid_manifests;
mod samples;
mod snapshot_rules;
mod structural;
mod vmset_rules;
