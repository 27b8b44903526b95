//! Applying the plan: at most one step per pass, and not one that repeats without effect, that
//! Proxmox refused until its backoff ends, or a create beyond the connection's limits.

use std::time::Duration;

use kube::ResourceExt;
use kubepve_api::GuestStatus;
use kubepve_plan::{Desired, Observed, Plan, Step};

use super::act::{Act, act};
use super::outcome::{Outcome, converged};
use super::placement::create_slot;
use super::{Flow, Guest, Pass, ends, release};
use crate::conditions;
use crate::guest::GuestObject;

/// A guest waiting for a create slot looks again after this many task polls if nothing woke it.
const WAIT_FALLBACK_POLLS: u32 = 5;

/// How often the same step may run in a row before the reconcile stops repeating it.
const MAX_REPEATS: u32 = 3;

/// Apply: at most one step of the plan, unless it repeated without effect, Proxmox refused it
/// and its backoff has not ended, or it waits for a create slot. No step left: converged, or
/// for a deletion, released.
pub(super) async fn apply<K: GuestObject>(
    guest: Guest<'_, K>,
    st: &mut GuestStatus,
    pass: &Pass,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    poll: Duration,
) -> Flow<Outcome> {
    let Guest {
        object, ctx, conn, ..
    } = guest;
    let settings = &ctx.settings;
    let uid = &pass.uid;
    let Some(step) = plan.next_step().cloned() else {
        if pass.deleting {
            return release(object, ctx, Some(conn)).await;
        }
        conn.unplace(uid);
        if pass.restart_requested {
            // Nothing to reboot (a stopped guest): the request is satisfied.
            st.restarted_at = pass.restart_annotation.clone();
        }
        ctx.repeats.clear(uid);
        ctx.refusals.clear(uid);
        return Ok(converged(observed, plan, poll));
    };
    let text = step.to_string();
    if step.is_mutating() && ctx.repeats.seen(uid, pass.generation, &text) >= MAX_REPEATS {
        let changes: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
        let message = format!(
            "Proxmox accepted \"{step}\" {MAX_REPEATS} times but the guest still differs ({}); \
             not repeating it until the spec changes",
            changes.join("; ")
        );
        return ends(Outcome::stalled(
            "NotConverging",
            message,
            settings.drift_interval,
        ));
    }
    let refusal_key = match step {
        Step::Migrate { .. } => super::task::MIGRATE_REFUSAL_KEY,
        _ => text.as_str(),
    };
    if let Some(left) = ctx.refusals.held_back(uid, pass.generation, refusal_key) {
        // Proxmox refused this very step: keep its answer in the conditions until the backoff
        // ends instead of sending the request again on every pass.
        let (reason, message) = conditions::find(&st.conditions, conditions::STALLED)
            .filter(|c| c.status == "True")
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_else(|| {
                let message = format!("Proxmox refused to {}; retrying later", step.name());
                ("ProxmoxRejected".into(), message)
            });
        return ends(Outcome::stalled(&reason, message, left));
    }
    let wake = || {
        ctx.waker(
            K::KIND,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
        )
    };
    if let Some(slot) = create_slot(&step, desired.node())
        && let Err(limit) = conn.try_start_create(uid, slot, wake())
    {
        // Waiting costs no Proxmox call and no pass: a slot that frees up wakes the first
        // object waiting that can start. The requeue is only a fallback, for the last slots of
        // a batch whose woken waiter never came (deleted, or failing elsewhere).
        return ends(Outcome::progressing(
            "WaitingForCreateSlot",
            limit,
            settings.task_poll * WAIT_FALLBACK_POLLS,
        ));
    }
    if matches!(step, Step::Adopt { .. }) {
        st.adopted = Some(true);
    }
    let job = Act {
        observed,
        plan,
        step: &step,
        restart_request: pass
            .restart_requested
            .then(|| pass.restart_annotation.clone())
            .flatten(),
    };
    let outcome = act(&guest, st, job).await;
    if st.current_task.is_none() {
        // The create or clone did not start a task: its slot is free again.
        conn.end_create(uid);
    }
    Ok(outcome?)
}
