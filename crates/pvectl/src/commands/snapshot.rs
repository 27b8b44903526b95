//! `pvectl vm|ct snapshot create|list|rollback|delete`. Create, rollback and delete run through
//! the bulk runner (`bulk`): one guest (`snapshot create 150 before-upgrade`) or many (`-l`,
//! `--all`, comma lists), with `--dry-run`, progress, the journal and bulk exit codes. Before
//! anything changes, every selected guest is checked (the snapshot exists, or does not yet;
//! a container has no RAM state) and destructive commands ask first, listing what is lost.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use kubepve_api::snapshot::{SNAPSHOT_NAME_MAX, SNAPSHOT_NAME_PATTERN};
use kubepve_plan::snapshot::user_description;
use pve_client::types::Snapshot;
use serde_json::{Value, json};

use pve_client::GuestKind;

use crate::App;
use crate::args::TableOutput;
use crate::bulk::{self, Action};
use crate::exit::usage;
use crate::output::{self, OutputFormat, Table};
use crate::safety;
use crate::select::{GuestInfo, Selection};

/// Snapshot commands of `pvectl vm` and `pvectl ct`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of guests.
    ///
    /// Examples:
    ///   pvectl vm snapshot create 150 before-upgrade --description "kernel 6.8"
    ///   pvectl vm snapshot create 150 with-ram --vmstate
    ///   pvectl ct snapshot create -l env=prod nightly_1 --dry-run
    Create(CreateArgs),
    /// Show a guest's snapshots as a tree (parent, time, RAM state, description).
    ///
    /// Examples:
    ///   pvectl vm snapshot list 150
    ///   pvectl vm snapshot list 150 -o json
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Roll guests back to a snapshot (asks first: changes since the snapshot are lost).
    ///
    /// Examples:
    ///   pvectl vm snapshot rollback 150 before-upgrade
    ///   pvectl vm snapshot rollback 150 before-upgrade --start --yes
    Rollback(RollbackArgs),
    /// Delete a snapshot of guests (asks first).
    ///
    /// Example: pvectl vm snapshot delete 150 before-upgrade
    #[command(visible_alias = "rm")]
    Delete(TargetArgs),
}

/// The guests and the snapshot name: `ID NAME`, or `NAME` with `-l`/`--all`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// `ID|NAME SNAPSHOT` (IDs may be a comma list), or only `SNAPSHOT` with -l or --all.
    #[arg(value_name = "ID|NAME SNAPSHOT", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Every guest of this kind.
    #[arg(long, short = 'A')]
    pub all: bool,
    /// Label selector over tags (`env=prod,tier!=db`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The snapshot's description.
    #[arg(long)]
    pub description: Option<String>,
    /// Save the RAM of running VMs too.
    #[arg(long)]
    pub vmstate: bool,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Start the guest after the rollback.
    #[arg(long)]
    pub start: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The guest: VMID or name.
    #[arg(value_name = "ID|NAME")]
    pub target: String,
    #[command(flatten)]
    pub format: TableOutput,
}

/// Run a `snapshot` subcommand for `kind` (`vm` or `ct`).
pub async fn run(app: &App, kind: GuestKind, cmd: SnapshotCommand) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::List(args) => list(app, kind, &args).await,
        SnapshotCommand::Create(a) => {
            let (guests, name) = resolve(app, kind, &a.target).await?;
            let taken = existing(app, &guests, &name, true).await?;
            if !taken.is_empty() {
                return Err(usage(format!(
                    "snapshot {name} exists already on {}: choose another name",
                    taken.join(", ")
                )));
            }
            let action = Action::SnapshotCreate {
                name,
                description: a.description,
                vmstate: a.vmstate,
            };
            bulk::run(app, guests, &action, a.target.dry_run).await
        }
        SnapshotCommand::Rollback(a) => {
            let (guests, name) = resolve(app, kind, &a.target).await?;
            let snaps = require(app, &guests, &name).await?;
            if !a.target.dry_run {
                eprintln!("About to roll back to snapshot {name}; this loses:");
                for g in &guests {
                    let s = &snaps[&g.vmid];
                    let when = s.snaptime.map_or("?".into(), output::rfc3339);
                    eprintln!(
                        "  {}: every change to its disks and config since {when}",
                        g.display()
                    );
                    if g.status == "running" && s.vmstate != Some(true) {
                        eprintln!(
                            "  {}: its running state (it is stopped{})",
                            g.display(),
                            if a.start { ", then started" } else { "" }
                        );
                    }
                }
                safety::confirm(app, &format!("Roll back {} guest(s)?", guests.len()))?;
            }
            let action = Action::SnapshotRollback {
                name,
                start: a.start,
            };
            bulk::run(app, guests, &action, a.target.dry_run).await
        }
        SnapshotCommand::Delete(a) => {
            let (guests, name) = resolve(app, kind, &a).await?;
            let snaps = require(app, &guests, &name).await?;
            if !a.dry_run {
                eprintln!("About to delete snapshot {name}:");
                for g in &guests {
                    let s = &snaps[&g.vmid];
                    let when = s.snaptime.map_or("?".into(), output::rfc3339);
                    eprintln!("  {}: taken {when}", g.display());
                }
                safety::confirm(app, &format!("Delete it on {} guest(s)?", guests.len()))?;
            }
            bulk::run(app, guests, &Action::SnapshotDelete { name }, a.dry_run).await
        }
    }
}

/// The guests and the checked snapshot name.
async fn resolve(
    app: &App,
    kind: GuestKind,
    t: &TargetArgs,
) -> anyhow::Result<(Vec<GuestInfo>, String)> {
    let by_query = t.all || t.selector.is_some();
    let (targets, name) = match (by_query, t.args.as_slice()) {
        (true, [name]) => (vec![], name.clone()),
        (false, [ids, name]) => (vec![ids.clone()], name.clone()),
        (true, _) => {
            return Err(usage(
                "with -l or --all, give only the snapshot name (no guest IDs)",
            ));
        }
        (false, _) => {
            return Err(usage(
                "give the guest and the snapshot name: ID|NAME SNAPSHOT (or -l/--all SNAPSHOT)",
            ));
        }
    };
    check_name(&name)?;
    let selection = Selection {
        targets,
        all: t.all,
        selector: t.selector.clone(),
        ..Selection::default()
    };
    let guests = crate::select::resolve(&app.conn, kind, &selection).await?;
    Ok((guests, name))
}

/// Proxmox's rules for snapshot names, checked before anything is sent.
fn check_name(name: &str) -> anyhow::Result<()> {
    let pattern_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !pattern_ok || name.len() > SNAPSHOT_NAME_MAX {
        return Err(usage(format!(
            "{name:?} is not a Proxmox snapshot name ({SNAPSHOT_NAME_PATTERN}, at most \
             {SNAPSHOT_NAME_MAX} characters): a letter, then letters, digits, _ or -"
        )));
    }
    if name == "current" || name.eq_ignore_ascii_case("pending") {
        return Err(usage(format!(
            "{name:?} is reserved by Proxmox: choose another name"
        )));
    }
    Ok(())
}

async fn snapshots_of(app: &App, g: &GuestInfo) -> anyhow::Result<Vec<Snapshot>> {
    app.conn
        .client
        .guest(g.kind, &g.node, g.vmid)
        .snapshots()
        .await
        .map_err(|e| g.read_failed("snapshots", e))
}

/// The guests (labels) that have (`want = true`) snapshot `name`.
async fn existing(
    app: &App,
    guests: &[GuestInfo],
    name: &str,
    want: bool,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for g in guests {
        let has = snapshots_of(app, g).await?.iter().any(|s| s.name == name);
        if has == want {
            out.push(g.label());
        }
    }
    Ok(out)
}

/// Snapshot `name` of every guest, by VMID; an error naming the guests without it.
async fn require(
    app: &App,
    guests: &[GuestInfo],
    name: &str,
) -> anyhow::Result<BTreeMap<u32, Snapshot>> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for g in guests {
        match snapshots_of(app, g)
            .await?
            .into_iter()
            .find(|s| s.name == name)
        {
            Some(s) => {
                found.insert(g.vmid, s);
            }
            None => missing.push(g.label()),
        }
    }
    if !missing.is_empty() {
        return Err(crate::exit::Exit {
            code: crate::exit::FAILED,
            message: format!(
                "no snapshot {name} on {}: nothing was changed (see `pvectl {} snapshot list`)",
                missing.join(", "),
                guests.first().map_or("vm", |g| g.kind.short())
            ),
        }
        .into());
    }
    Ok(found)
}

/// The snapshots in tree order (parents before children), with their depth.
fn tree(snaps: &[Snapshot]) -> Vec<(usize, &Snapshot)> {
    let names: Vec<&str> = snaps.iter().map(|s| s.name.as_str()).collect();
    let mut out = Vec::new();
    fn walk<'a>(
        parent: Option<&str>,
        depth: usize,
        snaps: &'a [Snapshot],
        names: &[&str],
        out: &mut Vec<(usize, &'a Snapshot)>,
    ) {
        let mut children: Vec<&Snapshot> = snaps
            .iter()
            .filter(|s| match (parent, s.parent.as_deref()) {
                (None, None) => true,
                // A parent that is not listed counts as the root.
                (None, Some(p)) => !names.contains(&p),
                (Some(want), Some(p)) => want == p,
                (Some(_), None) => false,
            })
            .collect();
        children.sort_by_key(|s| (s.snaptime, s.name.clone()));
        for child in children {
            out.push((depth, child));
            walk(Some(&child.name), depth + 1, snaps, names, out);
        }
    }
    walk(None, 0, snaps, &names, &mut out);
    out
}

async fn list(app: &App, kind: GuestKind, args: &ListArgs) -> anyhow::Result<()> {
    let selection = Selection {
        targets: vec![args.target.clone()],
        ..Selection::default()
    };
    let guests = crate::select::resolve(&app.conn, kind, &selection).await?;
    let [g] = guests.as_slice() else {
        return Err(usage(
            "snapshot list shows one guest: give one VMID or name",
        ));
    };
    let snaps = snapshots_of(app, g).await?;
    let ordered = tree(&snaps);
    match args.format.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let items: Vec<Value> = ordered
                .iter()
                .map(|(_, s)| {
                    json!({
                        "name": s.name,
                        "parent": s.parent,
                        "time": s.snaptime.map(output::rfc3339),
                        "vmstate": s.vmstate.unwrap_or(false),
                        "description": s.description.clone().unwrap_or_default(),
                    })
                })
                .collect();
            output::print_value(&Value::Array(items), args.format.output)?;
        }
        OutputFormat::Name => {
            for (_, s) in &ordered {
                println!("{}", s.name);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            if ordered.is_empty() {
                eprintln!("{} has no snapshots.", g.display());
                return Ok(());
            }
            let mut t = Table::new(&["NAME", "PARENT", "TIME", "VMSTATE", "DESCRIPTION"]);
            for (depth, s) in &ordered {
                let description = user_description(s.description.as_deref().unwrap_or_default());
                t.row(vec![
                    format!("{}{}", "  ".repeat(*depth), s.name),
                    s.parent.clone().unwrap_or_default(),
                    s.snaptime.map(output::rfc3339).unwrap_or_default(),
                    if s.vmstate == Some(true) { "yes" } else { "no" }.into(),
                    description.lines().next().unwrap_or_default().to_string(),
                ]);
            }
            t.print(args.format.no_headers);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, parent: Option<&str>, time: u64) -> Snapshot {
        Snapshot {
            name: name.into(),
            description: None,
            parent: parent.map(str::to_string),
            snaptime: Some(time),
            vmstate: None,
        }
    }

    #[test]
    fn tree_puts_parents_before_children() {
        let snaps = vec![
            snap("c", Some("a"), 3),
            snap("a", None, 1),
            snap("b", Some("a"), 2),
            snap("d", Some("b"), 4),
        ];
        let order: Vec<(usize, &str)> = tree(&snaps)
            .iter()
            .map(|(d, s)| (*d, s.name.as_str()))
            .collect();
        assert_eq!(order, [(0, "a"), (1, "b"), (2, "d"), (1, "c")]);
    }

    #[test]
    fn snapshot_names_follow_proxmox_rules() {
        assert!(check_name("before-upgrade").is_ok());
        assert!(check_name("n_1").is_ok());
        for bad in [
            "1st",
            "a",
            "has space",
            "dot.ted",
            "current",
            "Pending",
            &"x".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
