//! Pre-flight checks while a guest object is being deleted: before each step (shutdown, stop,
//! destroy), what Proxmox would refuse or what would be lost silently. Snapshots not taken by
//! ProxmoxSnapshot objects (kept unless the object is annotated
//! `kubepve.io/delete-snapshots: "true"`), HA management and
//! replication jobs (Proxmox refuses without `deleteOptions.purge`), and a template's linked
//! clones (they would break). A failed check stops the deletion before the guest is even shut
//! down, with a `Stalled` condition that says what to do. Protection is the planner's
//! (`Blocker::Protected`).

use kube::ResourceExt;
use kubepve_plan::Observed;

use super::GuestObject;
use super::hold::{Hold, proxmox};
use super::observe::pve_kind;
use crate::proxmox::registry::Connection;

/// Snapshots of ProxmoxSnapshot objects (an owner line in their description) go with the
/// guest, as their objects go with the guest object; only the others hold a deletion back.
fn is_ours(snapshot: &pve_client::types::Snapshot) -> bool {
    kubepve_plan::snapshot::is_kubepve_description(snapshot.description.as_deref().unwrap_or(""))
}

/// Set to `"true"` on an object to delete its guest together with the guest's snapshots.
pub const DELETE_SNAPSHOTS_ANNOTATION: &str = "kubepve.io/delete-snapshots";

/// Checks that deleting the guest `vmid` of `object` loses nothing unasked and that Proxmox
/// will not refuse it.
pub async fn check<K: GuestObject>(
    object: &K,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
) -> Result<(), Hold> {
    let pve = &conn.pve;
    let kind = pve_kind(K::PVE_KIND);
    let vmid32 = u32::try_from(vmid).unwrap_or_default();
    let purge = object.common().delete_options.purge;
    let refuse = |reason, message| Err(Hold::Refused { reason, message });
    let allowed = object
        .annotations()
        .get(DELETE_SNAPSHOTS_ANNOTATION)
        .is_some_and(|v| v == "true");
    if !allowed {
        let snapshots: Vec<String> = pve
            .guest(kind, &observed.node, vmid32)
            .snapshots()
            .await
            .map_err(proxmox("list snapshots", vmid))?
            .into_iter()
            .filter(|s| !is_ours(s))
            .map(|s| s.name)
            .collect();
        if !snapshots.is_empty() {
            return refuse(
                "HasSnapshots",
                format!(
                    "guest {vmid} has snapshots ({}) that Proxmox would destroy with it; delete \
                     them in Proxmox, or annotate this object {DELETE_SNAPSHOTS_ANNOTATION}=true \
                     to delete them with the guest",
                    snapshots.join(", ")
                ),
            );
        }
    }
    // `/cluster/resources` shows HA management (`hastate`) with the privileges the operator
    // already has; `/cluster/ha/resources` would need Sys.Audit on `/`.
    let guests = pve.guests().await.map_err(proxmox("list guests", vmid))?;
    if !purge {
        let ha = guests
            .iter()
            .find(|g| g.vmid == Some(vmid))
            .and_then(|g| g.hastate.as_deref())
            .filter(|h| !h.is_empty());
        if let Some(state) = ha {
            return refuse(
                "HAManaged",
                format!(
                    "guest {vmid} is managed by HA (state {state}) and Proxmox refuses to delete \
                     it without purge; set spec.deleteOptions.purge: true, or remove the HA \
                     resource"
                ),
            );
        }
        let jobs = pve
            .replication_jobs()
            .await
            .map_err(proxmox("list replication jobs", vmid))?;
        let ids: Vec<&str> = jobs
            .iter()
            .filter(|j| j.guest == vmid)
            .map(|j| j.id.as_str())
            .collect();
        if !ids.is_empty() {
            return refuse(
                "ReplicationJobs",
                format!(
                    "guest {vmid} has replication jobs ({}) and Proxmox refuses to delete it \
                     without purge; set spec.deleteOptions.purge: true, or remove the jobs",
                    ids.join(", ")
                ),
            );
        }
    }
    if observed.is_template() {
        let mut clones = Vec::new();
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
                clones.push(id.to_string());
            }
        }
        if !clones.is_empty() {
            return refuse(
                "LinkedClones",
                format!(
                    "template {vmid} has linked clones ({}) whose disks are built on its base \
                     disks; delete them or replace them with full clones first",
                    clones.join(", ")
                ),
            );
        }
    }
    Ok(())
}
