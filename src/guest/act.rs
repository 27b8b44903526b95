//! Executing one planned step against Proxmox. Steps that start a Proxmox task return its UPID;
//! the reconcile records it in status and comes back later instead of waiting for it.

use kubepve_plan::{GuestKind, Step};
use pve_client::{Client, DeleteOptions, Params, ShutdownOptions, Upid};

/// What executing a step did.
#[derive(Debug)]
pub enum Acted {
    /// A Proxmox task was started.
    Task(Upid),
    /// The change was applied synchronously.
    Done,
    /// Nothing was sent (a lock to wait for).
    Nothing,
}

/// The planner's parameters as the client sends them (secrets included, only here).
fn params(p: &kubepve_plan::Params) -> Params {
    p.expose().fold(Params::new(), |acc, (k, v)| acc.set(k, v))
}

fn kind_path(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "qemu",
        GuestKind::Lxc => "lxc",
    }
}

/// Executes `step` for the guest `vmid` of `kind`, on `node` (where it is, or where to create it).
pub async fn execute(
    pve: &Client,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    step: &Step,
) -> Result<Acted, pve_client::Error> {
    let vmid32 = u32::try_from(vmid).unwrap_or(u32::MAX);
    let pve_kind = match kind {
        GuestKind::Qemu => pve_client::GuestKind::Qemu,
        GuestKind::Lxc => pve_client::GuestKind::Lxc,
    };
    let guest = pve.guest(pve_kind, node, vmid32);
    let acted = match step {
        Step::Create { params: p } => {
            let path = format!("nodes/{node}/{}", kind_path(kind));
            Acted::Task(pve.post::<Upid>(&path, params(p)).await?)
        }
        Step::Clone {
            source_vmid,
            source_node,
            params: p,
        } => {
            let path = format!(
                "nodes/{source_node}/{}/{source_vmid}/clone",
                kind_path(kind)
            );
            Acted::Task(pve.post::<Upid>(&path, params(p)).await?)
        }
        Step::SetConfig {
            params: p,
            delete,
            digest,
            ..
        } => {
            let mut sent = params(p);
            if !delete.is_empty() {
                sent = sent.set("delete", delete.join(","));
            }
            sent = sent.opt("digest", digest.as_deref());
            guest.update_config(sent).await?;
            Acted::Done
        }
        Step::RemoveOwnership { params: p, delete } => {
            let mut sent = params(p);
            if !delete.is_empty() {
                sent = sent.set("delete", delete.join(","));
            }
            guest.update_config(sent).await?;
            Acted::Done
        }
        Step::ResizeDisk { disk, size } => Acted::Task(guest.resize(disk, size).await?),
        Step::Start => Acted::Task(guest.start().await?),
        Step::Shutdown {
            timeout_seconds,
            force,
        } => Acted::Task(
            guest
                .shutdown(ShutdownOptions {
                    timeout: Some(*timeout_seconds),
                    force_stop: *force,
                })
                .await?,
        ),
        Step::Stop => Acted::Task(guest.stop().await?),
        Step::Reboot => Acted::Task(guest.reboot().await?),
        Step::Delete {
            purge,
            destroy_unreferenced_disks,
        } => Acted::Task(
            guest
                .delete(DeleteOptions {
                    purge: *purge,
                    destroy_unreferenced_disks: *destroy_unreferenced_disks,
                })
                .await?,
        ),
        Step::WaitForLock { .. } => Acted::Nothing,
    };
    Ok(acted)
}

/// The phase a running step puts the guest in.
pub fn phase_of(step: &Step) -> kubepve_api::Phase {
    use kubepve_api::Phase;
    match step {
        Step::Create { .. } | Step::Clone { .. } => Phase::Creating,
        Step::Start => Phase::Starting,
        Step::Shutdown { .. } | Step::Stop => Phase::Stopping,
        Step::Delete { .. } | Step::RemoveOwnership { .. } => Phase::Deleting,
        Step::SetConfig { .. }
        | Step::ResizeDisk { .. }
        | Step::Reboot
        | Step::WaitForLock { .. } => Phase::Updating,
    }
}
