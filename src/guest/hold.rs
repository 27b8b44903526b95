//! Why a step may not run yet: what the pre-flight checks (`preflight`) and the configuration
//! backup (`backup`) before a destructive step answer, for the reconcile to report.

use super::reconcile::GuestError;

/// Why a step may not run yet, or what failed while checking.
#[derive(Debug)]
pub enum Hold {
    /// A pre-flight check failed: a condition reason and what to do.
    Refused {
        /// PascalCase reason.
        reason: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Reading Proxmox or writing the backup failed; the step must not run.
    Failed(GuestError),
}

/// A Proxmox read that failed while checking or backing up, as a [`Hold`].
pub(super) fn proxmox(op: &'static str, vmid: u64) -> impl Fn(pve_client::Error) -> Hold {
    move |source| Hold::Failed(GuestError::Proxmox { op, vmid, source })
}
