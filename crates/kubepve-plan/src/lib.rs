//! The pure planner shared by the operator and `pvectl apply`/`diff`: given a desired guest and
//! the observed Proxmox guest, it returns the ordered steps that make Proxmox match the spec.
//! No I/O, no clock, no randomness: the same inputs always give the same [`Plan`].
//!
//! # Use
//!
//! ```
//! use kubepve_plan::{Desired, Identity, Intent, Observed, Secrets, Step, plan};
//!
//! let spec: kubepve_api::ProxmoxContainerSpec = serde_json::from_value(serde_json::json!({
//!     "connectionRef": {"name": "pve"}, "node": "pve1",
//!     "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
//!     "rootfs": {"storage": "local-lvm", "size": "8Gi"}, "memory": "1Gi",
//! })).unwrap();
//! let identity = Identity { name: "cache".into(), uid: "0a1b2c3d".into(), vmid: 200, node: None };
//! let desired = Desired::container(&spec, &identity, &Secrets::default()).unwrap();
//!
//! // Nothing there yet: create it (the Start after it is a forecast).
//! let p = plan(&desired, &Observed::absent(), &Intent::default());
//! assert!(matches!(p.next_step(), Some(Step::Create { .. })));
//!
//! // The operator executes ONE step, records the task, observes again and plans again.
//! ```
//!
//! Executing a step: [`Step::request`] gives the Proxmox request (method, path, parameters)
//! that the operator and `pvectl apply` both send. Send [`Params::expose`], never the printed
//! form.
//!
//! 1. [`Desired`] validates what the CRD schema cannot (whole MiB memory, extraConfig keys,
//!    a resolved template) and turns the spec into Proxmox config keys. [`PlanError`] says which
//!    field to fix.
//! 2. [`Observed`] is what the caller read: `GET .../config` (pending values applied, as
//!    Proxmox returns it by default; [`config_from_json`] converts the JSON), the keys of
//!    `GET .../pending` that have a change or deletion waiting, the power state, the lock.
//! 3. [`Intent`] carries the object's deletionTimestamp and restartedAt request.
//! 4. [`plan`] returns [`Plan`]: `steps` (only the first is meant to run before planning again;
//!    the rest is a forecast), `changes` for humans, `restart_required` (keys waiting for a cold
//!    start), `warnings`, and a [`Blocker`] when nothing may be done (foreign guest, protection).
//!
//! Because the operator runs one step per reconcile, every plan is computed from the state as
//! it is, never from a remembered previous plan: after a clone the next plan is the config
//! step; after a config step that left reboot-needing keys pending, the next plan reports them
//! in `restart_required` and reboots only under `restartPolicy: Automatic` or a restart request.
//!
//! # Semantics
//!
//! - Unset optional spec fields are not managed; disks and NICs the spec does not list are left
//!   alone; disks only grow; values are compared the way Proxmox normalises them
//!   (see the `compare` module), so applying twice plans nothing.
//! - Ownership: a guest is this object's when its tags hold `owner_tag(uid)`, or its description
//!   holds the owner line (the window between a clone and its config step). A guest that is not
//!   owned gets no mutating step, ever.
//! - Migration: an existing guest is moved ([`Step::Migrate`]) only when `spec.node` differs
//!   from where it is and from [`Intent::placed_node`] (the `spec.node` it last settled for);
//!   a guest moved by someone else is followed. [`MigrationCheck`] reads Proxmox's pre-flight
//!   answer (`GET .../migrate`) and says what blocks a migration (docs/migration.md).
//! - Secrets (cloud-init and root passwords, SSH keys) print as `(redacted)` in every `Debug`,
//!   `Display` and `Serialize` form of a plan; [`Params::expose`] gives the real values to the
//!   code that sends the request.

mod compare;
mod deletion;
mod desired;
mod error;
#[cfg(feature = "client")]
mod execute;
mod format;
mod hotplug;
mod migration;
#[cfg(feature = "client")]
mod observe;
mod observed;
mod params;
mod placement;
mod plan;
mod request;
pub mod snapshot;
mod step;
mod template;
pub mod vmset;

pub use deletion::{DeletionAllowed, DeletionFacts, Hazard, deletion_hazards};
pub use desired::{Desired, GuestKind, Identity, Secrets, TemplateRef};
pub use error::PlanError;
#[cfg(feature = "client")]
pub use execute::{execute, migration_check};
pub use migration::{MigrationCheck, NodeState, is_migration_task, moved_outside};
#[cfg(feature = "client")]
pub use observe::Listed;
pub use observed::{Intent, Observed, PendingKey, Power, config_from_json};
pub use params::{Params, REDACTED};
#[cfg(feature = "client")]
pub use placement::node_loads;
pub use placement::{DEFAULT_MEMORY_MIB, NodeLoad, choose_node, lowest_free_vmid};
pub use plan::{is_owned, other_owners, plan, preview};
pub use request::{Method, Request};
pub use step::{Blocker, Change, Plan, Step};
pub use template::{Candidate, NoTemplate, find_template};
