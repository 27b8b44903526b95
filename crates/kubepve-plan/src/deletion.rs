//! What deleting a guest would break or lose, decided from facts the caller read: a pure
//! function both the operator (before its shutdown/stop/destroy steps) and `pvectl delete` (before
//! it asks) use, so the two refuse the same things. Each caller words the [`Hazard`]s for its own
//! users (spec fields for the operator, flags for `pvectl`).

/// What the caller read about the guest before deleting it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletionFacts {
    /// `protection: 1` in its config: Proxmox refuses to delete it.
    pub protected: bool,
    /// The snapshots that would be destroyed with it (the caller leaves out the ones it owns).
    pub snapshots: Vec<String>,
    /// HA management, described for a message (`vm:151`, `state started`), if it is HA-managed.
    pub ha: Option<String>,
    /// Its replication jobs, described for a message.
    pub replication: Vec<String>,
    /// The guests whose disks are built on its base disks (only a template has any).
    pub linked_clones: Vec<String>,
}

/// What the user allowed the deletion to take with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeletionAllowed {
    /// Proxmox `purge`: remove the guest from HA and replication (and backup jobs) too.
    pub purge: bool,
    /// Destroy its snapshots with it.
    pub snapshots: bool,
}

/// One reason not to delete a guest now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hazard {
    /// Protection is on; Proxmox refuses.
    Protected,
    /// Snapshots would be destroyed and that was not allowed.
    HasSnapshots(Vec<String>),
    /// HA-managed without purge; Proxmox refuses.
    HaManaged(String),
    /// Replication jobs without purge; Proxmox refuses.
    ReplicationJobs(Vec<String>),
    /// A template with linked clones, which would break.
    LinkedClones(Vec<String>),
}

impl Hazard {
    /// The PascalCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Hazard::Protected => "Protected",
            Hazard::HasSnapshots(_) => "HasSnapshots",
            Hazard::HaManaged(_) => "HAManaged",
            Hazard::ReplicationJobs(_) => "ReplicationJobs",
            Hazard::LinkedClones(_) => "LinkedClones",
        }
    }
}

/// Every hazard of deleting a guest with `facts` under `allowed`, in a fixed order: protection,
/// snapshots, HA, replication, linked clones. Empty: the deletion may go ahead.
pub fn deletion_hazards(facts: &DeletionFacts, allowed: DeletionAllowed) -> Vec<Hazard> {
    let mut out = Vec::new();
    if facts.protected {
        out.push(Hazard::Protected);
    }
    if !allowed.snapshots && !facts.snapshots.is_empty() {
        out.push(Hazard::HasSnapshots(facts.snapshots.clone()));
    }
    if !allowed.purge {
        if let Some(ha) = &facts.ha {
            out.push(Hazard::HaManaged(ha.clone()));
        }
        if !facts.replication.is_empty() {
            out.push(Hazard::ReplicationJobs(facts.replication.clone()));
        }
    }
    if !facts.linked_clones.is_empty() {
        out.push(Hazard::LinkedClones(facts.linked_clones.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn everything() -> DeletionFacts {
        DeletionFacts {
            protected: true,
            snapshots: names(&["before-upgrade"]),
            ha: Some("vm:151".into()),
            replication: names(&["151-0"]),
            linked_clones: names(&["vm/300"]),
        }
    }

    #[test]
    fn a_plain_guest_has_no_hazard() {
        let facts = DeletionFacts::default();
        assert!(deletion_hazards(&facts, DeletionAllowed::default()).is_empty());
    }

    #[test]
    fn every_hazard_is_reported_in_order() {
        let reasons: Vec<&str> = deletion_hazards(&everything(), DeletionAllowed::default())
            .iter()
            .map(Hazard::reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "Protected",
                "HasSnapshots",
                "HAManaged",
                "ReplicationJobs",
                "LinkedClones"
            ]
        );
    }

    #[test]
    fn purge_and_allowed_snapshots_lift_only_their_own_hazards() {
        let allowed = DeletionAllowed {
            purge: true,
            snapshots: true,
        };
        assert_eq!(
            deletion_hazards(&everything(), allowed),
            [Hazard::Protected, Hazard::LinkedClones(names(&["vm/300"]))]
        );
        let only_purge = DeletionAllowed {
            purge: true,
            snapshots: false,
        };
        assert!(
            deletion_hazards(&everything(), only_purge)
                .contains(&Hazard::HasSnapshots(names(&["before-upgrade"])))
        );
    }
}
