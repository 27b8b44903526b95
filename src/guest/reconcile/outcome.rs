//! How a reconcile ends: the kstatus health, the phase and when to come back, for the converged,
//! blocked and in-progress cases.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kubepve_api::{GuestStatus, Phase};
use kubepve_plan::{Blocker, Observed, Plan, Power};

use super::GuestError;
use crate::conditions::{self, Health, RESTART_REQUIRED, now};
use crate::context::Context;
use crate::guest::GuestObject;
use crate::guest::observe::forget;

/// The end of one reconcile: how the object looks and when to come back.
pub(super) struct Outcome {
    pub(super) health: Health,
    pub(super) action: Action,
    pub(super) phase: Option<Phase>,
}

impl Outcome {
    pub(super) fn progressing(reason: &str, message: impl Into<String>, after: Duration) -> Self {
        let health = Health::Progressing {
            reason: reason.into(),
            message: message.into(),
        };
        Self {
            health,
            action: Action::requeue(after),
            phase: None,
        }
    }
    pub(super) fn stalled(reason: &str, message: impl Into<String>, after: Duration) -> Self {
        let health = Health::Stalled {
            reason: reason.into(),
            message: message.into(),
        };
        Self {
            health,
            action: Action::requeue(after),
            phase: Some(Phase::Failed),
        }
    }
    pub(super) fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }
}

/// A plan that may not run: a foreign guest (Conflict) or protection blocking deletion.
pub(super) async fn blocked<K: GuestObject>(
    object: &K,
    ctx: &Context,
    st: &mut GuestStatus,
    blocker: &Blocker,
) -> Result<Outcome, GuestError> {
    if matches!(blocker, Blocker::ForeignGuest { .. }) && object.common().vmid.is_none() {
        // An allocated VMID that someone else took first (nextid hands the same id to
        // concurrent callers): forget it and allocate another.
        st.vmid = None;
        forget(&ctx.observations, &object.uid().unwrap_or_default());
        return Ok(Outcome::progressing(
            "VmidTaken",
            "the allocated VMID was taken by another guest; allocating another",
            Duration::from_millis(200),
        ));
    }
    // What blocks is in the guest's config (protection), which the shared resources read does
    // not show: read the config again next time, so that clearing it in Proxmox is noticed.
    let reason = match blocker {
        Blocker::ForeignGuest { .. } => "Conflict",
        Blocker::Protected { .. } => "DeletionProtected",
    };
    Ok(held(
        object,
        ctx,
        st,
        reason,
        "Plan",
        blocker.reason().to_string(),
    )
    .await)
}

/// Stalled until what blocks `action` changes: a Warning Event when the reason is new, the
/// guest read afresh next time, and a look again after the drift interval.
pub(super) async fn held<K: GuestObject>(
    object: &K,
    ctx: &Context,
    st: &GuestStatus,
    reason: &str,
    action: &str,
    message: String,
) -> Outcome {
    forget(&ctx.observations, &object.uid().unwrap_or_default());
    let already =
        conditions::find(&st.conditions, conditions::STALLED).is_some_and(|c| c.reason == reason);
    if !already {
        ctx.event(object, EventType::Warning, reason, action, message.clone())
            .await;
    }
    Outcome::stalled(reason, message, ctx.settings.drift_interval)
}

pub(super) fn set_restart_required(st: &mut GuestStatus, plan: &Plan, generation: Option<i64>) {
    let message = format!(
        "pending until the guest restarts: {}",
        plan.restart_required.join(", ")
    );
    let condition =
        (!plan.restart_required.is_empty()).then_some(("True", "PendingChanges", message.as_str()));
    conditions::set(
        &mut st.conditions,
        RESTART_REQUIRED,
        condition,
        generation,
        &now(),
    );
}

pub(super) fn converged(observed: &Observed, plan: &Plan, poll: Duration) -> Outcome {
    let (phase, what) = match observed.power {
        Power::Running => (Phase::Running, "running"),
        Power::Paused => (Phase::Running, "paused"),
        _ => (Phase::Stopped, "stopped"),
    };
    let mut message = format!("guest matches the spec and is {what}");
    if !plan.warnings.is_empty() {
        message.push_str(&format!("; warnings: {}", plan.warnings.join("; ")));
    }
    let health = Health::Ready {
        reason: "Converged".into(),
        message,
    };
    Outcome {
        health,
        action: Action::requeue(poll),
        phase: Some(phase),
    }
}
