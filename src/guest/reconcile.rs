//! One reconcile of a guest object: observe -> plan -> act (at most one Proxmox task) -> status.
//!
//! The UPID of a started task goes into `status.currentTask` at once and the reconcile requeues
//! instead of waiting; a later pass reads the task's end into `status.lastTask` and an Event.
//! The VMID is recorded in status before anything is created, so a restarted operator finds
//! its guest (and its ownership tag) instead of creating a second one.

use std::sync::Arc;
use std::time::Instant;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubepve_api::{FINALIZER, GuestStatus, ManagementPolicy, RESTARTED_AT_ANNOTATION};
use kubepve_plan::{Blocker, Intent, Step};

use super::observe::{Freshness, Observation, Subject, forget, observe};
use super::{GuestObject, status};
use crate::conditions::{self, Health, now};
use crate::connection::registry::Connection;
use crate::context::Context;

mod connection;
mod inputs;
mod outcome;
mod placement;
mod step;
mod task;

use inputs::desired_state;
use outcome::{Outcome, blocked, converged, deferred, observing, set_restart_required, settled};
use placement::{create_slot, place};
use step::act;
use task::follow_task;

/// How often the same step may run in a row before the reconcile stops repeating it.
const MAX_REPEATS: u32 = 3;

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
    ctx: Arc<Context>,
) -> Result<Action, GuestError> {
    let started = Instant::now();
    let deleting = object.meta().deletion_timestamp.is_some();
    let has_finalizer = object.finalizers().iter().any(|f| f == FINALIZER);
    if deleting && !has_finalizer {
        return Ok(Action::await_change());
    }
    if !deleting {
        crate::finalizer::add(&ctx.client, &*object).await?;
    }
    let prior = object.guest_status().cloned().unwrap_or_default();
    let mut st = prior.clone();
    let outcome = pipeline(&*object, &ctx, &mut st, deleting).await;
    ctx.metrics.reconciled(K::KIND, started.elapsed());
    let uid = object.uid().unwrap_or_default();
    ctx.track_task(
        &uid,
        st.current_task.is_some() && !matches!(outcome, Ok(None)),
    );
    let outcome = match outcome {
        Ok(Some(outcome)) => outcome,
        // Deletion finished: the finalizer is gone, so is the object.
        Ok(None) => return Ok(Action::await_change()),
        Err(error) => {
            // Keep what this pass learned (an allocated VMID, a task's end) before retrying.
            if st != prior {
                status::write(&ctx, &*object, &st).await?;
            }
            return Err(error);
        }
    };
    let generation = object.meta().generation;
    st.observed_generation = generation;
    if let Some(phase) = outcome.phase {
        st.phase = Some(phase);
    }
    st.conditions = outcome.health.apply(&st.conditions, generation, &now());
    if st != prior {
        status::write(&ctx, &*object, &st).await?;
    }
    if !matches!(outcome.health, Health::Stalled { .. }) {
        ctx.guest_backoff.reset(&object.uid().unwrap_or_default());
    }
    Ok(outcome.action)
}

/// The pipeline; `Ok(None)` means the object was released (finalizer removed).
async fn pipeline<K: GuestObject>(
    object: &K,
    ctx: &Context,
    st: &mut GuestStatus,
    deleting: bool,
) -> Result<Option<Outcome>, GuestError> {
    let settings = &ctx.settings;
    let common = object.common();
    let observe_only = common.management_policy == ManagementPolicy::ObserveOnly;
    if deleting && (observe_only || (common.vmid.is_none() && st.vmid.is_none())) {
        // Observing never changes the guest, and neither does deleting the observer; an object
        // that never had a VMID never created anything. Neither needs the connection.
        return release(object, ctx, None).await;
    }
    let conn = match connection::usable(object, ctx, deleting) {
        Ok(conn) => conn,
        Err(outcome) => return Ok(Some(outcome)),
    };

    // 1. The task in flight, if any.
    // A deletion acts on what Proxmox shows now, never on a read up to a poll interval old: the
    // guest may be gone already, or its VMID may meanwhile belong to someone else.
    let mut freshness = if deleting {
        Freshness::Direct
    } else {
        Freshness::Shared
    };
    if let Some(outcome) = follow_task(object, ctx, &conn, st, &mut freshness).await? {
        return Ok(Some(outcome));
    }

    // 2. The VMID, recorded in status before anything is created.
    if (observe_only || common.adopt.is_some()) && common.vmid.is_none() && !deleting {
        let message = "managementPolicy ObserveOnly and adopt need spec.vmid: the existing guest";
        return Ok(Some(Outcome::stalled(
            "InvalidSpec",
            message,
            settings.backoff.1,
        )));
    }
    let vmid = match (common.vmid, st.vmid) {
        (Some(wanted), Some(recorded)) if wanted != recorded && !deleting => {
            let message = format!(
                "spec.vmid {wanted} differs from VMID {recorded} that this object already uses; \
                 remove spec.vmid or set it to {recorded}"
            );
            return Ok(Some(Outcome::stalled(
                "VmidMismatch",
                message,
                settings.backoff.1,
            )));
        }
        // The recorded VMID is the one this object created: a deletion always goes there.
        (_, Some(v)) | (Some(v), None) => u64::try_from(v).unwrap_or_default(),
        (None, None) => {
            let allocated =
                inputs::allocate_vmid(&conn)
                    .await
                    .map_err(|source| GuestError::Proxmox {
                        op: "allocate vmid",
                        vmid: 0,
                        source,
                    })?;
            let Some(vmid) = allocated else {
                let (start, end) = conn.policy.vmid_range.unwrap_or_default();
                let message = format!(
                    "every VMID in the connection's vmidRange {start}-{end} is taken; widen the \
                     range or free a VMID"
                );
                return Ok(Some(Outcome::stalled(
                    "VmidRangeExhausted",
                    message,
                    settings.connection_retry,
                )));
            };
            st.vmid = Some(i64::try_from(vmid).unwrap_or_default());
            status::write(ctx, object, st).await?;
            vmid
        }
    };
    st.vmid = Some(i64::try_from(vmid).unwrap_or_default());

    // 3. Observe.
    let uid = object.uid().unwrap_or_default();
    let generation = object.meta().generation.unwrap_or_default();
    let restart_annotation = object.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
    let restart_requested = restart_annotation.is_some() && restart_annotation != st.restarted_at;
    let subject = Subject {
        uid: &uid,
        generation,
        kind: K::PVE_KIND,
        vmid,
        freshness,
        settled: settled(st, generation, deleting || restart_requested),
    };
    let seen = observe(&conn, &ctx.observations, &settings.full_resync, &subject)
        .await
        .map_err(|source| GuestError::Proxmox {
            op: "observe",
            vmid,
            source,
        })?;
    let (observed, poll) = match seen {
        Observation::Seen { observed, recheck } => {
            let poll = recheck.map_or(conn.poll_interval, |r| r.min(conn.poll_interval));
            (observed, poll)
        }
        Observation::Deferred(after) => return Ok(Some(deferred(st, after))),
    };
    if observed.exists {
        super::migration::note_move(object, ctx, st.node.as_deref(), &observed.node).await;
        st.node = Some(observed.node.clone());
        if observed.power == kubepve_plan::Power::Running {
            conn.unplace(&uid);
        }
    } else if (observe_only || common.adopt.is_some()) && !deleting {
        // Only creating needs the named guest to exist: for a deletion, gone is done.
        let message = format!(
            "no guest with VMID {vmid} in the cluster: {} names an existing guest",
            if observe_only {
                "managementPolicy ObserveOnly"
            } else {
                "spec.adopt"
            }
        );
        return Ok(Some(Outcome::stalled(
            "GuestNotFound",
            message,
            conn.poll_interval,
        )));
    }

    // 4. Plan.
    let intent = Intent {
        deleting,
        restart_requested,
        adopt: common.adopt.is_some(),
        placed_node: st.placed_node.clone(),
    };
    let node = common.node.clone().or_else(|| st.node.clone());
    let mut desired =
        match desired_state(object, ctx, &conn, vmid, &observed, deleting, node.clone()).await? {
            Ok(desired) => desired,
            Err(outcome) => return Ok(Some(outcome)),
        };
    if observe_only {
        return Ok(Some(observing(st, &desired, &observed, poll)));
    }
    if node.is_none() && !observed.exists && !deleting {
        // 4a. Placement, recorded in status before the guest is created.
        let allowed = common
            .placement
            .as_ref()
            .map(|p| p.allowed_nodes.as_slice())
            .filter(|a| !a.is_empty())
            .unwrap_or(&conn.policy.allowed_nodes);
        match place(&conn, &uid, &desired, allowed).await {
            Ok(Ok(chosen)) => {
                st.node = Some(chosen.clone());
                status::write(ctx, object, st).await?;
                desired = desired.on_node(chosen);
            }
            Ok(Err(reason)) => {
                return Ok(Some(Outcome::stalled(
                    "Unschedulable",
                    reason,
                    settings.connection_retry,
                )));
            }
            Err(source) => {
                return Err(GuestError::Proxmox {
                    op: "place guest",
                    vmid,
                    source,
                });
            }
        }
    }
    let plan = kubepve_plan::plan(&desired, &observed, &intent);
    st.placed_node = plan.placed_node.clone();
    if let Some(blocker) = &plan.blocker {
        if deleting
            && matches!(blocker, Blocker::Protected { .. })
            && object.common().protection == Some(false)
        {
            // The spec no longer asks for protection (what the blocked deletion advises):
            // clear it in Proxmox, and the next pass destroys the guest.
            let step = Step::SetConfig {
                params: kubepve_plan::Params::new(),
                delete: vec!["protection".into()],
                digest: observed.config.get("digest").cloned(),
                hotplug: vec!["protection".into()],
                needs_reboot: Vec::new(),
            };
            return act(object, ctx, &conn, st, vmid, &observed, &plan, &step, None)
                .await
                .map(Some);
        }
        return blocked(object, ctx, st, blocker).await.map(Some);
    }
    set_restart_required(st, &plan, object.meta().generation);
    st.planned_changes.clear();
    if let Some(adopt) = &common.adopt
        && !adopt.apply_changes
        && st.adopted == Some(true)
        && !deleting
        && plan.next_step().is_some_and(Step::is_mutating)
    {
        // An adopted guest is changed only when the spec says so: show what would change.
        st.planned_changes = plan.changes.iter().map(ToString::to_string).collect();
        let message = format!(
            "adopted guest {vmid} differs from the spec in {} ways (status.plannedChanges); set \
             spec.adopt.applyChanges to true to apply them, or change the spec to match the guest",
            st.planned_changes.len()
        );
        return Ok(Some(Outcome::stalled(
            "AwaitingApproval",
            message,
            conn.poll_interval,
        )));
    }

    // 5. Act: at most one step.
    let Some(step) = plan.next_step().cloned() else {
        if deleting {
            return release(object, ctx, Some(&conn)).await;
        }
        conn.unplace(&uid);
        if intent.restart_requested {
            // Nothing to reboot (a stopped guest): the request is satisfied.
            st.restarted_at = restart_annotation;
        }
        ctx.repeats.clear(&uid);
        ctx.refusals.clear(&uid);
        return Ok(Some(converged(&observed, &plan, poll)));
    };
    if step.is_mutating() && ctx.repeats.seen(&uid, generation, &step.to_string()) >= MAX_REPEATS {
        let changes: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
        let message = format!(
            "Proxmox accepted \"{step}\" {MAX_REPEATS} times but the guest still differs ({}); \
             not repeating it until the spec changes",
            changes.join("; ")
        );
        return Ok(Some(Outcome::stalled(
            "NotConverging",
            message,
            settings.drift_interval,
        )));
    }
    if let Some(left) = ctx.refusals.held_back(&uid, generation, &step.to_string()) {
        // Proxmox refused this very step: keep its answer in the conditions until the backoff
        // ends instead of sending the request again on every pass.
        let (reason, message) = conditions::find(&st.conditions, conditions::STALLED)
            .filter(|c| c.status == "True")
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_else(|| {
                let message = format!("Proxmox refused to {}; retrying later", step.name());
                ("ProxmoxRejected".into(), message)
            });
        return Ok(Some(Outcome::stalled(&reason, message, left)));
    }
    if let Some(slot) = create_slot(&step, desired.node())
        && let Err(limit) = conn.try_start_create(&uid, slot)
    {
        // Waiting costs no Proxmox call (the plan came from the shared read): look again soon,
        // as slots free up when the tasks holding them end.
        return Ok(Some(Outcome::progressing(
            "WaitingForCreateSlot",
            limit,
            settings.task_poll / 4,
        )));
    }
    if matches!(step, Step::Adopt { .. }) {
        st.adopted = Some(true);
    }
    let outcome = act(
        object,
        ctx,
        &conn,
        st,
        vmid,
        &observed,
        &plan,
        &step,
        intent
            .restart_requested
            .then_some(restart_annotation)
            .flatten(),
    )
    .await;
    if st.current_task.is_none() {
        // The create or clone did not start a task: its slot is free again.
        conn.end_create(&uid);
    }
    outcome.map(Some)
}

/// Removes the finalizer once the guest is gone (or orphaned, or never was ours).
async fn release<K: GuestObject>(
    object: &K,
    ctx: &Context,
    conn: Option<&Connection>,
) -> Result<Option<Outcome>, GuestError> {
    crate::finalizer::remove(&ctx.client, object).await?;
    let uid = object.uid().unwrap_or_default();
    forget(&ctx.observations, &uid);
    if let Some(conn) = conn {
        conn.resync.forget(&uid);
        conn.unplace(&uid);
        conn.end_create(&uid);
    }
    Ok(None)
}
