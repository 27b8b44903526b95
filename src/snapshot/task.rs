//! Following the Proxmox task a snapshot or restore recorded in `status.currentTask`: still
//! running, or ended (into `status.lastTask`, with an Event). Never waits.

use kube::Resource;
use kube::runtime::events::EventType;
use kubepve_api::TaskRef;
use pve_client::{TaskOutcome, Upid};

use super::SnapshotError;
use crate::conditions::now;
use crate::guest::GuestContext;
use crate::proxmox::registry::Connection;

/// Where the recorded task is.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// No task recorded (or an unreadable UPID, dropped).
    None,
    /// Still running.
    Running(TaskRef),
    /// Ended now; the task is in `last`. `Ok` carries the exit status of a success.
    Ended(Result<String, String>),
}

/// Reads the end of `current` (moving it to `last` when it ended) and publishes an Event about
/// `object` when it did.
pub async fn follow<K: Resource<DynamicType = ()>>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    vmid: u32,
    current: &mut Option<TaskRef>,
    last: &mut Option<TaskRef>,
) -> Result<Followed, SnapshotError> {
    let Some(task) = current.clone() else {
        return Ok(Followed::None);
    };
    let Ok(upid) = task.upid.parse::<Upid>() else {
        *current = None;
        return Ok(Followed::None);
    };
    let status = conn
        .pve
        .task_status(&upid)
        .await
        .map_err(|source| SnapshotError::Proxmox {
            op: "read task status",
            vmid,
            source,
        })?;
    if status.is_running() {
        return Ok(Followed::Running(task));
    }
    let exit = status
        .exitstatus
        .unwrap_or_else(|| "unexpected status".into());
    *current = None;
    *last = Some(TaskRef {
        finished_at: Some(now()),
        exit_status: Some(exit.clone()),
        ..task.clone()
    });
    let ok = TaskOutcome::from_exit_status(&exit).is_success();
    let (type_, reason) = if ok {
        (EventType::Normal, "TaskSucceeded")
    } else {
        (EventType::Warning, "TaskFailed")
    };
    let note = format!("Proxmox task {} ended: {exit}", task.task_type);
    ctx.event(object, type_, reason, &task.task_type, note)
        .await;
    Ok(Followed::Ended(if ok { Ok(exit) } else { Err(exit) }))
}

/// The status record of a task just started.
pub fn started(upid: &Upid) -> TaskRef {
    TaskRef {
        upid: upid.to_string(),
        task_type: upid.task_type.clone(),
        started_at: Some(now()),
        finished_at: None,
        exit_status: None,
    }
}
