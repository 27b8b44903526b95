//! Choosing a node for a guest that names none: the online node, among the allowed ones, with the
//! most free memory that fits the guest. The caller counts guests it placed that Proxmox does not
//! show yet into each node's free memory.

/// One node as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLoad {
    /// Node name.
    pub name: String,
    /// Whether Proxmox reports it online.
    pub online: bool,
    /// Memory free for new guests, in MiB (after the caller's reservations).
    pub free_mib: u64,
}

/// The node for a guest needing `need_mib` MiB, or why there is none (for an `Unschedulable`
/// condition). `allowed` empty means any node. Ties go to the first name in alphabetical order,
/// so the choice is deterministic.
pub fn choose_node(
    nodes: &[NodeLoad],
    allowed: &[String],
    need_mib: u64,
) -> Result<String, String> {
    let candidates: Vec<&NodeLoad> = nodes
        .iter()
        .filter(|n| allowed.is_empty() || allowed.contains(&n.name))
        .collect();
    if candidates.is_empty() {
        let missing = if allowed.is_empty() {
            "the cluster reports no nodes".to_string()
        } else {
            format!("none of the allowed nodes ({}) exists", allowed.join(", "))
        };
        return Err(missing);
    }
    let best = candidates
        .iter()
        .filter(|n| n.online && n.free_mib >= need_mib)
        .max_by(|a, b| a.free_mib.cmp(&b.free_mib).then(b.name.cmp(&a.name)));
    if let Some(node) = best {
        return Ok(node.name.clone());
    }
    let mut seen: Vec<&&NodeLoad> = candidates.iter().collect();
    seen.sort_by(|a, b| a.name.cmp(&b.name));
    let described: Vec<String> = seen
        .iter()
        .map(|n| {
            if n.online {
                format!("{} has {} MiB free", n.name, n.free_mib)
            } else {
                format!("{} is offline", n.name)
            }
        })
        .collect();
    Err(format!(
        "no online node has {need_mib} MiB of memory free for the guest: {}",
        described.join(", ")
    ))
}

/// The nodes in a `/cluster/resources` answer, with the memory Proxmox reports free on each;
/// `reserved(node)` is subtracted (guests placed there that do not run yet).
#[cfg(feature = "client")]
pub fn node_loads(
    resources: &[pve_client::types::ClusterResource],
    reserved: impl Fn(&str) -> u64,
) -> Vec<NodeLoad> {
    const MIB: u64 = 1024 * 1024;
    resources
        .iter()
        .filter(|r| r.kind == "node")
        .map(|n| {
            let name = n.node.clone().unwrap_or_default();
            let free = n
                .maxmem
                .unwrap_or_default()
                .saturating_sub(n.mem.unwrap_or_default())
                / MIB;
            NodeLoad {
                free_mib: free.saturating_sub(reserved(&name)),
                online: n.status.as_deref() == Some("online"),
                name,
            }
        })
        .collect()
}

/// What Proxmox gives a guest whose config does not set memory, in MiB; placement counts a
/// guest whose spec does not say with this.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// The lowest VMID in `start..=end` that `taken` does not hold.
pub fn lowest_free_vmid(start: u64, end: u64, taken: impl Fn(u64) -> bool) -> Option<u64> {
    (start..=end).find(|id| !taken(*id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, online: bool, free_mib: u64) -> NodeLoad {
        NodeLoad {
            name: name.into(),
            online,
            free_mib,
        }
    }

    #[test]
    fn most_free_memory_wins_among_allowed_online_nodes() {
        let nodes = [
            node("pve1", true, 2048),
            node("pve2", true, 8192),
            node("pve3", false, 65536),
        ];
        assert_eq!(choose_node(&nodes, &[], 1024), Ok("pve2".into()));
        assert_eq!(
            choose_node(&nodes, &["pve1".into(), "pve3".into()], 1024),
            Ok("pve1".into())
        );
        // A tie goes to the first name.
        let tie = [node("b", true, 100), node("a", true, 100)];
        assert_eq!(choose_node(&tie, &[], 10), Ok("a".into()));
    }

    #[test]
    fn no_fit_says_what_each_node_has() {
        let nodes = [node("pve1", true, 512), node("pve2", false, 0)];
        let err = choose_node(&nodes, &[], 1024).unwrap_err();
        assert!(err.contains("1024 MiB"), "{err}");
        assert!(err.contains("pve1 has 512 MiB free"), "{err}");
        assert!(err.contains("pve2 is offline"), "{err}");
        let err = choose_node(&nodes, &["pve9".into()], 1).unwrap_err();
        assert!(err.contains("pve9"), "{err}");
    }

    #[test]
    fn lowest_free_vmid_in_range() {
        let taken = [100u64, 101, 103];
        assert_eq!(
            lowest_free_vmid(100, 105, |id| taken.contains(&id)),
            Some(102)
        );
        assert_eq!(lowest_free_vmid(100, 101, |id| taken.contains(&id)), None);
    }
}
