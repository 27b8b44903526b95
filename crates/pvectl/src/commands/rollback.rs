//! `pvectl rollback vm|ct ID [--to OPERATION]`: put back the settings the journal recorded for
//! a guest. Without `--to` it undoes the newest recorded change (the config before it); with
//! `--to N` it restores the config as operation N left it. The changes go through `update`
//! (the same diff, capacity checks and journal), shown as a dry run first and applied after a
//! confirmation (`--yes` skips it), the diff said once. Secrets (redacted in the journal) and
//! disks are not rolled back; they are named with the command that changes them (`--delete` for
//! a disk added since). A secret that is there then and now is not named: its value is unknown.

use clap::Args;
use pve_client::types::{GuestConfig, is_disk_key};
use pve_client::{GuestKind, REDACTED};
use rusqlite::OptionalExtension;
use serde_json::Value;

use crate::App;
use crate::args::KindArg;
use crate::exit::usage;
use crate::journal::store::Store;
use crate::reconfigure::UpdateArgs;
use crate::select::{GuestInfo, Selection};

/// `pvectl rollback` flags.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// `vm` or `ct`.
    pub kind: KindArg,
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
        let exists = |op: i64| {
            conn.query_row("SELECT 1 FROM operations WHERE id = ?1", [op], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
                .map_err(|e| store.err(e))
        };
        return Err(usage(match to {
            Some(op) if !exists(op)? => format!(
                "no operation {op} in the journal: pick an ID from `pvectl history --guest \
                 {guest}`"
            ),
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

/// What a rollback changes and leaves alone.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// `KEY=VALUE` to set.
    set: Vec<String>,
    /// Keys to remove.
    delete: Vec<String>,
    /// Disks added since: not removed (that would detach them), named with `--delete`.
    added_disks: Vec<String>,
    /// Disks changed or removed since, and secrets the journal could not keep.
    skipped: Vec<String>,
}

/// The keys to set and delete to go from `current` to `wanted`, and the keys left alone. A
/// secret the journal redacted is compared only for being there: its value is not known.
fn plan(current: &GuestConfig, wanted: &Value) -> Plan {
    let empty = serde_json::Map::new();
    let wanted = wanted.as_object().unwrap_or(&empty);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut plan = Plan::default();
    let mut keys: Vec<&String> = wanted.keys().chain(current.0.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if key == "digest" {
            continue;
        }
        let now = current.get(key);
        let then = wanted.get(key).filter(|v| !v.is_null()).map(text);
        let secret_kept = then.as_deref() == Some(REDACTED) && now.is_some();
        if now == then || secret_kept {
            continue;
        }
        if is_disk_key(key) && then.is_none() {
            plan.added_disks.push(key.clone());
            continue;
        }
        if is_disk_key(key) || then.as_deref() == Some(REDACTED) {
            plan.skipped.push(key.clone());
            continue;
        }
        match then {
            Some(v) => plan.set.push(format!("{key}={v}")),
            None => plan.delete.push(key.clone()),
        }
    }
    plan
}

/// Run `pvectl rollback`.
pub async fn rollback(app: &App, args: &RollbackArgs) -> anyhow::Result<()> {
    let kind = GuestKind::from(args.kind);
    let short = kind.short();
    let selection = Selection {
        targets: vec![args.target.clone()],
        ..Selection::default()
    };
    let guests = crate::select::resolve(&app.conn, kind, &selection).await?;
    let [g]: [GuestInfo; 1] = guests
        .try_into()
        .map_err(|_| usage(format!("{:?} names more than one guest", args.target)))?;
    let store = Store::open(&crate::journal::path())?;
    let target = target(&store, &g.label(), args.to)?;
    drop(store);
    let current = app
        .conn
        .client
        .guest(g.kind, &g.node, g.vmid)
        .config()
        .await
        .map_err(|e| crate::exit::pve_err("cannot read the config", e))?;
    let Plan {
        set,
        delete,
        added_disks,
        skipped,
    } = plan(&current, &target.config);
    let vmid = g.vmid;
    if !added_disks.is_empty() {
        eprintln!(
            "note: {}: not rolled back: {} (added since; remove with `pvectl {short} update {vmid} \
             --delete {}`)",
            g.label(),
            added_disks.join(", "),
            added_disks.join(" --delete ")
        );
    }
    if !skipped.is_empty() {
        eprintln!(
            "note: {}: not rolled back: {} (disks and secrets; change them with `pvectl {short} \
             update {vmid} --set KEY=VALUE`)",
            g.label(),
            skipped.join(", "),
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
        preview: !args.dry_run,
        diff_shown: false,
    };
    crate::reconfigure::update(app, kind, &update).await?;
    if args.dry_run {
        return Ok(());
    }
    let question = format!("Roll back {} to {}?", g.display(), target.what);
    crate::safety::confirm_journaled(app, &question, &[g.label()])?;
    update.dry_run = false;
    update.preview = false;
    update.diff_shown = true;
    crate::reconfigure::update(app, kind, &update).await
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
        let p = plan(&current, &wanted);
        assert_eq!(p.set, ["description=web", "memory=2048"]);
        assert_eq!(p.delete, ["onboot"]);
        // The secret is there then and now (its value is not journaled): nothing to say.
        assert_eq!(p.skipped, ["scsi0"]);
        let added: GuestConfig =
            serde_json::from_value(json!({"memory": 2048, "scsi2": "local-lvm:vm-150-disk-2"}))
                .unwrap();
        let p = plan(&added, &json!({"memory": 2048}));
        assert_eq!(p.added_disks, ["scsi2"]);
        assert!(p.skipped.is_empty() && p.delete.is_empty(), "{p:?}");
    }
}
