//! Observing a guest with as few Proxmox calls as possible.
//!
//! Existence, node, power, lock and tags come from the connection's shared `/cluster/resources`
//! read. The config and pending changes are read only when the spec changed, when that entry
//! moved since the last read (its status, lock, tags, name, memory, disk size or CPU count), or
//! right after the operator itself changed the guest; otherwise the last observation is reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kubepve_plan::{GuestKind, Observed, PendingKey, Power, config_from_json};
use pve_client::types::ClusterResource;

use crate::connection::registry::Connection;

/// The last observation of each guest object, by object UID.
pub type Observations = Arc<Mutex<HashMap<String, Cached>>>;

/// One remembered observation.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The resources entry it was read against.
    fingerprint: String,
    /// The object generation it was read for.
    generation: i64,
    /// What was seen.
    observed: Observed,
}

/// Why a guest must be looked at directly rather than through the shared read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The shared read is good enough.
    Shared,
    /// The operator just changed the guest: read it now.
    Direct,
    /// The operator's create or clone task just ended: read it now; a new guest has no pending
    /// changes, so only its config is read.
    Created,
    /// The operator's start, stop, shutdown or reboot task just ended: read the shared resources
    /// now; the config is read again only if changes were pending (which a start applies).
    PowerChanged,
}

impl Freshness {
    /// How to observe the guest after the operator's task of `task_type` ended successfully.
    pub fn after_task(task_type: &str) -> Self {
        match task_type {
            "qmcreate" | "qmclone" | "vzcreate" | "vzclone" => Freshness::Created,
            "qmstart" | "qmstop" | "qmshutdown" | "qmreboot" | "vzstart" | "vzstop"
            | "vzshutdown" | "vzreboot" => Freshness::PowerChanged,
            _ => Freshness::Direct,
        }
    }
}

pub(super) fn pve_kind(kind: GuestKind) -> pve_client::GuestKind {
    match kind {
        GuestKind::Qemu => pve_client::GuestKind::Qemu,
        GuestKind::Lxc => pve_client::GuestKind::Lxc,
    }
}

/// What `/cluster/resources` says about a guest that matters for re-reading its config.
fn fingerprint(entry: &ClusterResource) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        entry.node,
        entry.status,
        entry.lock,
        entry.tags,
        entry.name,
        entry.maxmem,
        entry.maxdisk,
        entry.maxcpu,
        entry.template,
        entry.pool
    )
}

/// Observes the guest `vmid` for the object `uid` at `generation`.
pub async fn observe(
    conn: &Connection,
    cache: &Observations,
    uid: &str,
    generation: i64,
    kind: GuestKind,
    vmid: u64,
    freshness: Freshness,
) -> Result<Observed, pve_client::Error> {
    if freshness != Freshness::Shared {
        conn.invalidate().await;
    }
    let snapshot = conn.resources_fresh_enough().await?;
    let Some(entry) = snapshot.guest(vmid).cloned() else {
        forget(cache, uid);
        return Ok(Observed::absent());
    };
    let print = fingerprint(&entry);
    let remembered = cache.lock().ok().and_then(|c| c.get(uid).cloned());
    let node = entry.node.clone().unwrap_or_default();
    let status = entry.status.clone().unwrap_or_default();
    let status_known = !(status == "unknown" || status.is_empty());
    if let Some(cached) = remembered
        && cached.generation == generation
    {
        if freshness == Freshness::Shared && cached.fingerprint == print {
            return Ok(cached.observed);
        }
        // A power task changed only the power (and applied pending changes, if any).
        if freshness == Freshness::PowerChanged
            && cached.observed.pending.is_empty()
            && cached.observed.node == node
            && status_known
        {
            let observed = Observed {
                power: Power::from_status(&status, None),
                lock: entry.lock.clone(),
                ..cached.observed
            };
            remember(cache, uid, print, generation, &observed);
            return Ok(observed);
        }
    }
    let vmid32 = u32::try_from(vmid).unwrap_or(u32::MAX);
    let guest = conn.pve.guest(pve_kind(kind), &node, vmid32);
    let config = match guest.config().await {
        Ok(config) => config,
        // Gone between the two reads: absent.
        Err(e) if e.is_not_found() => {
            forget(cache, uid);
            return Ok(Observed::absent());
        }
        Err(e) => return Err(e),
    };
    let items = if freshness == Freshness::Created {
        Vec::new()
    } else {
        guest.pending().await?
    };
    let mut map: serde_json::Map<String, serde_json::Value> = config
        .0
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The config the guest gets at its next start: Proxmox's default config read already shows
    // it, but apply the pending values explicitly so the comparison never depends on that
    // default (a server that answers with the current values would otherwise see a change it
    // already accepted as still missing, and repeat it).
    let mut pending = Vec::new();
    for item in items {
        let delete = item.delete.unwrap_or(0) > 0;
        if delete {
            map.remove(&item.key);
        } else if let Some(value) = &item.pending {
            map.insert(item.key.clone(), value.clone());
        } else {
            continue;
        }
        pending.push(PendingKey {
            delete,
            key: item.key,
        });
    }
    let config = config_from_json(&map);
    let power = if !status_known {
        // Proxmox reports a brand-new guest as unknown until its stats arrive: ask directly.
        let current = guest.status().await?;
        Power::from_status(&current.status, current.qmpstatus.as_deref())
    } else {
        Power::from_status(&status, None)
    };
    let observed = Observed {
        exists: true,
        lock: config.get("lock").cloned().or(entry.lock.clone()),
        template: config.get("template").is_some_and(|t| t == "1") || entry.template == Some(true),
        config,
        pending,
        power,
        node,
        pool: entry.pool.clone(),
    };
    remember(cache, uid, print, generation, &observed);
    Ok(observed)
}

fn remember(
    cache: &Observations,
    uid: &str,
    fingerprint: String,
    generation: i64,
    observed: &Observed,
) {
    if let Ok(mut c) = cache.lock() {
        c.insert(
            uid.to_string(),
            Cached {
                fingerprint,
                generation,
                observed: observed.clone(),
            },
        );
    }
}

/// Forgets what was seen of the object's guest, so the next observation reads it again.
pub fn forget(cache: &Observations, uid: &str) {
    if let Ok(mut c) = cache.lock() {
        c.remove(uid);
    }
}
