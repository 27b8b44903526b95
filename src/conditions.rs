//! Status conditions in the kstatus style that Flux and ArgoCD read: `Ready`, `Reconciling` and
//! `Stalled`, plus kind-specific ones such as `RestartRequired` and `Conflict`.
//!
//! A condition's `lastTransitionTime` moves only when its status changes, so re-applying the same
//! status is a no-op for the API server and for watchers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The guest or connection matches its spec.
pub const READY: &str = "Ready";
/// The controller is working towards the spec (kstatus "in progress").
pub const RECONCILING: &str = "Reconciling";
/// The controller cannot make progress without a change by the user (kstatus "failed").
pub const STALLED: &str = "Stalled";
/// Changes are pending in Proxmox until the guest reboots.
pub const RESTART_REQUIRED: &str = "RestartRequired";

/// The overall state a reconcile reports, mapped onto the three kstatus conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Converged: Ready=True, no Reconciling, no Stalled.
    Ready { reason: String, message: String },
    /// Work in progress: Ready=False, Reconciling=True.
    Progressing { reason: String, message: String },
    /// Needs the user: Ready=False, Stalled=True.
    Stalled { reason: String, message: String },
}

impl Health {
    /// The kstatus conditions for this state, built on top of `existing` so that transition
    /// times survive. Conditions other than the three kstatus ones are kept as they are.
    pub fn apply(
        &self,
        existing: &[Condition],
        generation: Option<i64>,
        now: &Time,
    ) -> Vec<Condition> {
        let (ready, reconciling, stalled, reason, message) = match self {
            Health::Ready { reason, message } => ("True", None, None, reason, message),
            Health::Progressing { reason, message } => {
                ("False", Some("True"), None, reason, message)
            }
            Health::Stalled { reason, message } => ("False", None, Some("True"), reason, message),
        };
        let mut out: Vec<Condition> = existing
            .iter()
            .filter(|c| ![READY, RECONCILING, STALLED].contains(&c.type_.as_str()))
            .cloned()
            .collect();
        out.push(condition(
            existing, READY, ready, reason, message, generation, now,
        ));
        if let Some(status) = reconciling {
            out.push(condition(
                existing,
                RECONCILING,
                status,
                reason,
                message,
                generation,
                now,
            ));
        }
        if let Some(status) = stalled {
            out.push(condition(
                existing, STALLED, status, reason, message, generation, now,
            ));
        }
        out.sort_by(|a, b| a.type_.cmp(&b.type_));
        out
    }
}

/// Sets (or with `status: None` removes) one condition, keeping its transition time when its
/// status does not change.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Option<(&str, &str, &str)>,
    generation: Option<i64>,
    now: &Time,
) {
    let existing = conditions.clone();
    conditions.retain(|c| c.type_ != type_);
    if let Some((status, reason, message)) = status {
        conditions.push(condition(
            &existing, type_, status, reason, message, generation, now,
        ));
        conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    }
}

/// The condition of this type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The current time as a Kubernetes `Time`.
pub fn now() -> Time {
    Time(Timestamp::now())
}

fn condition(
    existing: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let last_transition_time = find(existing, type_)
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn ready() -> Health {
        Health::Ready {
            reason: "Running".into(),
            message: "VM 150 is running".into(),
        }
    }

    #[test]
    fn kstatus_shapes() {
        let c = ready().apply(&[], Some(3), &at(10));
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].type_.as_str(), c[0].status.as_str()), (READY, "True"));
        assert_eq!(c[0].observed_generation, Some(3));

        let progressing = Health::Progressing {
            reason: "Creating".into(),
            message: "m".into(),
        };
        let c = progressing.apply(&[], Some(1), &at(10));
        let types: Vec<_> = c
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(types, [(READY, "False"), (RECONCILING, "True")]);

        let stalled = Health::Stalled {
            reason: "Conflict".into(),
            message: "m".into(),
        };
        let c = stalled.apply(&c, Some(1), &at(20));
        let types: Vec<_> = c
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            [(READY, "False"), (STALLED, "True")],
            "Reconciling is dropped"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = ready().apply(&[], Some(1), &at(10));
        let again = ready().apply(&first, Some(2), &at(50));
        assert_eq!(again[0].last_transition_time, at(10));
        assert_eq!(again[0].observed_generation, Some(2));
        let down = Health::Progressing {
            reason: "Updating".into(),
            message: "m".into(),
        }
        .apply(&again, Some(2), &at(60));
        assert_eq!(find(&down, READY).unwrap().last_transition_time, at(60));
    }

    #[test]
    fn other_conditions_survive_and_can_be_removed() {
        let mut c = ready().apply(&[], Some(1), &at(10));
        set(
            &mut c,
            RESTART_REQUIRED,
            Some(("True", "PendingChanges", "cores")),
            Some(1),
            &at(11),
        );
        let c2 = ready().apply(&c, Some(1), &at(12));
        assert!(find(&c2, RESTART_REQUIRED).is_some());
        let mut c3 = c2.clone();
        set(&mut c3, RESTART_REQUIRED, None, Some(1), &at(13));
        assert!(find(&c3, RESTART_REQUIRED).is_none());
        assert!(find(&c3, READY).is_some());
    }
}
