//! `pvectl rollback vm|ct ID [--to OPERATION]`: put back the settings the journal recorded for
//! a guest. Without `--to` it undoes the newest recorded change (the config before it); with
//! `--to N` it restores the config as operation N left it. The changes go through `update`
//! (the same diff, capacity checks and journal), shown as a dry run first and applied after a
//! confirmation (`--yes` skips it). Secrets (redacted in the journal) and disks are not rolled
//! back; they are named so the user can act on them.

use clap::{Args, ValueEnum};
use pve_client::types::{GuestConfig, is_disk_key};
use rusqlite::OptionalExtension;
use serde_json::Value;

use crate::App;
use crate::config::REDACTED;
use crate::exit::usage;
use crate::journal::store::Store;
use crate::select::{GuestInfo, Selection};
use crate::update::UpdateArgs;

/// Which kind of guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A QEMU VM.
    Vm,
    /// An LXC container.
    Ct,
}

/// `pvectl rollback` flags.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// `vm` or `ct`.
    pub kind: Kind,
    /// The guest: VMID or name.
    #[arg(value_name = "ID|NAME")]
    pub target: String,
    /// Restore the config as this operation left it (its ID in `pvectl history --guest ID`).
    /// Default: undo the newest recorded change of the guest.
    #[arg(long, value_name = "OPERATION")]
    pub to: Option<i64>,
    /// Apply memory or CPU increases even beyond what the node has in total.
    #[arg(long)]
    pub ignore_capacity: bool,
    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What the journal says the guest should go back to.
struct Target {
    config: Value,
    what: String,
}

fn target(store: &Store, guest: &str, to: Option<i64>) -> anyhow::Result<Target> {
    let conn = store.conn();
    let found: Option<(i64, String)> = match to {
        Some(op) => conn
            .query_row(
                "SELECT operation, after FROM operation_guests
                 WHERE operation = ?1 AND guest = ?2 AND after IS NOT NULL",
                rusqlite::params![op, guest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional(),
        None => conn
            .query_row(
                "SELECT operation, before FROM operation_guests
                 WHERE guest = ?1 AND before IS NOT NULL ORDER BY operation DESC LIMIT 1",
                [guest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional(),
    }
    .map_err(|e| store.err(e))?;
    let Some((operation, text)) = found else {
        return Err(usage(match to {
            Some(op) => format!(
                "operation {op} recorded no config change of {guest}: pick an ID from \
                 `pvectl history --guest {guest}` whose CHANGES column is not empty"
            ),
            None => format!(
                "the journal has no recorded config change of {guest} to roll back (see \
                 `pvectl history --guest {guest}`)"
            ),
        }));
    };
    let what = match to {
        Some(_) => format!("the settings operation {operation} left"),
        None => format!("the settings before operation {operation}"),
    };
    Ok(Target {
        config: serde_json::from_str(&text)?,
        what,
    })
}

/// The keys to set and delete to go from `current` to `wanted`, and the keys left alone.
fn plan(current: &GuestConfig, wanted: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let empty = serde_json::Map::new();
    let wanted = wanted.as_object().unwrap_or(&empty);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (mut set, mut delete, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut keys: Vec<&String> = wanted.keys().chain(current.0.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if key == "digest" {
            continue;
        }
        let now = current.get(key);
        let then = wanted.get(key).filter(|v| !v.is_null()).map(text);
        if now == then {
            continue;
        }
        if is_disk_key(key) || then.as_deref() == Some(REDACTED) {
            skipped.push(key.clone());
            continue;
        }
        match then {
            Some(v) => set.push(format!("{key}={v}")),
            None => delete.push(key.clone()),
        }
    }
    (set, delete, skipped)
}

/// Run `pvectl rollback`.
pub async fn rollback(app: &App, args: &RollbackArgs) -> anyhow::Result<()> {
    let kind = match args.kind {
        Kind::Vm => "vm",
        Kind::Ct => "ct",
    };
    let selection = Selection {
        targets: vec![args.target.clone()],
        ..Selection::default()
    };
    let guests = crate::guest::resolve(app, kind, &selection).await?;
    let [g]: [GuestInfo; 1] = guests
        .try_into()
        .map_err(|_| usage(format!("{:?} names more than one guest", args.target)))?;
    let store = Store::open(&crate::journal::path())?;
    let target = target(&store, &g.label(), args.to)?;
    drop(store);
    let current = app
        .conn
        .client
        .guest(g.pve_kind(), &g.node, g.vmid)
        .config()
        .await
        .map_err(|e| crate::params::pve_err("cannot read the config", e))?;
    let (set, delete, skipped) = plan(&current, &target.config);
    if !skipped.is_empty() {
        eprintln!(
            "note: {}: not rolled back: {} (disks and secrets; change them with `pvectl {kind} \
             update {} --set KEY=VALUE`)",
            g.label(),
            skipped.join(", "),
            g.vmid
        );
    }
    if set.is_empty() && delete.is_empty() {
        outln!("{}: already has {}", g.label(), target.what);
        return Ok(());
    }
    outln!("{}: rolling back to {}", g.label(), target.what);
    let mut update = UpdateArgs {
        selection: Selection {
            targets: vec![g.vmid.to_string()],
            ..Selection::default()
        },
        file: None,
        name: None,
        cores: None,
        sockets: None,
        memory: None,
        description: None,
        onboot: None,
        tags: None,
        add_tag: Vec::new(),
        remove_tag: Vec::new(),
        set,
        delete,
        replace_disk: false,
        ignore_capacity: args.ignore_capacity,
        dry_run: true,
    };
    crate::update::update(app, kind, &update).await?;
    if args.dry_run {
        return Ok(());
    }
    let question = format!("Roll back {} to {}?", g.display(), target.what);
    crate::safety::confirm_journaled(app, &question, &[g.label()])?;
    update.dry_run = false;
    crate::update::update(app, kind, &update).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plan_sets_changed_keys_deletes_added_ones_and_leaves_disks_and_secrets() {
        let current: GuestConfig = serde_json::from_value(json!({
            "memory": 4096, "cores": 2, "onboot": 1, "digest": "abc",
            "scsi0": "local-lvm:vm-150-disk-0,size=40G", "cipassword": "new-secret"
        }))
        .unwrap();
        let wanted = json!({
            "memory": 2048, "cores": 2, "scsi0": "local-lvm:vm-150-disk-0,size=32G",
            "cipassword": REDACTED, "description": "web"
        });
        let (set, delete, skipped) = plan(&current, &wanted);
        assert_eq!(set, ["description=web", "memory=2048"]);
        assert_eq!(delete, ["onboot"]);
        assert_eq!(skipped, ["cipassword", "scsi0"]);
    }
}
