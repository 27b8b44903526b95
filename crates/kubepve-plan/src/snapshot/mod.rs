//! Pure planning for snapshots, shared by the operator's ProxmoxSnapshot and
//! ProxmoxSnapshotRestore controllers and pvectl: what to do about one snapshot of one guest
//! given what Proxmox shows ([`plan_snapshot`]), and whether a rollback may run
//! ([`check_rollback`]).
//!
//! Ownership: a snapshot is an object's when a line of its description is
//! `kubepve.io/owner: <uid>` ([`owner_line`]). A snapshot of the wanted name that is not ours
//! is a conflict: it is reported and never deleted or rolled back to by the operator.

use kubepve_api::{OWNER_DESCRIPTION_PREFIX, RunStrategy};

/// The reason of a plan that waits for a guest Proxmox does not show (yet).
pub const GUEST_NOT_FOUND: &str = "GuestNotFound";

/// One snapshot as Proxmox lists it (`GET .../snapshot`, without `current`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedSnapshot {
    /// Snapshot name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Parent snapshot.
    pub parent: Option<String>,
    /// Creation time, Unix seconds.
    pub snaptime: Option<u64>,
    /// Includes RAM state.
    pub vmstate: bool,
}

impl ObservedSnapshot {
    /// True when the description carries the owner line of `uid`.
    pub fn is_owned_by(&self, uid: &str) -> bool {
        let line = owner_line(uid);
        self.description.lines().any(|l| l.trim() == line)
    }

    /// True when the description carries any kubepve owner line.
    pub fn is_kubepve(&self) -> bool {
        is_kubepve_description(&self.description)
    }
}

/// What Proxmox shows about the guest of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedGuest {
    /// The guest exists.
    pub exists: bool,
    /// The guest runs.
    pub running: bool,
    /// The guest's config lock (`snapshot`, `backup`, `rollback`, ...).
    pub lock: Option<String>,
    /// Its snapshots.
    pub snapshots: Vec<ObservedSnapshot>,
}

impl ObservedGuest {
    /// The snapshot called `name`.
    pub fn snapshot(&self, name: &str) -> Option<&ObservedSnapshot> {
        self.snapshots.iter().find(|s| s.name == name)
    }
}

/// What the object asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedSnapshot {
    /// The name in Proxmox.
    pub name: String,
    /// The object's UID (the ownership mark).
    pub uid: String,
    /// The user's description, if any.
    pub description: Option<String>,
    /// Save RAM state.
    pub vmstate: bool,
    /// The object is being deleted.
    pub deleting: bool,
    /// Keep the Proxmox snapshot when the object goes.
    pub retain: bool,
}

/// The one thing to do next about a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotPlan {
    /// Take the snapshot (one Proxmox task).
    Create {
        /// Name.
        name: String,
        /// The description to send: the owner line, then the user's text.
        description: String,
        /// Save RAM state.
        vmstate: bool,
    },
    /// The snapshot exists and is ours.
    Ready(ObservedSnapshot),
    /// Delete the snapshot (one Proxmox task).
    Delete {
        /// Name.
        name: String,
    },
    /// Nothing left to do in Proxmox for a deleted object: the finalizer may go.
    Release {
        /// Why (for the log and events).
        why: &'static str,
    },
    /// Not now; look again later.
    Wait {
        /// PascalCase reason.
        reason: &'static str,
        /// What is being waited for.
        message: String,
    },
    /// Never without a change by the user.
    Blocked {
        /// PascalCase reason.
        reason: &'static str,
        /// What to fix.
        message: String,
    },
}

/// The description line that marks a snapshot as the object `uid`'s.
pub fn owner_line(uid: &str) -> String {
    format!("{OWNER_DESCRIPTION_PREFIX}{uid}")
}

/// The description sent to Proxmox: the owner line, then the user's text.
pub fn description_with_owner(uid: &str, description: Option<&str>) -> String {
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(text) => format!("{}\n{text}", owner_line(uid)),
        None => owner_line(uid),
    }
}

/// True when a snapshot description carries a kubepve owner line: the snapshot belongs to a
/// ProxmoxSnapshot object, which goes with its guest.
pub fn is_kubepve_description(description: &str) -> bool {
    description
        .lines()
        .any(|l| l.trim().starts_with(OWNER_DESCRIPTION_PREFIX))
}

/// The user's part of a snapshot description (without kubepve owner lines).
pub fn user_description(description: &str) -> String {
    description
        .lines()
        .filter(|l| !l.trim().starts_with(OWNER_DESCRIPTION_PREFIX))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The next thing to do for `wanted`, given the guest as Proxmox shows it.
pub fn plan_snapshot(wanted: &WantedSnapshot, guest: &ObservedGuest) -> SnapshotPlan {
    let existing = guest.snapshot(&wanted.name);
    let ours = existing.is_some_and(|s| s.is_owned_by(&wanted.uid));
    if wanted.deleting {
        return match existing {
            _ if !guest.exists => SnapshotPlan::Release {
                why: "the guest is gone, and Proxmox destroyed its snapshots with it",
            },
            None => SnapshotPlan::Release {
                why: "the snapshot is gone",
            },
            Some(_) if !ours => SnapshotPlan::Release {
                why: "the snapshot of that name is not ours and is left alone",
            },
            Some(_) if wanted.retain => SnapshotPlan::Release {
                why: "deletionPolicy Retain keeps the snapshot in Proxmox",
            },
            Some(_) => match &guest.lock {
                Some(lock) => SnapshotPlan::Wait {
                    reason: "GuestLocked",
                    message: format!("the guest is locked ({lock}); deleting the snapshot after"),
                },
                None => SnapshotPlan::Delete {
                    name: wanted.name.clone(),
                },
            },
        };
    }
    if !guest.exists {
        return SnapshotPlan::Wait {
            reason: GUEST_NOT_FOUND,
            message: "the guest does not exist in Proxmox (yet)".into(),
        };
    }
    match existing {
        Some(s) if ours => SnapshotPlan::Ready(s.clone()),
        Some(_) => SnapshotPlan::Blocked {
            reason: "Conflict",
            message: format!(
                "the guest already has a snapshot {:?} that is not this object's (no owner line \
                 for it in its description); it is left alone: choose another snapshotName",
                wanted.name
            ),
        },
        None => match &guest.lock {
            // One snapshot at a time per guest: a running snapshot task holds the lock.
            Some(lock) => SnapshotPlan::Wait {
                reason: "GuestLocked",
                message: format!("the guest is locked ({lock}); taking the snapshot after"),
            },
            None => SnapshotPlan::Create {
                name: wanted.name.clone(),
                description: description_with_owner(&wanted.uid, wanted.description.as_deref()),
                vmstate: wanted.vmstate && guest.running,
            },
        },
    }
}

/// What a rollback would act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackInput<'a> {
    /// The snapshot name.
    pub name: &'a str,
    /// The ProxmoxSnapshot's UID (its ownership mark), or `None` when any snapshot will do
    /// (pvectl, where the user names the snapshot).
    pub owner_uid: Option<&'a str>,
    /// The guest object's run strategy, when the guest has one (the operator).
    pub run_strategy: Option<RunStrategy>,
    /// The guest object manages the guest (not ObserveOnly, not being deleted).
    pub managed: bool,
    /// Start the guest after the rollback.
    pub start_after: bool,
}

/// A rollback that must not run, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// PascalCase reason.
    pub reason: &'static str,
    /// What to fix.
    pub message: String,
    /// True when waiting may clear it (a lock); false when the user must change something.
    pub transient: bool,
}

/// Whether rolling the guest back to `input.name` may run now.
pub fn check_rollback(input: &RollbackInput<'_>, guest: &ObservedGuest) -> Result<(), Refusal> {
    let refuse = |reason, message: String, transient| {
        Err(Refusal {
            reason,
            message,
            transient,
        })
    };
    if !input.managed {
        return refuse(
            "GuestNotManaged",
            "the guest object does not let the operator change the guest (ObserveOnly, or being \
             deleted)"
                .into(),
            false,
        );
    }
    if !guest.exists {
        return refuse(GUEST_NOT_FOUND, "the guest does not exist".into(), true);
    }
    let Some(snapshot) = guest.snapshot(input.name) else {
        return refuse(
            "SnapshotNotFound",
            format!("the guest has no snapshot {:?}", input.name),
            true,
        );
    };
    if let Some(uid) = input.owner_uid
        && !snapshot.is_owned_by(uid)
    {
        return refuse(
            "Conflict",
            format!(
                "snapshot {:?} is not the ProxmoxSnapshot's (no owner line for it)",
                input.name
            ),
            false,
        );
    }
    if let Some(lock) = &guest.lock {
        return refuse("GuestLocked", format!("the guest is locked ({lock})"), true);
    }
    // A rollback stops a running guest. runStrategy Always forbids that stop unless the
    // guest is started again right after (startAfter, or RAM state that resumes it).
    let resumes = input.start_after || snapshot.vmstate;
    if guest.running && input.run_strategy == Some(RunStrategy::Always) && !resumes {
        return refuse(
            "RunStrategyForbidsStop",
            "the rollback stops the running guest, and its runStrategy Always does not allow a \
             stop: set startAfter: true, or set the guest's runStrategy to Manual or Halted first"
                .into(),
            false,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
