//! The operator's side of migrations (docs/migration.md): the pre-flight check before a
//! [`Step::Migrate`] is sent (Proxmox's `GET .../migrate` and the cluster's nodes, read by the
//! shared [`kubepve_plan::migration_check`]), and the `GuestMoved` Event for a guest that
//! someone else moved. When to migrate is the planner's decision.

use kube::runtime::events::EventType;
use kubepve_plan::{Observed, Step};

use super::GuestObject;
use super::hold::{Hold, proxmox};
use crate::context::Context;
use crate::proxmox::registry::Connection;

/// Refuses `step` when it is a migration that Proxmox's preconditions block, with Proxmox's
/// reasons and what to do; every other step passes.
pub(super) async fn check<K: GuestObject>(
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    step: &Step,
) -> Result<(), Hold> {
    let Step::Migrate { target, .. } = step else {
        return Ok(());
    };
    let id = i64::try_from(vmid).unwrap_or_default();
    let check = kubepve_plan::migration_check(&conn.pve, K::PVE_KIND, &observed.node, id, target)
        .await
        .map_err(proxmox("check migration", vmid))?;
    let blockers = check.blockers(id, step);
    if blockers.is_empty() {
        return Ok(());
    }
    Err(Hold::Refused {
        reason: "MigrationBlocked",
        message: format!(
            "guest {vmid} cannot be migrated from {} to {target}: {}",
            observed.node,
            blockers.join("; ")
        ),
    })
}

/// Emits `GuestMoved` when the guest is found on another node than status recorded, and not
/// where `spec.node` would have taken it: Proxmox HA or a person moved it, and the operator
/// follows instead of moving it back.
pub(super) async fn note_move<K: GuestObject>(
    object: &K,
    ctx: &Context,
    previous: Option<&str>,
    now: &str,
) {
    let spec_node = object.common().node.as_deref();
    if !kubepve_plan::moved_outside(previous, now, spec_node) {
        return;
    }
    let from = previous.unwrap_or_default();
    let note = match spec_node {
        Some(wanted) => format!(
            "the guest was moved from {from} to {now} outside the operator; it is followed there \
             and not moved back to spec.node {wanted}; change spec.node to migrate it"
        ),
        None => format!("the guest was moved from {from} to {now} outside the operator"),
    };
    ctx.event(object, EventType::Normal, "GuestMoved", "Observe", note)
        .await;
}
