//! When an existing guest is migrated (docs/migration.md). The guest is found by VMID wherever
//! it is. It is migrated only when `spec.node` names another node than the one it is on AND
//! differs from `status.placedNode` (the `spec.node` it last settled for), i.e. the user
//! changed `spec.node`. A guest someone else moved (Proxmox HA, a person) while `spec.node`
//! still equals `status.placedNode` is followed, with a warning, and never moved back.
//! `status.placedNode` takes the value of `spec.node` whenever no migration is pending.

use crate::desired::{Desired, GuestKind};
use crate::observed::{Intent, Observed, Power};
use crate::step::{Blocker, Change, Plan, Step};

/// Plans a migration into `p`; `true` when the plan ends here (a migration step or a blocker).
pub(super) fn plan_migration(
    desired: &Desired,
    observed: &Observed,
    intent: &Intent,
    p: &mut Plan,
) -> bool {
    let wish = &desired.migration;
    let Some(target) = wish.spec_node.as_deref() else {
        p.placed_node = None;
        return false;
    };
    if observed.node.is_empty() {
        // Where the guest is was not observed: nothing to compare.
        return false;
    }
    let asked = intent
        .placed_node
        .as_deref()
        .is_some_and(|placed| placed != target);
    if observed.node == target || !asked {
        if observed.node != target {
            p.warnings.push(format!(
                "guest {} is on node {} while spec.node names {target}: it was moved outside the \
                 operator and is followed there, not moved back (only a changed spec.node \
                 migrates; see docs/migration.md)",
                desired.vmid, observed.node
            ));
        }
        p.placed_node = Some(target.to_string());
        return false;
    }
    if !wish.allowed_nodes.is_empty() && !wish.allowed_nodes.iter().any(|n| n == target) {
        p.blocker = Some(Blocker::MigrationRefused {
            reason: format!(
                "spec.node {target} is not one of placement.allowedNodes ({}); guest {} stays on \
                 {}",
                wish.allowed_nodes.join(", "),
                desired.vmid,
                observed.node
            ),
        });
        return true;
    }
    let running = matches!(observed.power, Power::Running | Power::Paused);
    if observed.power == Power::Unknown {
        // Online or offline depends on it: migrate once an observation knows it
        // (`placed_node` keeps the old value, so the request stands).
        return false;
    }
    p.changes.push(Change::new(
        "node",
        Some(&observed.node),
        Some(target),
        false,
    ));
    p.steps.push(Step::Migrate {
        target: target.to_string(),
        online: running && desired.kind == GuestKind::Qemu,
        with_local_disks: running && desired.kind == GuestKind::Qemu && wish.with_local_disks,
        restart: running && desired.kind == GuestKind::Lxc,
    });
    true
}

#[cfg(test)]
mod tests {
    use crate::desired::{Desired, Identity, Secrets};
    use crate::observed::{Intent, Observed, Power};
    use crate::step::{Blocker, Step};

    const UID: &str = "0a1b2c3d";

    fn identity() -> Identity {
        Identity {
            name: "g".into(),
            uid: UID.into(),
            vmid: 150,
            node: None,
        }
    }

    fn vm(extra: serde_json::Value) -> Desired {
        let mut spec = serde_json::json!({
            "connectionRef": {"name": "pve"}, "node": "pve2",
            "source": {"blank": {}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let spec: kubepve_api::ProxmoxVMSpec = serde_json::from_value(spec).unwrap();
        Desired::vm(&spec, &identity(), &Secrets::default(), None).unwrap()
    }

    fn ct() -> Desired {
        let spec: kubepve_api::ProxmoxContainerSpec = serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "pve"}, "node": "pve2",
            "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "rootfs": {"storage": "local-lvm", "size": "8Gi"},
        }))
        .unwrap();
        Desired::container(&spec, &identity(), &Secrets::default()).unwrap()
    }

    /// A guest of ours on `node`, in `power`, matching the spec otherwise.
    fn on(desired: &Desired, node: &str, power: Power) -> Observed {
        let mut o = Observed {
            exists: true,
            node: node.into(),
            power,
            ..Observed::default()
        };
        o.config.insert("tags".into(), desired.owner_tag());
        o
    }

    fn placed(node: &str) -> Intent {
        Intent {
            placed_node: Some(node.into()),
            ..Intent::default()
        }
    }

    /// The plan moves nothing and nothing blocks it (config steps may remain: the fixtures'
    /// guests are bare).
    fn stays(p: &crate::Plan) -> bool {
        p.blocker.is_none() && !p.steps.iter().any(|s| matches!(s, Step::Migrate { .. }))
    }

    fn migrate(target: &str, online: bool, with_local_disks: bool, restart: bool) -> Step {
        Step::Migrate {
            target: target.into(),
            online,
            with_local_disks,
            restart,
        }
    }

    #[test]
    fn a_running_vm_whose_spec_node_changed_migrates_online() {
        let d = vm(serde_json::json!({}));
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &placed("pve1"));
        assert_eq!(p.next_step(), Some(&migrate("pve2", true, false, false)));
        assert_eq!(p.steps.len(), 1, "nothing else before the guest has moved");
        assert_eq!(
            p.placed_node.as_deref(),
            Some("pve1"),
            "kept until it has moved"
        );
        let r = p.steps[0].request(d.kind(), "pve1", 150).unwrap();
        assert_eq!(r.path, "nodes/pve1/qemu/150/migrate");
        assert_eq!(
            (r.params.get("target"), r.params.get("online")),
            (Some("pve2"), Some("1"))
        );
        assert!(!r.params.contains("with-local-disks"));
        let d = vm(serde_json::json!({"migration": {"withLocalDisks": true}}));
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &placed("pve1"));
        assert_eq!(p.next_step(), Some(&migrate("pve2", true, true, false)));
    }

    #[test]
    fn a_stopped_guest_migrates_offline() {
        let d = vm(serde_json::json!({"runStrategy": "Halted",
            "migration": {"withLocalDisks": true}}));
        let p = crate::plan(&d, &on(&d, "pve1", Power::Stopped), &placed("pve1"));
        assert_eq!(p.next_step(), Some(&migrate("pve2", false, false, false)));
        let r = p.steps[0].request(d.kind(), "pve1", 150).unwrap();
        assert!(!r.params.contains("online") && !r.params.contains("restart"));
        let c = ct();
        let p = crate::plan(&c, &on(&c, "pve1", Power::Stopped), &placed("pve1"));
        assert_eq!(p.next_step(), Some(&migrate("pve2", false, false, false)));
    }

    #[test]
    fn a_running_container_migrates_in_restart_mode() {
        let c = ct();
        let p = crate::plan(&c, &on(&c, "pve1", Power::Running), &placed("pve1"));
        assert_eq!(p.next_step(), Some(&migrate("pve2", false, false, true)));
        let r = p.steps[0].request(c.kind(), "pve1", 150).unwrap();
        assert_eq!(r.path, "nodes/pve1/lxc/150/migrate");
        assert_eq!(r.params.get("restart"), Some("1"));
        assert!(!r.params.contains("online"));
    }

    #[test]
    fn a_guest_moved_by_someone_else_is_followed_not_moved_back() {
        // spec.node and status.placedNode both say pve2; HA moved the guest to pve1.
        let d = vm(serde_json::json!({}));
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &placed("pve2"));
        assert!(stays(&p), "{p}");
        assert!(
            p.warnings.iter().any(|w| w.contains("moved outside")),
            "{:?}",
            p.warnings
        );
        assert_eq!(p.placed_node.as_deref(), Some("pve2"));
        // Never recorded (an object from before migrations, or just created): followed too.
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &Intent::default());
        assert!(stays(&p), "{p}");
        assert_eq!(p.placed_node.as_deref(), Some("pve2"));
        // Where the spec says: settled there.
        let p = crate::plan(&d, &on(&d, "pve2", Power::Running), &placed("pve1"));
        assert!(stays(&p), "{p}");
        assert_eq!(p.placed_node.as_deref(), Some("pve2"));
    }

    #[test]
    fn a_target_outside_allowed_nodes_is_refused() {
        let d = vm(serde_json::json!({"placement": {"allowedNodes": ["pve1", "pve3"]}}));
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &placed("pve1"));
        assert!(p.steps.is_empty());
        let Some(Blocker::MigrationRefused { reason }) = &p.blocker else {
            panic!("expected a refused migration: {p}");
        };
        assert!(
            reason.contains("pve2") && reason.contains("allowedNodes"),
            "{reason}"
        );
    }

    #[test]
    fn no_spec_node_never_migrates_and_records_nothing() {
        let mut d = vm(serde_json::json!({}));
        d.migration.spec_node = None;
        let p = crate::plan(&d, &on(&d, "pve1", Power::Running), &placed("pve2"));
        assert!(stays(&p), "{p}");
        assert_eq!(p.placed_node, None);
    }
}
