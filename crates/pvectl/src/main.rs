//! `pvectl`, the kubectl-like CLI for Proxmox VE: connection contexts, guest commands for VMs
//! (`vm`) and containers (`ct`), tasks with visible progress, discovery, and declarative
//! `apply`/`diff`/`export` with the same planner as the kubepve operator. Every mutating
//! command prints its UPIDs, waits with a progress display unless `--no-wait`, honours
//! `--dry-run`, asks before destroying anything unless `--yes`, and appends to a local journal
//! (`pvectl history`, `pvectl rollback`). Exit codes are documented in the `exit` module: 0 ok, 1 failed, 2 usage,
//! 3 partially failed, 4 declined.

#[macro_use]
mod out;

mod apply;
mod backup;
mod bulk;
mod capacity;
mod clone;
mod config;
mod config_keys;
mod create;
mod create_args;
mod describe;
mod discovery;
mod exit;
mod export;
mod guest;
mod history;
mod journal;
mod manifest;
mod migrate;
mod output;
mod params;
mod preflight;
mod prepare;
mod private;
mod progress;
mod rollback;
mod safety;
mod select;
mod snapshot;
mod tasks;
mod update;
mod validate;
mod verbose;

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Connection;
use crate::progress::{Progress, WaitSettings};

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
    context: Option<String>,
    /// The config file (default: $PVECTL_CONFIG, then $XDG_CONFIG_HOME/pvectl/config.yaml).
    #[arg(long, global = true, value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Answer "yes" to confirmation prompts.
    #[arg(short = 'y', long, alias = "confirm", global = true)]
    yes: bool,
    /// Do not wait for tasks: print their UPIDs and return.
    #[arg(long, global = true)]
    no_wait: bool,
    /// How long to wait for each task (`90s`, `10m`, `1h`; plain numbers are seconds).
    #[arg(long, global = true, default_value = "10m", value_parser = parse_duration)]
    wait_timeout: Duration,
    /// Timeout of each API request.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Show each Proxmox request on stderr: method, path, status and time (`-vv` adds retries
    /// and logins). Never bodies or secrets.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// How many guests a bulk command works on at once (default 4), or how many manifests
    /// `apply` converges at once (default 10).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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

/// Parse `90s`, `10m`, `1h`, `500ms` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (t, 1000)
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 1h"))?;
    Ok(Duration::from_millis(n.saturating_mul(mult_ms)))
}

/// What commands that talk to Proxmox get.
pub struct App {
    /// The connection.
    pub conn: Connection,
    /// Task waiting.
    pub wait: WaitSettings,
    /// `--yes`.
    pub yes: bool,
    /// `--parallel` as given (each command has its own default).
    pub parallel: Option<usize>,
    /// The progress display.
    pub progress: Progress,
}

impl App {
    /// A journal record for this command, to be filled and appended.
    pub fn record(&self) -> journal::Record {
        journal::record(&self.conn.context, &self.conn.principal)
    }
}

/// The command line. The commands `ct` shares with `vm` are written once, with `pvectl vm`
/// examples: under `ct` their help says `pvectl ct`; and the create flags shared with `vm
/// create` that speak of templates and clones are worded for containers.
fn cli_command() -> clap::Command {
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

fn main() {
    // Die of SIGPIPE like other Unix tools when stdout is closed, instead of panicking.
    sigpipe::reset();
    let cli = match cli_command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(exit::FAILED);
        }
    };
    verbose::init(cli.verbose);
    let is_diff = matches!(cli.command, Command::Diff(_));
    let result = runtime.block_on(run(cli));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            let code = exit::code_of(&e);
            if is_diff { code.max(exit::USAGE) } else { code }
        }
    };
    if let Some(e) = out::failure() {
        eprintln!("error: cannot write to stdout: {e}");
        let least = if is_diff { exit::USAGE } else { exit::FAILED };
        std::process::exit(code.max(least));
    }
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let path = config::config_path(cli.config_file.as_deref());
    let connect = || -> anyhow::Result<App> {
        let conn = config::connect(&path, cli.context.as_deref(), cli.request_timeout)?;
        let poll = std::env::var("PVECTL_POLL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        Ok(App {
            conn,
            wait: WaitSettings {
                no_wait: cli.no_wait,
                timeout: cli.wait_timeout,
                poll,
            },
            yes: cli.yes,
            parallel: cli.parallel.map(usize::from),
            progress: Progress::new(),
        })
    };
    match cli.command {
        Command::Config(cmd) => config::run(&path, cmd)?,
        Command::History(args) => history::history(&args)?,
        Command::Backup(cmd) => backup::run(cmd)?,
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli_command(), "pvectl", &mut script);
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
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        cli_command().debug_assert();
    }
}
