//! `kubepve`, the operator binary. `kubepve crd` prints (or writes) the CustomResourceDefinitions;
//! `kubepve run`, the controllers, arrives with the operator issue.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Kubernetes operator for Proxmox VE guests.
#[derive(Parser, Debug)]
#[command(name = "kubepve", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print every CRD as multi-document YAML, or write one file per CRD with --out-dir.
    Crd {
        /// Write `<plural>.kubepve.io.yaml` files into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { out_dir: None } => {
            print!("{}", kubepve_api::crds::all_to_yaml()?);
        }
        Command::Crd { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in kubepve_api::crds::all()? {
                let path = dir.join(kubepve_api::crds::file_name(&crd));
                std::fs::write(&path, kubepve_api::crds::to_yaml(&crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}
