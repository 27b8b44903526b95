//! Where a new guest goes and when its create may start: the node with the most free memory
//! (counting guests this operator placed that do not run yet), and the connection's limits on
//! creates per node and clones per storage.

use kubepve_plan::Step;

use crate::proxmox::registry::{Connection, CreateSlot};

/// The create slot a create or clone step needs: its node, and for a clone the storage it
/// writes to (its target storage, else the template's, named by the template).
pub(super) fn create_slot(step: &Step, node: &str) -> Option<CreateSlot> {
    let storages = match step {
        Step::Create { .. } => Vec::new(),
        Step::Clone {
            source_vmid,
            params,
            ..
        } => vec![
            params
                .get("storage")
                .map_or_else(|| format!("template {source_vmid}"), str::to_string),
        ],
        _ => return None,
    };
    Some(CreateSlot {
        node: node.to_string(),
        storages,
    })
}

/// The node for a guest without one: the online node with the most free memory that fits it,
/// counting guests placed but not running yet. `Ok(Err(reason))` when none fits.
pub(super) async fn place(
    conn: &Connection,
    uid: &str,
    desired: &kubepve_plan::Desired,
    allowed: &[String],
) -> Result<Result<String, String>, pve_client::Error> {
    let need = desired
        .memory_mib()
        .unwrap_or(kubepve_plan::DEFAULT_MEMORY_MIB);
    let snapshot = conn.resources_fresh_enough().await?;
    let loads = kubepve_plan::node_loads(&snapshot.items, |node| conn.placed_mib(node, uid));
    let chosen = kubepve_plan::choose_node(&loads, allowed, need);
    if let Ok(node) = &chosen {
        conn.place(uid, node, need);
    }
    Ok(chosen)
}
