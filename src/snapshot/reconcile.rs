//! One reconcile of a ProxmoxSnapshot: find the guest object and its guest, follow the task in
//! flight, plan with `kubepve_plan::snapshot::plan_snapshot`, start at most one Proxmox task
//! (snapshot or delete snapshot) and record its UPID, then write status. Never waits for a task.
//!
//! The object gets an owner reference to its guest object, so that Kubernetes deletes it with
//! the guest object (Proxmox destroys the snapshots with the guest). A snapshot that was Ready
//! and then disappeared is reported (`SnapshotLost`), never silently taken again at another
//! point in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use kubepve_api::{
    DeletionPolicy, FINALIZER, ManagementPolicy, ProxmoxSnapshot, SnapshotDeletionPolicy,
    SnapshotPhase, SnapshotStatus,
};
use kubepve_plan::snapshot::{GUEST_NOT_FOUND, SnapshotPlan, WantedSnapshot, plan_snapshot};
use serde_json::json;

use super::SnapshotError;
use super::target::{self, Target};
use super::task::{Followed, follow, started};
use crate::conditions::{Health, now};
use crate::guest::GuestContext;
use crate::status;

/// What a pass decided: the phase, the kstatus health and when to look again.
struct Outcome {
    phase: SnapshotPhase,
    health: Health,
    requeue: Duration,
}

impl Outcome {
    fn new(phase: SnapshotPhase, health: Health, requeue: Duration) -> Self {
        Self {
            phase,
            health,
            requeue,
        }
    }
    fn progressing(phase: SnapshotPhase, reason: &str, message: String, requeue: Duration) -> Self {
        let health = Health::Progressing {
            reason: reason.into(),
            message,
        };
        Self::new(phase, health, requeue)
    }
    fn stalled(reason: &str, message: String, requeue: Duration) -> Self {
        let health = Health::Stalled {
            reason: reason.into(),
            message,
        };
        Self::new(SnapshotPhase::Failed, health, requeue)
    }
}

/// Reconciles one ProxmoxSnapshot.
#[tracing::instrument(skip_all, fields(name = %object.name_any(), namespace = object.namespace().unwrap_or_default()))]
pub async fn reconcile(
    object: Arc<ProxmoxSnapshot>,
    ctx: Arc<GuestContext>,
) -> Result<Action, SnapshotError> {
    if ctx.writes.behind(&*object) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let started_at = Instant::now();
    let deleting = object.meta().deletion_timestamp.is_some();
    if deleting && !object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if !deleting {
        crate::finalizer::add(&ctx.client, &ctx.writes, &*object).await?;
    }
    let prior = object.status.clone().unwrap_or_default();
    let mut st = prior.clone();
    st.snapshot_name = Some(object.proxmox_name());
    let outcome = pipeline(&object, &ctx, &mut st, deleting).await;
    ctx.metrics
        .reconciled("ProxmoxSnapshot", started_at.elapsed());
    let outcome = match outcome {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return Ok(Action::await_change()),
        Err(error) => {
            if st != prior {
                status::write(&ctx, &*object, &st).await?;
            }
            return Err(error);
        }
    };
    let generation = object.meta().generation;
    st.observed_generation = generation;
    st.phase = Some(outcome.phase);
    st.conditions = outcome.health.apply(&st.conditions, generation, &now());
    if st != prior {
        status::write(&ctx, &*object, &st).await?;
    }
    if !matches!(outcome.health, Health::Stalled { .. }) {
        ctx.backoff.reset(&object.uid().unwrap_or_default());
    }
    Ok(Action::requeue(outcome.requeue))
}

/// The pipeline; `Ok(None)` means the object was released (finalizer removed).
async fn pipeline(
    object: &ProxmoxSnapshot,
    ctx: &GuestContext,
    st: &mut SnapshotStatus,
    deleting: bool,
) -> Result<Option<Outcome>, SnapshotError> {
    let settings = &ctx.settings;
    let ns = object.namespace().unwrap_or_default();
    let guest_ref = &object.spec.guest_ref;
    let Some(guest) = target::resolve(ctx, &ns, guest_ref).await? else {
        if deleting {
            // The guest object is gone: its guest (and the snapshots Proxmox destroyed with
            // it) went with it, or it was orphaned, and then its snapshots stay with it.
            return release(object, ctx).await;
        }
        let message = format!(
            "waiting for {} {} in this namespace",
            guest_ref.kind.as_str(),
            guest_ref.name
        );
        return Ok(Some(Outcome::progressing(
            SnapshotPhase::Pending,
            "GuestObjectNotFound",
            message,
            settings.connection_retry,
        )));
    };
    if deleting
        && guest.deleting
        && guest.common.management_policy == ManagementPolicy::Full
        && guest.common.deletion_policy == DeletionPolicy::Delete
    {
        // Namespace or foreground deletion: Proxmox destroys the snapshots with the guest, and
        // a delsnapshot task now would only race that destroy.
        return release(object, ctx).await;
    }
    // Not while the guest object is being deleted: with `--cascade=orphan` the garbage
    // collector strips the reference, and putting it back would undo the orphaning.
    if !deleting && !guest.deleting {
        own(object, ctx, &guest).await?;
    }
    let conn = match target::connection(ctx, &ns, &guest, deleting) {
        Ok(conn) => conn,
        Err(message) => {
            let phase = if deleting {
                SnapshotPhase::Deleting
            } else {
                SnapshotPhase::Pending
            };
            return Ok(Some(Outcome::progressing(
                phase,
                "ConnectionNotReady",
                message,
                settings.connection_retry,
            )));
        }
    };
    let Some(vmid) = guest.vmid.or(st.vmid.and_then(|v| u32::try_from(v).ok())) else {
        if deleting {
            return release(object, ctx).await;
        }
        let message = format!(
            "waiting for {} {} to get a VMID",
            guest_ref.kind.as_str(),
            guest.name
        );
        return Ok(Some(Outcome::progressing(
            SnapshotPhase::Pending,
            "WaitingForGuest",
            message,
            settings.connection_retry,
        )));
    };
    st.vmid = Some(i64::from(vmid));

    // 1. The task in flight.
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
            let phase = if deleting {
                SnapshotPhase::Deleting
            } else {
                SnapshotPhase::Creating
            };
            let message = format!("Proxmox task {} running ({})", task.task_type, task.upid);
            return Ok(Some(Outcome::progressing(
                phase,
                "TaskRunning",
                message,
                settings.task_poll,
            )));
        }
        Followed::Ended(Err(exit)) => {
            // Retried after a backoff, as the message says (never a new task on every pass);
            // the next plan sees whether the snapshot exists after all.
            let delay = ctx
                .backoff
                .next(&object.uid().unwrap_or_default(), settings.backoff);
            let message = format!(
                "the Proxmox task failed: {exit}; retrying in {}s",
                delay.as_secs()
            );
            // Our own status write wakes the controller at once: the step stays held back
            // until the backoff ends, however often the object is reconciled meanwhile.
            let uid = object.uid().unwrap_or_default();
            ctx.refusals
                .record(&uid, generation(object), step_of(deleting), delay);
            if deleting {
                return Ok(Some(Outcome::progressing(
                    SnapshotPhase::Deleting,
                    "TaskFailed",
                    message,
                    delay,
                )));
            }
            return Ok(Some(Outcome::stalled("TaskFailed", message, delay)));
        }
        _ => {}
    }

    // 2. Observe, directly (a snapshot already waiting for its guest looks at the shared read
    // only, once per poll interval).
    let waiting_for_guest = crate::conditions::find(&st.conditions, crate::conditions::RECONCILING)
        .is_some_and(|c| c.status == "True" && c.reason == GUEST_NOT_FOUND);
    let (observed, node) =
        target::observe(&conn, guest.pve_kind(), vmid, !waiting_for_guest).await?;
    if node.is_some() {
        st.node = node.clone();
    }
    let wanted = WantedSnapshot {
        name: object.proxmox_name(),
        uid: object.uid().unwrap_or_default(),
        description: object.spec.description.clone(),
        vmstate: object.spec.include_vm_state,
        deleting,
        retain: object.spec.deletion_policy == SnapshotDeletionPolicy::Retain,
    };

    // 3. Plan, and 4. act: at most one task.
    let plan = plan_snapshot(&wanted, &observed);
    let uid = object.uid().unwrap_or_default();
    let acting = matches!(
        plan,
        SnapshotPlan::Create { .. } | SnapshotPlan::Delete { .. }
    );
    if acting
        && let Some(left) = ctx
            .refusals
            .held_back(&uid, generation(object), step_of(deleting))
    {
        let message = crate::conditions::find(&st.conditions, crate::conditions::STALLED)
            .or_else(|| crate::conditions::find(&st.conditions, crate::conditions::RECONCILING))
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "the last Proxmox task failed; retrying later".into());
        return Ok(Some(if deleting {
            Outcome::progressing(SnapshotPhase::Deleting, "TaskFailed", message, left)
        } else {
            Outcome::stalled("TaskFailed", message, left)
        }));
    }
    if !acting {
        ctx.refusals.clear(&uid);
    }
    // Once taken (a creation time recorded), a missing snapshot is lost, not to be taken.
    let lost = st.creation_time.is_some();
    match plan {
        SnapshotPlan::Ready(snapshot) => {
            st.ready_to_use = Some(true);
            st.parent = snapshot.parent.clone();
            st.creation_time = snapshot
                .snaptime
                .and_then(|t| Timestamp::from_second(i64::try_from(t).ok()?).ok())
                .map(Time);
            if st.phase != Some(SnapshotPhase::Ready) {
                let note = format!("snapshot {} of VMID {vmid} is ready", wanted.name);
                ctx.event(object, EventType::Normal, "SnapshotReady", "Snapshot", note)
                    .await;
            }
            let message = format!("snapshot {} of VMID {vmid} exists in Proxmox", wanted.name);
            Ok(Some(Outcome::new(
                SnapshotPhase::Ready,
                Health::Ready {
                    reason: "SnapshotReady".into(),
                    message,
                },
                // A Ready snapshot only needs its drift check (two Proxmox reads) as often as
                // the full resync reads a guest, jittered so that snapshots spread out.
                settings.full_resync.jittered(),
            )))
        }
        SnapshotPlan::Create { .. } if lost || guest.deleting || !guest.managed() => {
            st.ready_to_use = Some(false);
            let (reason, message) = if lost {
                (
                    "SnapshotLost",
                    format!(
                        "snapshot {} of VMID {vmid} was deleted outside kubepve; it is not taken \
                         again at another point in time: delete this object, or create another",
                        wanted.name
                    ),
                )
            } else {
                (
                    "GuestNotManaged",
                    format!(
                        "{} {} is being deleted or only observed: no snapshot is taken",
                        guest_ref.kind.as_str(),
                        guest.name
                    ),
                )
            };
            Ok(Some(Outcome::stalled(reason, message, settings.backoff.1)))
        }
        SnapshotPlan::Create {
            name,
            description,
            vmstate,
        } => {
            let node = node.unwrap_or_default();
            let upid = conn
                .pve
                .guest(guest.pve_kind(), &node, vmid)
                .create_snapshot(&name, Some(&description), vmstate)
                .await
                .map_err(|source| SnapshotError::Proxmox {
                    op: "create snapshot",
                    vmid,
                    source,
                })?;
            st.current_task = Some(started(&upid));
            st.ready_to_use = Some(false);
            let note = format!("taking snapshot {name} of VMID {vmid}: {upid}");
            ctx.event(
                object,
                EventType::Normal,
                "SnapshotCreating",
                "Snapshot",
                note,
            )
            .await;
            let message = format!("Proxmox task {} running ({upid})", upid.task_type);
            Ok(Some(Outcome::progressing(
                SnapshotPhase::Creating,
                "TaskRunning",
                message,
                settings.task_poll,
            )))
        }
        SnapshotPlan::Delete { name } => {
            let node = node.unwrap_or_default();
            let upid = conn
                .pve
                .guest(guest.pve_kind(), &node, vmid)
                .delete_snapshot(&name)
                .await
                .map_err(|source| SnapshotError::Proxmox {
                    op: "delete snapshot",
                    vmid,
                    source,
                })?;
            st.current_task = Some(started(&upid));
            st.ready_to_use = Some(false);
            let note = format!("deleting snapshot {name} of VMID {vmid}: {upid}");
            ctx.event(
                object,
                EventType::Normal,
                "SnapshotDeleting",
                "Delete",
                note,
            )
            .await;
            let message = format!("Proxmox task {} running ({upid})", upid.task_type);
            Ok(Some(Outcome::progressing(
                SnapshotPhase::Deleting,
                "TaskRunning",
                message,
                settings.task_poll,
            )))
        }
        SnapshotPlan::Release { why } => {
            tracing::info!(snapshot = %wanted.name, vmid, why, "releasing the ProxmoxSnapshot");
            release(object, ctx).await
        }
        SnapshotPlan::Wait { reason, message } => {
            let phase = if deleting {
                SnapshotPhase::Deleting
            } else {
                SnapshotPhase::Pending
            };
            // A missing guest shows up in the shared read; a lock ends with a task.
            let after = if reason == GUEST_NOT_FOUND {
                conn.poll_interval
            } else {
                settings.task_poll
            };
            Ok(Some(Outcome::progressing(phase, reason, message, after)))
        }
        SnapshotPlan::Blocked { reason, message } => {
            st.ready_to_use = Some(false);
            if st.phase != Some(SnapshotPhase::Failed) {
                ctx.event(
                    object,
                    EventType::Warning,
                    reason,
                    "Snapshot",
                    message.clone(),
                )
                .await;
            }
            Ok(Some(Outcome::stalled(reason, message, settings.backoff.1)))
        }
    }
}

/// The generation, for holding back a failed step until the spec changes or its backoff ends.
fn generation(object: &ProxmoxSnapshot) -> i64 {
    object.meta().generation.unwrap_or_default()
}

/// The step a failed task held back.
fn step_of(deleting: bool) -> &'static str {
    if deleting {
        "delete snapshot"
    } else {
        "create snapshot"
    }
}

/// Gives the object an owner reference to its guest object, unless it has one.
async fn own(
    object: &ProxmoxSnapshot,
    ctx: &GuestContext,
    guest: &Target,
) -> Result<(), SnapshotError> {
    let owners = object.owner_references();
    if owners.iter().any(|o| o.uid == guest.uid) || guest.uid.is_empty() {
        return Ok(());
    }
    let mut all = owners.to_vec();
    all.push(guest.owner_reference());
    let patch = json!({
        "metadata": {"ownerReferences": all, "resourceVersion": object.resource_version()}
    });
    let api: Api<ProxmoxSnapshot> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    match api
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        // Changed under us: the next pass sees the new object and tries again.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
        Ok(written) => {
            ctx.writes.wrote(&written);
            Ok(())
        }
    }
}

async fn release(
    object: &ProxmoxSnapshot,
    ctx: &GuestContext,
) -> Result<Option<Outcome>, SnapshotError> {
    crate::finalizer::remove(&ctx.client, &ctx.writes, object).await?;
    Ok(None)
}
