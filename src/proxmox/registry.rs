//! One Proxmox client per `ProxmoxConnection`, shared by every guest that refers to it, and the
//! connection's cached `/cluster/resources` read.
//!
//! The cache is what keeps steady-state Proxmox traffic flat: however many guests requeue in a
//! poll interval, the cluster is read once per connection per interval. A refresh is
//! single-flight: guests that ask while one is running wait for its answer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pve_client::types::ClusterResource;
use pve_client::{Client, Error as PveError};
use tokio::sync::Mutex;

pub use super::creates::{CreateSlot, Wake};
use super::creates::{Creates, Waiter, refusal};

/// Identifies a connection: namespace and name.
pub type ConnectionKey = (String, String);

/// A usable connection.
pub struct Connection {
    /// The Proxmox client.
    pub pve: Client,
    /// How long a `/cluster/resources` read stays fresh.
    pub poll_interval: Duration,
    /// What the client was built from (spec generation and Secret version), to know when to
    /// rebuild it.
    pub fingerprint: String,
    resources: Mutex<Option<Snapshot>>,
    /// Reads that started before this serve nobody (see [`Connection::invalidate`]).
    stale_before: std::sync::Mutex<Option<Instant>>,
    /// VMIDs this operator allocated that Proxmox does not show yet, so that two objects
    /// allocating at once do not get the same id from `/cluster/nextid`.
    pub reserved: Mutex<HashSet<u64>>,
    /// What the connection's spec says about VMIDs, placement and create concurrency.
    pub policy: Policy,
    /// Guests placed on a node that do not run there yet, by object UID: their memory counts
    /// against the node when the next guest is placed.
    placements: std::sync::Mutex<HashMap<String, Placed>>,
    /// Create and clone tasks in flight, and the objects waiting for a slot.
    creating: std::sync::Mutex<Creates>,
    /// The read slots of the full resync (see `resync`).
    pub resync: super::resync::Pacer,
}

/// VMID range, default allowed nodes and create concurrency from a connection's spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Allocate VMIDs from this inclusive range instead of `/cluster/nextid`.
    pub vmid_range: Option<(u64, u64)>,
    /// Nodes a guest without `node` or `placement.allowedNodes` may be placed on (empty: any).
    pub allowed_nodes: Vec<String>,
    /// Most create and clone tasks at once per node.
    pub creates_per_node: usize,
    /// Most clone tasks at once per storage.
    pub clones_per_storage: usize,
}

impl Default for Policy {
    fn default() -> Self {
        let limits = kubepve_api::ConnectionLimits::default();
        Self {
            vmid_range: None,
            allowed_nodes: Vec::new(),
            creates_per_node: count(limits.max_concurrent_creates_per_node),
            clones_per_storage: count(limits.max_concurrent_clones_per_storage),
        }
    }
}

fn count(n: i32) -> usize {
    usize::try_from(n.max(1)).unwrap_or(1)
}

impl Policy {
    /// The policy a connection's spec asks for.
    pub fn from_spec(spec: &kubepve_api::ProxmoxConnectionSpec) -> Self {
        Self {
            vmid_range: spec.vmid_range.as_ref().map(|r| {
                (
                    u64::try_from(r.start).unwrap_or_default(),
                    u64::try_from(r.end).unwrap_or_default(),
                )
            }),
            allowed_nodes: spec
                .placement
                .as_ref()
                .map(|p| p.allowed_nodes.clone())
                .unwrap_or_default(),
            creates_per_node: count(spec.limits.max_concurrent_creates_per_node),
            clones_per_storage: count(spec.limits.max_concurrent_clones_per_storage),
        }
    }
}

/// A guest placed on a node that does not run there yet.
#[derive(Clone, Debug)]
struct Placed {
    node: String,
    mib: u64,
    at: Instant,
}

/// How long a placement counts against its node at most (a guest that never started).
const PLACEMENT_TTL: Duration = Duration::from_secs(600);

/// One `/cluster/resources` read.
#[derive(Clone)]
pub struct Snapshot {
    /// When the read started (it shows nothing older).
    pub at: Instant,
    /// Everything it returned (guests, nodes, storages).
    pub items: Arc<Vec<ClusterResource>>,
}

impl Snapshot {
    /// The guest with this VMID, wherever it runs.
    pub fn guest(&self, vmid: u64) -> Option<&ClusterResource> {
        self.items
            .iter()
            .find(|r| r.is_guest() && r.vmid == Some(vmid))
    }

    /// The cluster's nodes and their status.
    pub fn nodes(&self) -> impl Iterator<Item = &ClusterResource> {
        self.items.iter().filter(|r| r.kind == "node")
    }
}

impl Connection {
    /// A connection around a built client.
    pub fn new(pve: Client, poll_interval: Duration, fingerprint: String) -> Self {
        Self {
            pve,
            poll_interval,
            fingerprint,
            resources: Mutex::new(None),
            stale_before: std::sync::Mutex::default(),
            reserved: Mutex::default(),
            policy: Policy::default(),
            placements: std::sync::Mutex::default(),
            creating: std::sync::Mutex::default(),
            resync: super::resync::Pacer::default(),
        }
    }

    /// This connection, rebuilt (a new spec or Secret), taking over what `old` counts: the
    /// creates in flight and the objects waiting for a slot, who are woken if the new limits
    /// let them start. Without it a rebuild would forget both: waiters would sleep until their
    /// fallback, and more creates than the limit could start.
    pub fn taking_over(self, old: &Connection) -> Self {
        if let (Ok(mut from), Ok(mut to)) = (old.creating.lock(), self.creating.lock()) {
            *to = std::mem::take(&mut *from);
            to.wake_startable(&self.policy);
        }
        self
    }

    /// The connection with the spec's policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// MiB placed on `node` by other objects whose guests do not run yet.
    pub fn placed_mib(&self, node: &str, except_uid: &str) -> u64 {
        let Ok(mut placed) = self.placements.lock() else {
            return 0;
        };
        placed.retain(|_, p| p.at.elapsed() < PLACEMENT_TTL);
        placed
            .iter()
            .filter(|(uid, p)| uid.as_str() != except_uid && p.node == node)
            .map(|(_, p)| p.mib)
            .sum()
    }

    /// Counts `mib` against `node` until [`Connection::unplace`] (the guest runs or is gone).
    pub fn place(&self, uid: &str, node: &str, mib: u64) {
        if let Ok(mut placed) = self.placements.lock() {
            let entry = Placed {
                node: node.to_string(),
                mib,
                at: Instant::now(),
            };
            placed.insert(uid.to_string(), entry);
        }
    }

    /// Stops counting the object's placement.
    pub fn unplace(&self, uid: &str) {
        if let Ok(mut placed) = self.placements.lock() {
            placed.remove(uid);
        }
    }

    /// Takes a create slot for the object, or says which limit is reached and queues the
    /// object, to be woken with `wake` when a slot it can use frees up (it keeps its place when
    /// it asks again). Idempotent for an object that holds one already.
    pub fn try_start_create(&self, uid: &str, slot: CreateSlot, wake: Wake) -> Result<(), String> {
        let Ok(mut creates) = self.creating.lock() else {
            return Ok(());
        };
        let refused = refusal(&self.policy, &creates.running, uid, &slot)
            .map(|full| full.message(&self.policy, &slot));
        let queued = creates.waiting.iter().position(|w| w.uid == uid);
        match (refused, queued) {
            (None, queued) => {
                if let Some(i) = queued {
                    creates.waiting.remove(i);
                }
                creates.running.insert(uid.to_string(), slot);
                Ok(())
            }
            (Some(limit), Some(i)) => {
                creates.waiting[i].slot = slot;
                creates.waiting[i].wake = wake;
                Err(limit)
            }
            (Some(limit), None) => {
                let uid = uid.to_string();
                creates.waiting.push_back(Waiter { uid, slot, wake });
                Err(limit)
            }
        }
    }

    /// Counts a create or clone found running (after a restart) against its node, whatever the
    /// limit says: it runs already.
    pub fn keep_create(&self, uid: &str, node: &str) {
        if let Ok(mut creates) = self.creating.lock() {
            creates
                .running
                .entry(uid.to_string())
                .or_insert_with(|| CreateSlot {
                    node: node.to_string(),
                    storages: Vec::new(),
                });
        }
    }

    /// Gives the object's create slot back (its task ended, or it was never started), waking
    /// the objects waiting that can start now; an object that waited stops waiting.
    pub fn end_create(&self, uid: &str) {
        if let Ok(mut creates) = self.creating.lock() {
            creates.waiting.retain(|w| w.uid != uid);
            if creates.running.remove(uid).is_some() {
                creates.wake_startable(&self.policy);
            }
        }
    }

    /// The cluster's resources, read at most once per `max_age`, and again when the cached
    /// read started before the last [`Connection::invalidate`].
    pub async fn resources(&self, max_age: Duration) -> Result<Snapshot, PveError> {
        let mut cached = self.resources.lock().await;
        let stale_before = *self.stale_before.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(snapshot) = cached
            .as_ref()
            .filter(|s| s.at.elapsed() < max_age && stale_before.is_none_or(|t| s.at > t))
        {
            return Ok(snapshot.clone());
        }
        let at = Instant::now();
        let items = self.pve.cluster_resources(None).await?;
        let snapshot = Snapshot {
            at,
            items: Arc::new(items),
        };
        *cached = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The resources no older than the poll interval.
    pub async fn resources_fresh_enough(&self) -> Result<Snapshot, PveError> {
        self.resources(self.poll_interval).await
    }

    /// Forgets the cached read, so the next one goes to Proxmox (after the operator changed
    /// something, or when a guest must be seen as it is now).
    ///
    /// Only a read that starts from now on serves the next caller: so the guests whose tasks
    /// end while one read runs all share the read after it, instead of each dropping the read
    /// another just made (1000 creates cost 350 reads of every resource that way). It does not
    /// wait for a read in flight.
    pub async fn invalidate(&self) {
        *self.stale_before.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
}

/// Why a connection cannot be used right now, as the guests that refer to it report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// A short reason (CamelCase) for conditions.
    pub reason: String,
    /// What is wrong, without secrets.
    pub message: String,
}

/// A connection as guests see it: usable, or why not.
pub type ConnectionState = Result<Arc<Connection>, Unavailable>;

/// Every connection the operator knows, by namespace and name, and the last usable client of
/// each: a deletion goes on with it when the connection became unusable meanwhile (deleting a
/// namespace deletes the connection's Secret in no particular order with the guests).
#[derive(Default, Clone)]
pub struct Registry {
    inner: Arc<RwLock<Known>>,
}

#[derive(Default)]
struct Known {
    states: HashMap<ConnectionKey, ConnectionState>,
    last_usable: HashMap<ConnectionKey, Arc<Connection>>,
}

impl Registry {
    /// The connection, or why it cannot be used (`None`: never seen yet).
    pub fn get(&self, key: &ConnectionKey) -> Option<ConnectionState> {
        self.inner
            .read()
            .ok()
            .and_then(|m| m.states.get(key).cloned())
    }

    /// The connection if usable, else the last client of it that was (for deletions only: it
    /// holds credentials that may have been revoked or replaced since).
    pub fn for_deletion(&self, key: &ConnectionKey) -> Option<Arc<Connection>> {
        let known = self.inner.read().ok()?;
        match known.states.get(key) {
            Some(Ok(conn)) => Some(conn.clone()),
            _ => known.last_usable.get(key).cloned(),
        }
    }

    /// Records the connection's current state.
    pub fn set(&self, key: ConnectionKey, state: ConnectionState) {
        if let Ok(mut known) = self.inner.write() {
            if let Ok(conn) = &state {
                known.last_usable.insert(key.clone(), conn.clone());
            }
            known.states.insert(key, state);
        }
    }

    /// Forgets a deleted connection, its last usable client included.
    pub fn remove(&self, key: &ConnectionKey) {
        if let Ok(mut known) = self.inner.write() {
            known.states.remove(key);
            known.last_usable.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(creates_per_node: usize, clones_per_storage: usize) -> Connection {
        let client = pve_client::Client::builder(
            "https://127.0.0.1:8006",
            pve_client::Auth::token("root@pam!t", "x"),
        )
        .build()
        .expect("client");
        Connection::new(client, Duration::from_secs(30), String::new()).with_policy(Policy {
            creates_per_node,
            clones_per_storage,
            ..Policy::default()
        })
    }

    fn slot(node: &str, storages: &[&str]) -> CreateSlot {
        CreateSlot {
            node: node.into(),
            storages: storages.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A wake that nobody listens to.
    fn nobody() -> Wake {
        Arc::new(|| {})
    }

    /// A wake that counts into `woken` under `name`.
    fn counting(woken: &Arc<std::sync::Mutex<Vec<&'static str>>>, name: &'static str) -> Wake {
        let woken = woken.clone();
        Arc::new(move || woken.lock().unwrap().push(name))
    }

    #[test]
    fn a_freed_slot_wakes_the_first_waiter_that_can_start_and_only_that_one() {
        let conn = connection(1, 1);
        let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
        assert!(
            conn.try_start_create("a", slot("pve1", &[]), nobody())
                .is_ok()
        );
        assert!(
            conn.try_start_create("x", slot("pve2", &[]), nobody())
                .is_ok()
        );
        for name in ["b", "elsewhere", "c"] {
            let node = if name == "elsewhere" { "pve2" } else { "pve1" };
            let refused = conn.try_start_create(name, slot(node, &[]), counting(&woken, name));
            assert!(refused.is_err(), "{name} waits");
        }
        // Asking again keeps b's place ahead of c.
        assert!(
            conn.try_start_create("b", slot("pve1", &[]), counting(&woken, "b"))
                .is_err()
        );
        conn.end_create("a");
        assert_eq!(
            *woken.lock().unwrap(),
            ["b"],
            "the first waiter for pve1 only"
        );
        assert!(
            conn.try_start_create("b", slot("pve1", &[]), nobody())
                .is_ok()
        );
        // c, gone while waiting, is not woken when b's slot frees up.
        conn.end_create("c");
        conn.end_create("b");
        assert_eq!(*woken.lock().unwrap(), ["b"], "no waiter left for pve1");
        conn.end_create("x");
        assert_eq!(*woken.lock().unwrap(), ["b", "elsewhere"]);
    }

    #[test]
    fn a_slot_whose_woken_waiter_never_came_is_handed_on_at_the_next_release() {
        let conn = connection(2, 1);
        let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
        for name in ["a", "b"] {
            assert!(
                conn.try_start_create(name, slot("pve1", &[]), nobody())
                    .is_ok()
            );
        }
        for name in ["gone", "c", "d"] {
            let refused = conn.try_start_create(name, slot("pve1", &[]), counting(&woken, name));
            assert!(refused.is_err(), "{name} waits");
        }
        conn.end_create("a");
        assert_eq!(*woken.lock().unwrap(), ["gone"], "one slot, one waiter");
        // "gone" never asks again; when b's slot frees up both idle slots go to waiters.
        conn.end_create("b");
        assert_eq!(*woken.lock().unwrap(), ["gone", "c", "d"]);
    }

    #[test]
    fn a_waiter_is_woken_only_when_all_its_limits_allow_it() {
        let conn = connection(1, 1);
        let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
        assert!(
            conn.try_start_create("a", slot("pve1", &[]), nobody())
                .is_ok()
        );
        assert!(
            conn.try_start_create("b", slot("pve2", &["S"]), nobody())
                .is_ok()
        );
        let clone = conn.try_start_create("w1", slot("pve1", &["S"]), counting(&woken, "w1"));
        assert!(clone.is_err());
        let create = conn.try_start_create("w2", slot("pve1", &[]), counting(&woken, "w2"));
        assert!(create.is_err());
        conn.end_create("a");
        assert_eq!(
            *woken.lock().unwrap(),
            ["w2"],
            "w1 still needs storage S, which b uses: the free pve1 slot goes to w2"
        );
    }

    #[test]
    fn a_rebuilt_connection_keeps_the_creates_in_flight_and_the_waiters() {
        let old = connection(1, 1);
        let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
        assert!(
            old.try_start_create("a", slot("pve1", &[]), nobody())
                .is_ok()
        );
        assert!(
            old.try_start_create("w", slot("pve1", &[]), counting(&woken, "w"))
                .is_err()
        );
        let new = connection(1, 1).taking_over(&old);
        assert!(
            new.try_start_create("other", slot("pve1", &[]), nobody())
                .is_err(),
            "a's create still counts"
        );
        new.end_create("a");
        assert_eq!(
            *woken.lock().unwrap(),
            ["w"],
            "the waiter is woken by the new connection"
        );
        let raised = connection(3, 1).taking_over(&new);
        assert!(
            raised
                .try_start_create("x", slot("pve1", &[]), nobody())
                .is_ok()
        );
    }

    #[test]
    fn create_slots_are_limited_per_node_and_per_storage() {
        let conn = connection(2, 1);
        assert!(
            conn.try_start_create("a", slot("pve1", &["fast"]), nobody())
                .is_ok()
        );
        // The same object asking again keeps its slot.
        assert!(
            conn.try_start_create("a", slot("pve1", &["fast"]), nobody())
                .is_ok()
        );
        let busy = conn
            .try_start_create("b", slot("pve2", &["fast"]), nobody())
            .unwrap_err();
        assert!(busy.contains("maxConcurrentClonesPerStorage"), "{busy}");
        assert!(
            conn.try_start_create("c", slot("pve1", &[]), nobody())
                .is_ok()
        );
        let full = conn
            .try_start_create("d", slot("pve1", &[]), nobody())
            .unwrap_err();
        assert!(full.contains("node pve1"), "{full}");
        conn.end_create("a");
        assert!(
            conn.try_start_create("b", slot("pve2", &["fast"]), nobody())
                .is_ok()
        );
        assert!(
            conn.try_start_create("d", slot("pve1", &[]), nobody())
                .is_ok()
        );
    }

    #[test]
    fn creates_found_running_after_a_restart_count_against_their_node() {
        let conn = connection(1, 1);
        conn.keep_create("running", "pve1");
        assert!(
            conn.try_start_create("new", slot("pve1", &[]), nobody())
                .is_err()
        );
        assert!(
            conn.try_start_create("elsewhere", slot("pve2", &[]), nobody())
                .is_ok()
        );
    }

    #[test]
    fn placed_memory_counts_until_unplaced_and_not_for_the_object_itself() {
        let conn = connection(1, 1);
        conn.place("a", "pve1", 1024);
        conn.place("b", "pve1", 512);
        conn.place("c", "pve2", 256);
        assert_eq!(conn.placed_mib("pve1", ""), 1536);
        assert_eq!(conn.placed_mib("pve1", "a"), 512);
        conn.unplace("b");
        assert_eq!(conn.placed_mib("pve1", ""), 1024);
        assert_eq!(conn.placed_mib("pve2", ""), 256);
    }
}
