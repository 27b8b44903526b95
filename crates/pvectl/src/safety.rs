//! Safety before destruction: pre-flight checks (running, protection, snapshots, templates with
//! linked clones, HA, replication and backup jobs), what will be lost (status,
//! disks and their sizes, snapshots, jobs, where the configuration backup went), a confirmation
//! read from stdin unless `--yes`, and a warning for guests the kubepve operator owns (it will
//! undo manual changes).
//! Prompts go to stderr; the answer is read from stdin even when it is not a terminal, so
//! scripts can pipe `yes`; no answer (EOF) is "no".

use kubepve_plan::{DeletionAllowed, DeletionFacts, Hazard, deletion_hazards};
use pve_client::types::is_disk_key;

use crate::App;
use crate::exit::{Exit, FAILED};
use crate::select::GuestInfo;

mod prompt;

pub use prompt::{confirm, confirm_journaled, not_done};

/// Warn about a guest that carries the operator's ownership marks.
pub fn owner_warning(app: &App, g: &GuestInfo) {
    let marks = g.owner_tags();
    if !marks.is_empty() {
        app.progress.note(&format!(
            "warning: {} is managed by the kubepve operator (tags {}): the operator will undo \
             manual changes; change its ProxmoxVM/ProxmoxContainer object instead",
            g.display(),
            marks.join(", ")
        ));
    }
}

/// A disk of a guest, for the delete summary.
struct DiskLine {
    slot: String,
    volume: String,
    size: String,
}

fn disks(config: &pve_client::types::GuestConfig) -> Vec<DiskLine> {
    config
        .0
        .keys()
        .filter(|k| is_disk_key(k))
        .filter_map(|k| {
            let text = config.get(k)?;
            let ps = pve_client::PropertyString::parse(&text).ok()?;
            if ps.get("media") == Some("cdrom") {
                return None;
            }
            let volume = ps
                .default_value
                .clone()
                .or_else(|| ps.get("volume").map(str::to_string))
                .unwrap_or_default();
            if volume.is_empty() || volume == "none" || volume.ends_with("cloudinit") {
                return None;
            }
            Some(DiskLine {
                slot: k.clone(),
                volume,
                size: ps.get("size").unwrap_or("?").to_string(),
            })
        })
        .collect()
}

/// What `delete` was asked to do, for the pre-flight checks and the confirmation.
#[derive(Debug, Clone, Copy)]
pub struct DeleteFlags {
    /// Stop running guests first.
    pub force: bool,
    /// Proxmox `purge`: also remove the guest from HA, replication and backup jobs.
    pub purge: bool,
    /// Proxmox `destroy-unreferenced-disks`.
    pub purge_disks: bool,
    /// Refuse guests that have snapshots instead of destroying the snapshots with them.
    pub keep_snapshots: bool,
    /// Show and change nothing.
    pub dry_run: bool,
}

/// What deleting one guest involves, read before anything is changed.
struct Preflight {
    config: pve_client::types::GuestConfig,
    /// What the shared checks ([`deletion_hazards`]) decide on.
    facts: DeletionFacts,
    backup_jobs: Vec<String>,
}

/// The cluster-wide facts every guest's checks share: one read each.
struct ClusterFacts {
    ha: Vec<pve_client::types::HaResource>,
    replication: Vec<pve_client::types::ReplicationJob>,
    backup_jobs: Vec<pve_client::types::BackupJob>,
}

/// A cluster-wide list that needs Sys.Audit on `/`: a token without it still deletes, with a
/// warning (HA still shows in `/cluster/resources` as `hastate`).
fn optional<T>(
    app: &App,
    what: &str,
    read: Result<Vec<T>, pve_client::Error>,
) -> anyhow::Result<Vec<T>> {
    match read {
        Ok(items) => Ok(items),
        Err(e @ pve_client::Error::Permission { .. }) => {
            app.progress.note(&format!(
                "warning: cannot check {what} (needs Sys.Audit on /): {}",
                crate::exit::describe(&e)
            ));
            Ok(Vec::new())
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read the {what} to check the deletion: {}",
            crate::exit::describe(&e)
        )),
    }
}

async fn cluster_facts(app: &App) -> anyhow::Result<ClusterFacts> {
    let client = &app.conn.client;
    Ok(ClusterFacts {
        ha: optional(app, "HA resources", client.ha_resources().await)?,
        replication: optional(app, "replication jobs", client.replication_jobs().await)?,
        backup_jobs: optional(app, "backup jobs", client.backup_jobs().await)?,
    })
}

async fn preflight(
    app: &App,
    g: &GuestInfo,
    facts: &ClusterFacts,
    all: &[GuestInfo],
) -> anyhow::Result<Preflight> {
    let client = &app.conn.client;
    let handle = client.guest(g.kind, &g.node, g.vmid);
    let fail = |what: &str, e| g.read_failed(what, e);
    let config = handle.config().await.map_err(|e| fail("config", e))?;
    let snapshots = handle
        .snapshots()
        .await
        .map_err(|e| fail("snapshots", e))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let ha = facts
        .ha
        .iter()
        .find(|r| r.vmid() == Some(g.vmid))
        .map(|r| r.sid.clone())
        .or_else(|| g.hastate.as_ref().map(|s| format!("state {s}")));
    let replication = facts
        .replication
        .iter()
        .filter(|j| j.guest == u64::from(g.vmid))
        .map(|j| match &j.target {
            Some(t) => format!("{} (to {t})", j.id),
            None => j.id.clone(),
        })
        .collect();
    let backup_jobs = facts
        .backup_jobs
        .iter()
        .filter(|j| j.names(g.vmid))
        .map(|j| j.id.clone())
        .collect();
    let mut linked_clones = Vec::new();
    if g.template {
        // Only a template has base volumes; reading every other guest's config is the price of
        // not breaking its clones, paid only when a template is deleted.
        for other in all.iter().filter(|o| o.vmid != g.vmid) {
            let c = client
                .guest(other.kind, &other.node, other.vmid)
                .config()
                .await
                .map_err(|e| fail("linked clones", e))?;
            if c.is_linked_clone_of(g.vmid) {
                linked_clones.push(other.display());
            }
        }
    }
    let facts = DeletionFacts {
        protected: config.get("protection").as_deref() == Some("1"),
        snapshots,
        ha,
        replication,
        linked_clones,
    };
    Ok(Preflight {
        config,
        facts,
        backup_jobs,
    })
}

/// Why `g` may not be deleted with these flags, one sentence each that says what to do.
fn refusals(g: &GuestInfo, p: &Preflight, flags: &DeleteFlags) -> Vec<String> {
    let label = g.label();
    let allowed = DeletionAllowed {
        purge: flags.purge,
        snapshots: !flags.keep_snapshots,
    };
    let say = |hazard: Hazard| match hazard {
        Hazard::Protected => format!(
            "{label} is protected: clear it first with `pvectl {} update {} --set protection=0`",
            g.kind.short(),
            g.vmid
        ),
        Hazard::LinkedClones(clones) => format!(
            "{label} is a template with linked clones ({}): their disks are built on its base \
             disks, so Proxmox cannot delete it without breaking them; delete the clones or \
             replace them with full clones (`vm create --clone-from ID --full`) first",
            clones.join(", ")
        ),
        Hazard::HasSnapshots(names) => format!(
            "{label} has snapshots ({}) that would be destroyed with it (--keep-snapshots): \
             delete them first, or drop --keep-snapshots",
            names.join(", ")
        ),
        Hazard::HaManaged(ha) => format!(
            "{label} is managed by HA ({ha}): Proxmox refuses to delete it; pass --purge to \
             remove it from HA with it, or remove the HA resource first"
        ),
        Hazard::ReplicationJobs(jobs) => format!(
            "{label} has replication jobs ({}): Proxmox refuses to delete it; pass --purge to \
             remove the jobs with it",
            jobs.join(", ")
        ),
    };
    deletion_hazards(&p.facts, allowed)
        .into_iter()
        .map(say)
        .collect()
}

/// `VM 150` or `container 200`.
fn noun(g: &GuestInfo) -> String {
    format!("{} {}", g.kind.noun(), g.vmid)
}

/// The confirmation block of one guest.
fn summary(g: &GuestInfo, p: &Preflight, flags: &DeleteFlags, backup: &str) -> String {
    let mut lines = vec![if g.name.is_empty() {
        format!("WARNING: This will permanently delete {}", noun(g))
    } else {
        format!(
            "WARNING: This will permanently delete {} ({})",
            noun(g),
            g.name
        )
    }];
    let mut item = |text: String| lines.push(format!("  - {text}"));
    item(format!("Node: {}", g.node));
    item(if g.status == "running" {
        "Status: running (will be stopped first)".to_string()
    } else {
        format!("Status: {}", g.status)
    });
    let disks: Vec<String> = disks(&p.config)
        .iter()
        .map(|d| {
            let storage = d.volume.split(':').next().unwrap_or_default();
            format!("{} on {storage} ({}: {})", d.size, d.slot, d.volume)
        })
        .collect();
    item(if disks.is_empty() {
        "Disks: none".to_string()
    } else {
        format!("Disks: {} will be removed", disks.join(", "))
    });
    if flags.purge_disks {
        item(format!(
            "Unreferenced disks carrying VMID {} will be removed too (--purge-disks)",
            g.vmid
        ));
    }
    item(if p.facts.snapshots.is_empty() {
        "Snapshots: none".to_string()
    } else {
        format!(
            "Snapshots: {} ({}) will be destroyed with it",
            p.facts.snapshots.len(),
            p.facts.snapshots.join(", ")
        )
    });
    if let Some(ha) = &p.facts.ha {
        item(format!("HA: managed ({ha}); --purge removes it from HA"));
    }
    if !p.facts.replication.is_empty() {
        item(format!(
            "Replication jobs: {}; --purge removes them",
            p.facts.replication.join(", ")
        ));
    }
    if !p.backup_jobs.is_empty() {
        item(if flags.purge {
            format!(
                "Backup jobs: {}; --purge removes VMID {} from them",
                p.backup_jobs.join(", "),
                g.vmid
            )
        } else {
            format!(
                "Backup jobs: {} keep naming VMID {} (and report it missing); pass --purge to \
                 remove it from them",
                p.backup_jobs.join(", "),
                g.vmid
            )
        });
    }
    let marks = g.owner_tags();
    if !marks.is_empty() {
        item(format!(
            "Managed by the kubepve operator ({}): delete its object with kubectl instead, or \
             the operator may recreate it",
            marks.join(", ")
        ));
    }
    item(format!("Backup of the configuration: {backup}"));
    item("This action cannot be undone".to_string());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Pre-flight checks before deleting `guests`: refuse running guests without `--force`,
/// protected guests, templates with linked clones, HA-managed guests and guests with
/// replication jobs without `--purge`, and guests with snapshots under `--keep-snapshots`.
/// Then show what will be lost and ask unless `--yes`; only once confirmed, save each guest's
/// configuration (see `backup`). A refusal or a "no" goes into the journal with its reason.
/// With `--dry-run`, show and return without saving, asking or journaling.
pub async fn confirm_delete(
    app: &App,
    guests: &[GuestInfo],
    flags: &DeleteFlags,
) -> anyhow::Result<()> {
    let result = check_and_ask(app, guests, flags).await;
    if let Err(e) = &result
        && !flags.dry_run
        && e.downcast_ref::<Exit>().is_some()
    {
        let labels: Vec<String> = guests.iter().map(GuestInfo::label).collect();
        not_done(app, &labels, e);
    }
    result
}

async fn check_and_ask(app: &App, guests: &[GuestInfo], flags: &DeleteFlags) -> anyhow::Result<()> {
    let running: Vec<String> = guests
        .iter()
        .filter(|g| g.status == "running")
        .map(GuestInfo::label)
        .collect();
    if !running.is_empty() && !flags.force {
        return Err(Exit {
            code: FAILED,
            message: format!(
                "refusing to delete running guest(s) {}: stop them first or pass --force \
                 (stops them, then deletes)",
                running.join(", ")
            ),
        }
        .into());
    }
    let facts = cluster_facts(app).await?;
    let all = if guests.iter().any(|g| g.template) {
        crate::select::all_guests(&app.conn.client).await?
    } else {
        Vec::new()
    };
    let mut checked = Vec::new();
    let mut refused = Vec::new();
    for g in guests {
        let p = preflight(app, g, &facts, &all).await?;
        refused.extend(refusals(g, &p, flags));
        checked.push((g, p));
    }
    if !refused.is_empty() {
        return Err(Exit {
            code: FAILED,
            message: format!("nothing was deleted: {}", refused.join("; ")),
        }
        .into());
    }
    let dir = crate::backups::dir();
    let backup = if flags.dry_run {
        format!("would be saved in {}", dir.display())
    } else {
        format!("saved in {} before deleting", dir.display())
    };
    let text: String = checked
        .iter()
        .map(|(g, p)| summary(g, p, flags, &backup))
        .collect();
    if flags.dry_run {
        out!("Would delete (dry run):\n{text}");
        return Ok(());
    }
    eprint!("{text}");
    let question = match guests {
        [one] => format!("Are you sure you want to delete {}?", noun(one)),
        all => format!(
            "Are you sure you want to delete these {} guests?",
            all.len()
        ),
    };
    confirm(app, &question)?;
    for (g, p) in &checked {
        let saved = crate::backups::save(app, g, &p.config, &p.facts.snapshots, "delete").await?;
        app.progress.note(&format!(
            "{}: configuration saved to {}",
            g.label(),
            saved.display()
        ));
    }
    Ok(())
}
