//! `make demo`: kubepve's main job on a local default, with no cluster and no Proxmox.
//!
//! Part 1 (`cli.rs`): `pvectl` against a fake Proxmox VE (fakepve over HTTPS on a loopback port,
//! seeded with a cloud-init template, an LXC template and an installer ISO): a context, `apply` of
//! `config/samples/` with the operator's planner, listings, a task log, an update with
//! `--dry-run`, deletes, and the journal.
//! Part 2 (`operator.rs`): the operator's reconcile loop on the same samples, in an in-memory
//! stand-in for the Kubernetes API, from nothing to Ready and back to nothing.
//!
//! `PVECTL` names the pvectl binary (the Makefile builds it first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/support/mod.rs"]
mod support;

mod cli;
mod operator;

#[tokio::main]
async fn main() {
    println!("== Part 1: pvectl, the kubectl-like CLI\n");
    cli::run().await;
    println!(
        "\n== Part 2: the operator's reconcile loop (ProxmoxVM and ProxmoxContainer objects)\n"
    );
    operator::run().await;
}
