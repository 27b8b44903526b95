//! Changing a guest's config, for `vm|ct update` and `rollback`: the settings flags
//! ([`UpdateArgs`], the argument group both use), the checks, the backup, the PUT and the journal.
//! `update` takes flags or a file of raw Proxmox keys; `--dry-run` shows the config diff and changes
//! nothing. A key that would put another volume in a slot holding a disk (Proxmox detaches the
//! old one as `unusedN`) is refused unless `--replace-disk`, which saves a configuration backup
//! first and warns where the old disk went.

use std::path::PathBuf;

use clap::Args;
use pve_client::{GuestKind, Params};

use crate::App;
use crate::exit::pve_err;
use crate::exit::{self, usage};
use crate::params::{key_value, parse_mib, raw_keys, tags_of};
use crate::select::Selection;

/// `update` flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// A YAML/JSON map of raw Proxmox config keys to set.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// VM name, or container hostname.
    #[arg(long, alias = "hostname")]
    pub name: Option<String>,
    /// CPU cores (1 or more).
    #[arg(long)]
    pub cores: Option<u32>,
    /// CPU sockets (VMs).
    #[arg(long)]
    pub sockets: Option<u32>,
    /// Memory: MiB, or with a unit (`4G`).
    #[arg(long)]
    pub memory: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Start at boot.
    #[arg(long)]
    pub onboot: Option<bool>,
    /// Replace the tags (tags or labels, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Add tags or labels (a label replaces the same key's value).
    #[arg(long, value_delimiter = ',')]
    pub add_tag: Vec<String>,
    /// Remove tags, or labels by key.
    #[arg(long, value_delimiter = ',')]
    pub remove_tag: Vec<String>,
    /// Any Proxmox config key, `KEY=VALUE` (repeatable; checked against the API schema).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Remove config keys (repeatable).
    #[arg(long)]
    pub delete: Vec<String>,
    /// Allow a key to replace a guest's disk (`--set scsi0=local-lvm:8` where scsi0 holds a
    /// disk): a configuration backup is saved first, and the old disk stays on its storage,
    /// detached as `unusedN`.
    #[arg(long)]
    pub replace_disk: bool,
    /// Apply memory or CPU increases even beyond what the node has in total.
    #[arg(long)]
    pub ignore_capacity: bool,
    /// Print the config diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With `dry_run`: the diff is what a confirmed command will do, not a dry run (rollback).
    #[arg(skip)]
    pub preview: bool,
    /// The diff was shown already (rollback's preview): do not print it again.
    #[arg(skip)]
    pub diff_shown: bool,
}

/// Run `update`.
pub async fn update(app: &App, kind: GuestKind, a: &UpdateArgs) -> anyhow::Result<()> {
    let ct = kind == GuestKind::Lxc;
    let mut set: Vec<(String, String)> = Vec::new();
    if let Some(f) = &a.file {
        set.extend(raw_keys(f)?);
    }
    if let Some(n) = &a.name {
        set.push((if ct { "hostname" } else { "name" }.into(), n.clone()));
    }
    if let Some(c) = a.cores {
        set.push(("cores".into(), c.to_string()));
    }
    if let Some(s) = a.sockets {
        set.push(("sockets".into(), s.to_string()));
    }
    if let Some(m) = &a.memory {
        set.push(("memory".into(), parse_mib(m)?.to_string()));
    }
    if let Some(d) = &a.description {
        set.push(("description".into(), d.clone()));
    }
    if let Some(b) = a.onboot {
        set.push(("onboot".into(), u8::from(b).to_string()));
    }
    for kv in &a.set {
        set.push(key_value(kv)?);
    }
    // Checked against the Proxmox schema before anything is read, shown or sent.
    crate::config_keys::validate(ct, set.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if let Some(k) = a
        .delete
        .iter()
        .find(|k| !crate::config_keys::is_known(ct, k))
    {
        return Err(usage(format!(
            "--delete {k}: not a {} config key",
            if ct { "container" } else { "VM" }
        )));
    }
    let add = tags_of(&a.add_tag)?;
    let replace = a.tags.as_ref().map(|t| tags_of(t)).transpose()?;
    let touches_tags = replace.is_some() || !add.is_empty() || !a.remove_tag.is_empty();
    if set.is_empty() && a.delete.is_empty() && !touches_tags {
        return Err(usage(
            "nothing to change: give flags such as --memory, --set KEY=VALUE, --delete KEY or -f FILE",
        ));
    }
    let guests = crate::select::resolve(&app.conn, kind, &a.selection).await?;
    // New disks (`--set scsi1=local-lvm:8`) go on storages that must exist on each node.
    let new_volumes =
        crate::preflight::new_volume_storages(set.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let content = if ct { "rootdir" } else { "images" };
    let mut nodes: Vec<&str> = guests.iter().map(|g| g.node.as_str()).collect();
    nodes.dedup();
    for node in nodes {
        crate::preflight::storages(app, node, &new_volumes, content).await?;
    }
    let client = &app.conn.client;
    let mut record = app.record();
    let (mut ok, mut failed, mut refused) = (0, 0, 0);
    for g in &guests {
        crate::safety::owner_warning(app, g);
        let handle = client.guest(g.kind, &g.node, g.vmid);
        let result: anyhow::Result<()> = async {
            let config = handle
                .config()
                .await
                .map_err(|e| pve_err("cannot read the config", e))?;
            let mut wanted = set.clone();
            if touches_tags {
                let mut tags: Vec<String> = replace.clone().unwrap_or_else(|| g.tags.clone());
                for r in &a.remove_tag {
                    tags.retain(|t| t != r && !t.starts_with(&format!("{r}.")));
                }
                for t in &add {
                    if let Some((k, _)) = t.split_once('.') {
                        tags.retain(|x| !x.starts_with(&format!("{k}.")));
                    }
                    if !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
                wanted.push(("tags".into(), tags.join(";")));
            }
            let mut current = crate::clone::text_config(&config);
            let replaced = crate::clone::replaced_disks(&current, &wanted);
            if let Some((slot, old)) = replaced.first().filter(|_| !a.replace_disk) {
                return Err(usage(format!(
                    "{slot} holds the disk {old}: setting it would detach that disk (Proxmox \
                     keeps it as unusedN, and a boot disk detached means a guest that no longer \
                     boots); to add a disk use a free slot, or pass --replace-disk to replace it \
                     (a configuration backup is saved first)"
                )));
            }
            let mut detached = Vec::new();
            for (slot, old) in &replaced {
                let unused = crate::clone::unused_slot(&current)?;
                current.insert(unused.clone(), old.clone());
                detached.push(format!(
                    "warning: {}: the disk in {slot} ({old}) {} detached as {unused} (it stays \
                     on its storage: remove it with --delete {unused})",
                    g.label(),
                    if a.dry_run { "would be" } else { "is" }
                ));
            }
            let mut params = Params::new();
            let mut lines = Vec::new();
            for (k, v) in &wanted {
                let old = config.get(k);
                if old.as_deref() == Some(v.as_str()) {
                    continue;
                }
                let secret = pve_client::is_secret_key(k);
                let show = |x: Option<&str>| match x {
                    None => "(unset)".to_string(),
                    Some(_) if secret => pve_client::REDACTED.to_string(),
                    Some(x) => x.to_string(),
                };
                lines.push(format!(
                    "  {k}: {} -> {}",
                    show(old.as_deref()),
                    show(Some(v))
                ));
                params.push(k, v);
            }
            let deletes: Vec<&String> = a
                .delete
                .iter()
                .filter(|k| config.0.contains_key(*k))
                .collect();
            for k in &deletes {
                lines.push(format!(
                    "  {k}: {} -> (unset)",
                    config.get(k).unwrap_or_default()
                ));
            }
            if lines.is_empty() {
                outln!("{}: no changes", g.display());
                return Ok(());
            }
            if !a.diff_shown {
                let dry = a.dry_run && !a.preview;
                outln!("{}:{}", g.display(), if dry { " (dry run)" } else { "" });
                for l in &lines {
                    outln!("{l}");
                }
            }
            for d in &detached {
                app.progress.note(d);
            }
            let raised = |keys: &[&str]| crate::capacity::raised(&config, &params, keys);
            crate::capacity::check(
                app,
                &g.node,
                raised(&["memory"]),
                raised(&["cores", "sockets"]),
                a.ignore_capacity,
            )
            .await?;
            if a.dry_run {
                return Ok(());
            }
            if !deletes.is_empty() || !replaced.is_empty() {
                let saved = crate::backups::save(app, g, &config, &[], "update").await?;
                let list = |v: Vec<&str>, verb: &str| {
                    (!v.is_empty()).then(|| format!("{verb} {}", v.join(", ")))
                };
                let what: Vec<String> = [
                    list(deletes.iter().map(|s| s.as_str()).collect(), "removing"),
                    list(
                        replaced.iter().map(|(s, _)| s.as_str()).collect(),
                        "replacing",
                    ),
                ]
                .into_iter()
                .flatten()
                .collect();
                outln!(
                    "{}: configuration saved to {} before {}",
                    g.label(),
                    saved.display(),
                    what.join(" and ")
                );
            }
            if !deletes.is_empty() {
                params.push(
                    "delete",
                    deletes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            if let Some(d) = config.digest() {
                params.push("digest", d);
            }
            handle
                .update_config(params)
                .await
                .map_err(|e| pve_err("update failed", e))?;
            let pending_items = handle.pending().await.unwrap_or_default();
            // The journal keeps the config before and after, for `history` and `rollback`: the
            // config the guest gets at its next start, so a change still pending counts.
            if let Ok(after) = handle.config().await {
                record.changed(&g.label(), &config, &after.with_pending(&pending_items));
            }
            let pending: Vec<String> = pending_items
                .into_iter()
                .filter(|p| p.is_change())
                .map(|p| p.key)
                .collect();
            if !pending.is_empty() && g.status == "running" {
                outln!(
                    "{}: pending until the next restart: {}",
                    g.label(),
                    pending.join(", ")
                );
            }
            outln!("{} updated", g.label());
            Ok(())
        }
        .await;
        record.guests.push(g.label());
        match result {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                refused += usize::from(exit::code_of(&e) == exit::USAGE);
                eprintln!("error: {}: {e:#}", g.display());
            }
        }
    }
    if !a.dry_run {
        record.outcome = exit::bulk_outcome(ok, failed).into();
        crate::journal::append(&record);
    }
    exit::bulk_finish(ok, failed, refused)
}
