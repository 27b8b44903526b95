//! What a template change means for a member that runs the old one: nothing, a change the
//! running guest takes live, one that needs a restart, or one that needs a new guest.
//!
//! Both specs go through [`Desired::vm`], so the comparison sees Proxmox config keys the way the
//! guest planner does, and the hotplug table (`crate::hotplug`) that the guest planner uses for
//! `restart_required` decides which keys a running VM takes live. A new guest is needed where the
//! guest planner can only apply a value at creation: another source (template, blank), another
//! connection, a disk on another storage, or a creation-only parameter such as the ISO.

use kubepve_api::ProxmoxVMSpec;

use crate::desired::{Desired, GuestKind, Identity, Secrets, TemplateRef};
use crate::error::PlanError;
use crate::hotplug::{applies_live, qemu_classes};

/// How disruptive a template change is for one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeClass {
    /// The specs are the same (only labels, annotations or the hash differ).
    None,
    /// The running guest takes every change at once: every member gets it at once.
    Live,
    /// A new node (`spec.node`): each member migrates, without a restart; the update strategy
    /// paces it, so that at most maxUnavailable members move at once.
    Move,
    /// Some change waits for a restart: the update strategy paces it.
    Restart,
    /// Some change only takes effect on a new guest: the member is deleted and made again,
    /// paced by the update strategy.
    Replace,
}

/// Classifies the change from a member's spec `old` to the template's spec `new`. An error is
/// the template's own (it does not convert): no member should get it.
pub fn classify(old: &ProxmoxVMSpec, new: &ProxmoxVMSpec) -> Result<ChangeClass, PlanError> {
    // The member's VMID comes from the set, never from the template.
    let mut old = old.clone();
    old.guest.vmid = None;
    if old == *new {
        return Ok(ChangeClass::None);
    }
    let wanted = desired(new)?;
    if old.source != new.source || old.guest.connection_ref != new.guest.connection_ref {
        return Ok(ChangeClass::Replace);
    }
    // A member spec that no longer converts is stalled; a restart with the new spec is the
    // least that can help it.
    let Ok(had) = desired(&old) else {
        return Ok(ChangeClass::Restart);
    };
    // A new node is a migration of every member (`spec.node`, not a Proxmox config key).
    let mut class = if old.guest.node != new.guest.node {
        ChangeClass::Move
    } else {
        ChangeClass::Live
    };
    for disk in &wanted.disks {
        match had.disks.iter().find(|d| d.slot == disk.slot) {
            Some(before) if before.storage != disk.storage => return Ok(ChangeClass::Replace),
            Some(before) if before.options != disk.options => class = ChangeClass::Restart,
            // Growing a disk is an online resize.
            Some(_) => {}
            None if !applies_live(GuestKind::Qemu, &disk.slot, true, &hotplug(&wanted)) => {
                class = ChangeClass::Restart;
            }
            None => {}
        }
    }
    // A pool is a membership Proxmox changes on a running guest; the rest is creation-only.
    let creation_only = |d: &Desired| -> Vec<(String, String)> {
        d.create_only
            .iter()
            .filter(|(k, _)| *k != "pool")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    if creation_only(&wanted) != creation_only(&had) {
        return Ok(ChangeClass::Replace);
    }
    let classes = hotplug(&wanted);
    for (key, setting) in &wanted.settings {
        let same = had
            .settings
            .get(key)
            .is_some_and(|s| s.value == setting.value);
        if !same && !applies_live(GuestKind::Qemu, key, false, &classes) {
            class = ChangeClass::Restart;
        }
    }
    Ok(class)
}

/// A spec as the guest planner sees it, for an anonymous member (identity and template VMID
/// do not matter for a comparison: both sides get the same).
pub(super) fn desired(spec: &ProxmoxVMSpec) -> Result<Desired, PlanError> {
    let identity = Identity {
        name: "member".into(),
        uid: "member".into(),
        vmid: 100,
        node: None,
    };
    let template = Some(TemplateRef {
        vmid: 100,
        node: None,
    });
    Desired::vm(spec, &identity, &Secrets::default(), template)
}

/// The hotplug classes of the VM the spec describes (its `hotplug` extraConfig, else
/// Proxmox's default).
fn hotplug(d: &Desired) -> std::collections::BTreeSet<String> {
    qemu_classes(d.settings.get("hotplug").map(|s| s.value.as_str()))
}
