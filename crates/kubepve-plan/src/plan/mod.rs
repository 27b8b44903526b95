//! [`plan`]: the one entry point. It decides, in this order:
//!
//! 1. no guest: create or clone it (or, when deleting, nothing: already gone is success);
//! 2. a config lock: wait (checked before ownership, because a guest under `lock: create` or
//!    `lock: clone` does not carry its marks yet);
//! 3. not owned: a [`Blocker::Conflict`] when another object's marks are on it, a
//!    [`Step::Adopt`] when the spec adopts it, else a [`Blocker::ForeignGuest`]; never another
//!    mutating step (when deleting: nothing, the object may go and the guest stays);
//! 4. deleting: remove the marks (Orphan) or stop and destroy (Delete), unless protected;
//! 5. a migration when the user changed `spec.node` (see `migrate`);
//! 6. otherwise: config, disk growth, power, and a reboot when pending changes need one and the
//!    restart policy or a restart request allows it.

mod config;
mod create;
mod migrate;
mod power;

use kubepve_api::{
    CLI_OWNER_PREFIX, MANAGED_TAG, OWNER_DESCRIPTION_PREFIX, OWNER_TAG_PREFIX, owner_tag,
};

use crate::desired::Desired;
use crate::format::join_tags;
use crate::observed::{Intent, Observed, Power};
use crate::params::Params;
use crate::step::{Blocker, Change, Plan, Step};

/// Plan the steps that take the observed guest to the desired one. Pure and deterministic.
pub fn plan(desired: &Desired, observed: &Observed, intent: &Intent) -> Plan {
    plan_with(desired, observed, intent, true)
}

/// What [`plan`] would do if the guest were this object's: the changes `ObserveOnly` reports
/// and an adoption shows before it applies them. Nothing here is meant to be executed.
pub fn preview(desired: &Desired, observed: &Observed) -> Plan {
    plan_with(desired, observed, &Intent::default(), false)
}

fn plan_with(desired: &Desired, observed: &Observed, intent: &Intent, check_owner: bool) -> Plan {
    let mut p = Plan {
        warnings: desired.warnings.clone(),
        placed_node: intent.placed_node.clone(),
        ..Plan::default()
    };
    if !observed.exists {
        if intent.deleting {
            return p;
        }
        if desired.node().is_empty() {
            p.blocker = Some(Blocker::NoNode {
                reason: format!("guest {} must be created but no node is set", desired.vmid),
            });
            return p;
        }
        create::plan_creation(desired, &mut p);
        return p;
    }
    if let Some(lock) = observed.effective_lock() {
        p.steps.push(Step::WaitForLock {
            lock: lock.to_string(),
        });
        p.restart_required = pending_keys(observed);
        return p;
    }
    if check_owner && !is_owned(desired, observed) {
        if intent.deleting {
            p.warnings.push(format!(
                "guest {} is not owned by this object; it is left in Proxmox",
                desired.vmid
            ));
            return p;
        }
        unowned(desired, observed, intent, &mut p);
        return p;
    }
    if intent.deleting {
        power::plan_deletion(desired, observed, &mut p);
        return p;
    }
    if migrate::plan_migration(desired, observed, intent, &mut p) {
        p.restart_required = pending_keys(observed);
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

/// A guest without this object's marks: a conflict when another object owns it, an adoption
/// when the spec asks for one, else foreign and left alone.
fn unowned(desired: &Desired, observed: &Observed, intent: &Intent, p: &mut Plan) {
    let owners = other_owners(desired, observed);
    let by_operator: Vec<&String> = owners
        .iter()
        .filter(|o| !o.starts_with(CLI_OWNER_PREFIX))
        .collect();
    if !by_operator.is_empty() || (!owners.is_empty() && !intent.adopt) {
        let list: Vec<&str> = owners.iter().map(String::as_str).collect();
        let hint = if by_operator.is_empty() {
            "; set spec.adopt to take it over from that manifest"
        } else {
            "; delete or orphan that object first, or choose another vmid"
        };
        p.blocker = Some(Blocker::Conflict {
            reason: format!(
                "VMID {} is owned by another object (owner {}){hint}",
                desired.vmid,
                list.join(", ")
            ),
        });
        return;
    }
    if !intent.adopt {
        p.blocker = Some(Blocker::ForeignGuest {
            reason: format!(
                "VMID {} is taken by a guest this object does not own (it lacks the tag {}); \
                 it is left untouched: choose another vmid, or set spec.adopt to take it over",
                desired.vmid,
                desired.owner_tag()
            ),
        });
        return;
    }
    let before = observed.tags();
    let mut tags: std::collections::BTreeSet<String> = before
        .iter()
        .filter(|t| !t.starts_with(&owner_tag(CLI_OWNER_PREFIX)))
        .cloned()
        .collect();
    tags.insert(MANAGED_TAG.to_string());
    tags.insert(desired.owner_tag());
    let joined = join_tags(&tags);
    let mut params = Params::new();
    params.insert("tags", joined.clone());
    p.changes.push(Change::new(
        "tags",
        observed.config.get("tags").map(String::as_str),
        Some(&joined),
        false,
    ));
    p.steps.push(Step::Adopt {
        params,
        digest: observed.config.get("digest").cloned(),
    });
}

/// The owners named by marks on the guest that are not this object's: the UIDs in
/// `kubepve-owner-*` tags and in owner lines of the description.
pub fn other_owners(desired: &Desired, observed: &Observed) -> Vec<String> {
    let mine = desired.owner_tag();
    let mut owners: Vec<String> = observed
        .tags()
        .into_iter()
        .filter(|t| *t != mine)
        .filter_map(|t| t.strip_prefix(OWNER_TAG_PREFIX).map(str::to_string))
        .collect();
    if let Some(desc) = observed.config.get("description") {
        owners.extend(
            desc.lines()
                .filter_map(|l| l.trim().strip_prefix(OWNER_DESCRIPTION_PREFIX))
                .map(|uid| uid.trim().to_ascii_lowercase())
                .filter(|uid| owner_tag(uid) != mine),
        );
    }
    owners.sort();
    owners.dedup();
    owners
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
