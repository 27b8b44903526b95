//! Acting on the plan: executing its next step against Proxmox (at most one per reconcile) and
//! reading the answer. A step that starts a Proxmox task returns its UPID, which is recorded in
//! status at once (the reconcile comes back later instead of waiting); a change done, or a
//! refusal to report (with backoff) or to look at again.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use kubepve_api::{GuestStatus, TaskRef};
use kubepve_plan::{GuestKind, Observed, Plan, Step};
use pve_client::{Client, Upid};

use super::checkpoint::{Checkpoint, checkpoint};
use super::outcome::{Outcome, held};
use super::{Guest, GuestError};
use crate::conditions::{self, now};
use crate::guest::GuestObject;
use crate::guest::backup;
use crate::guest::hold::Hold;
use crate::guest::migration;
use crate::guest::observe::forget;
use crate::guest::preflight;

/// The step to take and what it was planned from.
pub(super) struct Act<'a> {
    /// What Proxmox showed.
    pub(super) observed: &'a Observed,
    /// The plan the step is the next of.
    pub(super) plan: &'a Plan,
    /// The step.
    pub(super) step: &'a Step,
    /// The restart annotation this step satisfies (a reboot asked for by annotation).
    pub(super) restart_request: Option<String>,
}

/// Executes the step of `act` and turns its result into status and an outcome: pre-flight
/// checks and the configuration backup first, the UPID of a started task recorded at once.
pub(super) async fn act<K: GuestObject>(
    guest: &Guest<'_, K>,
    st: &mut GuestStatus,
    job: Act<'_>,
) -> Result<Outcome, GuestError> {
    let Guest {
        object,
        ctx,
        conn,
        vmid,
    } = *guest;
    let Act {
        observed,
        plan,
        step,
        restart_request,
    } = job;
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
    // Pre-flight checks while deleting (`guest::preflight`) or before a migration
    // (`guest::migration`), then the configuration backup (`guest::backup`).
    let deleting = object.meta().deletion_timestamp.is_some();
    let prepared = async {
        if deleting
            && observed.exists
            && matches!(
                step,
                Step::Shutdown { .. } | Step::Stop | Step::Delete { .. }
            )
        {
            preflight::check(object, conn, vmid, observed).await?;
        }
        migration::check::<K>(conn, vmid, observed, step).await?;
        backup::before(object, ctx, conn, vmid, observed, step).await
    };
    let backup = match prepared.await {
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
            checkpoint(ctx, object, st, Checkpoint::TaskStarted).await?;
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
        Err(error) => proxmox_refused(guest, step, error).await,
    }
}

/// What to do when Proxmox refuses a step.
async fn proxmox_refused<K: GuestObject>(
    guest: &Guest<'_, K>,
    step: &Step,
    error: pve_client::Error,
) -> Result<Outcome, GuestError> {
    use pve_client::Error as E;
    let Guest {
        object,
        ctx,
        conn,
        vmid,
    } = *guest;
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
        let delay = ctx.backoff.next(&uid, settings.backoff);
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

/// What executing a step did.
#[derive(Debug)]
pub enum Acted {
    /// A Proxmox task was started.
    Task(Upid),
    /// The change was applied synchronously.
    Done,
    /// Nothing was sent (a lock to wait for).
    Nothing,
}

/// Executes `step` for the guest `vmid` of `kind`, on `node` (where it is, or where to create it).
pub(super) async fn execute(
    pve: &Client,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    step: &Step,
) -> Result<Acted, pve_client::Error> {
    if matches!(step, Step::WaitForLock { .. }) {
        return Ok(Acted::Nothing);
    }
    let vmid = i64::try_from(vmid).unwrap_or_default();
    Ok(
        match kubepve_plan::execute(pve, kind, node, vmid, step).await? {
            Some(upid) => Acted::Task(upid),
            None => Acted::Done,
        },
    )
}

/// The phase a running step puts the guest in.
pub(super) fn phase_of(step: &Step) -> kubepve_api::Phase {
    use kubepve_api::Phase;
    match step {
        Step::Create { .. } | Step::Clone { .. } => Phase::Creating,
        Step::Start => Phase::Starting,
        Step::Shutdown { .. } | Step::Stop => Phase::Stopping,
        Step::Delete { .. } | Step::RemoveOwnership { .. } => Phase::Deleting,
        Step::Migrate { .. } => Phase::Migrating,
        Step::SetConfig { .. }
        | Step::Adopt { .. }
        | Step::ResizeDisk { .. }
        | Step::Reboot
        | Step::WaitForLock { .. } => Phase::Updating,
    }
}
