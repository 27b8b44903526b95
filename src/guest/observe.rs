//! Observing a guest with as few Proxmox calls as possible.
//!
//! Existence, node, power, lock and tags come from the connection's shared `/cluster/resources`
//! read. The config and pending changes are read only when the spec changed, when that entry
//! moved since the last read (its status, lock, tags, name, memory, disk size or CPU count),
//! right after the operator itself changed the guest, or when the guest's full resync is due
//! (paced per connection, see `connection::resync`); otherwise the last observation is reused.
//! A restarted operator's first read of a guest whose status says it was settled waits for the
//! same pace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubepve_plan::{GuestKind, Listed, Observed, Power};
use pve_client::types::ClusterResource;

use crate::proxmox::registry::Connection;
use crate::proxmox::resync::ResyncSettings;

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
    /// When the full resync reads the config and pending changes again.
    due: Instant,
}

/// The guest to observe, and what the reconcile knows about it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The object's UID.
    pub uid: &'a str,
    /// The object's generation.
    pub generation: i64,
    /// VM or container.
    pub kind: GuestKind,
    /// The guest.
    pub vmid: u64,
    /// How fresh the observation must be.
    pub freshness: Freshness,
    /// The power the object's status reports for a guest that was converged at this generation
    /// (`None`: not settled). Such a guest's first read may wait for the connection's pace.
    pub settled: Option<Power>,
}

/// The result of observing.
#[derive(Clone, Debug)]
pub enum Observation {
    /// What the guest looks like; look again within `recheck` for its full resync.
    Seen {
        /// The guest.
        observed: Observed,
        /// When the next full read is due or its slot comes.
        recheck: Option<Duration>,
    },
    /// Not read: a settled guest's first read waits this long for its slot.
    Deferred(Duration),
}

impl Observation {
    fn seen(observed: Observed) -> Self {
        Observation::Seen {
            observed,
            recheck: None,
        }
    }
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

/// Observes the guest of `subject`.
pub async fn observe(
    conn: &Connection,
    cache: &Observations,
    resync: &ResyncSettings,
    subject: &Subject<'_>,
) -> Result<Observation, pve_client::Error> {
    let Subject {
        uid,
        generation,
        kind,
        vmid,
        freshness,
        settled,
    } = *subject;
    if freshness != Freshness::Shared {
        conn.invalidate().await;
    }
    let snapshot = conn.resources_fresh_enough().await?;
    let Some(entry) = snapshot.guest(vmid).cloned() else {
        forget(cache, uid);
        return Ok(Observation::seen(Observed::absent()));
    };
    let print = fingerprint(&entry);
    let remembered = cache.lock().ok().and_then(|c| c.get(uid).cloned());
    let node = entry.node.clone().unwrap_or_default();
    let status = entry.status.clone().unwrap_or_default();
    let status_known = !(status == "unknown" || status.is_empty());
    let now = Instant::now();
    let shared = freshness == Freshness::Shared;
    if remembered.is_none()
        && shared
        && settled.is_some_and(|power| power == Power::from_status(&status, None))
        && let Err(wait) = conn.resync.admit(uid, resync.gap())
    {
        // Nothing says it moved: its status stands until its turn comes.
        return Ok(Observation::Deferred(wait));
    }
    if let Some(cached) = remembered
        && cached.generation == generation
    {
        if shared && cached.fingerprint == print {
            let due = cached.due.saturating_duration_since(now);
            let waiting = if due.is_zero() {
                conn.resync.admit(uid, resync.gap()).err()
            } else {
                Some(due)
            };
            if let Some(recheck) = waiting {
                let observed = cached.observed;
                let recheck = Some(recheck);
                return Ok(Observation::Seen { observed, recheck });
            }
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
            remember(cache, uid, print, generation, &observed, cached.due);
            return Ok(Observation::seen(observed));
        }
    }
    // Read in full now, for whatever reason: a slot it waited for is not needed any more.
    conn.resync.forget(uid);
    let vmid32 = u32::try_from(vmid).unwrap_or(u32::MAX);
    let guest = conn.pve.guest(kind, &node, vmid32);
    let config = match guest.config().await {
        Ok(config) => config,
        // Gone between the two reads: absent.
        Err(e) if e.is_not_found() => {
            forget(cache, uid);
            return Ok(Observation::seen(Observed::absent()));
        }
        Err(e) => return Err(e),
    };
    let items = if freshness == Freshness::Created {
        Vec::new()
    } else {
        guest.pending().await?
    };
    let power = if !status_known {
        // Proxmox reports a brand-new guest as unknown until its stats arrive: ask directly.
        let current = guest.status().await?;
        Power::from_status(&current.status, current.qmpstatus.as_deref())
    } else {
        Power::from_status(&status, None)
    };
    let listed = Listed {
        node: &node,
        lock: entry.lock.as_deref(),
        template: entry.template == Some(true),
        pool: entry.pool.as_deref(),
    };
    let observed = Observed::from_reads(listed, config, &items, power);
    remember(
        cache,
        uid,
        print,
        generation,
        &observed,
        resync.next_due(now),
    );
    Ok(Observation::seen(observed))
}

fn remember(
    cache: &Observations,
    uid: &str,
    fingerprint: String,
    generation: i64,
    observed: &Observed,
    due: Instant,
) {
    if let Ok(mut c) = cache.lock() {
        c.insert(
            uid.to_string(),
            Cached {
                fingerprint,
                generation,
                observed: observed.clone(),
                due,
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
