//! Safety before destruction: what will happen (guests, status, disks and their sizes), a
//! confirmation read from stdin unless `--yes`, refusal to delete running guests without
//! `--force`, and a warning for guests the kubepve operator owns (it will undo manual changes).
//! Prompts go to stderr; the answer is read from stdin even when it is not a terminal, so
//! scripts can pipe `yes`; no answer (EOF) is "no".

use std::io::BufRead;

use crate::App;
use crate::exit::{ABORTED, Exit, FAILED};
use crate::select::GuestInfo;

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

/// Ask `question`; Ok on yes, an `ABORTED` error otherwise.
pub fn confirm(app: &App, question: &str) -> anyhow::Result<()> {
    if app.yes {
        return Ok(());
    }
    eprint!("{question} [y/N]: ");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
    let answer = line.trim().to_ascii_lowercase();
    if answer == "y" || answer == "yes" {
        return Ok(());
    }
    if read == 0 {
        eprintln!();
    }
    Err(Exit {
        code: ABORTED,
        message: if read == 0 {
            "no answer on stdin: nothing was changed (pass --yes to skip the question)".into()
        } else {
            "aborted: nothing was changed".into()
        },
    }
    .into())
}

/// Show the guests and ask before doing `what` to them.
pub fn confirm_list(app: &App, what: &str, guests: &[GuestInfo]) -> anyhow::Result<()> {
    if app.yes {
        return Ok(());
    }
    eprintln!("About to {what}:");
    for g in guests {
        eprintln!("  {}  node {}  {}", g.display(), g.node, g.status);
    }
    confirm(app, &format!("Continue with {} guest(s)?", guests.len()))
}

/// A disk of a guest, for the delete summary.
struct DiskLine {
    slot: String,
    volume: String,
    size: String,
}

fn is_disk_key(key: &str) -> bool {
    let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let numbered = stem.len() < key.len();
    (numbered && matches!(stem, "scsi" | "virtio" | "sata" | "ide" | "mp" | "unused"))
        || matches!(key, "rootfs" | "efidisk0" | "tpmstate0")
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

/// Refuse running guests without `--force` and protected guests; show what will be destroyed;
/// ask unless `--yes`. With `dry_run`, show and return without asking.
pub async fn confirm_delete(
    app: &App,
    guests: &[GuestInfo],
    force: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let running: Vec<String> = guests
        .iter()
        .filter(|g| g.status == "running")
        .map(GuestInfo::label)
        .collect();
    if !running.is_empty() && !force {
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
    let mut text = String::from(if dry_run {
        "Would delete (dry run):\n"
    } else {
        "The following guests will be DELETED with their disks. This cannot be undone.\n"
    });
    let mut protected = Vec::new();
    for g in guests {
        let config = app
            .conn
            .client
            .guest(g.pve_kind(), &g.node, g.vmid)
            .config()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot read {}: {}", g.label(), crate::exit::describe(&e))
            })?;
        if config.get("protection").as_deref() == Some("1") {
            protected.push(g.label());
        }
        let stop = if g.status == "running" {
            " (will be stopped first)"
        } else {
            ""
        };
        text.push_str(&format!(
            "  {}  node {}  {}{stop}\n",
            g.display(),
            g.node,
            g.status
        ));
        for d in disks(&config) {
            text.push_str(&format!("    {:<10} {:<40} {}\n", d.slot, d.volume, d.size));
        }
        let marks = g.owner_tags();
        if !marks.is_empty() {
            text.push_str(&format!(
                "    warning: managed by the kubepve operator ({}); delete its object with \
                 kubectl instead, or the operator may recreate it\n",
                marks.join(", ")
            ));
        }
    }
    if !protected.is_empty() {
        return Err(Exit {
            code: FAILED,
            message: format!(
                "{} protected: clear it first with `update ID --set protection=0`",
                protected.join(", ")
            ),
        }
        .into());
    }
    if dry_run {
        print!("{text}");
        return Ok(());
    }
    eprint!("{text}");
    confirm(app, &format!("Delete {} guest(s)?", guests.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_keys() {
        assert!(is_disk_key("scsi0") && is_disk_key("rootfs") && is_disk_key("mp3"));
        assert!(!is_disk_key("net0") && !is_disk_key("scsihw") && !is_disk_key("ide"));
    }
}
