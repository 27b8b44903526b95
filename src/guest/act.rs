//! Executing one planned step against Proxmox. Steps that start a Proxmox task return its UPID;
//! the reconcile records it in status and comes back later instead of waiting for it.

use kubepve_plan::{GuestKind, Step};
use pve_client::{Client, Upid};

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

/// Executes `step` for the guest `vmid` of `kind`, on `node` (where it is, or where to create it).
pub async fn execute(
    pve: &Client,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    step: &Step,
) -> Result<Acted, pve_client::Error> {
    if matches!(step, Step::WaitForLock { .. }) {
        return Ok(Acted::Nothing);
    }
    let vmid = i64::try_from(vmid).unwrap_or_default();
    Ok(
        match kubepve_plan::execute(pve, kind, node, vmid, step).await? {
            Some(upid) => Acted::Task(upid),
            None => Acted::Done,
        },
    )
}

/// The phase a running step puts the guest in.
pub fn phase_of(step: &Step) -> kubepve_api::Phase {
    use kubepve_api::Phase;
    match step {
        Step::Create { .. } | Step::Clone { .. } => Phase::Creating,
        Step::Start => Phase::Starting,
        Step::Shutdown { .. } | Step::Stop => Phase::Stopping,
        Step::Delete { .. } | Step::RemoveOwnership { .. } => Phase::Deleting,
        Step::Migrate { .. } => Phase::Migrating,
        Step::SetConfig { .. }
        | Step::Adopt { .. }
        | Step::ResizeDisk { .. }
        | Step::Reboot
        | Step::WaitForLock { .. } => Phase::Updating,
    }
}
