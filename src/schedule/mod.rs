//! The ProxmoxSnapshotSchedule controller. One reconcile: parse the schedule (`plan.rs`), list
//! the selected guest objects and the ProxmoxSnapshots the schedule owns, create one
//! ProxmoxSnapshot per guest when a run is due (once for any number of missed slots; never
//! while a snapshot of that guest from this schedule is still being taken; guests whose
//! managementPolicy is not Full are left out, with a note), delete what retention prunes
//! (failed snapshots too), and write status (last and next run, counts, conditions). The
//! ProxmoxSnapshot controller does the Proxmox work; names are deterministic per run, so a
//! repeated run finds the objects it created.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use kubepve_api::snapshot::{GUEST_LABEL, SCHEDULE_LABEL};
use kubepve_api::{
    GuestCommon, GuestKindRef, GuestRef, ManagementPolicy, ProxmoxContainer, ProxmoxSnapshot,
    ProxmoxSnapshotSchedule, ProxmoxSnapshotSpec, SnapshotDeletionPolicy, SnapshotScheduleStatus,
};

use crate::conditions::{Health, now};
use crate::controller::run_owning;
use crate::guest::GuestContext;
use crate::snapshot::SnapshotError;
use crate::status;
use plan::{Owned, OwnedState, Schedule};

/// The longest a schedule sleeps before looking again (the clock, guests and snapshots change).
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// Reconciles one ProxmoxSnapshotSchedule at `Timestamp::now()`.
pub async fn reconcile(
    object: Arc<ProxmoxSnapshotSchedule>,
    ctx: Arc<GuestContext>,
) -> Result<Action, SnapshotError> {
    if ctx.writes.behind(&*object) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let started = std::time::Instant::now();
    let result = reconcile_at(&object, &ctx, Timestamp::now()).await;
    ctx.metrics
        .reconciled("ProxmoxSnapshotSchedule", started.elapsed());
    result
}

/// Reconciles one ProxmoxSnapshotSchedule as if it were `now` (tests pass the time).
pub async fn reconcile_at(
    object: &ProxmoxSnapshotSchedule,
    ctx: &GuestContext,
    now: Timestamp,
) -> Result<Action, SnapshotError> {
    if object.meta().deletion_timestamp.is_some() {
        // Its snapshots go with it (owner references); nothing to do in Proxmox here.
        return Ok(Action::await_change());
    }
    let prior = object.status.clone().unwrap_or_default();
    let mut st = prior.clone();
    let spec = &object.spec;
    let parsed = Schedule::parse(&spec.schedule, spec.time_zone.as_deref()).and_then(|s| {
        let age = spec
            .retention
            .max_age
            .as_deref()
            .map(plan::parse_max_age)
            .transpose()?;
        Ok((s, age, plan::selector(&(&spec.guest_selector).into())?))
    });
    let (schedule, max_age, selector) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let health = Health::Stalled {
                reason: e.reason().into(),
                message: e.to_string(),
            };
            st.next_schedule_time = None;
            return finish(object, ctx, prior, st, &health, ctx.settings.backoff.1).await;
        }
    };
    let ns = object.namespace().unwrap_or_default();
    let uid = object.uid().unwrap_or_default();
    let selection = selected_guests(ctx, &ns, &selector).await?;
    let guests = &selection.guests;
    let snaps_api: Api<ProxmoxSnapshot> = Api::namespaced(ctx.client.clone(), &ns);
    let owned_list = snaps_api
        .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={uid}")))
        .await?
        .items;

    let owned: Vec<Owned> = owned_list
        .iter()
        .map(|s| Owned {
            name: s.name_any(),
            guest: s.labels().get(GUEST_LABEL).cloned().unwrap_or_default(),
            created: s
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(now),
            state: OwnedState::of(
                s.status.as_ref().and_then(|st| st.phase),
                s.status.as_ref().and_then(|st| st.ready_to_use),
            ),
            deleting: s.meta().deletion_timestamp.is_some(),
        })
        .collect();

    // 1. A run, if one is due.
    let created = object
        .meta()
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let since = st
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(created);
    if !spec.suspend
        && let Some(slot) = schedule.due(since, now)
    {
        let mut made = 0;
        for (kind, name, guest_uid) in guests {
            if plan::busy(&owned, guest_uid) {
                let note = format!(
                    "skipped the {slot} run for {name}: its previous snapshot is still being taken"
                );
                ctx.event(object, EventType::Warning, "RunSkipped", "Snapshot", note)
                    .await;
                continue;
            }
            let snapshot = new_snapshot(object, *kind, name, guest_uid, slot);
            match snaps_api.create(&PostParams::default(), &snapshot).await {
                Ok(_) => made += 1,
                // Created by this very run before a restart: the same deterministic name.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        st.last_schedule_time = Some(Time(slot));
        let note = format!(
            "run for {slot}: {made} snapshots created for {} guests",
            guests.len()
        );
        ctx.event(
            object,
            EventType::Normal,
            "SnapshotsScheduled",
            "Snapshot",
            note,
        )
        .await;
    }

    // 2. Retention.
    for name in plan::prune(&owned, &spec.retention, max_age, now) {
        match snaps_api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }

    // 3. Status.
    let next = if spec.suspend {
        None
    } else {
        schedule.next_after(now)
    };
    st.next_schedule_time = next.map(Time);
    st.guests = Some(i32::try_from(guests.len()).unwrap_or(i32::MAX));
    st.snapshots =
        Some(i32::try_from(owned.iter().filter(|o| !o.deleting).count()).unwrap_or(i32::MAX));
    let taking = owned
        .iter()
        .filter(|o| o.state == OwnedState::InFlight && !o.deleting)
        .count();
    let health = if taking > 0 {
        Health::Progressing {
            reason: "TakingSnapshots".into(),
            message: format!(
                "waiting for {taking} snapshots to become ready{}",
                selection.note()
            ),
        }
    } else {
        let when = next.map_or_else(|| "suspended".to_string(), |n| format!("next run {n}"));
        Health::Ready {
            reason: "Scheduled".into(),
            message: format!("{} guests, {when}{}", guests.len(), selection.note()),
        }
    };
    let until_next = next
        .map(|n| Duration::from_secs(u64::try_from(n.as_second() - now.as_second()).unwrap_or(0)))
        .unwrap_or(MAX_SLEEP);
    let wait = if taking > 0 {
        ctx.settings.task_poll
    } else {
        until_next.clamp(Duration::from_secs(1), MAX_SLEEP)
    };
    finish(object, ctx, prior, st, &health, wait).await
}

async fn finish(
    object: &ProxmoxSnapshotSchedule,
    ctx: &GuestContext,
    prior: SnapshotScheduleStatus,
    mut st: SnapshotScheduleStatus,
    health: &Health,
    wait: Duration,
) -> Result<Action, SnapshotError> {
    let generation = object.meta().generation;
    st.observed_generation = generation;
    st.conditions = health.apply(&st.conditions, generation, &now());
    if st != prior {
        status::write(ctx, object, &st).await?;
    }
    Ok(Action::requeue(wait))
}

/// The guest objects the selector matches, and the names of those left out.
struct Selection {
    /// Kind, name and UID of each guest to snapshot.
    guests: Vec<(GuestKindRef, String, String)>,
    /// Matched but left out: managementPolicy is not Full, so kubepve writes nothing to them.
    left_out: Vec<String>,
}

impl Selection {
    /// Adds one matched guest object (ones being deleted are skipped).
    fn add(&mut self, kind: GuestKindRef, meta: &ObjectMeta, guest: &GuestCommon) {
        if meta.deletion_timestamp.is_some() {
            return;
        }
        let name = meta.name.clone().unwrap_or_default();
        if guest.management_policy != ManagementPolicy::Full {
            self.left_out.push(name);
            return;
        }
        self.guests
            .push((kind, name, meta.uid.clone().unwrap_or_default()));
    }

    /// The note status carries about the guests left out (empty when none are).
    fn note(&self) -> String {
        if self.left_out.is_empty() {
            return String::new();
        }
        format!(
            "; left out (managementPolicy is not Full): {}",
            self.left_out.join(", ")
        )
    }
}

/// The guest objects the selector matches.
async fn selected_guests(
    ctx: &GuestContext,
    ns: &str,
    selector: &Selector,
) -> Result<Selection, SnapshotError> {
    let params = ListParams::default().labels_from(selector);
    let mut out = Selection {
        guests: Vec::new(),
        left_out: Vec::new(),
    };
    let vms = Api::<kubepve_api::ProxmoxVM>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await?;
    for vm in &vms.items {
        out.add(GuestKindRef::ProxmoxVM, vm.meta(), &vm.spec.guest);
    }
    let cts = Api::<ProxmoxContainer>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await?;
    for ct in &cts.items {
        out.add(GuestKindRef::ProxmoxContainer, ct.meta(), &ct.spec.guest);
    }
    Ok(out)
}

/// The ProxmoxSnapshot a run at `slot` creates for one guest, owned by the schedule.
fn new_snapshot(
    schedule: &ProxmoxSnapshotSchedule,
    kind: GuestKindRef,
    guest: &str,
    guest_uid: &str,
    slot: Timestamp,
) -> ProxmoxSnapshot {
    let owner = OwnerReference {
        api_version: ProxmoxSnapshotSchedule::api_version(&()).into(),
        kind: ProxmoxSnapshotSchedule::kind(&()).into(),
        name: schedule.name_any(),
        uid: schedule.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let name = schedule.name_any();
    let spec = ProxmoxSnapshotSpec {
        guest_ref: GuestRef {
            kind,
            name: guest.into(),
        },
        snapshot_name: Some(plan::proxmox_name(&name, slot)),
        description: Some(format!(
            "scheduled by ProxmoxSnapshotSchedule {name} for {slot}"
        )),
        include_vm_state: schedule.spec.include_vm_state && kind == GuestKindRef::ProxmoxVM,
        deletion_policy: SnapshotDeletionPolicy::Delete,
    };
    let mut snapshot = ProxmoxSnapshot::new(&plan::object_name(&name, guest, slot), spec);
    snapshot.metadata.namespace = schedule.namespace();
    snapshot.metadata.labels = Some(
        [
            (
                SCHEDULE_LABEL.to_string(),
                schedule.uid().unwrap_or_default(),
            ),
            (GUEST_LABEL.to_string(), guest_uid.to_string()),
        ]
        .into(),
    );
    snapshot.metadata.owner_references = Some(vec![owner]);
    snapshot
}

/// The ProxmoxSnapshotSchedule controller, also woken when one of its snapshots changes.
pub async fn controller(
    ctx: Arc<GuestContext>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_owning::<ProxmoxSnapshotSchedule, ProxmoxSnapshot, _, _, _>(
        ctx, namespace, shutdown, reconcile,
    )
    .await;
}
