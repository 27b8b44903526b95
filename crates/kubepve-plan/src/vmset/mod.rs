//! The pure planner of a `ProxmoxVMSet`: from the set's spec and the members observed in the
//! API (never from memory), the member objects to create, delete or update this pass.
//!
//! - Scale: members `<set>-<ordinal>`; a missing member gets the lowest free ordinal, and
//!   members being deleted still count, so there are never more than `replicas` members with a
//!   guest, also across operator restarts (the plan is the same for the same observation).
//!   Scaling down picks the highest ordinals, or the members that are not Ready first.
//! - Update: a member whose template-hash label is not the template's gets the template at
//!   once when the change is live ([`ChangeClass::Live`]) or spec-neutral. A change that needs a
//!   restart or a new guest waits under `OnDelete`; under `RollingUpdate` it goes to members
//!   that are not Ready first, then to Ready ones (highest ordinal first) while the number of
//!   available members stays at least `replicas - maxUnavailable`. A member counts as
//!   unavailable (and not ready in status) while it is not Ready or its controller has not
//!   caught up with its spec.

mod change;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubepve_api::{
    ProxmoxVMSpec, ScaleDownPolicy, UpdateStrategy, UpdateStrategyType, VMTemplate, VmidRange,
};

pub use change::{ChangeClass, classify};

use crate::error::PlanError;

/// One member as observed in the API.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The object's name, `<set>-<ordinal>`.
    pub name: String,
    /// Its ordinal.
    pub ordinal: u32,
    /// The template-hash label it carries.
    pub template_hash: Option<String>,
    /// Its spec as stored.
    pub spec: ProxmoxVMSpec,
    /// Its Ready condition is True.
    pub ready: bool,
    /// It has a deletionTimestamp (its guest is being destroyed or released).
    pub deleting: bool,
    /// Its controller has not acted on its current spec or restart request yet
    /// (`status.observedGeneration` behind, or `kubepve.io/restartedAt` not reached).
    pub settling: bool,
}

impl Member {
    fn available(&self) -> bool {
        self.ready && !self.settling && !self.deleting
    }
}

/// What the set asks for.
#[derive(Clone, Copy, Debug)]
pub struct SetSpec<'a> {
    /// spec.replicas.
    pub replicas: u32,
    /// The members' spec.
    pub template: &'a ProxmoxVMSpec,
    /// The hash of the current template.
    pub template_hash: &'a str,
    /// spec.updateStrategy.
    pub strategy: &'a UpdateStrategy,
    /// spec.scaleDownPolicy.
    pub scale_down: ScaleDownPolicy,
    /// spec.vmidRange.
    pub vmid_range: Option<&'a VmidRange>,
}

/// One thing to do to a member object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create member `ordinal` from the template (with this VMID, from vmidRange).
    Create {
        /// The ordinal.
        ordinal: u32,
        /// `vmidRange.start + ordinal`, when the set has a range.
        vmid: Option<i64>,
    },
    /// Delete a member because the set scales down.
    ScaleDown {
        /// The member.
        name: String,
    },
    /// Delete a member so that it is made again from the template (a change that needs a new
    /// guest).
    Replace {
        /// The member.
        name: String,
    },
    /// Give a member the current template; `restart` asks for one reboot.
    Update {
        /// The member.
        name: String,
        /// Request a reboot (`kubepve.io/restartedAt`), for a change that needs a restart.
        restart: bool,
    },
}

/// The plan of one pass, and the counts status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetPlan {
    /// What to do now.
    pub actions: Vec<Action>,
    /// Members that exist and are not being deleted.
    pub replicas: u32,
    /// Of those, how many are Ready for their current spec (their controller caught up).
    pub ready: u32,
    /// Of those, how many carry the current template hash.
    pub updated: u32,
    /// Outdated members that wait: for `OnDelete`, or for room within maxUnavailable.
    pub held: Vec<String>,
    /// maxUnavailable resolved against replicas.
    pub max_unavailable: u32,
}

/// Why a set cannot be planned; the set is Stalled with this message.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The template's spec does not convert to a Proxmox config.
    #[error("template.spec: {0}")]
    Template(#[from] PlanError),
    /// A member's VMID would fall outside vmidRange.
    #[error(
        "vmidRange {start}-{end} has no VMID for member {ordinal}: widen vmidRange or lower replicas"
    )]
    VmidRange {
        /// vmidRange.start.
        start: i64,
        /// vmidRange.end.
        end: i64,
        /// The ordinal without a VMID.
        ordinal: u32,
    },
    /// maxUnavailable is neither a positive number nor a percentage.
    #[error(
        "updateStrategy.rollingUpdate.maxUnavailable {value:?}: give a number of members (at least 1) or a percentage such as 25%"
    )]
    MaxUnavailable {
        /// The value as given.
        value: String,
    },
}

/// Checks that the template converts, as every member's spec would have to.
pub fn check_template(template: &ProxmoxVMSpec) -> Result<(), SetError> {
    change::desired(template)?;
    Ok(())
}

/// The hash of a template revision, as members carry it in their template-hash label: 16 hex
/// digits of FNV-1a over the template's JSON (stable across operator versions and platforms,
/// unlike std's hasher; the JSON is canonical because every map in the types is ordered).
pub fn template_hash(template: &VMTemplate) -> String {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(
        serde_json::to_string(template)
            .unwrap_or_default()
            .as_bytes(),
    );
    format!("{:016x}", hasher.finish())
}

/// maxUnavailable resolved against `replicas`: a number as given, a percentage rounded down;
/// at least 1, so that an update always makes progress. Default 1.
pub fn max_unavailable(strategy: &UpdateStrategy, replicas: u32) -> Result<u32, SetError> {
    let given = strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_unavailable.as_ref());
    let n = match given {
        None => 1,
        Some(IntOrString::Int(n)) if *n >= 1 => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(IntOrString::String(s)) => {
            let percent = s
                .strip_suffix('%')
                .and_then(|p| p.parse::<u32>().ok())
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| SetError::MaxUnavailable { value: s.clone() })?;
            replicas.saturating_mul(percent) / 100
        }
        Some(IntOrString::Int(n)) => {
            return Err(SetError::MaxUnavailable {
                value: n.to_string(),
            });
        }
    };
    Ok(n.max(1))
}

/// Plans one pass of the set over the observed `members`.
pub fn plan(spec: &SetSpec<'_>, members: &[Member]) -> Result<SetPlan, SetError> {
    check_template(spec.template)?;
    let budget_of = max_unavailable(spec.strategy, spec.replicas)?;
    let live: Vec<&Member> = members.iter().filter(|m| !m.deleting).collect();
    let mut out = SetPlan {
        replicas: count(live.len()),
        ready: count(live.iter().filter(|m| m.available()).count()),
        updated: count(
            live.iter()
                .filter(|m| m.template_hash.as_deref() == Some(spec.template_hash))
                .count(),
        ),
        max_unavailable: budget_of,
        ..SetPlan::default()
    };
    let replicas = usize::try_from(spec.replicas).unwrap_or(usize::MAX);

    // 1. Scale down: the surplus of live members, by policy.
    let mut leaving = BTreeSet::new();
    if live.len() > replicas {
        let mut order = live.clone();
        match spec.scale_down {
            ScaleDownPolicy::HighestOrdinal => order.sort_by_key(|m| Reverse(m.ordinal)),
            ScaleDownPolicy::NotReadyFirst => {
                order.sort_by_key(|m| (m.ready, Reverse(m.ordinal)));
            }
        }
        for m in order.into_iter().take(live.len() - replicas) {
            leaving.insert(m.name.clone());
            out.actions.push(Action::ScaleDown {
                name: m.name.clone(),
            });
        }
    }

    // 2. Scale up: members being deleted still hold their guest and their name.
    if members.len() < replicas {
        let taken: BTreeSet<u32> = members.iter().map(|m| m.ordinal).collect();
        let free = (0..).filter(|o| !taken.contains(o));
        for ordinal in free.take(replicas - members.len()) {
            let vmid = match spec.vmid_range {
                Some(range) => {
                    let vmid = range.start + i64::from(ordinal);
                    if vmid > range.end {
                        return Err(SetError::VmidRange {
                            start: range.start,
                            end: range.end,
                            ordinal,
                        });
                    }
                    Some(vmid)
                }
                None => None,
            };
            out.actions.push(Action::Create { ordinal, vmid });
        }
    }

    // 3. Update the members that stay.
    let staying: Vec<&Member> = live
        .into_iter()
        .filter(|m| !leaving.contains(&m.name))
        .collect();
    let mut paced = Vec::new();
    for m in &staying {
        if m.template_hash.as_deref() == Some(spec.template_hash) {
            continue;
        }
        match classify(&m.spec, spec.template)? {
            ChangeClass::None | ChangeClass::Live => out.actions.push(Action::Update {
                name: m.name.clone(),
                restart: false,
            }),
            class => paced.push((*m, class)),
        }
    }
    if spec.strategy.strategy_type == UpdateStrategyType::OnDelete {
        out.held = paced.iter().map(|(m, _)| m.name.clone()).collect();
        return Ok(out);
    }
    let available = staying.iter().filter(|m| m.available()).count();
    let floor = replicas.saturating_sub(usize::try_from(budget_of).unwrap_or(usize::MAX));
    let mut room = available.saturating_sub(floor);
    // Members that are not Ready cost nothing; then the highest ordinals first. A Ready member
    // whose controller has not caught up may well be serving: it takes room like the others.
    paced.sort_by_key(|(m, _)| (m.ready, Reverse(m.ordinal)));
    for (m, class) in paced {
        if m.ready {
            if room == 0 {
                out.held.push(m.name.clone());
                continue;
            }
            room -= 1;
        }
        let name = m.name.clone();
        out.actions.push(match class {
            ChangeClass::Replace => Action::Replace { name },
            ChangeClass::Move => Action::Update {
                name,
                restart: false,
            },
            _ => Action::Update {
                name,
                restart: true,
            },
        });
    }
    Ok(out)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
