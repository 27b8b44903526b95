//! Following the Proxmox task recorded in `status.currentTask`: still running, or ended (into
//! `status.lastTask` and an Event).

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use kubepve_api::{GuestStatus, TaskRef};
use pve_client::{TaskOutcome, Upid};

use super::GuestError;
use super::outcome::Outcome;
use crate::conditions::now;
use crate::guest::GuestContext;
use crate::guest::GuestObject;
use crate::guest::observe::Freshness;
use crate::proxmox::registry::Connection;

/// The key under which a failed migration holds the next one back (any target: a retry
/// to another node after a failure waits as well).
pub(super) const MIGRATE_REFUSAL_KEY: &str = "migrate";

/// Reads the end of the task in `status.currentTask`; `Some` when the reconcile should stop here.
pub(super) async fn follow_task<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
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
            if matches!(upid.task_type.as_str(), "qmcreate" | "qmclone" | "vzcreate") {
                // A restarted operator counts the creates it finds running.
                conn.keep_create(&object.uid().unwrap_or_default(), &upid.node);
            }
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
    let outcome = TaskOutcome::from_exit_status(&exit);
    // A deletion (Direct from the start) always reads everything again.
    *freshness = match *freshness {
        Freshness::Shared if outcome.is_success() => Freshness::after_task(&task.task_type),
        _ => Freshness::Direct,
    };
    st.current_task = None;
    conn.end_create(&object.uid().unwrap_or_default());
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
    let uid = object.uid().unwrap_or_default();
    // A task that failed is retried after a backoff, as the message says: it is not a change
    // Proxmox accepted without effect, so it does not count towards NotConverging (a config
    // lock held for a while would otherwise stall a deletion for good).
    ctx.repeats.clear(&uid);
    let delay = ctx.backoff.next(&uid, ctx.settings.backoff);
    let message = format!(
        "Proxmox task {} failed: {exit}; retrying in {}s",
        task.task_type,
        delay.as_secs()
    );
    if kubepve_plan::is_migration_task(&task.task_type) {
        // Proxmox's words, and no new attempt before the backoff ends (docs/migration.md): the
        // next migration of this generation is held back until then, and the backoff keeps
        // growing across attempts (it is not reset while the guest is migrating).
        let generation = object.meta().generation.unwrap_or_default();
        ctx.refusals
            .record(&uid, generation, MIGRATE_REFUSAL_KEY, delay);
        return Ok(Some(Outcome::stalled("MigrationFailed", message, delay)));
    }
    Ok(Some(Outcome::progressing("TaskFailed", message, delay)))
}

pub(super) fn task_age(task: &TaskRef) -> Duration {
    let started = task
        .started_at
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(|| now().0);
    let seconds = now().0.as_second().saturating_sub(started.as_second());
    Duration::from_secs(u64::try_from(seconds).unwrap_or_default())
}
