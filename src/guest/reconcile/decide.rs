//! Deciding what to do: the desired guest built from the spec (and placed on a node when it
//! has none), and the plan from it and the observation, unless something blocks the plan.

use std::time::Duration;

use kubepve_api::GuestStatus;
use kubepve_plan::{Blocker, Desired, Intent, Observed, Plan, Step};

use super::act::{Act, act};
use super::checkpoint::{Checkpoint, checkpoint};
use super::inputs::desired_state;
use super::outcome::{Outcome, blocked, observing, set_restart_required};
use super::placement::place;
use super::{Flow, Guest, Halt, Pass, ends, proxmox};
use crate::guest::GuestObject;

/// Build: the desired guest from the spec and its Secrets, on the node placement chooses for a
/// new guest without one (recorded in status before the guest is created). An observed-only
/// guest ends here, with what Full management would change.
pub(super) async fn build<K: GuestObject>(
    guest: Guest<'_, K>,
    st: &mut GuestStatus,
    pass: &Pass,
    observed: &Observed,
    poll: Duration,
) -> Flow<Desired> {
    let Guest {
        object,
        ctx,
        conn,
        vmid,
    } = guest;
    let common = object.common();
    let node = common.node.clone().or_else(|| st.node.clone());
    let desired = desired_state(
        object,
        ctx,
        conn,
        vmid,
        observed,
        pass.deleting,
        node.clone(),
    )
    .await?;
    let desired = desired.map_err(Halt::Ends)?;
    if pass.observe_only {
        return ends(observing(st, &desired, observed, poll));
    }
    if node.is_some() || observed.exists || pass.deleting {
        return Ok(desired);
    }
    let allowed = common
        .placement
        .as_ref()
        .map(|p| p.allowed_nodes.as_slice())
        .filter(|a| !a.is_empty())
        .unwrap_or(&conn.policy.allowed_nodes);
    match place(conn, &pass.uid, &desired, allowed)
        .await
        .map_err(proxmox("place guest", vmid))?
    {
        Ok(chosen) => {
            st.node = Some(chosen.clone());
            checkpoint(ctx, object, st, Checkpoint::NodeChosen).await?;
            Ok(desired.on_node(chosen))
        }
        Err(reason) => ends(Outcome::stalled(
            "Unschedulable",
            reason,
            ctx.settings.connection_retry,
        )),
    }
}

/// Plan: what differs and the steps to fix it, unless something blocks it or an adopted guest
/// waits for approval of the changes.
pub(super) async fn plan<K: GuestObject>(
    guest: Guest<'_, K>,
    st: &mut GuestStatus,
    pass: &Pass,
    desired: &Desired,
    observed: &Observed,
) -> Flow<Plan> {
    let Guest {
        object,
        ctx,
        conn,
        vmid,
        ..
    } = guest;
    let common = object.common();
    let plan = kubepve_plan::plan(desired, observed, &intent(pass, st));
    st.placed_node = plan.placed_node.clone();
    if let Some(blocker) = &plan.blocker {
        if pass.deleting
            && matches!(blocker, Blocker::Protected { .. })
            && common.protection == Some(false)
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
            let job = Act {
                observed,
                plan: &plan,
                step: &step,
                restart_request: None,
            };
            return ends(act(&guest, st, job).await?);
        }
        return ends(blocked(object, ctx, st, blocker).await?);
    }
    set_restart_required(st, &plan, object.meta().generation);
    st.planned_changes.clear();
    if let Some(adopt) = &common.adopt
        && !adopt.apply_changes
        && st.adopted == Some(true)
        && !pass.deleting
        && plan.next_step().is_some_and(Step::is_mutating)
    {
        // An adopted guest is changed only when the spec says so: show what would change.
        st.planned_changes = plan.changes.iter().map(ToString::to_string).collect();
        let message = format!(
            "adopted guest {vmid} differs from the spec in {} ways (status.plannedChanges); set \
             spec.adopt.applyChanges to true to apply them, or change the spec to match the guest",
            st.planned_changes.len()
        );
        return ends(Outcome::stalled(
            "AwaitingApproval",
            message,
            conn.poll_interval,
        ));
    }
    Ok(plan)
}

/// What the pass asks of the planner besides the spec.
pub(super) fn intent(pass: &Pass, st: &GuestStatus) -> Intent {
    Intent {
        deleting: pass.deleting,
        restart_requested: pass.restart_requested,
        adopt: pass.adopt,
        placed_node: st.placed_node.clone(),
    }
}
