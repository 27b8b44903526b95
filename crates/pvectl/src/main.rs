//! `pvectl`, the kubectl-like CLI for Proxmox VE.
//!
//! Only `--help` and `--version` exist so far; the commands arrive with the CLI issue. The binary
//! says so instead of pretending to manage anything.

use clap::Parser;

/// A kubectl-like command line for Proxmox VE (commands are not implemented yet).
#[derive(Parser, Debug)]
#[command(name = "pvectl", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("pvectl has no commands yet; see `pvectl --help`")
}
