//! The four points where a guest reconcile writes its status, and why.
//!
//! Status is the operator's only memory that survives a restart (or a new leader), and a guest
//! reconcile creates things in Proxmox that nothing else would lead it back to. So each fact
//! that would otherwise be lost is written the moment it is known, before the step that depends
//! on it, and the rest waits for the end of the pass:
//!
//! 1. [`Checkpoint::VmidAllocated`]: a VMID taken from `/cluster/nextid` is recorded before the
//!    guest is created, so that a restarted operator finds the guest (and its ownership marks)
//!    under that VMID instead of allocating another and creating a second guest.
//! 2. [`Checkpoint::NodeChosen`]: the node placement chose is recorded before the create, so
//!    that a restarted operator creates (or finds) the guest there instead of placing it anew.
//! 3. [`Checkpoint::TaskStarted`]: the UPID of a started Proxmox task is recorded at once, so
//!    that a restarted operator follows that task instead of starting the step again.
//! 4. [`Checkpoint::PassEnded`]: everything else (conditions, phase, the last task's end,
//!    planned changes) at the end of the pass, only when it changed; also when the pass fails,
//!    so that what it learned (an allocated VMID, a task's end) is kept before the retry.

use kube::ResourceExt;
use kubepve_api::GuestStatus;

use crate::guest::{GuestContext, GuestObject};
use crate::status;

/// A point where a guest reconcile writes its status (see the module text for why each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checkpoint {
    /// A VMID was allocated; nothing is created yet.
    VmidAllocated,
    /// Placement chose the node; nothing is created yet.
    NodeChosen,
    /// A Proxmox task started; its UPID is in `status.currentTask`.
    TaskStarted,
    /// The pass ended (or failed) with a status that differs from the one it read.
    PassEnded,
}

/// Writes `st` as the status of `object` at `point`.
pub(super) async fn checkpoint<K: GuestObject>(
    ctx: &GuestContext,
    object: &K,
    st: &GuestStatus,
    point: Checkpoint,
) -> Result<(), kube::Error> {
    tracing::debug!(name = %object.name_any(), ?point, "writing status");
    status::write(ctx, object, st).await
}
