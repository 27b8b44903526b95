//! The cluster's nodes, and checks against the cluster before a create sends anything, so that a wrong name is a usage
//! error (exit 2) in pvectl's words instead of Proxmox's raw 500 after part of the work: the node
//! exists, and every storage a new disk is allocated on exists on that node and holds that
//! content (`images` for VM disks, `rootdir` for container volumes).

use pve_client::types::{NodeInfo, StorageInfo};

use crate::App;
use crate::config::Connection;
use crate::exit::pve_err;
use crate::exit::usage;

/// The cluster's nodes (`GET /nodes`), read once per invocation: the node check, the capacity
/// check and the choice of a node all use the same answer.
pub async fn nodes(conn: &Connection) -> anyhow::Result<&[NodeInfo]> {
    conn.nodes
        .get_or_try_init(|| async {
            conn.client
                .nodes()
                .await
                .map_err(|e| pve_err("cannot list nodes", e))
        })
        .await
        .map(Vec::as_slice)
}

/// The names of the online nodes.
pub async fn online_nodes(conn: &Connection) -> anyhow::Result<Vec<String>> {
    Ok(nodes(conn)
        .await?
        .iter()
        .filter(|n| n.status == "online")
        .map(|n| n.node.clone())
        .collect())
}

/// Refuse a node that is not in the cluster or not online, listing the ones there are.
pub async fn node(conn: &Connection, node: &str) -> anyhow::Result<()> {
    match node_exists(conn, node).await? {
        status if status != "online" => Err(usage(format!(
            "node {node:?} is {status}: choose an online node with --node"
        ))),
        _ => Ok(()),
    }
}

/// Refuse a node that is not in the cluster, listing the ones that are; its status.
pub async fn node_exists(conn: &Connection, node: &str) -> anyhow::Result<String> {
    let nodes = nodes(conn).await?;
    match nodes.iter().find(|n| n.node == node) {
        Some(n) => Ok(n.status.clone()),
        None => {
            let mut names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
            names.sort_unstable();
            Err(usage(format!(
                "no node {node:?} (nodes: {})",
                names.join(", ")
            )))
        }
    }
}

/// The storage of a value that allocates a new volume (`local-lvm:8,ssd=1` -> `local-lvm`);
/// `None` for an existing volume (`local-lvm:vm-100-disk-0`) or anything else.
pub fn new_volume_storage(value: &str) -> Option<&str> {
    let first = value.split(',').next()?;
    let first = first.strip_prefix("file=").unwrap_or(first);
    let (storage, size) = first.split_once(':')?;
    let size = size.trim_end_matches(['G', 'g']);
    (!storage.is_empty() && !size.is_empty() && size.parse::<f64>().is_ok()).then_some(storage)
}

/// The storages the disk keys among `keys` allocate new volumes on (`scsi1=local-lvm:8`).
pub fn new_volume_storages<'a>(keys: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<&'a str> {
    keys.filter(|(k, _)| pve_client::types::is_disk_key(k))
        .filter_map(|(_, v)| new_volume_storage(v))
        .collect()
}

/// Whether storage `s` is enabled and holds `content`.
fn holds(s: &StorageInfo, content: &str) -> bool {
    s.content
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .any(|c| c.trim() == content)
        && s.enabled != Some(false)
}

/// Refuse storages that do not exist on `node` or do not hold `content`, listing the ones
/// that do.
///
/// When the invocation's resource read listed the storages (`Connection::storages`) and every
/// wanted one is there holding `content`, that answer is enough: `/cluster/resources` lists
/// the storages enabled on each node with their content. Anything else is decided by the
/// node's own storage list, which also knows disabled storages, so the messages are the same
/// whichever read came first; a refused create costs that one read more.
pub async fn storages(app: &App, node: &str, wanted: &[&str], content: &str) -> anyhow::Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    if let Some(known) = app.conn.storages.get() {
        let fits = |name: &&str| {
            known
                .iter()
                .any(|(n, s)| n == node && s.storage == *name && holds(s, content))
        };
        if wanted.iter().all(fits) {
            return Ok(());
        }
    }
    let all = app
        .conn
        .client
        .storages(node, None)
        .await
        .map_err(|e| pve_err(&format!("cannot list the storages of node {node}"), e))?;
    let holds = |s: &StorageInfo| holds(s, content);
    let mut fitting: Vec<&str> = all
        .iter()
        .filter(|s| holds(s))
        .map(|s| s.storage.as_str())
        .collect();
    fitting.sort_unstable();
    let fitting = if fitting.is_empty() {
        "none".to_string()
    } else {
        fitting.join(", ")
    };
    for name in wanted {
        match all.iter().find(|s| s.storage == *name) {
            Some(s) if holds(s) => {}
            Some(_) => {
                return Err(usage(format!(
                    "storage {name:?} on node {node} does not hold {content} (storages for \
                     {content} there: {fitting})"
                )));
            }
            None => {
                return Err(usage(format!(
                    "no storage {name:?} on node {node} (storages for {content} there: {fitting})"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_volumes_name_their_storage() {
        assert_eq!(new_volume_storage("local-lvm:8"), Some("local-lvm"));
        assert_eq!(new_volume_storage("local-lvm:8,ssd=1"), Some("local-lvm"));
        assert_eq!(new_volume_storage("file=ceph:32"), Some("ceph"));
        assert_eq!(new_volume_storage("local-lvm:vm-100-disk-0,size=8G"), None);
        assert_eq!(new_volume_storage("none,media=cdrom"), None);
    }
}
