//! Power and deletion: start, shutdown, stop, reboot, destroy, and the Orphan policy's removal
//! of the ownership marks.
//!
//! runStrategy Always starts a stopped guest, Halted shuts a running one down, Manual never
//! starts or stops it. Reboots are separate from the run strategy: they keep a running guest
//! running, and happen when the restart policy is Automatic and changes are pending, or when the
//! restartedAt annotation asks for one. A template is never started or rebooted.

use kubepve_api::{DeletionPolicy, MANAGED_TAG, RestartPolicy, RunStrategy};

use super::strip_owner_lines;
use crate::desired::Desired;
use crate::format::join_tags;
use crate::observed::{Intent, Observed, Power};
use crate::params::Params;
use crate::step::{Blocker, Change, Plan, Step};

/// The Shutdown step the spec's shutdown policy describes.
fn shutdown(d: &Desired) -> Step {
    Step::Shutdown {
        timeout_seconds: u32::try_from(d.shutdown.timeout_seconds).unwrap_or(180),
        force: d.shutdown.force_after_timeout,
    }
}

/// Power steps of a guest that is not being deleted. Runs after the config step is planned, so
/// `p.restart_required` is final.
pub(super) fn plan_power(d: &Desired, o: &Observed, intent: &Intent, p: &mut Plan) {
    if o.is_template() {
        if d.run_strategy == RunStrategy::Always {
            p.warnings
                .push("the guest is a template; templates are never started".into());
        }
        return;
    }
    let power_change = |p: &mut Plan, step: Step, to: &str| {
        p.changes.push(Change::new(
            "power",
            Some(&o.power.to_string()),
            Some(to),
            false,
        ));
        p.steps.push(step);
    };
    match (d.run_strategy, o.power) {
        (RunStrategy::Always, Power::Stopped) => power_change(p, Step::Start, "running"),
        (RunStrategy::Always, Power::Paused) => p.warnings.push(
            "the guest is paused; runStrategy Always does not resume it, resume it in Proxmox"
                .into(),
        ),
        (RunStrategy::Halted, Power::Running) => power_change(p, shutdown(d), "stopped"),
        // Proxmox refuses a graceful shutdown of a paused VM.
        (RunStrategy::Halted, Power::Paused) => power_change(p, Step::Stop, "stopped"),
        (RunStrategy::Always | RunStrategy::Halted, Power::Unknown) => p
            .warnings
            .push("the power state is not known yet; it is checked again on the next pass".into()),
        _ => {}
    }
    let keeps_running = o.power == Power::Running && d.run_strategy != RunStrategy::Halted;
    let pending = !p.restart_required.is_empty();
    if keeps_running
        && (intent.restart_requested || (d.restart_policy == RestartPolicy::Automatic && pending))
    {
        p.steps.push(Step::Reboot);
    }
}

/// Steps of a guest whose object is being deleted.
pub(super) fn plan_deletion(d: &Desired, o: &Observed, p: &mut Plan) {
    match d.deletion_policy {
        DeletionPolicy::Orphan => remove_ownership(d, o, p),
        DeletionPolicy::Delete => {
            if o.config.get("protection").is_some_and(|v| v == "1") {
                p.blocker = Some(Blocker::Protected {
                    reason: format!(
                        "guest {} has Proxmox protection enabled, so it cannot be deleted; \
                         set spec.protection: false (or clear it in Proxmox) to let the deletion proceed",
                        d.vmid
                    ),
                });
                return;
            }
            match o.power {
                Power::Running if !o.is_template() => p.steps.push(shutdown(d)),
                Power::Paused => p.steps.push(Step::Stop),
                _ => {}
            }
            p.changes.push(Change::new(
                "guest",
                Some(&format!("vmid {}", d.vmid)),
                None,
                false,
            ));
            p.steps.push(Step::Delete {
                purge: d.delete_options.purge,
                destroy_unreferenced_disks: d.delete_options.destroy_unreferenced_disks,
            });
        }
    }
}

/// deletionPolicy Orphan: drop both marker tags and the owner line, and nothing else.
fn remove_ownership(d: &Desired, o: &Observed, p: &mut Plan) {
    let mut params = Params::new();
    let mut delete = Vec::new();
    let tags = o.tags();
    let kept: std::collections::BTreeSet<String> = tags
        .iter()
        .filter(|t| *t != MANAGED_TAG && **t != d.owner_tag())
        .cloned()
        .collect();
    if kept != tags {
        let from = o.config.get("tags").map(String::as_str);
        if kept.is_empty() {
            delete.push("tags".to_string());
            p.changes.push(Change::new("tags", from, None, false));
        } else {
            let joined = join_tags(&kept);
            p.changes
                .push(Change::new("tags", from, Some(&joined), false));
            params.insert("tags", joined);
        }
    }
    if let Some(desc) = o.config.get("description")
        && desc.lines().any(|l| l.trim() == d.owner_line())
    {
        let kept = strip_owner_lines(desc);
        p.changes.push(Change::new(
            "description",
            Some(desc),
            kept.as_deref(),
            false,
        ));
        match kept {
            Some(text) => params.insert("description", text),
            None => delete.push("description".into()),
        }
    }
    if !params.is_empty() || !delete.is_empty() {
        p.steps.push(Step::RemoveOwnership { params, delete });
    }
}
