//! One ProxmoxVMSet reconcile: validate what the schema cannot (a selector the template's
//! labels meet), list the members from the API (label `kubepve.io/vmset`, then the controller
//! owner reference), plan with `kubepve_plan::vmset`, act on member objects (create with a
//! deterministic name, so a repeat is 409 AlreadyExists and never a second member; replace a
//! member's spec and labels guarded by its resourceVersion; delete), publish Events, and write
//! status with server-side apply. The ProxmoxVM controller does the Proxmox work.

use std::time::Duration;

use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::core::SelectorExt;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use kubepve_api::vmset::SET_LABEL;
use kubepve_api::{ProxmoxVM, ProxmoxVMSet, VMSetStatus};
use kubepve_plan::vmset::{self as planner, Action as Step, SetPlan, SetSpec};

use super::VMSetError;
use super::members::{apply_template, new_member, observe, owned_by};
use crate::conditions::{Health, now};
use crate::context::{Context, namespace_terminating};
use crate::status;

/// Reconciles one ProxmoxVMSet.
pub async fn reconcile_set(set: &ProxmoxVMSet, ctx: &Context) -> Result<Action, VMSetError> {
    if set.meta().deletion_timestamp.is_some() {
        // The members go with it (owner references); their own finalizers do the Proxmox work.
        return Ok(Action::await_change());
    }
    let prior = set.status.clone().unwrap_or_default();
    let mut st = prior.clone();
    let hash = planner::template_hash(&set.spec.template);
    st.current_template_hash = Some(hash.clone());
    let selector = match kubepve_api::selector::checked(&(&set.spec.selector).into()) {
        Ok(selector) => selector,
        Err(e) => {
            let message = format!("selector.{e}");
            return stall(set, ctx, prior, st, "InvalidSelector", message).await;
        }
    };
    st.label_selector = Some(selector.to_string());
    if !selector.matches(&set.spec.template.metadata.labels) {
        let message = format!(
            "selector {selector} does not match template.metadata.labels: members would not \
             be selected; give the template the labels the selector asks for"
        );
        return stall(set, ctx, prior, st, "SelectorMismatch", message).await;
    }

    let ns = set.namespace().unwrap_or_default();
    let api: Api<ProxmoxVM> = Api::namespaced(ctx.client.clone(), &ns);
    let listed = api
        .list(&ListParams::default().labels(&format!("{SET_LABEL}={}", set.name_any())))
        .await?
        .items;
    let objects: Vec<ProxmoxVM> = listed.into_iter().filter(|vm| owned_by(vm, set)).collect();
    let members: Vec<_> = objects.iter().filter_map(observe).collect();
    let spec = SetSpec {
        replicas: u32::try_from(set.spec.replicas).unwrap_or_default(),
        template: &set.spec.template.spec,
        template_hash: &hash,
        strategy: &set.spec.update_strategy,
        scale_down: set.spec.scale_down_policy,
        vmid_range: set.spec.vmid_range.as_ref(),
    };
    let plan = match planner::plan(&spec, &members) {
        Ok(plan) => plan,
        Err(e) => {
            let reason = match e {
                planner::SetError::Template(_) => "InvalidTemplate",
                planner::SetError::VmidRange { .. } => "VmidRangeExhausted",
                planner::SetError::MaxUnavailable { .. } => "InvalidUpdateStrategy",
            };
            return stall(set, ctx, prior, st, reason, e.to_string()).await;
        }
    };
    st.replicas = count(plan.replicas);
    st.ready_replicas = count(plan.ready);
    st.updated_replicas = count(plan.updated);

    for step in &plan.actions {
        match act(set, ctx, &api, &objects, step, &hash).await? {
            Acted::Done => {}
            Acted::NamespaceTerminating => return Ok(Action::await_change()),
            Acted::Taken(name) => {
                let message = format!(
                    "a ProxmoxVM named {name} exists and is not a member of this set: delete or \
                     rename it, or rename the set"
                );
                return stall(set, ctx, prior, st, "NameTaken", message).await;
            }
            Acted::Invalid(message) => {
                let message = format!(
                    "the API server refused a member made from the template: {message}; fix \
                     spec.template"
                );
                return stall(set, ctx, prior, st, "InvalidTemplate", message).await;
            }
        }
    }
    let health = health(set, &plan, &objects);
    let wait = if plan.actions.is_empty() && matches!(health, Health::Ready { .. }) {
        ctx.settings.drift_interval
    } else {
        ctx.settings.task_poll
    };
    finish(set, ctx, prior, st, &health, wait).await
}

/// What one step came to.
enum Acted {
    Done,
    /// The namespace is being deleted: it takes the set and its members with it.
    NamespaceTerminating,
    /// A member's name is held by an object that is not this set's.
    Taken(String),
    /// The API server refused a member made from the template (422: a label or annotation it
    /// does not take, a rule of ProxmoxVM the template breaks), with its message.
    Invalid(String),
}

async fn act(
    set: &ProxmoxVMSet,
    ctx: &Context,
    api: &Api<ProxmoxVM>,
    objects: &[ProxmoxVM],
    step: &Step,
    hash: &str,
) -> Result<Acted, VMSetError> {
    let find = |name: &str| objects.iter().find(|o| o.name_any() == name);
    match step {
        Step::Create { ordinal, vmid } => {
            let member = new_member(set, *ordinal, *vmid, hash);
            let name = member.name_any();
            match api.create(&PostParams::default(), &member).await {
                Ok(created) => {
                    let note = format!("created member {name}");
                    member_event(ctx, set, &created, "ScaledUp", "Scale", note).await;
                }
                Err(kube::Error::Api(e)) if namespace_terminating(&e) => {
                    return Ok(Acted::NamespaceTerminating);
                }
                // Created by an earlier pass (it shows in the next listing), or someone else's.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let existing = api.get_opt(&name).await?;
                    if existing.is_some_and(|vm| !owned_by(&vm, set)) {
                        return Ok(Acted::Taken(name));
                    }
                }
                Err(kube::Error::Api(e)) if e.code == 422 => return Ok(Acted::Invalid(e.message)),
                Err(e) => return Err(e.into()),
            }
        }
        Step::ScaleDown { name } | Step::Replace { name } => {
            let Some(member) = find(name) else {
                return Ok(Acted::Done);
            };
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: member.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Acted::Done),
                Err(e) => return Err(e.into()),
            }
            let (reason, note) = if matches!(step, Step::Replace { .. }) {
                (
                    "ReplacingMember",
                    format!("deleted member {name} to make it again from the new template"),
                )
            } else {
                ("ScaledDown", format!("deleted member {name}"))
            };
            member_event(ctx, set, member, reason, "Scale", note).await;
        }
        Step::Update { name, restart } => {
            let Some(member) = find(name) else {
                return Ok(Acted::Done);
            };
            let mut updated = member.clone();
            updated.status = None;
            apply_template(set, &mut updated, hash, *restart);
            // Guarded by the resourceVersion it was read at: a concurrent change (the guest
            // controller's status write) is a 409, and the next pass plans again from what is
            // there.
            match api.replace(name, &PostParams::default(), &updated).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if [404, 409].contains(&e.code) => {
                    return Ok(Acted::Done);
                }
                Err(kube::Error::Api(e)) if e.code == 422 => return Ok(Acted::Invalid(e.message)),
                Err(e) => return Err(e.into()),
            }
            if *restart {
                let note = format!("restarting member {name} with the new template");
                member_event(ctx, set, member, "RollingUpdate", "Update", note).await;
            }
        }
    }
    Ok(Acted::Done)
}

/// A Normal event about the set, with the member as its related object.
async fn member_event(
    ctx: &Context,
    set: &ProxmoxVMSet,
    member: &ProxmoxVM,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: Some(member.object_ref(&())),
    };
    ctx.publish(&set.object_ref(&()), &event).await;
}

/// The set's health from the plan: Ready when every member exists, is Ready and runs the
/// current template; Stalled when a member that holds it back is itself stalled.
fn health(set: &ProxmoxVMSet, plan: &SetPlan, objects: &[ProxmoxVM]) -> Health {
    let replicas = u32::try_from(set.spec.replicas).unwrap_or_default();
    let stalled: Vec<String> = objects
        .iter()
        .filter(|vm| vm.meta().deletion_timestamp.is_none())
        .filter_map(|vm| {
            let st = vm.status.as_ref()?;
            let c = crate::conditions::find(&st.conditions, crate::conditions::STALLED)?;
            (c.status == "True").then(|| format!("{}: {}", vm.name_any(), c.message))
        })
        .collect();
    let counts = format!("{}/{replicas} ready, {} updated", plan.ready, plan.updated);
    if plan.replicas == replicas && plan.ready == replicas && plan.updated == replicas {
        return Health::Ready {
            reason: "MembersReady".into(),
            message: format!("{replicas} members ready"),
        };
    }
    if !stalled.is_empty() && plan.actions.is_empty() {
        return Health::Stalled {
            reason: "MemberStalled".into(),
            message: format!("{counts}; stalled members: {}", stalled.join("; ")),
        };
    }
    if plan.replicas == replicas && plan.ready == replicas && plan.actions.is_empty() {
        // Every member is Ready; what is left waits for OnDelete.
        return Health::Ready {
            reason: "MembersReady".into(),
            message: format!(
                "{counts}; on the previous template until deleted (OnDelete): {}",
                plan.held.join(", ")
            ),
        };
    }
    Health::Progressing {
        reason: "Reconciling".into(),
        message: format!("{} members, {counts}", plan.replicas),
    }
}

async fn stall(
    set: &ProxmoxVMSet,
    ctx: &Context,
    prior: VMSetStatus,
    st: VMSetStatus,
    reason: &str,
    message: String,
) -> Result<Action, VMSetError> {
    let health = Health::Stalled {
        reason: reason.into(),
        message,
    };
    finish(set, ctx, prior, st, &health, ctx.settings.backoff.1).await
}

async fn finish(
    set: &ProxmoxVMSet,
    ctx: &Context,
    prior: VMSetStatus,
    mut st: VMSetStatus,
    health: &Health,
    wait: Duration,
) -> Result<Action, VMSetError> {
    let generation = set.meta().generation;
    st.observed_generation = generation;
    st.conditions = health.apply(&st.conditions, generation, &now());
    if st != prior {
        status::write(ctx, set, &st).await?;
    }
    Ok(Action::requeue(wait))
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
