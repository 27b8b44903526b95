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
    /// VMIDs this operator allocated that Proxmox does not show yet, so that two objects
    /// allocating at once do not get the same id from `/cluster/nextid`.
    pub reserved: Mutex<HashSet<u64>>,
}

/// One `/cluster/resources` read.
#[derive(Clone)]
pub struct Snapshot {
    /// When it was read.
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
            reserved: Mutex::default(),
        }
    }

    /// The cluster's resources, read at most once per `max_age`.
    pub async fn resources(&self, max_age: Duration) -> Result<Snapshot, PveError> {
        let mut cached = self.resources.lock().await;
        if let Some(snapshot) = cached.as_ref().filter(|s| s.at.elapsed() < max_age) {
            return Ok(snapshot.clone());
        }
        let items = self.pve.cluster_resources(None).await?;
        let snapshot = Snapshot {
            at: Instant::now(),
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
    pub async fn invalidate(&self) {
        *self.resources.lock().await = None;
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

/// Every connection the operator knows, by namespace and name.
#[derive(Default, Clone)]
pub struct Registry {
    inner: Arc<RwLock<HashMap<ConnectionKey, ConnectionState>>>,
}

impl Registry {
    /// The connection, or why it cannot be used (`None`: never seen yet).
    pub fn get(&self, key: &ConnectionKey) -> Option<ConnectionState> {
        self.inner.read().ok().and_then(|m| m.get(key).cloned())
    }

    /// Records the connection's current state.
    pub fn set(&self, key: ConnectionKey, state: ConnectionState) {
        if let Ok(mut map) = self.inner.write() {
            map.insert(key, state);
        }
    }

    /// Forgets a deleted connection.
    pub fn remove(&self, key: &ConnectionKey) {
        if let Ok(mut map) = self.inner.write() {
            map.remove(key);
        }
    }
}
