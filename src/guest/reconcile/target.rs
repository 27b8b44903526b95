//! Which guest a pass works on: the spec's VMID checked against the one this object uses, the
//! VMID settled (allocated when there is none), and what Proxmox shows under it.

use std::time::Duration;

use kubepve_api::{GuestCommon, GuestStatus};
use kubepve_plan::Observed;

use super::checkpoint::{Checkpoint, checkpoint};
use super::inputs;
use super::outcome::{Outcome, deferred, settled};
use super::{Flow, Guest, Pass, ends, proxmox};
use crate::guest::observe::{Freshness, Observation, Subject, observe};
use crate::guest::{GuestContext, GuestObject};
use crate::proxmox::registry::Connection;

/// The spec's VMID: needed to observe or adopt, and no other than the one this object uses.
/// Pure; a spec that fails is Stalled, looked at again after `stall_for`.
pub(super) fn validate(
    common: &GuestCommon,
    st: &GuestStatus,
    pass: &Pass,
    stall_for: Duration,
) -> Flow<()> {
    let wanted = common.vmid;
    let stalled = |reason, message: String| ends(Outcome::stalled(reason, message, stall_for));
    if (pass.observe_only || pass.adopt) && wanted.is_none() && !pass.deleting {
        let message = "managementPolicy ObserveOnly and adopt need spec.vmid: the existing guest";
        return stalled("InvalidSpec", message.into());
    }
    if let (Some(wanted), Some(recorded)) = (wanted, st.vmid)
        && wanted != recorded
        && !pass.deleting
    {
        let message = format!(
            "spec.vmid {wanted} differs from VMID {recorded} that this object already uses; \
             remove spec.vmid or set it to {recorded}"
        );
        return stalled("VmidMismatch", message);
    }
    Ok(())
}

/// The VMID: the recorded one (a deletion always goes there), else the spec's, else one
/// allocated and recorded in status before anything is created.
pub(super) async fn settle_vmid<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    st: &mut GuestStatus,
) -> Flow<u64> {
    let vmid = match (st.vmid, object.common().vmid) {
        (Some(v), _) | (None, Some(v)) => u64::try_from(v).unwrap_or_default(),
        (None, None) => {
            let allocated = inputs::allocate_vmid(conn)
                .await
                .map_err(proxmox("allocate vmid", 0))?;
            let Some(vmid) = allocated else {
                let (start, end) = conn.policy.vmid_range.unwrap_or_default();
                let message = format!(
                    "every VMID in the connection's vmidRange {start}-{end} is taken; widen the \
                     range or free a VMID"
                );
                let retry = ctx.settings.connection_retry;
                return ends(Outcome::stalled("VmidRangeExhausted", message, retry));
            };
            st.vmid = Some(i64::try_from(vmid).unwrap_or_default());
            checkpoint(ctx, object, st, Checkpoint::VmidAllocated).await?;
            vmid
        }
    };
    st.vmid = Some(i64::try_from(vmid).unwrap_or_default());
    Ok(vmid)
}

/// Observe: what Proxmox shows of the guest, and when to look again.
pub(super) async fn observe_guest<K: GuestObject>(
    guest: Guest<'_, K>,
    st: &mut GuestStatus,
    pass: &Pass,
    freshness: Freshness,
) -> Flow<(Observed, Duration)> {
    let Guest {
        object,
        ctx,
        conn,
        vmid,
    } = guest;
    let subject = Subject {
        uid: &pass.uid,
        generation: pass.generation,
        kind: K::PVE_KIND,
        vmid,
        freshness,
        settled: settled(st, pass.generation, pass.deleting || pass.restart_requested),
    };
    let seen = observe(conn, &ctx.observations, &ctx.settings.full_resync, &subject)
        .await
        .map_err(proxmox("observe", vmid))?;
    let (observed, poll) = match seen {
        Observation::Seen { observed, recheck } => {
            let poll = recheck.map_or(conn.poll_interval, |r| r.min(conn.poll_interval));
            (observed, poll)
        }
        Observation::Deferred(after) => return ends(deferred(st, after)),
    };
    if observed.exists {
        crate::guest::migration::note_move(object, ctx, st.node.as_deref(), &observed.node).await;
        st.node = Some(observed.node.clone());
        if observed.power == kubepve_plan::Power::Running {
            conn.unplace(&pass.uid);
        }
    } else if (pass.observe_only || pass.adopt) && !pass.deleting {
        // Only creating needs the named guest to exist: for a deletion, gone is done.
        let message = format!(
            "no guest with VMID {vmid} in the cluster: {} names an existing guest",
            if pass.observe_only {
                "managementPolicy ObserveOnly"
            } else {
                "spec.adopt"
            }
        );
        return ends(Outcome::stalled(
            "GuestNotFound",
            message,
            conn.poll_interval,
        ));
    }
    Ok((observed, poll))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Health;
    use crate::guest::reconcile::Halt;
    use kubepve_api::ManagementPolicy;

    fn pass(deleting: bool, observe_only: bool) -> Pass {
        Pass {
            uid: "uid".into(),
            generation: 1,
            deleting,
            observe_only,
            adopt: false,
            restart_annotation: None,
            restart_requested: false,
        }
    }

    /// The Stalled reason `validate` ends the pass with, if it does.
    fn stalled(common: &GuestCommon, st: &GuestStatus, pass: &Pass) -> Option<String> {
        match validate(common, st, pass, Duration::from_secs(300)) {
            Ok(()) => None,
            Err(Halt::Ends(outcome)) => match outcome.health {
                Health::Stalled { reason, .. } => Some(reason),
                other => panic!("not stalled: {other:?}"),
            },
            Err(_) => panic!("validate does no I/O and cannot fail otherwise"),
        }
    }

    #[test]
    fn observing_needs_a_vmid_unless_the_object_is_going_away() {
        let common = GuestCommon {
            management_policy: ManagementPolicy::ObserveOnly,
            ..GuestCommon::default()
        };
        let st = GuestStatus::default();
        assert_eq!(
            stalled(&common, &st, &pass(false, true)).as_deref(),
            Some("InvalidSpec")
        );
        assert_eq!(stalled(&common, &st, &pass(true, true)), None);
    }

    #[test]
    fn a_spec_vmid_other_than_the_recorded_one_stalls_but_a_deletion_goes_on() {
        let common = GuestCommon {
            vmid: Some(120),
            ..GuestCommon::default()
        };
        let st = GuestStatus {
            vmid: Some(101),
            ..GuestStatus::default()
        };
        assert_eq!(
            stalled(&common, &st, &pass(false, false)).as_deref(),
            Some("VmidMismatch")
        );
        assert_eq!(stalled(&common, &st, &pass(true, false)), None);
        let same = GuestStatus {
            vmid: Some(120),
            ..GuestStatus::default()
        };
        assert_eq!(stalled(&common, &same, &pass(false, false)), None);
    }
}
