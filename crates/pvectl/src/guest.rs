//! The `vm` and `ct` command groups: each has its own `create` (flags in `create_args`, the
//! work in `create`) and shares the rest; `list`/`get` here, `describe` in `describe`, power
//! commands and `delete` through the bulk runner (`bulk`), `update` in `update`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::App;
use crate::bulk::{self, Action};
use crate::create;
use crate::create_args::{CtCreateArgs, Only, VmCreateArgs};
use crate::output::{self, OutputFormat, Table};
use crate::safety;
use crate::select::{self, GuestInfo, Selection};
use crate::update::{self, UpdateArgs};

/// `pvectl vm ...`.
#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Create a VM from flags, by cloning, or from a file (VMID allocated when omitted).
    ///
    /// Examples:
    ///   pvectl vm create --name web-02 --cores 2 --memory 4G --disk local-lvm:32 \
    ///       --net bridge=vmbr0 --ostype l26 --tags env=prod --start
    ///   pvectl vm create --name web-03 --template debian-12-cloudinit --memory 4096
    ///   pvectl vm create --template debian-12 --disk local-lvm:20   # adds scsi1
    ///   pvectl vm create --template debian-12 --disk scsi0=local-lvm:32   # grows scsi0
    ///   pvectl vm create -f vm.yaml
    #[command(verbatim_doc_comment)]
    Create(Box<VmCreateArgs>),
    #[command(flatten)]
    Guest(GuestCommand),
}

/// `pvectl ct ...`.
#[derive(Debug, Subcommand)]
pub enum CtCommand {
    /// Create a container from flags or a file (VMID allocated when omitted).
    ///
    /// Examples:
    ///   pvectl ct create --hostname cache \
    ///       --ostemplate local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst \
    ///       --rootfs local-lvm:8 --net name=eth0,bridge=vmbr0,ip=dhcp
    ///   pvectl ct create --hostname data --ostemplate local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst \
    ///       --disk local-lvm:16,mp=/srv --memory 1G --unprivileged
    ///   pvectl ct create -f ct.yaml
    #[command(verbatim_doc_comment)]
    Create(Box<CtCreateArgs>),
    #[command(flatten)]
    Guest(GuestCommand),
}

/// Guest commands, shared by `pvectl vm` and `pvectl ct`.
#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// List guests, with filters.
    ///
    /// Examples:
    ///   pvectl vm list
    ///   pvectl vm list -l env=prod --status running -o wide --sort-by memory
    ///   pvectl ct list --node pve2 -o name
    #[command(visible_alias = "ls", verbatim_doc_comment)]
    List(ListArgs),
    /// Show some guests; with -o json/yaml, their config too (one target: one object).
    ///
    /// Examples:
    ///   pvectl vm get 150 -o yaml
    ///   pvectl vm get 150,151 web-03
    #[command(verbatim_doc_comment)]
    Get(ListArgs),
    /// Show a guest in detail: status, config, pending changes, recent tasks.
    ///
    /// Example: pvectl vm describe web-01
    #[command(verbatim_doc_comment)]
    Describe(DescribeArgs),
    /// Start guests.
    ///
    /// Examples:
    ///   pvectl vm start 150
    ///   pvectl vm start -l env=dev --no-wait
    #[command(verbatim_doc_comment)]
    Start(PowerArgs),
    /// Stop guests hard (power off; asks first).
    ///
    /// Examples:
    ///   pvectl vm stop 150 --yes
    ///   pvectl vm stop 150 --force   # abort a running shutdown first
    #[command(verbatim_doc_comment)]
    Stop(StopArgs),
    /// Shut guests down gracefully (ACPI or guest agent).
    ///
    /// Example: pvectl vm shutdown 150,151 --timeout 120 --force-after-timeout
    #[command(verbatim_doc_comment)]
    Shutdown(ShutdownArgs),
    /// Reboot running guests (stopped guests are started).
    ///
    /// Example: pvectl ct restart 200
    #[command(visible_alias = "reboot", verbatim_doc_comment)]
    Restart(PowerArgs),
    /// Change a guest's config from flags or a file; --dry-run shows the diff.
    ///
    /// Examples:
    ///   pvectl vm update 150 --memory 8G --cores 4 --dry-run
    ///   pvectl vm update 150 --set onboot=1 --delete balloon
    ///   pvectl vm update -l env=dev --add-tag team.web
    #[command(verbatim_doc_comment)]
    Update(Box<UpdateArgs>),
    /// Delete guests (checks first, saves each config, asks; a running guest needs --force).
    ///
    /// Before anything is deleted: protected guests, templates with linked clones, and (without
    /// --purge) HA-managed guests and guests with replication jobs are refused; snapshots,
    /// disks, HA, replication and backup jobs are listed; the configuration is saved (see
    /// `pvectl backup list`).
    ///
    /// Examples:
    ///   pvectl vm delete 150
    ///   pvectl vm delete 150,151 --force --purge-disks --yes
    ///   pvectl vm delete 150 --keep-snapshots   # refuse if it has snapshots
    #[command(visible_alias = "rm", verbatim_doc_comment)]
    Delete(DeleteArgs),
    /// Snapshots: create, list, rollback, delete.
    ///
    /// Examples:
    ///   pvectl vm snapshot create 150 before-upgrade
    ///   pvectl vm snapshot list 150
    ///   pvectl vm snapshot rollback 150 before-upgrade --start
    #[command(subcommand, visible_alias = "snapshots")]
    Snapshot(crate::snapshot::SnapshotCommand),
    /// Move a guest to another node, after Proxmox's pre-flight check.
    ///
    /// Examples:
    ///   pvectl vm migrate 150 --node pve2 --online --with-local-disks
    ///   pvectl ct migrate 200 --node pve2 --restart --dry-run
    #[command(verbatim_doc_comment)]
    Migrate(crate::migrate::MigrateArgs),
}

/// `list` and `get`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Output format.
    #[arg(short, long, default_value = "table")]
    pub output: OutputFormat,
    /// Do not print the header line.
    #[arg(long)]
    pub no_headers: bool,
    /// Sort by a field: vmid, name, node, status, template, pool, lock, cpus, memory, disk.
    #[arg(long)]
    pub sort_by: Option<String>,
}

/// `describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub selection: Selection,
}

/// `start`, `restart`.
#[derive(Debug, Args)]
pub struct PowerArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Abort a running shutdown task first (Proxmox `overrule-shutdown`).
    #[arg(long)]
    pub force: bool,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `shutdown`.
#[derive(Debug, Args)]
pub struct ShutdownArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Seconds to wait for the guest to power off (Proxmox default: 60).
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Stop the guest hard when it is not off in time, instead of failing.
    #[arg(long)]
    pub force_after_timeout: bool,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Stop running guests first (otherwise they are refused).
    #[arg(long)]
    pub force: bool,
    /// Also destroy disks that carry the VMID but are not in the config.
    #[arg(long)]
    pub purge_disks: bool,
    /// Also remove the guest from backup jobs, replication jobs and HA. Without it Proxmox
    /// refuses to delete HA-managed guests and guests with replication jobs, and backup jobs
    /// keep naming the deleted VMID.
    #[arg(long)]
    pub purge: bool,
    /// Refuse to delete guests that have snapshots (Proxmox destroys them with the guest).
    #[arg(long)]
    pub keep_snapshots: bool,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run a `vm` subcommand.
pub async fn run_vm(app: &App, cmd: VmCommand) -> anyhow::Result<()> {
    match cmd {
        VmCommand::Create(a) => create::create(app, &a.common, Only::Vm(&a.vm)).await,
        VmCommand::Guest(cmd) => run(app, "vm", cmd).await,
    }
}

/// Run a `ct` subcommand.
pub async fn run_ct(app: &App, cmd: CtCommand) -> anyhow::Result<()> {
    match cmd {
        CtCommand::Create(a) => create::create(app, &a.common, Only::Ct(&a.ct)).await,
        CtCommand::Guest(cmd) => run(app, "ct", cmd).await,
    }
}

/// Run a `vm` or `ct` subcommand other than `create`.
async fn run(app: &App, kind: &str, cmd: GuestCommand) -> anyhow::Result<()> {
    match cmd {
        GuestCommand::List(args) => list(app, kind, &args, false).await,
        GuestCommand::Get(args) => list(app, kind, &args, true).await,
        GuestCommand::Describe(args) => crate::describe::describe(app, kind, &args).await,
        GuestCommand::Update(args) => update::update(app, kind, &args).await,
        GuestCommand::Migrate(args) => crate::migrate::run(app, kind, &args).await,
        GuestCommand::Start(a) => {
            let guests = resolve(app, kind, &a.selection).await?;
            bulk::run(app, guests, &Action::Start, a.dry_run).await
        }
        GuestCommand::Restart(a) => {
            let guests = resolve(app, kind, &a.selection).await?;
            if guests.len() > 1 && !a.dry_run {
                safety::confirm_list(app, "restart", &Action::Restart, &guests)?;
            }
            bulk::run(app, guests, &Action::Restart, a.dry_run).await
        }
        GuestCommand::Stop(a) => {
            let guests = resolve(app, kind, &a.selection).await?;
            let action = Action::Stop { overrule: a.force };
            if !a.dry_run {
                let what = "stop (hard power-off; unsaved data is lost)";
                safety::confirm_list(app, what, &action, &guests)?;
            }
            bulk::run(app, guests, &action, a.dry_run).await
        }
        GuestCommand::Shutdown(a) => {
            let guests = resolve(app, kind, &a.selection).await?;
            let action = Action::Shutdown {
                timeout: a.timeout,
                force: a.force_after_timeout,
            };
            if guests.len() > 1 && !a.dry_run {
                safety::confirm_list(app, "shut down", &action, &guests)?;
            }
            bulk::run(app, guests, &action, a.dry_run).await
        }
        GuestCommand::Snapshot(cmd) => crate::snapshot::run(app, kind, cmd).await,
        GuestCommand::Delete(a) => {
            let guests = resolve(app, kind, &a.selection).await?;
            let flags = safety::DeleteFlags {
                force: a.force,
                purge: a.purge,
                purge_disks: a.purge_disks,
                keep_snapshots: a.keep_snapshots,
                dry_run: a.dry_run,
            };
            safety::confirm_delete(app, &guests, &flags).await?;
            let action = Action::Delete {
                force: a.force,
                purge: a.purge,
                purge_disks: a.purge_disks,
            };
            bulk::run(app, guests, &action, a.dry_run).await
        }
    }
}

/// The guests a mutating command acts on.
pub async fn resolve(app: &App, kind: &str, sel: &Selection) -> anyhow::Result<Vec<GuestInfo>> {
    let all = listed(app, sel).await?;
    sel.resolve(kind, &all, true)
}

/// Every guest, after checking that a `--node` filter names a node of the cluster (a typo is
/// exit 2 with the node list, not an empty result).
async fn listed(app: &App, sel: &Selection) -> anyhow::Result<Vec<GuestInfo>> {
    if let Some(node) = &sel.node {
        crate::preflight::node_exists(&app.conn, node).await?;
    }
    select::all_guests(&app.conn.client).await
}

async fn list(app: &App, kind: &str, args: &ListArgs, get: bool) -> anyhow::Result<()> {
    let all = listed(app, &args.selection).await?;
    let guests = args.selection.resolve(kind, &all, false)?;
    let mut items: Vec<Value> = guests
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if let Some(spec) = &args.sort_by {
        output::sort_by(&mut items, spec, select::SORT_FIELDS)?;
    }
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            if get {
                for item in &mut items {
                    add_config(app, item).await?;
                }
            }
            let single = get
                && args.selection.targets.len() == 1
                && !args.selection.targets[0].contains(',')
                && items.len() == 1;
            let doc = if single {
                items.remove(0)
            } else {
                Value::Array(items)
            };
            output::print_value(&doc, args.output)?;
        }
        OutputFormat::Name => {
            for item in &items {
                outln!("{}/{}", kind, item["vmid"]);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = args.output == OutputFormat::Wide;
            let mut headers = vec![
                "VMID", "NAME", "NODE", "STATUS", "CPUS", "MEMORY", "DISK", "TAGS",
            ];
            if wide {
                headers.extend(["TEMPLATE", "POOL", "LOCK", "HA"]);
            }
            let mut t = Table::new(&headers);
            for item in &items {
                let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
                let n = |k: &str| item[k].as_u64().unwrap_or_default();
                let mut row = vec![
                    n("vmid").to_string(),
                    s("name"),
                    s("node"),
                    s("status"),
                    item["cpus"]
                        .as_f64()
                        .map(|c| format!("{c}"))
                        .unwrap_or_default(),
                    output::bytes(n("memory")),
                    output::bytes(n("disk")),
                    item["tags"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(";")
                        })
                        .unwrap_or_default(),
                ];
                if wide {
                    row.extend([
                        if item["template"] == json!(true) {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_string(),
                        s("pool"),
                        s("lock"),
                        s("hastate"),
                    ]);
                }
                t.row(row);
            }
            if items.is_empty() && !args.no_headers {
                eprintln!("No {}s found.", select::kind_noun(kind));
                return Ok(());
            }
            t.print(args.no_headers);
        }
    }
    Ok(())
}

/// Add `config` (secrets redacted) to a guest's JSON.
async fn add_config(app: &App, item: &mut Value) -> anyhow::Result<()> {
    let kind = if item["kind"] == "ct" {
        pve_client::GuestKind::Lxc
    } else {
        pve_client::GuestKind::Qemu
    };
    let node = item["node"].as_str().unwrap_or_default().to_string();
    let vmid = u32::try_from(item["vmid"].as_u64().unwrap_or_default()).unwrap_or_default();
    let config = app
        .conn
        .client
        .guest(kind, &node, vmid)
        .config()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the config of {vmid}: {}",
                crate::exit::describe(&e)
            )
        })?;
    item["config"] = redact_config(&config.0);
    Ok(())
}

/// Config keys whose values are secrets.
pub fn is_secret_key(key: &str) -> bool {
    pve_client::types::is_secret_key(key)
}

/// A config map with secret values replaced.
pub fn redact_config(config: &std::collections::BTreeMap<String, Value>) -> Value {
    Value::Object(
        config
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_key(k) {
                    json!(crate::config::REDACTED)
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// "cannot read the WHAT of vm/150: ..." for a failed read of a guest.
pub(crate) fn read_failed(g: &GuestInfo, what: &str, e: pve_client::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot read the {what} of {}: {}",
        g.label(),
        crate::exit::describe(&e)
    )
}
