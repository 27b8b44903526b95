//! One reconcile of a guest object: observe -> plan -> act (at most one Proxmox task) -> status.
//!
//! The UPID of a started task goes into `status.currentTask` at once and the reconcile requeues
//! instead of waiting; a later pass reads the task's end into `status.lastTask` and an Event.
//! The VMID is recorded in status before anything is created, so a restarted operator finds
//! its guest (and its ownership tag) instead of creating a second one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kubepve_api::{FINALIZER, GuestStatus, Phase, RESTARTED_AT_ANNOTATION, TaskRef};
use kubepve_plan::{Blocker, Identity, Intent, Observed, Plan, Power, Step, TemplateRef};
use pve_client::{TaskOutcome, Upid};

use super::act::{Acted, execute, phase_of};
use super::observe::{Freshness, forget, observe};
use super::{GuestObject, status};
use crate::conditions::{self, Health, RESTART_REQUIRED, now};
use crate::connection::registry::Connection;
use crate::context::Context;

mod inputs;

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

/// The end of one reconcile: how the object looks and when to come back.
struct Outcome {
    health: Health,
    action: Action,
    phase: Option<Phase>,
}

impl Outcome {
    fn progressing(reason: &str, message: impl Into<String>, after: Duration) -> Self {
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
    fn stalled(reason: &str, message: impl Into<String>, after: Duration) -> Self {
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
    fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
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
        status::add_finalizer(&ctx, &*object).await?;
    }
    let prior = object.guest_status().cloned().unwrap_or_default();
    let mut st = prior.clone();
    let outcome = pipeline(&*object, &ctx, &mut st, deleting).await;
    ctx.metrics.reconciled(K::KIND, started.elapsed());
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
    let ns = object.namespace().unwrap_or_default();
    let conn_name = object.common().connection_ref.name.clone();
    let conn = match ctx.connections.get(&(ns, conn_name.clone())) {
        Some(Ok(conn)) => conn,
        Some(Err(problem)) => {
            let message = format!("connection {conn_name} is not usable: {}", problem.message);
            return Ok(Some(Outcome::progressing(
                "ConnectionNotReady",
                message,
                settings.connection_retry,
            )));
        }
        None => {
            let message = format!(
                "waiting for ProxmoxConnection {conn_name} in this namespace to be checked"
            );
            return Ok(Some(Outcome::progressing(
                "WaitingForConnection",
                message,
                settings.connection_retry,
            )));
        }
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
    let vmid = match (object.common().vmid, st.vmid) {
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
        (Some(v), _) | (None, Some(v)) => u64::try_from(v).unwrap_or_default(),
        (None, None) if deleting => return release(object, ctx).await,
        (None, None) => {
            let vmid =
                inputs::allocate_vmid(&conn)
                    .await
                    .map_err(|source| GuestError::Proxmox {
                        op: "allocate vmid",
                        vmid: 0,
                        source,
                    })?;
            st.vmid = Some(i64::try_from(vmid).unwrap_or_default());
            status::write(ctx, object, st).await?;
            vmid
        }
    };
    st.vmid = Some(i64::try_from(vmid).unwrap_or_default());

    // 3. Observe.
    let uid = object.uid().unwrap_or_default();
    let generation = object.meta().generation.unwrap_or_default();
    let observed = observe(
        &conn,
        &ctx.observations,
        &uid,
        generation,
        K::PVE_KIND,
        vmid,
        freshness,
    )
    .await
    .map_err(|source| GuestError::Proxmox {
        op: "observe",
        vmid,
        source,
    })?;
    if observed.exists {
        st.node = Some(observed.node.clone());
    }

    // 4. Plan.
    let restart_annotation = object.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
    let intent = Intent {
        deleting,
        restart_requested: restart_annotation.is_some() && restart_annotation != st.restarted_at,
    };
    let desired = match desired_state(object, ctx, &conn, vmid, &observed, deleting).await? {
        Ok(desired) => desired,
        Err(outcome) => return Ok(Some(outcome)),
    };
    let plan = kubepve_plan::plan(&desired, &observed, &intent);
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

    // 5. Act: at most one step.
    let Some(step) = plan.next_step().cloned() else {
        if deleting {
            return release(object, ctx).await;
        }
        if intent.restart_requested {
            // Nothing to reboot (a stopped guest): the request is satisfied.
            st.restarted_at = restart_annotation;
        }
        ctx.repeats.clear(&uid);
        ctx.refusals.clear(&uid);
        return Ok(Some(converged(&observed, &plan, conn.poll_interval)));
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
    act(
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
    .await
    .map(Some)
}

/// Reads the end of the task in `status.currentTask`; `Some` when the reconcile should stop here.
async fn follow_task<K: GuestObject>(
    object: &K,
    ctx: &Context,
    conn: &Connection,
    st: &mut GuestStatus,
    freshness: &mut Freshness,
) -> Result<Option<Outcome>, GuestError> {
    let Some(task) = st.current_task.clone() else {
        return Ok(None);
    };
    let Ok(upid) = task.upid.parse::<Upid>() else {
        st.current_task = None;
        return Ok(None);
    };
    let vmid = u64::try_from(st.vmid.unwrap_or_default()).unwrap_or_default();
    let exit = match conn.pve.task_status(&upid).await {
        Ok(ts) if ts.is_running() => {
            let message = format!("Proxmox task {} running ({})", task.task_type, task.upid);
            return Ok(Some(Outcome::progressing(
                "TaskRunning",
                message,
                ctx.settings.task_poll,
            )));
        }
        Ok(ts) => ts.exitstatus.unwrap_or_else(|| "unexpected status".into()),
        // Proxmox may not know a task for a moment after starting it.
        Err(e) if !e.is_not_found() && matches!(e, pve_client::Error::InvalidParams { .. }) => {
            let age = task_age(&task);
            if age < Duration::from_secs(30) {
                return Ok(Some(Outcome::progressing(
                    "TaskRunning",
                    "waiting for Proxmox to list the task",
                    ctx.settings.task_poll,
                )));
            }
            "unknown: Proxmox no longer knows this task".to_string()
        }
        Err(source) => {
            return Err(GuestError::Proxmox {
                op: "read task status",
                vmid,
                source,
            });
        }
    };
    *freshness = Freshness::Direct;
    let outcome = TaskOutcome::from_exit_status(&exit);
    st.current_task = None;
    st.last_task = Some(TaskRef {
        finished_at: Some(now()),
        exit_status: Some(exit.clone()),
        ..task.clone()
    });
    let (kind, reason) = if outcome.is_success() {
        (EventType::Normal, "TaskSucceeded")
    } else {
        (EventType::Warning, "TaskFailed")
    };
    ctx.event(
        object,
        kind,
        reason,
        &task.task_type,
        format!("Proxmox task {} ended: {exit}", task.task_type),
    )
    .await;
    if outcome.is_success() {
        return Ok(None);
    }
    let delay = ctx
        .guest_backoff
        .next(&object.uid().unwrap_or_default(), ctx.settings.backoff);
    let message = format!(
        "Proxmox task {} failed: {exit}; retrying in {}s",
        task.task_type,
        delay.as_secs()
    );
    Ok(Some(Outcome::progressing("TaskFailed", message, delay)))
}

fn task_age(task: &TaskRef) -> Duration {
    let started = task
        .started_at
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(|| now().0);
    let seconds = now().0.as_second().saturating_sub(started.as_second());
    Duration::from_secs(u64::try_from(seconds).unwrap_or_default())
}

/// The desired state, or the outcome that explains why there is none.
async fn desired_state<K: GuestObject>(
    object: &K,
    ctx: &Context,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    deleting: bool,
) -> Result<Result<kubepve_plan::Desired, Outcome>, GuestError> {
    let settings = &ctx.settings;
    // Secrets and templates only matter for writing config; a deletion needs neither.
    let secrets = if deleting {
        kubepve_plan::Secrets::default()
    } else {
        match inputs::secrets(object, ctx).await? {
            Ok(secrets) => secrets,
            Err((reason, message)) => {
                return Ok(Err(Outcome::stalled(
                    reason,
                    message,
                    settings.connection_retry,
                )));
            }
        }
    };
    let template = match object.template_name() {
        Some(name) if !observed.exists && !deleting => {
            match inputs::template(conn, name)
                .await
                .map_err(|source| GuestError::Proxmox {
                    op: "find template",
                    vmid,
                    source,
                })? {
                Ok(template) => Some(template),
                Err(message) => {
                    return Ok(Err(Outcome::stalled(
                        "TemplateNotFound",
                        message,
                        settings.connection_retry,
                    )));
                }
            }
        }
        // The template only matters for creating the guest.
        Some(_) => Some(TemplateRef {
            vmid: 0,
            node: None,
        }),
        None => None,
    };
    let identity = Identity {
        name: object.name_any(),
        uid: object.uid().unwrap_or_default(),
        vmid: i64::try_from(vmid).unwrap_or_default(),
    };
    Ok(object
        .desired(&identity, &secrets, template)
        .map_err(|e| Outcome::stalled("InvalidSpec", e.to_string(), settings.backoff.1)))
}

/// A plan that may not run: a foreign guest (Conflict) or protection blocking deletion.
async fn blocked<K: GuestObject>(
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
    forget(&ctx.observations, &object.uid().unwrap_or_default());
    let reason = match blocker {
        Blocker::ForeignGuest { .. } => "Conflict",
        Blocker::Protected { .. } => "DeletionProtected",
    };
    let already =
        conditions::find(&st.conditions, conditions::STALLED).is_some_and(|c| c.reason == reason);
    if !already {
        ctx.event(
            object,
            EventType::Warning,
            reason,
            "Plan",
            blocker.reason().to_string(),
        )
        .await;
    }
    Ok(Outcome::stalled(
        reason,
        blocker.reason(),
        ctx.settings.drift_interval,
    ))
}

fn set_restart_required(st: &mut GuestStatus, plan: &Plan, generation: Option<i64>) {
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

fn converged(observed: &Observed, plan: &Plan, poll: Duration) -> Outcome {
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

/// Removes the finalizer once the guest is gone (or orphaned, or never was ours).
async fn release<K: GuestObject>(object: &K, ctx: &Context) -> Result<Option<Outcome>, GuestError> {
    status::remove_finalizer(ctx, object).await?;
    forget(&ctx.observations, &object.uid().unwrap_or_default());
    Ok(None)
}

/// Executes `step` and turns its result into status and an outcome.
#[allow(clippy::too_many_arguments)]
async fn act<K: GuestObject>(
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
        object.common().node.clone()
    };
    let executed = execute(&conn.pve, K::PVE_KIND, &node, vmid, step).await;
    if matches!(executed, Ok(Acted::Task(_) | Acted::Done)) {
        // Proxmox accepted it: count it, so that a change that does not stick is not repeated
        // forever (see MAX_REPEATS).
        let generation = object.meta().generation.unwrap_or_default();
        ctx.repeats.record(&uid, generation, &step.to_string());
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
                Step::Create { .. } | Step::Clone { .. } | Step::Delete { .. }
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
async fn proxmox_refused<K: GuestObject>(
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
