//! One reconcile of a ProxmoxSnapshotRestore: a one-shot rollback of a guest to a Ready
//! ProxmoxSnapshot. The guards are the pure `kubepve_plan::snapshot::check_rollback` (the
//! snapshot is the ProxmoxSnapshot's, the guest is managed and not locked, its runStrategy
//! allows the stop a rollback makes); the guest's configuration is saved with the guest
//! controller's backup code before the rollback task starts; the task's UPID goes into status
//! and later passes read its end. A restore that succeeded or whose rollback failed is done
//! for good (a rollback is destructive: another one needs another object). The time of the
//! request is in status before the request is sent: a pass that finds it without a UPID (the
//! status write after the request was lost) looks for the rollback task in the node's task
//! list and follows it, and sends the request again only when Proxmox has no such task.
//!
//! Order with the guest controller (docs/snapshots.md): while the rollback runs, Proxmox holds
//! the guest's `rollback` lock and the guest controller waits for it; afterwards the restore
//! forgets the guest controller's cached observation and tells the guest object in an Event,
//! and the guest controller then applies the spec as usual where the snapshot's config differs.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use kubepve_api::{
    GuestKindRef, ProxmoxContainer, ProxmoxSnapshot, ProxmoxSnapshotRestore, ProxmoxVM,
    RestorePhase, RestoreStatus,
};
use kubepve_plan::Observed;
use kubepve_plan::snapshot::{RollbackInput, check_rollback};

use super::SnapshotError;
use super::target::{self, Target};
use super::task::{Followed, follow, started};
use crate::conditions::{Health, now};
use crate::guest::GuestContext;
use crate::guest::GuestObject;
use crate::guest::backup;
use crate::guest::hold::Hold;
use crate::proxmox::registry::Connection;
use crate::status;

/// Reconciles one ProxmoxSnapshotRestore.
#[tracing::instrument(skip_all, fields(name = %object.name_any(), namespace = object.namespace().unwrap_or_default()))]
pub async fn reconcile(
    object: Arc<ProxmoxSnapshotRestore>,
    ctx: Arc<GuestContext>,
) -> Result<Action, SnapshotError> {
    if ctx.writes.behind(&*object) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let prior = object.status.clone().unwrap_or_default();
    if matches!(prior.phase, Some(RestorePhase::Succeeded))
        || (prior.phase == Some(RestorePhase::Failed) && prior.last_task.is_some())
        || object.meta().deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let mut st = prior.clone();
    let started_at = std::time::Instant::now();
    let result = pipeline(&object, &ctx, &mut st).await;
    ctx.metrics
        .reconciled("ProxmoxSnapshotRestore", started_at.elapsed());
    let (phase, health, requeue) = match result {
        Ok(decided) => decided,
        Err(error) => {
            if st != prior {
                status::write(&ctx, &*object, &st).await?;
            }
            return Err(error);
        }
    };
    let generation = object.meta().generation;
    st.observed_generation = generation;
    st.phase = Some(phase);
    st.conditions = health.apply(&st.conditions, generation, &now());
    if st != prior {
        status::write(&ctx, &*object, &st).await?;
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

type Decided = (RestorePhase, Health, Option<std::time::Duration>);

fn waiting(reason: &str, message: String, after: std::time::Duration) -> Decided {
    let health = Health::Progressing {
        reason: reason.into(),
        message,
    };
    (RestorePhase::Pending, health, Some(after))
}

fn refused(reason: &str, message: String, after: Option<std::time::Duration>) -> Decided {
    let health = Health::Stalled {
        reason: reason.into(),
        message,
    };
    (RestorePhase::Failed, health, after)
}

async fn pipeline(
    object: &ProxmoxSnapshotRestore,
    ctx: &GuestContext,
    st: &mut RestoreStatus,
) -> Result<Decided, SnapshotError> {
    let settings = &ctx.settings;
    let ns = object.namespace().unwrap_or_default();
    let snap_name = &object.spec.snapshot_ref.name;
    let snapshots: Api<ProxmoxSnapshot> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(snapshot) = snapshots.get_opt(snap_name).await? else {
        let message = format!("waiting for ProxmoxSnapshot {snap_name} in this namespace");
        return Ok(waiting(
            "SnapshotNotFound",
            message,
            settings.connection_retry,
        ));
    };
    if snapshot.status.as_ref().and_then(|s| s.ready_to_use) != Some(true) {
        let message = format!("waiting for ProxmoxSnapshot {snap_name} to be ready");
        return Ok(waiting("SnapshotNotReady", message, settings.task_poll));
    }
    let guest_ref = &snapshot.spec.guest_ref;
    let Some(guest) = target::resolve(ctx, &ns, guest_ref).await? else {
        let message = format!(
            "{} {} does not exist",
            guest_ref.kind.as_str(),
            guest_ref.name
        );
        return Ok(waiting(
            "GuestObjectNotFound",
            message,
            settings.connection_retry,
        ));
    };
    let conn = match target::connection(ctx, &ns, &guest, false) {
        Ok(conn) => conn,
        Err(message) => {
            return Ok(waiting(
                "ConnectionNotReady",
                message,
                settings.connection_retry,
            ));
        }
    };
    let Some(vmid) = guest.vmid else {
        let message = format!("{} {} has no VMID yet", guest_ref.kind.as_str(), guest.name);
        return Ok(waiting(
            "WaitingForGuest",
            message,
            settings.connection_retry,
        ));
    };
    st.vmid = Some(i64::from(vmid));
    let name = snapshot.proxmox_name();

    // 1. The rollback task, once started.
    match follow(
        object,
        ctx,
        &conn,
        vmid,
        &mut st.current_task,
        &mut st.last_task,
    )
    .await?
    {
        Followed::Running(task) => {
            let message = format!("Proxmox task {} running ({})", task.task_type, task.upid);
            let health = Health::Progressing {
                reason: "TaskRunning".into(),
                message,
            };
            return Ok((RestorePhase::RollingBack, health, Some(settings.task_poll)));
        }
        Followed::Ended(Ok(_)) => {
            st.completion_time = Some(now());
            after_rollback(object, ctx, &conn, &guest, &name).await;
            let message = format!("VMID {vmid} rolled back to {name}");
            let health = Health::Ready {
                reason: "RolledBack".into(),
                message,
            };
            return Ok((RestorePhase::Succeeded, health, None));
        }
        Followed::Ended(Err(exit)) => {
            st.completion_time = Some(now());
            let message = format!(
                "the rollback of VMID {vmid} to {name} failed: {exit}; the configuration from \
                 before is in {}; create another ProxmoxSnapshotRestore to try again",
                st.backup.as_deref().unwrap_or("the backup ConfigMap")
            );
            return Ok(refused("RollbackFailed", message, None));
        }
        Followed::None => {}
    }

    // 2. The guards, on the guest as it is now.
    let (observed, node) = target::observe(&conn, guest.pve_kind(), vmid, true).await?;
    if let (Some(requested), Some(node)) = (&st.requested_time, &node)
        && let Some(upid) = sent_rollback(&conn, node, vmid, requested).await?
    {
        st.current_task = Some(started(&upid));
        let message = format!("Proxmox task {} running ({upid})", upid.task_type);
        let health = Health::Progressing {
            reason: "TaskRunning".into(),
            message,
        };
        return Ok((RestorePhase::RollingBack, health, Some(settings.task_poll)));
    }
    let input = RollbackInput {
        name: &name,
        owner_uid: snapshot.meta().uid.as_deref(),
        run_strategy: Some(guest.common.run_strategy),
        managed: guest.managed(),
        start_after: object.spec.start_after,
    };
    if let Err(refusal) = check_rollback(&input, &observed) {
        if refusal.transient {
            return Ok(waiting(refusal.reason, refusal.message, settings.task_poll));
        }
        if st.phase != Some(RestorePhase::Failed) {
            ctx.event(
                object,
                EventType::Warning,
                refusal.reason,
                "Rollback",
                refusal.message.clone(),
            )
            .await;
        }
        // Looked at again after a while: the user may change what blocks it.
        return Ok(refused(
            refusal.reason,
            refusal.message,
            Some(settings.backoff.1),
        ));
    }
    let node = node.unwrap_or_default();

    // 3. The configuration backup, then 4. the rollback task.
    let taken = match take_backup(ctx, &ns, &guest, &conn, vmid, &node, &name).await? {
        Ok(taken) => taken,
        Err(message) => return Ok(refused("BackupFailed", message, Some(settings.backoff.1))),
    };
    st.backup = Some(taken.0.clone());
    // Recorded before the request (see the module's paragraph).
    st.requested_time = Some(now());
    st.phase = Some(RestorePhase::RollingBack);
    status::write(ctx, object, st).await?;
    let upid = conn
        .pve
        .guest(guest.pve_kind(), &node, vmid)
        .rollback_snapshot(&name, object.spec.start_after)
        .await
        .map_err(|source| SnapshotError::Proxmox {
            op: "roll back snapshot",
            vmid,
            source,
        })?;
    st.current_task = Some(started(&upid));
    taken.1.record(ctx, &upid).await;
    let note = format!(
        "rolling VMID {vmid} back to {name}: {upid}; config saved in {}",
        taken.0
    );
    ctx.event(object, EventType::Normal, "RollingBack", "Rollback", note)
        .await;
    let message = format!("Proxmox task {} running ({upid})", upid.task_type);
    let health = Health::Progressing {
        reason: "TaskRunning".into(),
        message,
    };
    Ok((RestorePhase::RollingBack, health, Some(settings.task_poll)))
}

/// How far the Proxmox node's clock may be behind the operator's when a rollback requested at
/// some time is looked for among the node's tasks.
const CLOCK_SKEW_SECS: u64 = 120;

/// The rollback task of `vmid` that a request sent at `requested` started, running or ended.
async fn sent_rollback(
    conn: &Connection,
    node: &str,
    vmid: u32,
    requested: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Result<Option<pve_client::Upid>, SnapshotError> {
    let since = u64::try_from(requested.0.as_second())
        .unwrap_or_default()
        .saturating_sub(CLOCK_SKEW_SECS);
    let filter = pve_client::TaskFilter {
        vmid: Some(vmid),
        running_too: true,
        since: Some(since),
        ..Default::default()
    };
    let tasks =
        conn.pve
            .task_list(node, &filter)
            .await
            .map_err(|source| SnapshotError::Proxmox {
                op: "list tasks",
                vmid,
                source,
            })?;
    Ok(tasks
        .into_iter()
        .map(|t| t.upid)
        .filter(|u| u.task_type.ends_with("rollback") && u64::from(u.starttime) >= since)
        .max_by_key(|u| u.starttime))
}

/// A backup taken for one guest kind, to complete with the rollback's UPID.
enum Pending {
    Vm(Box<ProxmoxVM>, backup::Taken),
    Ct(Box<ProxmoxContainer>, backup::Taken),
}

impl Pending {
    async fn record(self, ctx: &GuestContext, upid: &pve_client::Upid) {
        match self {
            Pending::Vm(o, t) => backup::record_upid(&*o, ctx, t, upid).await,
            Pending::Ct(o, t) => backup::record_upid(&*o, ctx, t, upid).await,
        }
    }
}

/// Saves the guest's configuration as the guest controller does before its own destructive
/// steps. `Ok(Err(message))` when the backup could not be written (the rollback must not run).
async fn take_backup(
    ctx: &GuestContext,
    ns: &str,
    guest: &Target,
    conn: &Connection,
    vmid: u32,
    node: &str,
    name: &str,
) -> Result<Result<(String, Pending), String>, SnapshotError> {
    let config = conn
        .pve
        .guest(guest.pve_kind(), node, vmid)
        .config()
        .await
        .map_err(|source| SnapshotError::Proxmox {
            op: "read config",
            vmid,
            source,
        })?;
    let map: serde_json::Map<String, serde_json::Value> = config.0.into_iter().collect();
    let observed = Observed {
        exists: true,
        config: kubepve_plan::config_from_json(&map),
        node: node.to_string(),
        ..Observed::default()
    };
    let step = format!("roll back to snapshot {name}");
    async fn one<K: GuestObject>(
        ctx: &GuestContext,
        ns: &str,
        guest: &Target,
        conn: &Connection,
        vmid: u32,
        observed: &Observed,
        step: &str,
    ) -> Result<Result<(K, backup::Taken), String>, SnapshotError> {
        let Some(object) = Api::<K>::namespaced(ctx.client.clone(), ns)
            .get_opt(&guest.name)
            .await?
        else {
            return Ok(Err(format!("{} is gone", guest.name)));
        };
        let taken = backup::take(
            &object,
            ctx,
            conn,
            u64::from(vmid),
            observed,
            "rollback",
            step,
            "Rollback",
        )
        .await;
        Ok(match taken {
            Ok(taken) => Ok((object, taken)),
            Err(Hold::Refused { message, .. }) => Err(message),
            Err(Hold::Failed(e)) => Err(format!("saving the configuration failed: {e}")),
        })
    }
    Ok(match guest.kind {
        GuestKindRef::ProxmoxVM => one::<ProxmoxVM>(ctx, ns, guest, conn, vmid, &observed, &step)
            .await?
            .map(|(o, t)| (t.location(), Pending::Vm(Box::new(o), t))),
        GuestKindRef::ProxmoxContainer => {
            one::<ProxmoxContainer>(ctx, ns, guest, conn, vmid, &observed, &step)
                .await?
                .map(|(o, t)| (t.location(), Pending::Ct(Box::new(o), t)))
        }
    })
}

/// After a rollback: the guest controller reads the guest again instead of trusting what it
/// saw before, and the guest object says what happened (the guest controller then applies the
/// spec where the snapshot's config differs).
async fn after_rollback(
    object: &ProxmoxSnapshotRestore,
    ctx: &GuestContext,
    conn: &Connection,
    guest: &Target,
    name: &str,
) {
    crate::guest::forget_observation(&ctx.observations, &guest.uid);
    conn.invalidate().await;
    let note = format!(
        "rolled back to snapshot {name} by ProxmoxSnapshotRestore {}; the config is now the \
         snapshot's, and the operator applies this object's spec again where it differs",
        object.name_any()
    );
    let reference = |kind: &str| k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(format!("{}/{}", kubepve_api::GROUP, kubepve_api::VERSION)),
        kind: Some(kind.into()),
        name: Some(guest.name.clone()),
        namespace: object.namespace(),
        uid: Some(guest.uid.clone()),
        ..Default::default()
    };
    ctx.event_on(
        &reference(guest.kind.as_str()),
        EventType::Normal,
        "RolledBack",
        "Rollback",
        note,
    )
    .await;
}
