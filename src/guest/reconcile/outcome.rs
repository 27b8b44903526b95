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
use crate::guest::GuestContext;
use crate::guest::GuestObject;
use crate::guest::observe::forget;

/// The end of one reconcile: how the object looks and when to come back.
pub(super) struct Outcome {
    pub(super) health: Health,
    pub(super) action: Action,
    pub(super) phase: Option<Phase>,
}

impl Outcome {
    fn new(health: Health, after: Duration, phase: Option<Phase>) -> Self {
        Self {
            health,
            action: Action::requeue(after),
            phase,
        }
    }
    pub(super) fn progressing(reason: &str, message: impl Into<String>, after: Duration) -> Self {
        let health = Health::Progressing {
            reason: reason.into(),
            message: message.into(),
        };
        Self::new(health, after, None)
    }
    pub(super) fn stalled(reason: &str, message: impl Into<String>, after: Duration) -> Self {
        let health = Health::Stalled {
            reason: reason.into(),
            message: message.into(),
        };
        Self::new(health, after, Some(Phase::Failed))
    }
    pub(super) fn ready(reason: &str, message: impl Into<String>, after: Duration) -> Self {
        let health = Health::Ready {
            reason: reason.into(),
            message: message.into(),
        };
        Self::new(health, after, None)
    }
    pub(super) fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }
}

/// A plan that may not run: a guest another object owns (Conflict), an unmarked guest
/// (ForeignGuest), protection blocking deletion, or no node to create on.
pub(super) async fn blocked<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    st: &mut GuestStatus,
    blocker: &Blocker,
) -> Result<Outcome, GuestError> {
    let taken = matches!(
        blocker,
        Blocker::ForeignGuest { .. } | Blocker::Conflict { .. }
    );
    // Only a VMID this object never ran a task on: a guest it created and someone stripped of
    // its marks must not make it create a second one.
    let never_used = st.current_task.is_none() && st.last_task.is_none();
    if taken && object.common().vmid.is_none() && never_used {
        // An allocated VMID that someone else took first (nextid hands the same id to
        // concurrent callers, other clients create at the same moment): forget it and
        // allocate another.
        let id = st.vmid.take().unwrap_or_default();
        ctx.event(
            object,
            EventType::Normal,
            "VmidTaken",
            "Allocate",
            format!("VMID {id} was taken by another guest before this object created one; allocating another"),
        )
        .await;
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
        Blocker::ForeignGuest { .. } => "ForeignGuest",
        Blocker::Conflict { .. } => "Conflict",
        Blocker::Protected { .. } => "DeletionProtected",
        Blocker::NoNode { .. } => "Unschedulable",
        Blocker::MigrationRefused { .. } => "MigrationRefused",
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
    ctx: &GuestContext,
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

/// The power a settled guest has by its status: Ready at this generation, no task in flight,
/// nothing asked of it (`asked`: a deletion or a restart), and a phase that names a power.
pub(super) fn settled(st: &GuestStatus, generation: i64, asked: bool) -> Option<Power> {
    let ready = conditions::find(&st.conditions, conditions::READY)
        .is_some_and(|c| c.status == "True" && c.observed_generation == Some(generation));
    if !ready || asked || st.current_task.is_some() {
        return None;
    }
    match st.phase {
        Some(Phase::Running) => Some(Power::Running),
        Some(Phase::Stopped) => Some(Power::Stopped),
        _ => None,
    }
}

/// A settled guest whose first read waits for its slot: its status stays as it is, and the
/// reconcile comes back when the slot comes.
pub(super) fn deferred(st: &GuestStatus, after: Duration) -> Outcome {
    let (reason, message) = conditions::find(&st.conditions, conditions::READY)
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_else(|| ("Converged".into(), "guest matches the spec".into()));
    Outcome::ready(&reason, message, after)
}

/// The phase a guest's power state shows, and the word for it.
fn power_phase(power: Power) -> (Phase, &'static str) {
    match power {
        Power::Running => (Phase::Running, "running"),
        Power::Paused => (Phase::Running, "paused"),
        _ => (Phase::Stopped, "stopped"),
    }
}

pub(super) fn converged(observed: &Observed, plan: &Plan, poll: Duration) -> Outcome {
    let (phase, what) = power_phase(observed.power);
    let mut message = format!("guest matches the spec and is {what}");
    if !plan.warnings.is_empty() {
        message.push_str(&format!("; warnings: {}", plan.warnings.join("; ")));
    }
    Outcome::ready("Converged", message, poll).phase(phase)
}

/// ObserveOnly: the guest as it is, and what Full management would change, never acted on.
pub(super) fn observing(
    st: &mut GuestStatus,
    desired: &kubepve_plan::Desired,
    observed: &Observed,
    poll: Duration,
) -> Outcome {
    let preview = kubepve_plan::preview(desired, observed);
    st.planned_changes = preview.changes.iter().map(ToString::to_string).collect();
    let (phase, power) = power_phase(observed.power);
    let differences = if st.planned_changes.is_empty() {
        "it matches the spec".to_string()
    } else {
        format!(
            "{} differences from the spec are listed in status.plannedChanges",
            st.planned_changes.len()
        )
    };
    let message = format!(
        "observing guest {} ({power}) without changing it (managementPolicy ObserveOnly); {differences}",
        desired.vmid()
    );
    Outcome::ready("Observed", message, poll).phase(phase)
}
