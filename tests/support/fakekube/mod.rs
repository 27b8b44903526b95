//! A stateful fake of the Kubernetes API, served through [`MockKube`] to a real `kube::Client`,
//! for driving reconciles pass after pass. It models what a controller can tell apart on a
//! real API server:
//! - namespaces: a create in a namespace that is being deleted answers 403 Forbidden with the
//!   real message and cause; deleting a namespace deletes every object in it (marking those
//!   with finalizers) and the namespace goes once it is empty;
//! - every write, status included, bumps the resourceVersion and is counted per object
//!   ([`FakeKube::writes`]), so a status-write feedback loop shows up as extra reconciles;
//! - defaults from our generated CRD schemas are applied on every write;
//! - 409 Conflict on a stale resourceVersion, 404 after delete, no new finalizer once an object
//!   is being deleted, the object gone when its last finalizer goes;
//! - the status subresource, and server-side apply field ownership (a non-forced apply over
//!   another manager's field is a 409; `force` takes it over; fields a manager stops applying
//!   are removed);
//! - the scale subresource of a CRD that declares one (ProxmoxVMSet), at its declared paths;
//! - when a scenario turns it on ([`FakeKube::collect_garbage`]), the garbage collector's
//!   background cascade: an object's dependents by `ownerReferences` are deleted once it goes.
//!
//! - watches: every write is an event to the watches that follow the object, a watch resumes
//!   from a resourceVersion, and history the fake no longer keeps ([`FakeKube::compact`])
//!   answers 410 Expired, so the operator's controllers can run against it as against a real
//!   server ([`FakeKube::open_watches`], [`FakeKube::restart_watches`]).
//!
//! It does not model: admission, CEL and schema
//! validation (the `real_apiserver` suites and `tests/suite/generated_crds.rs` cover those), RBAC,
//! foreground deletion (`blockOwnerDeletion`), list-type merge keys (lists are atomic), label
//! selectors beyond `a=b`, `a!=b`, `a` and `!a`, field selectors, a watch with a label selector
//! seeing an object leave or enter the selection when its labels change, or paging.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod fields;
mod http;
mod kinds;
mod store;
mod watch;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::mockkube::{MockKube, Reply};
use store::{Change, Store, kind};

/// The namespace the compatibility methods (`put`, `get`, `delete`, ...) work in.
pub const DEFAULT_NS: &str = "default";

struct State {
    store: Store,
    /// Every Event body sent (creates and series patches), refused ones excluded.
    events: Vec<Value>,
    /// Status writes that still succeed before every further one fails (`None`: never fail).
    status_writes_left: Option<usize>,
}

/// The fake API and the mock client that talks to it.
pub struct FakeKube {
    /// The mocked server; `mock.client` is the client to give the operator (shared by views).
    pub mock: Arc<MockKube>,
    state: Arc<Mutex<State>>,
    plural: String,
}

impl FakeKube {
    /// A fake whose compatibility methods work on the kind whose URL plural is `plural`
    /// (`proxmoxvms`) in namespace `default`; every kind is served.
    pub fn new(plural: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            store: Store::new(),
            events: Vec::new(),
            status_writes_left: None,
        }));
        let handler_state = state.clone();
        let mock = MockKube::streaming(move |r| {
            let mut s = handler_state.lock().unwrap();
            let status_write = r.method != "GET"
                && r.uri
                    .split('?')
                    .next()
                    .is_some_and(|p| p.ends_with("/status"));
            if status_write && let Some(left) = s.status_writes_left.as_mut() {
                if *left == 0 {
                    return Reply::Json(errors::injected(500, "status writes are failing"));
                }
                *left -= 1;
            }
            let reply = http::reply(&mut s.store, r);
            let is_event = r.uri.contains("/events");
            if let Reply::Json((code, _)) = &reply
                && is_event
                && ["POST", "PATCH"].contains(&r.method.as_str())
                && *code < 300
            {
                s.events.push(r.body.clone());
            }
            reply
        });
        Self {
            mock: Arc::new(mock),
            state,
            plural: plural.to_string(),
        }
    }

    /// The same API (one store, one client) whose compatibility methods work on the kind
    /// served under `plural`, for scenarios that hold several kinds.
    pub fn view(&self, plural: &str) -> FakeKube {
        FakeKube {
            mock: self.mock.clone(),
            state: self.state.clone(),
            plural: plural.to_string(),
        }
    }

    /// The names of the stored objects of the fake's kind in namespace `default`.
    pub fn names(&self) -> Vec<String> {
        self.list(&self.plural, Some(DEFAULT_NS))
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.state.lock().unwrap().store)
    }

    /// Stores an object of the fake's kind as it is (namespace `default` unless it names one),
    /// giving it a uid and generation.
    pub fn put(&self, object: Value) {
        self.put_kind(&self.plural.clone(), object);
    }

    /// Stores an object of the kind served under `plural`, creating its namespace if needed.
    pub fn put_kind(&self, plural: &str, mut object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let meta = object["metadata"].as_object_mut().unwrap();
        let ns = meta
            .entry("namespace")
            .or_insert(json!(DEFAULT_NS))
            .as_str()
            .unwrap()
            .to_string();
        let uid = if ns == DEFAULT_NS {
            format!("uid-{name}")
        } else {
            format!("uid-{ns}-{name}")
        };
        meta.entry("uid").or_insert(json!(uid));
        meta.entry("generation").or_insert(json!(1));
        self.with(|s| s.put(kind(plural), object, kubepve::context::MANAGER));
    }

    /// Stores a Secret with string data in namespace `default`.
    pub fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
        self.put_secret_in(DEFAULT_NS, name, data);
    }

    /// Stores a Secret with string data in `ns`.
    pub fn put_secret_in(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let encoded: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    json!(k8s_openapi::ByteString(v.as_bytes().to_vec())),
                )
            })
            .collect();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "data": encoded,
        });
        self.put_kind("secrets", secret);
    }

    /// The stored object of the fake's kind in namespace `default`.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.get_kind(&self.plural, DEFAULT_NS, name)
    }

    /// The stored object of the kind served under `plural` (`""` namespace for namespaces).
    pub fn get_kind(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.with(|s| s.get(plural, ns, name).cloned())
    }

    /// The objects of `plural` in `ns` (every namespace when `None`).
    pub fn list(&self, plural: &str, ns: Option<&str>) -> Vec<Value> {
        self.with(|s| s.list(plural, ns).into_iter().cloned().collect())
    }

    fn change(&self, plural: &str, ns: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        self.with(|s| {
            let mut object = s.get(plural, ns, name).cloned().unwrap();
            edit(&mut object);
            let (code, answer) = s.update(kind(plural), ns, name, Change::Replace(&object), false);
            assert!(code < 300, "editing {name}: {answer}");
        });
    }

    /// Changes the spec (the server bumps generation), as `kubectl apply` would.
    pub fn edit_spec(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        self.change(&self.plural.clone(), DEFAULT_NS, name, |o| {
            edit(&mut o["spec"])
        });
    }

    /// Sets an annotation.
    pub fn annotate(&self, name: &str, key: &str, value: &str) {
        self.change(&self.plural.clone(), DEFAULT_NS, name, |o| {
            o["metadata"]["annotations"][key] = json!(value);
        });
    }

    /// `kubectl delete`: marks the object (it goes once its finalizers are gone).
    pub fn delete(&self, name: &str) {
        self.delete_kind(&self.plural.clone(), DEFAULT_NS, name);
    }

    /// `kubectl delete` of an object of `plural` in `ns`.
    pub fn delete_kind(&self, plural: &str, ns: &str, name: &str) {
        let (code, answer) = self.with(|s| s.delete(kind(plural), ns, name));
        assert!(code < 300, "deleting {name}: {answer}");
    }

    /// Creates the namespace `ns` unless it exists.
    pub fn create_namespace(&self, ns: &str) {
        self.with(|s| s.ensure_namespace(ns));
    }

    /// `kubectl delete namespace`: marks it, deletes everything in it; it goes once empty.
    pub fn delete_namespace(&self, ns: &str) {
        self.delete_kind("namespaces", "", ns);
    }

    /// The namespace object, while it exists.
    pub fn namespace(&self, ns: &str) -> Option<Value> {
        self.get_kind("namespaces", "", ns)
    }

    /// How many writes the object has seen (creation, spec, status, finalizers, deletion).
    pub fn writes(&self, plural: &str, ns: &str, name: &str) -> usize {
        self.with(|s| s.writes(plural, ns, name))
    }

    /// Every Event accepted, as sent, repeats (series patches) included.
    pub fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }

    /// Makes every status write fail with 500 (an API server outage, or an operator killed
    /// before its write arrived) until called again with `false`.
    pub fn fail_status_writes(&self, fail: bool) {
        self.state.lock().unwrap().status_writes_left = fail.then_some(0);
    }

    /// Lets `n` more status writes through, then makes every further one fail with 500 (an
    /// operator killed between two writes of one pass) until [`FakeKube::fail_status_writes`]
    /// is called with `false`.
    pub fn fail_status_writes_after(&self, n: usize) {
        self.state.lock().unwrap().status_writes_left = Some(n);
    }

    /// The stored ConfigMap `name`, in whichever namespace it is.
    pub fn config_map(&self, name: &str) -> Option<Value> {
        self.list("configmaps", None)
            .into_iter()
            .find(|cm| cm["metadata"]["name"] == name)
    }

    /// Turns the garbage collector on (or off): once an object is gone, the objects that name it
    /// in their `ownerReferences` are deleted, as a real cluster's garbage collector does after
    /// a background-propagation delete. Off by default, so that the older scenarios keep
    /// seeing dependents that they check for by hand.
    pub fn collect_garbage(&self, on: bool) {
        self.with(|s| s.collect_garbage = on);
    }

    /// Delivers every live watch event `lag` after its write, as a real API server's watch
    /// trails the write's answer (see `watch`); zero delivers them at once.
    pub fn lag_watches(&self, lag: std::time::Duration) {
        self.with(|s| s.watches.lag = lag);
    }

    /// How many watches are open (every controller keeps one per kind it watches).
    pub fn open_watches(&self) -> usize {
        self.with(|s| s.watches.open_count())
    }

    /// Ends every open watch, as an API server restart does; clients resume from their last
    /// resourceVersion.
    pub fn restart_watches(&self) {
        self.with(|s| s.watches.close_all());
    }

    /// Forgets the event history, as an etcd compaction does: a watch resuming from an older
    /// resourceVersion gets 410 Expired and must list again.
    pub fn compact(&self) {
        self.with(|s| {
            let newest = s.newest();
            s.watches.compact(newest);
        });
    }

    /// The URL plural this fake's compatibility methods work on.
    pub fn plural(&self) -> &str {
        &self.plural
    }
}
