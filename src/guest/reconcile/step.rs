//! Executing the planned step and reading Proxmox's answer: a task to follow, a change done, or a
//! refusal to report (with backoff) or to look at again.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use kubepve_api::{GuestStatus, TaskRef};
use kubepve_plan::{Observed, Plan, Step};

use super::GuestError;
use super::outcome::{Outcome, held};
use crate::conditions::{self, now};
use crate::connection::registry::Connection;
use crate::context::Context;
use crate::guest::act::{Acted, execute, phase_of};
use crate::guest::backup::{self, Hold};
use crate::guest::migration;
use crate::guest::observe::forget;
use crate::guest::{GuestObject, status};

/// Executes `step` and turns its result into status and an outcome.
#[allow(clippy::too_many_arguments)]
pub(super) async fn act<K: GuestObject>(
    object: &K,
    ctx: &Context,
    conn: &Connection,
    st: &mut GuestStatus,
    vmid: u64,
    observed: &Observed,
    plan: &Plan,
    step: &Step,
    restart_request: Option<String>,
) -> Result<Outcome, GuestError> {
    let settings = &ctx.settings;
    let uid = object.uid().unwrap_or_default();
    if let Step::WaitForLock { lock } = step {
        let message = format!("guest {vmid} is locked ({lock}); waiting for Proxmox to release it");
        return Ok(Outcome::progressing(
            "Locked",
            message,
            settings.task_poll * 3,
        ));
    }
    let node = if observed.exists {
        observed.node.clone()
    } else {
        object
            .common()
            .node
            .clone()
            .or_else(|| st.node.clone())
            .unwrap_or_default()
    };
    let generation = object.meta().generation;
    // Ready at this very generation means the spec did not change: Proxmox moved (drift), or a
    // restart was asked for.
    let drifted = restart_request.is_none()
        && conditions::find(&st.conditions, conditions::READY)
            .is_some_and(|c| c.status == "True" && c.observed_generation == generation);
    // Pre-flight checks and the configuration backup (see `guest::backup`).
    let checked = match migration::check::<K>(conn, vmid, observed, step).await {
        Ok(()) => backup::before(object, ctx, conn, vmid, observed, step).await,
        Err(hold) => Err(hold),
    };
    let backup = match checked {
        Ok(taken) => taken,
        Err(Hold::Refused { reason, message }) => {
            return Ok(held(object, ctx, st, reason, step.name(), message).await);
        }
        Err(Hold::Failed(error)) => return Err(error),
    };
    let executed = execute(&conn.pve, K::PVE_KIND, &node, vmid, step).await;
    backup::after(object, ctx, backup, &executed).await;
    if drifted && executed.is_ok() {
        let changes: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
        let note = format!(
            "the guest drifted from the spec; {step}; {}",
            changes.join("; ")
        );
        ctx.event(
            object,
            EventType::Normal,
            "DriftCorrected",
            step.name(),
            note,
        )
        .await;
    }
    if matches!(executed, Ok(Acted::Task(_) | Acted::Done)) {
        // Proxmox accepted it: count it, so that a change that does not stick is not repeated
        // forever (see MAX_REPEATS).
        ctx.repeats
            .record(&uid, generation.unwrap_or_default(), &step.to_string());
    }
    match executed {
        Ok(Acted::Task(upid)) => {
            st.current_task = Some(TaskRef {
                upid: upid.to_string(),
                task_type: upid.task_type.clone(),
                started_at: Some(now()),
                finished_at: None,
                exit_status: None,
            });
            if matches!(step, Step::Reboot) && restart_request.is_some() {
                st.restarted_at = restart_request;
            }
            if matches!(
                step,
                Step::Create { .. }
                    | Step::Clone { .. }
                    | Step::Delete { .. }
                    | Step::Migrate { .. }
            ) {
                ctx.event(
                    object,
                    EventType::Normal,
                    "TaskStarted",
                    step.name(),
                    format!("started Proxmox task {upid}"),
                )
                .await;
            }
            // Record the UPID at once: a restarted operator resumes from it.
            status::write(ctx, object, st).await?;
            let message = format!("{step} (task {upid})");
            Ok(
                Outcome::progressing("TaskRunning", message, settings.task_poll)
                    .phase(phase_of(step)),
            )
        }
        Ok(Acted::Done) | Ok(Acted::Nothing) => {
            forget(&ctx.observations, &uid);
            let changes: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
            ctx.event(
                object,
                EventType::Normal,
                "ConfigUpdated",
                step.name(),
                format!("{step}; {}", changes.join("; ")),
            )
            .await;
            Ok(
                Outcome::progressing("Updating", format!("{step}"), Duration::from_millis(100))
                    .phase(phase_of(step)),
            )
        }
        Err(error) => proxmox_refused(object, ctx, conn, vmid, step, error).await,
    }
}

/// What to do when Proxmox refuses a step.
pub(super) async fn proxmox_refused<K: GuestObject>(
    object: &K,
    ctx: &Context,
    conn: &Connection,
    vmid: u64,
    step: &Step,
    error: pve_client::Error,
) -> Result<Outcome, GuestError> {
    use pve_client::Error as E;
    let settings = &ctx.settings;
    let uid = object.uid().unwrap_or_default();
    forget(&ctx.observations, &uid);
    let creating = matches!(step, Step::Create { .. } | Step::Clone { .. });
    let refused = match &error {
        E::InvalidParams { .. } => Some("ProxmoxRejected"),
        // A guest being created cannot be what is "not found": the request names something that
        // does not exist (a storage, a bridge, the template), which only the user can fix.
        E::NotFound { .. } if creating => Some("ProxmoxRejected"),
        E::Permission { .. } => Some("PermissionDenied"),
        E::Protected { .. } => Some("DeletionProtected"),
        _ => None,
    };
    if let Some(reason) = refused {
        let message = format!("Proxmox refused to {}: {error}", step.name());
        ctx.event(
            object,
            EventType::Warning,
            reason,
            step.name(),
            message.clone(),
        )
        .await;
        let delay = ctx.guest_backoff.next(&uid, settings.backoff);
        let generation = object.meta().generation.unwrap_or_default();
        ctx.refusals
            .record(&uid, generation, &step.to_string(), delay);
        return Ok(Outcome::stalled(reason, message, delay));
    }
    match &error {
        // Created meanwhile (by a previous pass whose answer was lost, or by someone else): the
        // next pass looks at the guest and its ownership marks.
        E::AlreadyExists { .. }
        | E::GuestRunning { .. }
        | E::GuestNotRunning { .. }
        | E::NotFound { .. }
        | E::DigestMismatch { .. } => {
            conn.invalidate().await;
            Ok(Outcome::progressing(
                "Observing",
                format!("{} refused: {error}; looking again", step.name()),
                Duration::from_secs(1),
            ))
        }
        E::Locked { .. } | E::LockTimeout { .. } => Ok(Outcome::progressing(
            "Locked",
            format!("{}: {error}", step.name()),
            settings.task_poll * 3,
        )),
        _ => Err(GuestError::Proxmox {
            op: step.name(),
            vmid,
            source: error,
        }),
    }
}
