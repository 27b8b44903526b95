//! Moving a guest between nodes: what the spec wishes ([`MigrationWish`]), what Proxmox's
//! precondition endpoint `GET .../migrate` says ([`MigrationCheck`]) and what blocks a
//! [`Step::Migrate`] by its answer, and [`moved_outside`] (a guest someone else moved).
//! The rule for when the operator migrates is in the planner (`plan/migrate.rs`) and in
//! docs/migration.md.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::step::Step;

/// What the spec says about where the guest lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MigrationWish {
    /// `spec.node` as written (not the placement choice).
    pub(crate) spec_node: Option<String>,
    /// `spec.placement.allowedNodes`.
    pub(crate) allowed_nodes: Vec<String>,
    /// `spec.migration.withLocalDisks` (VMs).
    pub(crate) with_local_disks: bool,
}

/// One cluster node as the pre-flight check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Node name.
    pub name: String,
    /// Whether `GET /nodes` reports it online.
    pub online: bool,
}

/// Proxmox's answer to `GET /nodes/{node}/{qemu|lxc}/{vmid}/migrate?target=...`, plus the
/// cluster's nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationCheck {
    /// The guest runs.
    pub running: bool,
    /// Nodes Proxmox lists as possible targets.
    pub allowed_nodes: Vec<String>,
    /// Nodes Proxmox refuses, with its reasons (unavailable storages, blocking HA resources).
    pub not_allowed: BTreeMap<String, String>,
    /// Volumes on node-local storage that a live migration copies only with
    /// `with-local-disks` (QEMU; CD-ROMs and unused disks left out: Proxmox copies unused ones
    /// offline).
    pub local_disks: Vec<String>,
    /// CD-ROM images on node-local storage (an ISO): Proxmox refuses to migrate a VM with one,
    /// online or offline ("local cdrom image"). Cloud-init drives are regenerated and do not
    /// count.
    pub local_cdroms: Vec<String>,
    /// Local devices (`hostpci0`, `usb0`) that keep a VM on its node.
    pub local_resources: Vec<String>,
    /// The cluster's nodes (`GET /nodes`), when read.
    pub nodes: Vec<NodeState>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or_default() != 0,
        Some(Value::String(s)) => s == "1",
        _ => false,
    }
}

/// Proxmox's reasons for refusing one node: `{"unavailable_storages": [..],
/// "unavailable-resources": [..], "blocking-ha-resources": [{"sid": ..}]}`. Proxmox lists
/// every node there, most with an empty entry: only an entry with a reason refuses the node.
fn refusal(v: &Value) -> Option<String> {
    let mut parts = Vec::new();
    let resources = strings(v.get("unavailable-resources"));
    if !resources.is_empty() {
        parts.push(format!(
            "mapped resources not available there: {}",
            resources.join(", ")
        ));
    }
    let storages = strings(v.get("unavailable_storages"));
    if !storages.is_empty() {
        parts.push(format!(
            "storages not available there: {}",
            storages.join(", ")
        ));
    }
    let ha: Vec<String> = v
        .get("blocking-ha-resources")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("sid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !ha.is_empty() {
        parts.push(format!("blocked by HA resources {}", ha.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl MigrationCheck {
    /// From the JSON answer of `GET .../migrate` (QEMU writes `allowed_nodes`, LXC
    /// `allowed-nodes`; both are read) and the cluster's nodes.
    pub fn from_json(answer: &Value, nodes: Vec<NodeState>) -> Self {
        let pick = |a: &str, b: &str| answer.get(a).or_else(|| answer.get(b));
        let not_allowed = pick("not_allowed_nodes", "not-allowed-nodes")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| refusal(v).map(|why| (k.clone(), why)))
                    .collect()
            })
            .unwrap_or_default();
        let disks: Vec<&Value> = answer
            .get("local_disks")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let volid = |d: &&Value| d.get("volid").and_then(Value::as_str).map(str::to_string);
        let local_disks = disks
            .iter()
            .filter(|d| !truthy(d.get("cdrom")) && !truthy(d.get("is_unused")))
            .filter_map(volid)
            .collect();
        let local_cdroms = disks
            .iter()
            .filter(|d| truthy(d.get("cdrom")))
            .filter_map(volid)
            .filter(|v| !v.contains("cloudinit"))
            .collect();
        Self {
            running: truthy(answer.get("running")),
            allowed_nodes: strings(pick("allowed_nodes", "allowed-nodes")),
            not_allowed,
            local_disks,
            local_cdroms,
            local_resources: strings(answer.get("local_resources")),
            nodes,
        }
    }

    /// What keeps `step` (a [`Step::Migrate`]) of guest `vmid` from succeeding, in Proxmox's
    /// terms and with what to do; empty when nothing does. Other steps are never blocked.
    pub fn blockers(&self, vmid: i64, step: &Step) -> Vec<String> {
        let Step::Migrate {
            target,
            online,
            with_local_disks,
            ..
        } = step
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if !self.nodes.is_empty() {
            match self.nodes.iter().find(|n| &n.name == target) {
                None => {
                    let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                    out.push(format!(
                        "target node '{target}' is not a node of this cluster (nodes: {})",
                        names.join(", ")
                    ));
                }
                Some(n) if !n.online => {
                    out.push(format!("target node '{target}' is offline"));
                }
                Some(_) => {}
            }
        }
        if let Some(why) = self.not_allowed.get(target) {
            out.push(format!(
                "Proxmox does not allow migrating guest {vmid} to '{target}': {why}"
            ));
        }
        if !self.local_cdroms.is_empty() {
            out.push(format!(
                "guest {vmid} has a CD-ROM image on node-local storage ({}), which Proxmox cannot \
                 migrate: eject it (set the drive to none) or keep the image on shared storage",
                self.local_cdroms.join(", ")
            ));
        }
        if !self.local_resources.is_empty() {
            out.push(format!(
                "guest {vmid} uses local resources that Proxmox cannot migrate: {}; remove them \
                 from the VM first",
                self.local_resources.join(", ")
            ));
        }
        if *online && self.running && !with_local_disks && !self.local_disks.is_empty() {
            out.push(format!(
                "can't live migrate attached local disks without with-local-disks option ({}); \
                 set spec.migration.withLocalDisks: true (pvectl: --with-local-disks), or stop \
                 the VM to migrate it offline",
                self.local_disks.join(", ")
            ));
        }
        out
    }
}

/// Whether the guest was moved by someone other than the operator: it is no longer on the node
/// status last recorded (`previous`), and not on the node `spec.node` asks for (where the
/// operator's own migration takes it).
pub fn moved_outside(previous: Option<&str>, now: &str, spec_node: Option<&str>) -> bool {
    previous.is_some_and(|p| !p.is_empty() && p != now) && spec_node != Some(now)
}

/// Whether Proxmox task type `task_type` is a migration (`qmigrate`, `vzmigrate`, or the
/// `hamigrate` request of an HA-managed guest).
pub fn is_migration_task(task_type: &str) -> bool {
    matches!(task_type, "qmigrate" | "vzmigrate" | "hamigrate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrate(online: bool, with_local_disks: bool) -> Step {
        Step::Migrate {
            target: "pve2".into(),
            online,
            with_local_disks,
            restart: false,
        }
    }

    fn nodes() -> Vec<NodeState> {
        ["pve1", "pve2"]
            .iter()
            .map(|n| NodeState {
                name: (*n).into(),
                online: true,
            })
            .collect()
    }

    #[test]
    fn local_disks_block_a_live_migration_without_with_local_disks() {
        let answer = serde_json::json!({
            "running": 1, "allowed_nodes": ["pve2"], "not_allowed_nodes": {},
            "local_disks": [
                {"volid": "local-lvm:vm-150-disk-0", "size": 1, "cdrom": 0},
                {"volid": "local-lvm:vm-150-cloudinit", "cdrom": 1},
                {"volid": "local-lvm:vm-150-disk-9", "is_unused": 1}
            ],
            "local_resources": []
        });
        let check = MigrationCheck::from_json(&answer, nodes());
        let blocked = check.blockers(150, &migrate(true, false));
        assert_eq!(blocked.len(), 1, "{blocked:?}");
        assert!(
            !blocked[0].contains("disk-9"),
            "unused disks go offline: {}",
            blocked[0]
        );
        assert!(blocked[0].contains("with-local-disks"), "{}", blocked[0]);
        assert!(
            blocked[0].contains("local-lvm:vm-150-disk-0"),
            "{}",
            blocked[0]
        );
        assert!(!blocked[0].contains("cloudinit"), "{}", blocked[0]);
        assert!(check.blockers(150, &migrate(true, true)).is_empty());
        // Offline migration copies local disks.
        assert!(check.blockers(150, &migrate(false, false)).is_empty());
    }

    #[test]
    fn empty_refusal_entries_do_not_block_and_a_local_iso_does() {
        // Proxmox lists every node under not_allowed_nodes, most with an empty entry.
        let answer = serde_json::json!({
            "running": 0, "allowed_nodes": ["pve2"],
            "not_allowed_nodes": {"pve2": {}, "pve3": {"unavailable_storages": ["fast"]}},
            "local_disks": []
        });
        let check = MigrationCheck::from_json(&answer, nodes());
        assert!(check.blockers(150, &migrate(false, false)).is_empty());
        let answer = serde_json::json!({
            "running": 1, "allowed_nodes": ["pve2"], "not_allowed_nodes": {},
            "local_disks": [{"volid": "local:iso/debian-12.iso", "cdrom": 1}]
        });
        let check = MigrationCheck::from_json(&answer, nodes());
        for step in [migrate(true, true), migrate(false, false)] {
            let blocked = check.blockers(150, &step);
            assert_eq!(blocked.len(), 1, "{blocked:?}");
            assert!(blocked[0].contains("local:iso/debian-12.iso") && blocked[0].contains("eject"));
        }
    }

    #[test]
    fn refused_unknown_and_offline_targets_are_named() {
        let answer = serde_json::json!({
            "running": 0, "allowed-nodes": [],
            "not-allowed-nodes": {"pve2": {"unavailable_storages": ["fast"]}}
        });
        let check = MigrationCheck::from_json(&answer, nodes());
        let blocked = check.blockers(200, &migrate(false, false));
        assert!(
            blocked
                .iter()
                .any(|b| b.contains("'pve2'") && b.contains("fast")),
            "{blocked:?}"
        );
        let mut offline = nodes();
        offline[1].online = false;
        let check = MigrationCheck::from_json(&serde_json::json!({}), offline);
        assert_eq!(
            check.blockers(200, &migrate(false, false)),
            vec!["target node 'pve2' is offline".to_string()]
        );
        let check = MigrationCheck::from_json(&serde_json::json!({}), nodes()[..1].to_vec());
        let blocked = check.blockers(200, &migrate(false, false));
        assert!(
            blocked[0].contains("not a node of this cluster"),
            "{blocked:?}"
        );
    }

    #[test]
    fn a_move_by_someone_else_is_told_from_the_operators_own() {
        // HA moved it off the node the spec names.
        assert!(moved_outside(Some("pve1"), "pve2", Some("pve1")));
        // The operator's migration brought it where the spec says.
        assert!(!moved_outside(Some("pve1"), "pve2", Some("pve2")));
        // Placed by the operator (no spec.node) and moved by hand.
        assert!(moved_outside(Some("pve1"), "pve3", None));
        // First sight, or no move.
        assert!(!moved_outside(None, "pve1", None));
        assert!(!moved_outside(Some("pve1"), "pve1", Some("pve2")));
    }
}
