//! Pre-flight checks while a guest object is being deleted: before each step (shutdown, stop,
//! destroy), what Proxmox would refuse or what would be lost silently. Snapshots not taken by
//! ProxmoxSnapshot objects (kept unless the object is annotated
//! `kubepve.io/delete-snapshots: "true"`), HA management and
//! replication jobs (Proxmox refuses without `deleteOptions.purge`), and a template's linked
//! clones (they would break). A failed check stops the deletion before the guest is even shut
//! down, with a `Stalled` condition that says what to do. Protection is the planner's
//! (`Blocker::Protected`).

use kube::ResourceExt;
use kubepve_plan::{DeletionAllowed, DeletionFacts, Hazard, Observed, deletion_hazards};

use super::GuestObject;
use super::hold::{Hold, proxmox};
use crate::proxmox::registry::Connection;

/// Snapshots of ProxmoxSnapshot objects (an owner line in their description) go with the
/// guest, as their objects go with the guest object; only the others hold a deletion back.
fn is_ours(snapshot: &pve_client::types::Snapshot) -> bool {
    kubepve_plan::snapshot::is_kubepve_description(snapshot.description.as_deref().unwrap_or(""))
}

/// Set to `"true"` on an object to delete its guest together with the guest's snapshots.
pub const DELETE_SNAPSHOTS_ANNOTATION: &str = "kubepve.io/delete-snapshots";

/// Checks that deleting the guest `vmid` of `object` loses nothing unasked and that Proxmox
/// will not refuse it: reads the facts, lets [`kubepve_plan::deletion_hazards`] decide, and
/// words the first hazard for the object's user.
pub async fn check<K: GuestObject>(
    object: &K,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
) -> Result<(), Hold> {
    let allowed = DeletionAllowed {
        purge: object.common().delete_options.purge,
        snapshots: object
            .annotations()
            .get(DELETE_SNAPSHOTS_ANNOTATION)
            .is_some_and(|v| v == "true"),
    };
    let facts = facts::<K>(conn, vmid, observed, allowed).await?;
    // Protection is the planner's (`Blocker::Protected`), reported with the plan.
    let hazard = deletion_hazards(&facts, allowed)
        .into_iter()
        .find(|h| *h != Hazard::Protected);
    match hazard {
        None => Ok(()),
        Some(hazard) => Err(Hold::Refused {
            reason: hazard.reason(),
            message: message(vmid, &hazard),
        }),
    }
}

/// What deleting the guest would touch; only what `allowed` leaves to check is read.
async fn facts<K: GuestObject>(
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    allowed: DeletionAllowed,
) -> Result<DeletionFacts, Hold> {
    let pve = &conn.pve;
    let vmid32 = u32::try_from(vmid).unwrap_or_default();
    let mut facts = DeletionFacts::default();
    if !allowed.snapshots {
        facts.snapshots = pve
            .guest(K::PVE_KIND, &observed.node, vmid32)
            .snapshots()
            .await
            .map_err(proxmox("list snapshots", vmid))?
            .into_iter()
            .filter(|s| !is_ours(s))
            .map(|s| s.name)
            .collect();
    }
    // `/cluster/resources` shows HA management (`hastate`) with the privileges the operator
    // already has; `/cluster/ha/resources` would need Sys.Audit on `/`.
    let guests = pve.guests().await.map_err(proxmox("list guests", vmid))?;
    if !allowed.purge {
        facts.ha = guests
            .iter()
            .find(|g| g.vmid == Some(vmid))
            .and_then(|g| g.hastate.as_deref())
            .filter(|h| !h.is_empty())
            .map(|state| format!("state {state}"));
        facts.replication = pve
            .replication_jobs()
            .await
            .map_err(proxmox("list replication jobs", vmid))?
            .into_iter()
            .filter(|j| j.guest == vmid)
            .map(|j| j.id)
            .collect();
    }
    if observed.is_template() {
        for g in guests.iter().filter(|g| g.vmid != Some(vmid)) {
            let (Some(id), Some(node), Some(k)) = (
                g.vmid.and_then(|v| u32::try_from(v).ok()),
                g.node.as_deref(),
                pve_client::GuestKind::parse(&g.kind),
            ) else {
                continue;
            };
            let config = pve
                .guest(k, node, id)
                .config()
                .await
                .map_err(proxmox("read a possible linked clone", vmid))?;
            if config.is_linked_clone_of(vmid32) {
                facts.linked_clones.push(id.to_string());
            }
        }
    }
    Ok(facts)
}

/// The `Stalled` message of `hazard`: what is wrong and which field or annotation fixes it.
fn message(vmid: u64, hazard: &Hazard) -> String {
    match hazard {
        Hazard::HasSnapshots(names) => format!(
            "guest {vmid} has snapshots ({}) that Proxmox would destroy with it; delete them in \
             Proxmox, or annotate this object {DELETE_SNAPSHOTS_ANNOTATION}=true to delete them \
             with the guest",
            names.join(", ")
        ),
        Hazard::HaManaged(ha) => format!(
            "guest {vmid} is managed by HA ({ha}) and Proxmox refuses to delete it without \
             purge; set spec.deleteOptions.purge: true, or remove the HA resource"
        ),
        Hazard::ReplicationJobs(ids) => format!(
            "guest {vmid} has replication jobs ({}) and Proxmox refuses to delete it without \
             purge; set spec.deleteOptions.purge: true, or remove the jobs",
            ids.join(", ")
        ),
        Hazard::LinkedClones(clones) => format!(
            "template {vmid} has linked clones ({}) whose disks are built on its base disks; \
             delete them or replace them with full clones first",
            clones.join(", ")
        ),
        Hazard::Protected => format!("guest {vmid} is protected"),
    }
}
