//! [`plan`]: the one entry point. It decides, in this order:
//!
//! 1. no guest: create or clone it (or, when deleting, nothing: already gone is success);
//! 2. a config lock: wait (checked before ownership, because a guest under `lock: create` or
//!    `lock: clone` does not carry its marks yet);
//! 3. not owned: a [`Blocker::ForeignGuest`], never a mutating step (when deleting: nothing,
//!    the object may go and the guest stays);
//! 4. deleting: remove the marks (Orphan) or stop and destroy (Delete), unless protected;
//! 5. otherwise: config, disk growth, power, and a reboot when pending changes need one and the
//!    restart policy or a restart request allows it.

mod config;
mod create;
mod power;

use kubepve_api::OWNER_DESCRIPTION_PREFIX;

use crate::desired::Desired;
use crate::observed::{Intent, Observed, Power};
use crate::step::{Blocker, Plan, Step};

/// Plan the steps that take the observed guest to the desired one. Pure and deterministic.
pub fn plan(desired: &Desired, observed: &Observed, intent: &Intent) -> Plan {
    let mut p = Plan {
        warnings: desired.warnings.clone(),
        ..Plan::default()
    };
    if !observed.exists {
        if !intent.deleting {
            create::plan_creation(desired, &mut p);
        }
        return p;
    }
    if let Some(lock) = observed.effective_lock() {
        p.steps.push(Step::WaitForLock {
            lock: lock.to_string(),
        });
        p.restart_required = pending_keys(observed);
        return p;
    }
    if !is_owned(desired, observed) {
        if intent.deleting {
            p.warnings.push(format!(
                "guest {} is not owned by this object; it is left in Proxmox",
                desired.vmid
            ));
        } else {
            p.blocker = Some(Blocker::ForeignGuest {
                reason: format!(
                    "VMID {} is taken by a guest this object does not own (it lacks the tag {}); \
                     it is left untouched: choose another vmid, or adopt the guest by adding that tag",
                    desired.vmid,
                    desired.owner_tag()
                ),
            });
        }
        return p;
    }
    if intent.deleting {
        power::plan_deletion(desired, observed, &mut p);
        return p;
    }
    let needs_reboot = config::plan_config(desired, observed, &mut p);
    let mut restart = pending_keys(observed);
    restart.extend(needs_reboot);
    restart.sort();
    restart.dedup();
    p.restart_required = restart;
    power::plan_power(desired, observed, intent, &mut p);
    p
}

/// Whether the guest carries this object's marks: the owner tag, or (between a clone and the
/// config step that sets the tags) the owner line in the description.
pub fn is_owned(desired: &Desired, observed: &Observed) -> bool {
    observed.tags().contains(&desired.owner_tag())
        || observed
            .config
            .get("description")
            .is_some_and(|d| has_owner_line(d, &desired.owner_line()))
}

fn has_owner_line(description: &str, line: &str) -> bool {
    description.lines().any(|l| l.trim() == line)
}

/// The description without any owner line; `None` when nothing else is left.
fn strip_owner_lines(description: &str) -> Option<String> {
    let kept: Vec<&str> = description
        .lines()
        .filter(|l| !l.trim().starts_with(OWNER_DESCRIPTION_PREFIX))
        .collect();
    let text = kept.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Pending keys, sorted and unique. A stopped guest needs no restart: Proxmox applies what is
/// pending when it next starts.
fn pending_keys(observed: &Observed) -> Vec<String> {
    if observed.power == Power::Stopped {
        return Vec::new();
    }
    let mut keys: Vec<String> = observed.pending.iter().map(|k| k.key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_lines() {
        let d = "kubepve.io/owner: abc\nhello";
        assert!(has_owner_line(d, "kubepve.io/owner: abc"));
        assert!(!has_owner_line(d, "kubepve.io/owner: abd"));
        assert_eq!(strip_owner_lines(d).as_deref(), Some("hello"));
        assert_eq!(strip_owner_lines("kubepve.io/owner: abc\n"), None);
    }
}
