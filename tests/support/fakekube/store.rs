//! The fake's objects and the rules every write follows, as the real API server applies them:
//! a create needs an existing namespace that is not being deleted (403 Forbidden with the real
//! cause otherwise); every write, status included, bumps the object's resourceVersion (one
//! counter for the whole store) and is counted per object; a write that names a stale
//! `metadata.resourceVersion` is a 409 Conflict; the status subresource separates `.status`
//! from the rest (spec changes bump `generation`); CRD defaults are applied on every write; no
//! finalizer can be added once `deletionTimestamp` is set; an object goes when it is marked
//! for deletion and its last finalizer is removed; deleting a namespace deletes everything in
//! it and the namespace goes once it is empty; with garbage collection on, an object's
//! dependents (by `ownerReferences`) are deleted once it is gone. Every write is also a watch
//! event ([`super::watch`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::errors::{self, Answer};
use super::fields::{self, Owners};
use super::kinds::{self, Kind};
use super::watch::{Type, Watches};

/// Resource plural, namespace (`""` for cluster-scoped kinds), name.
pub type Key = (String, String, String);

/// How a write changes the object.
pub enum Change<'a> {
    /// JSON merge patch.
    Merge(&'a Value),
    /// Server-side apply by this field manager.
    Apply {
        /// The applied configuration.
        config: &'a Value,
        /// The field manager.
        manager: &'a str,
        /// Take over fields that others own.
        force: bool,
    },
    /// PUT: the body replaces the object.
    Replace(&'a Value),
}

/// The stored objects.
#[derive(Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    owners: BTreeMap<Key, Owners>,
    writes: BTreeMap<Key, usize>,
    version: u64,
    /// The event history and the open watches.
    pub watches: Watches,
    /// Garbage collection of dependents (see [`Store::remove`]); off unless a scenario asks.
    pub collect_garbage: bool,
}

/// The time the fake stamps on creations and deletions.
const NOW: &str = "2026-11-25T00:00:00Z";

impl Store {
    /// A store holding the namespaces `default` and `kube-system`, as every cluster has.
    pub fn new() -> Self {
        let mut store = Self::default();
        for ns in ["default", "kube-system"] {
            store.ensure_namespace(ns);
        }
        store
    }

    /// Creates the namespace `ns` unless it exists.
    pub fn ensure_namespace(&mut self, ns: &str) {
        if self.get("namespaces", "", ns).is_none() {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            self.create(kind("namespaces"), "", &body);
        }
    }

    /// The stored object.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(plural, ns, name))
    }

    /// Objects of `plural` in `ns` (every namespace when `None`).
    pub fn list(&self, plural: &str, ns: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((p, n, _), _)| p == plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
            .collect()
    }

    /// How many writes (create, update, patch, status, deletion marks) `name` has seen.
    pub fn writes(&self, plural: &str, ns: &str, name: &str) -> usize {
        self.writes
            .get(&key(plural, ns, name))
            .copied()
            .unwrap_or_default()
    }

    /// The store's current resourceVersion (of lists).
    pub fn version(&self) -> String {
        self.version.to_string()
    }

    /// The store's current resourceVersion as a number.
    pub fn newest(&self) -> u64 {
        self.version
    }

    /// One write: a new resourceVersion on `object`, counted, and its watch event.
    fn bump(&mut self, k: &Key, object: &mut Value, event: Type) {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        *self.writes.entry(k.clone()).or_default() += 1;
        self.watches.record(self.version, &k.0, &k.1, event, object);
    }

    /// Creates an object from `body` (name from `metadata.name` or `generateName`).
    pub fn create(&mut self, kind: &Kind, ns: &str, body: &Value) -> Answer {
        let mut object = body.clone();
        let name = match object["metadata"]["name"].as_str() {
            Some(name) => name.to_string(),
            None => format!(
                "{}{:05}",
                object["metadata"]["generateName"].as_str().unwrap_or("x-"),
                self.version + 1
            ),
        };
        if kind.namespaced {
            match self.get("namespaces", "", ns) {
                None => return errors::namespace_not_found(ns),
                Some(n) if terminating(n) => {
                    return errors::namespace_terminating(kind, &name, ns);
                }
                Some(_) => {}
            }
        }
        let k = key(kind.plural, ns, &name);
        if self.objects.contains_key(&k) {
            return errors::already_exists(kind, &name);
        }
        object["apiVersion"] = json!(kind.api_version);
        object["kind"] = json!(kind.kind);
        let meta = &mut object["metadata"];
        meta["name"] = json!(name);
        if kind.namespaced {
            meta["namespace"] = json!(ns);
        }
        if meta.get("uid").is_none() {
            meta["uid"] = json!(format!("uid-{}", self.version + 1));
        }
        meta["creationTimestamp"] = json!(NOW);
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        if kind.schema.is_some() {
            meta["generation"] = json!(1);
        }
        if let Some(value) = bad_label(&object) {
            return errors::invalid_label(kind, &name, &value);
        }
        if kind.plural == "namespaces" {
            object["status"] = json!({"phase": "Active"});
        } else if kind.status_subresource && kind.schema.is_some() {
            // A create through the main resource drops `.status`, as for any kind with a
            // status subresource.
            if let Some(o) = object.as_object_mut() {
                o.remove("status");
            }
        }
        if let Some(schema) = &kind.schema {
            kinds::apply_defaults(schema, &mut object);
        }
        self.bump(&k, &mut object, Type::Added);
        self.objects.insert(k, object.clone());
        (201, object)
    }

    /// Stores `object` as it is (the test's back door: status, uid and generation kept),
    /// creating its namespace if needed; CRD defaults are applied. Its fields count as applied
    /// by `kubectl` (the user), its status by `status_manager` (as if an earlier pass of the
    /// operator had written it).
    pub fn put(&mut self, kind: &Kind, mut object: Value, status_manager: &str) {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kind.namespaced {
            self.ensure_namespace(&ns);
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(schema) = &kind.schema {
            kinds::apply_defaults(schema, &mut object);
        }
        let k = key(kind.plural, &ns, &name);
        let (status, rest): (Vec<String>, Vec<String>) = fields::leaves(&object)
            .into_iter()
            .partition(|p| fields::top(p) == "status");
        let owners = Owners::from([
            ("kubectl".to_string(), rest.into_iter().collect()),
            (status_manager.to_string(), status.into_iter().collect()),
        ]);
        self.owners.insert(k.clone(), owners);
        let event = if self.objects.contains_key(&k) {
            Type::Modified
        } else {
            Type::Added
        };
        self.bump(&k, &mut object, event);
        self.objects.insert(k, object);
    }

    /// Changes an existing object (through `/status` when `status` is set).
    pub fn update(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        change: Change<'_>,
        status: bool,
    ) -> Answer {
        let k = key(kind.plural, ns, name);
        let Some(current) = self.objects.get(&k).cloned() else {
            return match change {
                Change::Apply { config, .. } if !status => {
                    let answer = self.create(kind, ns, config);
                    if answer.0 == 201
                        && let Change::Apply { manager, .. } = change
                    {
                        let owned = fields::leaves(config);
                        let owners = Owners::from([(manager.to_string(), owned)]);
                        self.owners.insert(k, owners);
                    }
                    answer
                }
                _ => errors::not_found(kind, name),
            };
        };
        let body = match &change {
            Change::Merge(b) | Change::Replace(b) => *b,
            Change::Apply { config, .. } => *config,
        };
        let expected = body["metadata"]["resourceVersion"].as_str();
        if expected.is_some_and(|v| Some(v) != current["metadata"]["resourceVersion"].as_str()) {
            return errors::conflict(kind, name);
        }
        let separate = kind.status_subresource;
        let in_scope = |path: &str| !separate || (fields::top(path) == "status") == status;
        let mut next = match change {
            Change::Merge(patch) => {
                let mut next = current.clone();
                fields::merge_patch(&mut next, patch);
                next
            }
            Change::Replace(body) => body.clone(),
            Change::Apply {
                config,
                manager,
                force,
            } => {
                let owners = self.owners.get(&k).cloned().unwrap_or_default();
                match fields::apply(&current, &owners, config, manager, force, in_scope) {
                    Ok(applied) => {
                        self.owners.insert(k.clone(), applied.owners);
                        applied.object
                    }
                    Err(conflicts) => return errors::apply_conflict(kind, name, &conflicts),
                }
            }
        };
        if separate {
            // The status subresource: a `/status` write changes only `.status`, any other
            // write everything but `.status`.
            let keep_status = current.get("status").cloned();
            if status {
                let new_status = next.get("status").cloned();
                next = current.clone();
                set_or_remove(&mut next, "status", new_status);
            } else {
                set_or_remove(&mut next, "status", keep_status);
            }
        }
        // What only the server sets.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "name",
        ] {
            set_or_remove(
                &mut next["metadata"],
                field,
                current["metadata"].get(field).cloned(),
            );
        }
        next["apiVersion"] = current["apiVersion"].clone();
        next["kind"] = current["kind"].clone();
        if kind.namespaced {
            next["metadata"]["namespace"] = json!(ns);
        }
        if terminating(&current) {
            let before = finalizers(&current);
            let added: Vec<String> = finalizers(&next)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return errors::new_finalizer_while_deleting(kind, name, &added);
            }
        }
        if kind.schema.is_some() && next.get("spec") != current.get("spec") {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        if let Some(schema) = &kind.schema {
            kinds::apply_defaults(schema, &mut next);
        }
        if let Some(value) = bad_label(&next) {
            return errors::invalid_label(kind, name, &value);
        }
        if next == current && !matches!(change, Change::Replace(_)) {
            // The real server does not write (nor bump resourceVersion) for a no-op patch.
            return (200, current);
        }
        // An update that removes the last finalizer of an object being deleted deletes it (one
        // DELETED event, no MODIFIED before it).
        if terminating(&next) && finalizers(&next).is_empty() {
            self.bump(&k, &mut next, Type::Deleted);
            self.remove(&k);
        } else {
            self.bump(&k, &mut next, Type::Modified);
            self.objects.insert(k, next.clone());
        }
        (200, next)
    }

    /// `DELETE`: marks the object (it goes once its finalizers are gone); a namespace deletes
    /// everything in it.
    pub fn delete(&mut self, kind: &Kind, ns: &str, name: &str) -> Answer {
        let k = key(kind.plural, ns, name);
        let Some(mut object) = self.objects.get(&k).cloned() else {
            return errors::not_found(kind, name);
        };
        if kind.plural == "namespaces" {
            if !terminating(&object) {
                object["metadata"]["deletionTimestamp"] = json!(NOW);
                object["status"] = json!({"phase": "Terminating"});
                self.bump(&k, &mut object, Type::Modified);
                self.objects.insert(k.clone(), object.clone());
            }
            let contents: Vec<Key> = self
                .objects
                .keys()
                .filter(|(p, n, _)| p != "namespaces" && n == name)
                .cloned()
                .collect();
            for (plural, ns, name) in contents {
                if let Some(kind) = kinds::find(&plural) {
                    self.delete(kind, &ns, &name);
                }
            }
            self.collect_namespaces();
            return (200, object);
        }
        if finalizers(&object).is_empty() {
            self.bump(&k, &mut object, Type::Deleted);
            self.remove(&k);
            return (200, object);
        }
        if !terminating(&object) {
            object["metadata"]["deletionTimestamp"] = json!(NOW);
            self.bump(&k, &mut object, Type::Modified);
            self.objects.insert(k, object.clone());
        }
        (200, object)
    }

    /// Removes an object for good. With garbage collection on, the objects in its namespace
    /// whose `ownerReferences` name its UID are deleted next, as the garbage collector does
    /// after a background-propagation delete (`kubectl delete`'s default): each is marked, and
    /// goes once its own finalizers are gone.
    fn remove(&mut self, k: &Key) {
        let removed = self.objects.remove(k);
        self.owners.remove(k);
        if self.collect_garbage
            && let Some(uid) = removed.as_ref().and_then(|o| o["metadata"]["uid"].as_str())
        {
            let owned_by = |o: &Value| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            };
            let dependents: Vec<Key> = self
                .objects
                .iter()
                .filter(|((_, ns, _), o)| *ns == k.1 && owned_by(o) && !terminating(o))
                .map(|(k, _)| k.clone())
                .collect();
            for (plural, ns, name) in dependents {
                if let Some(kind) = kinds::find(&plural) {
                    self.delete(kind, &ns, &name);
                }
            }
        }
        self.collect_namespaces();
    }

    /// Removes terminating namespaces that hold nothing any more.
    fn collect_namespaces(&mut self) {
        let empty: Vec<Key> = self
            .objects
            .iter()
            .filter(|((p, _, _), v)| p == "namespaces" && terminating(v))
            .filter(|((_, _, name), _)| {
                !self
                    .objects
                    .keys()
                    .any(|(p, n, _)| p != "namespaces" && n == name)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in empty {
            if let Some(mut namespace) = self.objects.remove(&k) {
                self.bump(&k, &mut namespace, Type::Deleted);
            }
        }
    }
}

fn set_or_remove(target: &mut Value, field: &str, value: Option<Value>) {
    match (value, target.as_object_mut()) {
        (Some(v), Some(map)) => {
            map.insert(field.to_string(), v);
        }
        (None, Some(map)) => {
            map.remove(field);
        }
        _ => {}
    }
}

/// The kind served under `plural` (which the fake must serve).
pub fn kind(plural: &str) -> &'static Kind {
    kinds::find(plural).unwrap_or_else(|| panic!("the fake does not serve {plural}"))
}

fn key(plural: &str, ns: &str, name: &str) -> Key {
    (plural.to_string(), ns.to_string(), name.to_string())
}

/// The first label value the API server refuses: at most 63 characters, alphanumeric at both
/// ends, `-`, `_` and `.` inside.
fn bad_label(object: &Value) -> Option<String> {
    let labels = object["metadata"]["labels"].as_object()?;
    labels.values().filter_map(Value::as_str).find_map(|v| {
        let inner = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let valid = v.is_empty()
            || (v.len() <= 63
                && v.chars().all(inner)
                && ends(v.chars().next())
                && ends(v.chars().last()));
        (!valid).then(|| v.to_string())
    })
}

/// Whether the object has a deletionTimestamp.
pub fn terminating(object: &Value) -> bool {
    object["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
