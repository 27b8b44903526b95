//! The `vm`/`ct` verbs that act on selected guests: `list`/`get`, the power verbs (`start`,
//! `restart`, `stop`, `shutdown`) and `delete`, through the bulk runner (`bulk`) and the
//! delete safety checks (`safety`). The verb tree itself is `cli::guest`.

use clap::Args;
use pve_client::GuestKind;
use serde_json::{Value, json};

use crate::App;
use crate::args::TableOutput;
use crate::bulk::{self, Action};
use crate::output::{self, OutputFormat, Table};
use crate::safety;
use crate::select::{self, Selection};

/// `list` and `get`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub format: TableOutput,
    /// Sort by a field: vmid, name, node, status, template, pool, lock, cpus, memory, disk.
    #[arg(long)]
    pub sort_by: Option<String>,
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

/// Run `start`.
pub async fn start(app: &App, kind: GuestKind, a: &PowerArgs) -> anyhow::Result<()> {
    let guests = select::resolve(&app.conn, kind, &a.selection).await?;
    bulk::run(app, guests, &Action::Start, a.dry_run).await
}

/// Run `restart`: more than one guest is confirmed first.
pub async fn restart(app: &App, kind: GuestKind, a: &PowerArgs) -> anyhow::Result<()> {
    let guests = select::resolve(&app.conn, kind, &a.selection).await?;
    if guests.len() > 1 && !a.dry_run {
        bulk::confirm_list(app, "restart", &Action::Restart, &guests)?;
    }
    bulk::run(app, guests, &Action::Restart, a.dry_run).await
}

/// Run `stop`: always confirmed (a hard power-off loses unsaved data).
pub async fn stop(app: &App, kind: GuestKind, a: &StopArgs) -> anyhow::Result<()> {
    let guests = select::resolve(&app.conn, kind, &a.selection).await?;
    let action = Action::Stop { overrule: a.force };
    if !a.dry_run {
        let what = "stop (hard power-off; unsaved data is lost)";
        bulk::confirm_list(app, what, &action, &guests)?;
    }
    bulk::run(app, guests, &action, a.dry_run).await
}

/// Run `shutdown`: more than one guest is confirmed first.
pub async fn shutdown(app: &App, kind: GuestKind, a: &ShutdownArgs) -> anyhow::Result<()> {
    let guests = select::resolve(&app.conn, kind, &a.selection).await?;
    let action = Action::Shutdown {
        timeout: a.timeout,
        force: a.force_after_timeout,
    };
    if guests.len() > 1 && !a.dry_run {
        bulk::confirm_list(app, "shut down", &action, &guests)?;
    }
    bulk::run(app, guests, &action, a.dry_run).await
}

/// Run `delete`: the pre-flight checks, the summary and the confirmation, then the deletion.
pub async fn delete(app: &App, kind: GuestKind, a: &DeleteArgs) -> anyhow::Result<()> {
    let guests = select::resolve(&app.conn, kind, &a.selection).await?;
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

/// Run `list` (`get`: also the config in JSON and YAML, one object for one target).
pub async fn list(app: &App, kind: GuestKind, args: &ListArgs, get: bool) -> anyhow::Result<()> {
    let all = select::listed(&app.conn, &args.selection).await?;
    let guests = args.selection.resolve(kind, &all, false)?;
    let mut items: Vec<Value> = guests
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if let Some(spec) = &args.sort_by {
        output::sort_by(&mut items, spec, select::SORT_FIELDS)?;
    }
    match args.format.output {
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
            output::print_value(&doc, args.format.output)?;
        }
        OutputFormat::Name => {
            for item in &items {
                outln!("{}/{}", kind.short(), item["vmid"]);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = args.format.output == OutputFormat::Wide;
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
            if items.is_empty() && !args.format.no_headers {
                eprintln!("No {}s found.", kind.noun());
                return Ok(());
            }
            t.print(args.format.no_headers);
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
    item["config"] = json!(config.redacted().0);
    Ok(())
}
