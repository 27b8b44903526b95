//! The command line: the clap tree (global flags, the verbs, the `vm`/`ct` subtree in
//! [`guest`]) and the dispatch from a parsed command line to the command that runs it. Commands
//! that talk to Proxmox get a connected [`App`]; `config`, `history`, `backup` and `completion`
//! work offline.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::App;
use crate::commands::{apply, backup, config, discovery, export, history, rollback, tasks};
use crate::config::config_path;
use crate::context;
use crate::exit;
use crate::progress::WaitSettings;

mod guest;

const EXAMPLES: &str = "\
Examples:
  pvectl config set-context lab --server https://pve1:8006 --token-id 'ops@pve!cli' \\
      --token-secret-file ~/.pve-token --fingerprint AA:BB:... --use
  pvectl vm list -l env=prod -o wide
  pvectl vm start 150,151 --no-wait
  pvectl vm delete web-01 --force
  pvectl task watch UPID:pve1:...
  pvectl apply -f config/samples/ --dry-run

Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 bulk operation
partially failed, 4 confirmation declined (`diff`: 0 no changes, 1 changes, 2 error).";

/// A kubectl-like command line for Proxmox VE.
#[derive(Parser, Debug)]
#[command(name = "pvectl", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The context to use (default: $PVECTL_CONTEXT, then the config's current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The config file (default: $PVECTL_CONFIG, then $XDG_CONFIG_HOME/pvectl/config.yaml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Answer "yes" to confirmation prompts.
    #[arg(short = 'y', long, alias = "confirm", global = true)]
    pub yes: bool,
    /// Do not wait for tasks: print their UPIDs and return.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// How long to wait for each task (`90s`, `10m`, `1h`; plain numbers are seconds).
    #[arg(long, global = true, default_value = "10m", value_parser = crate::args::parse_duration)]
    pub wait_timeout: Duration,
    /// Timeout of each API request.
    #[arg(long, global = true, default_value = "30s", value_parser = crate::args::parse_duration)]
    pub request_timeout: Duration,
    /// Show each Proxmox request on stderr: method, path, status and time (`-vv` adds retries
    /// and logins). Never bodies or secrets.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// How many guests a bulk command works on at once (default 4), or how many manifests
    /// `apply` converges at once (default 10).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage connection contexts (like kubeconfig).
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// QEMU virtual machines.
    #[command(subcommand, visible_alias = "vms")]
    Vm(guest::VmCommand),
    /// LXC containers.
    #[command(subcommand, visible_alias = "container", alias = "containers")]
    Ct(guest::CtCommand),
    /// Proxmox tasks: list, watch, logs, stop.
    #[command(subcommand, visible_alias = "tasks")]
    Task(tasks::TaskCommand),
    /// Cluster nodes.
    #[command(subcommand, visible_alias = "nodes")]
    Node(discovery::NodeCommand),
    /// Storages and their content (templates, ISOs, disks).
    #[command(subcommand)]
    Storage(discovery::StorageCommand),
    /// The server's Proxmox VE version (and a credentials check).
    Version(discovery::VersionArgs),
    /// Make Proxmox match ProxmoxVM/ProxmoxContainer manifests, with the operator's planner.
    ///
    /// Examples:
    ///   pvectl apply -f config/samples/
    ///   pvectl apply -f vm.yaml --secret-file secrets.yaml --dry-run
    #[command(verbatim_doc_comment)]
    Apply(apply::ApplyArgs),
    /// Show what `apply` would change (exit 0: nothing, 1: changes, 2: error).
    ///
    /// Example: pvectl diff -f config/samples/
    Diff(apply::DiffArgs),
    /// Print a guest as a manifest that `apply` leaves unchanged.
    ///
    /// Examples:
    ///   pvectl export vm 150 > web-01.yaml
    ///   pvectl export ct dns-01 -o json
    #[command(verbatim_doc_comment)]
    Export(export::ExportArgs),
    /// Configuration backups pvectl saved before deleting guests or removing config keys.
    ///
    /// Examples:
    ///   pvectl backup list --guest 150
    ///   pvectl backup show vm-150-20250131T120000Z-delete.json
    #[command(subcommand, visible_alias = "backups", verbatim_doc_comment)]
    Backup(backup::BackupCommand),
    /// List the operations journal (every mutating command, its guests, tasks and config changes).
    ///
    /// Examples:
    ///   pvectl history --guest 150
    ///   pvectl history --failed --since 2d -o json
    ///   pvectl history --since 2025-01-31T09:00:00+01:00 --command delete
    #[command(verbatim_doc_comment)]
    History(history::HistoryArgs),
    /// Put back a guest's settings as the journal recorded them (dry run, then a confirmation).
    ///
    /// Without --to, undoes the newest recorded change of the guest; --to OPERATION restores
    /// the config as that operation left it. Disks and secrets are not rolled back.
    ///
    /// Examples:
    ///   pvectl history --guest 150
    ///   pvectl rollback vm 150 --dry-run
    ///   pvectl rollback vm 150 --to 42
    #[command(verbatim_doc_comment)]
    Rollback(rollback::RollbackArgs),
    /// Print a shell completion script.
    ///
    /// Example: pvectl completion bash > /etc/bash_completion.d/pvectl
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The command line. The commands `ct` shares with `vm` are written once, with `pvectl vm`
/// examples: under `ct` their help says `pvectl ct`; and the create flags shared with `vm
/// create` that speak of templates and clones are worded for containers.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand("ct", |ct| {
        let shared: Vec<String> = ct
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|n| n != "create")
            .collect();
        let ct = shared.iter().fold(ct, |ct, name| {
            ct.mut_subcommand(name, |c| match c.get_long_about().map(|a| a.to_string()) {
                Some(about) => c.long_about(about.replace("pvectl vm ", "pvectl ct ")),
                None => c,
            })
        });
        ct.mut_subcommand("create", |c| {
            c.mut_arg("node", |a| {
                a.help("The node (default: the context's node, or the only online node)")
            })
            .mut_arg("storage", |a| {
                a.help("The default storage for the root disk (when --rootfs names none)")
            })
        })
    })
}

/// Run the parsed command line; the exit code on success.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let path = config_path(cli.config_file.as_deref());
    let connect = || {
        let wait = WaitSettings {
            no_wait: cli.no_wait,
            timeout: cli.wait_timeout,
            poll: context::poll_interval(),
        };
        let parallel = cli.parallel.map(usize::from);
        App::connect(
            &path,
            cli.context.as_deref(),
            cli.request_timeout,
            wait,
            cli.yes,
            parallel,
        )
    };
    match cli.command {
        Command::Config(cmd) => config::run(&path, cmd)?,
        Command::History(args) => history::history(&args)?,
        Command::Backup(cmd) => backup::run(cmd)?,
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command(), "pvectl", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
        }
        Command::Vm(cmd) => guest::run_vm(&connect()?, cmd).await?,
        Command::Ct(cmd) => guest::run_ct(&connect()?, cmd).await?,
        Command::Task(cmd) => tasks::run(&connect()?, cmd).await?,
        Command::Node(cmd) => discovery::node(&connect()?, cmd).await?,
        Command::Storage(cmd) => discovery::storage(&connect()?, cmd).await?,
        Command::Version(args) => discovery::version(&connect()?, &args).await?,
        Command::Apply(args) => apply::apply(&connect()?, &args).await?,
        Command::Diff(args) => return apply::diff(&connect()?, &args).await,
        Command::Export(args) => export::export(&connect()?, &args).await?,
        Command::Rollback(args) => rollback::rollback(&connect()?, &args).await?,
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }
}
