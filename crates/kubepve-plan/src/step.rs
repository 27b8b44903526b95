//! What a plan says: the ordered [`Step`]s, the human-readable [`Change`]s, and a [`Blocker`]
//! when nothing may be done.
//!
//! Every type here prints secrets as `(redacted)` (through [`Params`] and [`Change`]), so a plan
//! can go into logs, events and status messages as it is.

use std::fmt;

use serde::Serialize;

use crate::params::{Params, REDACTED};

/// One Proxmox action. The operator executes only the first step of a plan, waits for its task,
/// re-observes and plans again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Step {
    /// `POST /nodes/{node}/{qemu|lxc}` with `params` (which include `vmid`).
    Create {
        /// Form parameters.
        params: Params,
    },
    /// `POST /nodes/{source_node}/qemu/{source_vmid}/clone` with `params` (which include `newid`).
    Clone {
        /// The template's VMID.
        source_vmid: i64,
        /// The node to send the request to: the template's node when known, else the target node.
        source_node: String,
        /// Form parameters.
        params: Params,
    },
    /// `PUT .../config` (or the async `POST` for qemu) with `params` and `delete`.
    SetConfig {
        /// Keys to set.
        params: Params,
        /// Keys to remove (`delete=a,b`).
        delete: Vec<String>,
        /// The observed config digest, to send as `digest` so a concurrent edit is not lost.
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        /// Keys Proxmox applies at once (all keys when the guest is stopped).
        hotplug: Vec<String>,
        /// Keys that stay pending until the next cold start of a running guest.
        needs_reboot: Vec<String>,
    },
    /// `PUT .../resize` to grow a disk to an absolute size.
    ResizeDisk {
        /// The slot (`scsi0`, `rootfs`, `mp0`).
        disk: String,
        /// The new size in Proxmox notation (`50G`).
        size: String,
    },
    /// `POST .../status/start`.
    Start,
    /// `POST .../status/shutdown` with `timeout` and `forceStop`.
    Shutdown {
        /// Seconds to wait for the guest to power off.
        timeout_seconds: u32,
        /// Stop it hard after the timeout instead of failing.
        force: bool,
    },
    /// `POST .../status/stop`.
    Stop,
    /// `POST .../status/reboot`, which applies pending changes.
    Reboot,
    /// `DELETE /nodes/{node}/{qemu|lxc}/{vmid}`.
    Delete {
        /// `purge=1`: also remove from backup jobs, replication and HA.
        purge: bool,
        /// `destroy-unreferenced-disks=1`.
        destroy_unreferenced_disks: bool,
    },
    /// `PUT .../config` that removes the ownership marks (deletionPolicy Orphan).
    RemoveOwnership {
        /// Keys to set (the remaining tags, the description without the marker line).
        params: Params,
        /// Keys to remove (tags or description that become empty).
        delete: Vec<String>,
    },
    /// `PUT .../config` that adds the ownership marks to an existing guest (`spec.adopt`), and
    /// drops the marks of a pvectl manifest that owned it before.
    Adopt {
        /// The new `tags`.
        params: Params,
        /// The observed config digest, so a concurrent edit is not lost.
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    /// `POST .../migrate` to move the guest to another node of the cluster.
    Migrate {
        /// The node to move the guest to.
        target: String,
        /// `online=1`: live migration of a running VM.
        online: bool,
        /// `with-local-disks=1`: also move a running VM's node-local disks.
        with_local_disks: bool,
        /// `restart=1`: shut a running container down, move it, start it again.
        restart: bool,
    },
    /// The guest has a config lock; do nothing and observe again later.
    WaitForLock {
        /// The lock (`backup`, `clone`, ...).
        lock: String,
    },
}

impl Step {
    /// Whether executing the step changes the guest (everything but [`Step::WaitForLock`]).
    pub fn is_mutating(&self) -> bool {
        !matches!(self, Step::WaitForLock { .. })
    }

    /// A short name for status messages and metrics: `create`, `set-config`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Clone { .. } => "clone",
            Step::SetConfig { .. } => "set-config",
            Step::ResizeDisk { .. } => "resize-disk",
            Step::Start => "start",
            Step::Shutdown { .. } => "shutdown",
            Step::Stop => "stop",
            Step::Reboot => "reboot",
            Step::Delete { .. } => "delete",
            Step::RemoveOwnership { .. } => "remove-ownership",
            Step::Adopt { .. } => "adopt",
            Step::Migrate { .. } => "migrate",
            Step::WaitForLock { .. } => "wait-for-lock",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create { params } => write!(f, "create {params}"),
            Step::Clone {
                source_vmid,
                params,
                ..
            } => write!(f, "clone {source_vmid} {params}"),
            Step::SetConfig { params, delete, .. } => {
                write!(f, "set config {params}")?;
                if !delete.is_empty() {
                    write!(f, " delete={}", delete.join(","))?;
                }
                Ok(())
            }
            Step::ResizeDisk { disk, size } => write!(f, "resize {disk} to {size}"),
            Step::Start => f.write_str("start"),
            Step::Shutdown {
                timeout_seconds,
                force,
            } => write!(f, "shutdown (timeout {timeout_seconds}s, force {force})"),
            Step::Stop => f.write_str("stop"),
            Step::Reboot => f.write_str("reboot"),
            Step::Delete {
                purge,
                destroy_unreferenced_disks,
            } => write!(
                f,
                "delete (purge {purge}, destroy unreferenced disks {destroy_unreferenced_disks})"
            ),
            Step::RemoveOwnership { params, delete } => {
                write!(f, "remove ownership marks {params}")?;
                if !delete.is_empty() {
                    write!(f, " delete={}", delete.join(","))?;
                }
                Ok(())
            }
            Step::Adopt { params, .. } => write!(f, "adopt: set ownership {params}"),
            Step::Migrate {
                target,
                online,
                with_local_disks,
                restart,
            } => {
                let mode = match (online, restart) {
                    (true, _) => "online",
                    (false, true) => "restart",
                    (false, false) => "offline",
                };
                write!(f, "migrate to {target} ({mode}")?;
                if *with_local_disks {
                    f.write_str(", with local disks")?;
                }
                f.write_str(")")
            }
            Step::WaitForLock { lock } => write!(f, "wait for lock {lock}"),
        }
    }
}

/// One difference between the spec and the guest, for `pvectl diff` and status messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The config key (`memory`, `net0`), `power`, or a disk slot for a resize.
    pub key: String,
    /// The observed value (`None`: absent), `(redacted)` for secrets.
    pub from: Option<String>,
    /// The desired value (`None`: removed), `(redacted)` for secrets.
    pub to: Option<String>,
}

impl Change {
    pub(crate) fn new(key: &str, from: Option<&str>, to: Option<&str>, secret: bool) -> Self {
        let shown = |v: Option<&str>| v.map(|v| if secret { REDACTED } else { v }.to_string());
        Self {
            key: key.to_string(),
            from: shown(from),
            to: shown(to),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// Why the planner refuses to act at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Blocker {
    /// The VMID belongs to a guest without this object's ownership marks.
    ForeignGuest {
        /// What to tell the user.
        reason: String,
    },
    /// The guest carries another object's ownership marks.
    Conflict {
        /// What to tell the user.
        reason: String,
    },
    /// Deletion is blocked by Proxmox's protection flag.
    Protected {
        /// What to tell the user.
        reason: String,
    },
    /// The guest must be created but no node was given or chosen.
    NoNode {
        /// What to tell the user.
        reason: String,
    },
    /// `spec.node` asks for a migration that may not happen (a target outside
    /// `placement.allowedNodes`).
    MigrationRefused {
        /// What to tell the user.
        reason: String,
    },
}

impl Blocker {
    /// The message for conditions and events.
    pub fn reason(&self) -> &str {
        match self {
            Blocker::ForeignGuest { reason }
            | Blocker::Conflict { reason }
            | Blocker::Protected { reason }
            | Blocker::NoNode { reason }
            | Blocker::MigrationRefused { reason } => reason,
        }
    }
}

/// The result of planning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Steps in order; only the first is meant to run before the next plan.
    pub steps: Vec<Step>,
    /// What differs, for humans.
    pub changes: Vec<Change>,
    /// Config keys that wait for a cold start (pending now, or made pending by this plan's
    /// config step), sorted.
    pub restart_required: Vec<String>,
    /// Things the user should know that do not stop the plan.
    pub warnings: Vec<String>,
    /// Set when nothing may be done; `steps` is then empty.
    pub blocker: Option<Blocker>,
    /// What `status.placedNode` should hold after this plan (see [`Intent::placed_node`]).
    ///
    /// [`Intent::placed_node`]: crate::Intent::placed_node
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placed_node: Option<String>,
}

impl Plan {
    /// The step to execute now.
    pub fn next_step(&self) -> Option<&Step> {
        self.steps.first()
    }

    /// Nothing to do and nothing in the way: the guest matches the spec.
    pub fn is_converged(&self) -> bool {
        self.steps.is_empty() && self.blocker.is_none()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = &self.blocker {
            writeln!(f, "blocked: {}", b.reason())?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{}. {s}", i + 1)?;
        }
        for c in &self.changes {
            writeln!(f, "  {c}")?;
        }
        if !self.restart_required.is_empty() {
            writeln!(f, "restart required: {}", self.restart_required.join(", "))?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
