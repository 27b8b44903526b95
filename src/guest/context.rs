//! The guest controllers' own state beside the shared [`Context`]: what they remember about each
//! object between reconciles (the last Proxmox observation, the error backoff, steps repeated
//! without effect, steps Proxmox refused), which objects have a task in flight, and where
//! configuration backups go. The `ProxmoxVM` and `ProxmoxContainer` controllers run with it, and
//! so do the snapshot, schedule and restore controllers, which act on the same guests (a restore
//! backs up a guest's config and makes its controller read it again).

use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use super::Observations;
use super::backup::BackupSettings;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::context::Context;
use crate::memory::{Backoff, Refusals, Repeats};
use crate::proxmox::registry::Wake;

/// Where a guest controller takes requests to reconcile one of its objects (namespace, name).
type WakeSender = UnboundedSender<(String, String)>;

/// The guest controllers' context: the shared one, and their own memory of their objects.
#[derive(Clone)]
pub struct GuestContext {
    /// What every controller shares (client, connections, metrics, recorder, settings).
    pub shared: Arc<Context>,
    /// Error backoff, by object UID.
    pub backoff: Backoff,
    /// The last Proxmox observation of each guest object, by object UID.
    pub observations: Observations,
    /// Steps repeated without effect, by object UID.
    pub repeats: Repeats,
    /// Steps Proxmox refused, by object UID, held back until their backoff ends.
    pub refusals: Refusals,
    /// How many configuration backups to keep, where, and for how long.
    pub backups: BackupSettings,
    /// Objects with a Proxmox task in flight, for the tasks-in-flight gauge.
    tasks: Arc<Mutex<HashSet<String>>>,
    /// Where each guest controller takes requests to reconcile one of its objects now (by
    /// kind: namespace and name), for objects woken when a create slot frees up.
    wakers: Arc<Mutex<HashMap<&'static str, WakeSender>>>,
}

impl GuestContext {
    /// A guest context over `shared` that keeps configuration backups as `backups` says, and
    /// remembers nothing yet.
    pub fn new(shared: Arc<Context>, backups: BackupSettings) -> Self {
        Self {
            shared,
            backoff: Backoff::default(),
            observations: Observations::default(),
            repeats: Repeats::default(),
            refusals: Refusals::default(),
            backups,
            tasks: Arc::default(),
            wakers: Arc::default(),
        }
    }

    /// The requests to reconcile objects of `kind` now, for its controller (which calls this
    /// once; a later call replaces the earlier channel).
    pub fn wake_requests(&self, kind: &'static str) -> UnboundedReceiver<(String, String)> {
        let (send, receive) = unbounded_channel();
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, send);
        receive
    }

    /// What reconciles the object `kind`/`namespace`/`name` now; nothing while no controller
    /// of `kind` runs (a test driving passes by hand).
    pub fn waker(&self, kind: &'static str, namespace: &str, name: &str) -> Wake {
        let wakers = self.wakers.clone();
        let target = (namespace.to_string(), name.to_string());
        Arc::new(move || {
            let wakers = wakers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(send) = wakers.get(kind) {
                let _ = send.send(target.clone());
            }
        })
    }

    /// Records whether the object `uid` has a Proxmox task in flight, and updates the gauge.
    pub fn track_task(&self, uid: &str, in_flight: bool) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight {
            tasks.insert(uid.to_string());
        } else {
            tasks.remove(uid);
        }
        self.metrics
            .set_tasks_in_flight(i64::try_from(tasks.len()).unwrap_or(i64::MAX));
    }
}

/// The shared context's fields and methods (`ctx.client`, `ctx.event(..)`) read through.
impl Deref for GuestContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.shared
    }
}

impl crate::controller::Backed for GuestContext {
    fn shared(&self) -> &Context {
        &self.shared
    }
    fn backoff(&self) -> &crate::memory::Backoff {
        &self.backoff
    }
}
