//! Create slots of one connection: the create and clone tasks in flight, counted against the
//! connection's per-node and per-storage limits, and the objects waiting for a slot, woken in
//! the order they asked when one frees up. `registry::Connection` holds one [`Creates`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::registry::Policy;

/// A create or clone task in flight: the node it creates on and the storages it clones with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSlot {
    /// Target node.
    pub node: String,
    /// Storages a clone uses (empty for a create).
    pub storages: Vec<String>,
}

/// Starts a reconcile of an object that waits for a create slot (made by the controller that
/// owns the object).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The limit a create or clone would go over: on its node (with how many run there), or on one
/// of its storages (with how many clones use it).
pub(super) enum Full<'s> {
    Node(usize),
    Storage(&'s str, usize),
}

impl Full<'_> {
    /// What the waiting object's condition says.
    pub(super) fn message(&self, policy: &Policy, slot: &CreateSlot) -> String {
        match self {
            Full::Node(on_node) => format!(
                "{on_node} creates or clones already run on node {} (limit {}, \
                 spec.limits.maxConcurrentCreatesPerNode of the connection)",
                slot.node, policy.creates_per_node
            ),
            Full::Storage(storage, busy) => format!(
                "{busy} clones already use {storage} (limit {}, \
                 spec.limits.maxConcurrentClonesPerStorage of the connection)",
                policy.clones_per_storage
            ),
        }
    }
}

/// An object waiting for a create slot.
pub(super) struct Waiter {
    pub(super) uid: String,
    pub(super) slot: CreateSlot,
    pub(super) wake: Wake,
}

/// Create and clone tasks in flight by object UID, and the objects waiting for a slot in the
/// order they asked. A slot that frees up wakes the waiters that can start now, so that waiting
/// costs neither a pass per waiter and poll nor the time until the next poll.
#[derive(Default)]
pub(super) struct Creates {
    pub(super) running: HashMap<String, CreateSlot>,
    pub(super) waiting: VecDeque<Waiter>,
}

impl Creates {
    /// Wakes, in queue order, every waiter that the limits let start once the ones woken before
    /// it have started. Usually that is one, the first for the slot that just freed up; a slot
    /// left idle by an earlier woken waiter that did not come (its object was deleted, failed,
    /// or no longer needs a create) is handed on here too.
    pub(super) fn wake_startable(&mut self, policy: &Policy) {
        let mut started = self.running.clone();
        let mut still = VecDeque::with_capacity(self.waiting.len());
        for waiter in self.waiting.drain(..) {
            if refusal(policy, &started, &waiter.uid, &waiter.slot).is_none() {
                started.insert(waiter.uid.clone(), waiter.slot.clone());
                (waiter.wake)();
            } else {
                still.push_back(waiter);
            }
        }
        self.waiting = still;
    }
}

/// Which limit keeps `uid` from taking `slot`, if one does (no text is made here: the
/// queue asks this of every waiter each time a slot frees up).
pub(super) fn refusal<'s>(
    policy: &Policy,
    running: &HashMap<String, CreateSlot>,
    uid: &str,
    slot: &'s CreateSlot,
) -> Option<Full<'s>> {
    if running.contains_key(uid) {
        return None;
    }
    let others = || running.iter().filter(|(u, _)| u.as_str() != uid);
    let on_node = others().filter(|(_, s)| s.node == slot.node).count();
    if on_node >= policy.creates_per_node {
        return Some(Full::Node(on_node));
    }
    slot.storages.iter().find_map(|storage| {
        let busy = others()
            .filter(|(_, s)| s.storages.contains(storage))
            .count();
        (busy >= policy.clones_per_storage).then_some(Full::Storage(storage, busy))
    })
}
