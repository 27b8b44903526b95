//! One reconcile of a guest object, as named steps read top to bottom in `steps`: dereference
//! the connection, follow the task in flight, validate the spec, settle the VMID, observe the
//! guest, build the desired state (and place it), plan, apply at most one step, and update the
//! status at the end ([`reconcile`]). A step that ends the pass early says so with a `Halt`.
//!
//! The UPID of a started task goes into `status.currentTask` at once and the reconcile requeues
//! instead of waiting; a later pass reads the task's end into `status.lastTask` and an Event.
//! Where and why status is written before the end of a pass is `checkpoint`'s to say.

use std::sync::Arc;
use std::time::Instant;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubepve_api::{FINALIZER, GuestStatus, ManagementPolicy, Phase, RESTARTED_AT_ANNOTATION};

use super::observe::{Freshness, forget};
use super::{GuestContext, GuestObject};
use crate::conditions::{Health, now};
use crate::proxmox::registry::Connection;

mod act;
mod apply;
mod checkpoint;
mod connection;
mod decide;
mod inputs;
mod outcome;
mod placement;
mod target;
mod task;

pub(crate) use act::Acted;
use apply::apply;
use checkpoint::{Checkpoint, checkpoint};
use decide::{build, plan};
use outcome::Outcome;
use target::{observe_guest, settle_vmid, validate};
use task::follow_task;

/// What can fail in a guest reconcile and is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// A Kubernetes API call failed.
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    /// A Proxmox call failed in a way worth retrying.
    #[error("proxmox {op} for VMID {vmid}: {source}")]
    Proxmox {
        /// What the operator was doing.
        op: &'static str,
        /// The guest.
        vmid: u64,
        /// The client error (never carries credentials).
        source: pve_client::Error,
    },
}

impl GuestError {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            GuestError::Kube(_) => "Kube",
            GuestError::Proxmox { .. } => "Proxmox",
        }
    }
}

/// Reconciles one ProxmoxVM or ProxmoxContainer.
#[tracing::instrument(skip_all, fields(kind = K::KIND, name = %object.name_any(), namespace = object.namespace().unwrap_or_default()))]
pub async fn reconcile<K: GuestObject>(
    object: Arc<K>,
    ctx: Arc<GuestContext>,
) -> Result<Action, GuestError> {
    // A cache that does not show this operator's last write yet would undo it (`writes`).
    if ctx.writes.behind(&*object) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let started = Instant::now();
    let deleting = object.meta().deletion_timestamp.is_some();
    let has_finalizer = object.finalizers().iter().any(|f| f == FINALIZER);
    if deleting && !has_finalizer {
        return Ok(Action::await_change());
    }
    if !deleting {
        crate::finalizer::add(&ctx.client, &ctx.writes, &*object).await?;
    }
    let prior = object.guest_status().cloned().unwrap_or_default();
    let mut st = prior.clone();
    let pass = Pass::of(&*object, &st, deleting);
    let halted = steps(&*object, &ctx, &mut st, &pass).await;
    ctx.metrics.reconciled(K::KIND, started.elapsed());
    ctx.track_task(
        &pass.uid,
        st.current_task.is_some() && !matches!(halted, Err(Halt::Released)),
    );
    let outcome = match halted {
        Ok(outcome) | Err(Halt::Ends(outcome)) => outcome,
        // Deletion finished: the finalizer is gone, so is the object.
        Err(Halt::Released) => return Ok(Action::await_change()),
        Err(Halt::Failed(error)) => {
            if st != prior {
                checkpoint(&ctx, &*object, &st, Checkpoint::PassEnded).await?;
            }
            return Err(error);
        }
    };
    // Update status.
    let generation = object.meta().generation;
    st.observed_generation = generation;
    if let Some(phase) = outcome.phase {
        st.phase = Some(phase);
    }
    st.conditions = outcome.health.apply(&st.conditions, generation, &now());
    if st != prior {
        checkpoint(&ctx, &*object, &st, Checkpoint::PassEnded).await?;
    }
    // A failure's backoff ends with any other outcome, but a migration that runs again after
    // a failed one keeps it, so that repeated failures wait longer each time.
    if !matches!(outcome.health, Health::Stalled { .. }) && st.phase != Some(Phase::Migrating) {
        ctx.backoff.reset(&pass.uid);
    }
    Ok(outcome.action)
}

/// How a step ends the pass before the last one.
enum Halt {
    /// The pass is over: this is how the object looks and when to come back.
    Ends(Outcome),
    /// The object was released (finalizer removed): nothing to write or requeue.
    Released,
    /// A failure to retry with backoff.
    Failed(GuestError),
}

impl From<GuestError> for Halt {
    fn from(error: GuestError) -> Self {
        Halt::Failed(error)
    }
}

impl From<kube::Error> for Halt {
    fn from(error: kube::Error) -> Self {
        Halt::Failed(GuestError::Kube(error))
    }
}

/// A step's result: what the next step needs, or how the pass ends.
type Flow<T> = Result<T, Halt>;

/// Ends the pass with `outcome`.
fn ends<T>(outcome: Outcome) -> Flow<T> {
    Err(Halt::Ends(outcome))
}

/// A Proxmox failure while doing `op` to `vmid`.
fn proxmox(op: &'static str, vmid: u64) -> impl FnOnce(pve_client::Error) -> GuestError {
    move |source| GuestError::Proxmox { op, vmid, source }
}

/// What one pass knows about the object from the start.
struct Pass {
    uid: String,
    generation: i64,
    deleting: bool,
    observe_only: bool,
    adopt: bool,
    /// The restart annotation, and whether it asks for a restart not done yet.
    restart_annotation: Option<String>,
    restart_requested: bool,
}

impl Pass {
    fn of<K: GuestObject>(object: &K, st: &GuestStatus, deleting: bool) -> Self {
        let common = object.common();
        let restart_annotation = object.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
        Self {
            uid: object.uid().unwrap_or_default(),
            generation: object.meta().generation.unwrap_or_default(),
            deleting,
            observe_only: common.management_policy == ManagementPolicy::ObserveOnly,
            adopt: common.adopt.is_some(),
            restart_requested: restart_annotation.is_some()
                && restart_annotation != st.restarted_at,
            restart_annotation,
        }
    }
}

/// The guest a pass works on once its connection and VMID are known.
pub(super) struct Guest<'a, K> {
    pub(super) object: &'a K,
    pub(super) ctx: &'a GuestContext,
    pub(super) conn: &'a Connection,
    pub(super) vmid: u64,
}

impl<K> Clone for Guest<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Guest<'_, K> {}

/// The steps of one pass, top to bottom; each either hands the next what it needs or ends the
/// pass.
async fn steps<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    st: &mut GuestStatus,
    pass: &Pass,
) -> Flow<Outcome> {
    release_if_nothing_to_delete(object, ctx, st, pass).await?;
    let conn = connection::usable(object, ctx, pass.deleting).map_err(Halt::Ends)?;
    let freshness = follow(object, ctx, &conn, st, pass.deleting).await?;
    validate(object.common(), st, pass, ctx.settings.backoff.1)?;
    let vmid = settle_vmid(object, ctx, &conn, st).await?;
    let guest = Guest {
        object,
        ctx,
        conn: &conn,
        vmid,
    };
    let (observed, poll) = observe_guest(guest, st, pass, freshness).await?;
    let desired = build(guest, st, pass, &observed, poll).await?;
    let plan = plan(guest, st, pass, &desired, &observed).await?;
    apply(guest, st, pass, &desired, &observed, &plan, poll).await
}

/// Dereference, the short way out: observing never changes the guest, and neither does deleting
/// the observer; an object that never had a VMID never created anything. Neither needs the
/// connection.
async fn release_if_nothing_to_delete<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    st: &GuestStatus,
    pass: &Pass,
) -> Flow<()> {
    let never_created = object.common().vmid.is_none() && st.vmid.is_none();
    if pass.deleting && (pass.observe_only || never_created) {
        return release(object, ctx, None).await;
    }
    Ok(())
}

/// The task in flight, if any; how fresh the guest's read must be after it.
async fn follow<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    st: &mut GuestStatus,
    deleting: bool,
) -> Flow<Freshness> {
    // A deletion acts on what Proxmox shows now, never on a read up to a poll interval old: the
    // guest may be gone already, or its VMID may meanwhile belong to someone else.
    let mut freshness = if deleting {
        Freshness::Direct
    } else {
        Freshness::Shared
    };
    match follow_task(object, ctx, conn, st, &mut freshness).await? {
        Some(outcome) => ends(outcome),
        None => Ok(freshness),
    }
}

/// Removes the finalizer once the guest is gone (or orphaned, or never was ours).
async fn release<K: GuestObject, T>(
    object: &K,
    ctx: &GuestContext,
    conn: Option<&Connection>,
) -> Flow<T> {
    crate::finalizer::remove(&ctx.client, &ctx.writes, object).await?;
    let uid = object.uid().unwrap_or_default();
    forget(&ctx.observations, &uid);
    if let Some(conn) = conn {
        conn.resync.forget(&uid);
        conn.unplace(&uid);
        conn.end_create(&uid);
    }
    Err(Halt::Released)
}
