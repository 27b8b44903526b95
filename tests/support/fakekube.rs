//! A small stateful stand-in for the Kubernetes API, on top of [`MockKube`], for driving guest
//! reconciles pass after pass: it stores objects of one custom kind and Secrets, applies status
//! writes and finalizer patches (with resourceVersion checks), records Events, and deletes an
//! object once it is marked for deletion and its last finalizer is gone.
//!
//! It is not an API server (no schema, no watch); the real one is exercised by the
//! `real_apiserver` suites.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::mockkube::{MockKube, Recorded, status_error};

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    secrets: BTreeMap<String, Value>,
    config_maps: BTreeMap<String, Value>,
    events: Vec<Value>,
    version: u64,
    fail_status_writes: bool,
}

/// The fake API and the mock client that talks to it.
pub struct FakeKube {
    /// The mocked server; `mock.client` is the client to give the operator.
    pub mock: MockKube,
    state: Arc<Mutex<State>>,
    plural: String,
}

impl FakeKube {
    /// A fake holding objects of the kind whose URL plural is `plural` (`proxmoxvms`).
    pub fn new(plural: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = state.clone();
        let plural_owned = plural.to_string();
        let mock = MockKube::new(move |r| handle(&handler_state, &plural_owned, r));
        Self {
            mock,
            state,
            plural: plural.to_string(),
        }
    }

    /// Stores an object (name from metadata.name), giving it a uid and generation.
    pub fn put(&self, mut object: Value) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let meta = object["metadata"].as_object_mut().unwrap();
        meta.entry("uid").or_insert(json!(format!("uid-{name}")));
        meta.entry("generation").or_insert(json!(1));
        meta.insert("resourceVersion".into(), json!(s.version.to_string()));
        meta.entry("namespace").or_insert(json!("default"));
        s.objects.insert(name, object);
    }

    /// Stores a Secret with string data.
    pub fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
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
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
            "data": encoded,
        });
        self.state
            .lock()
            .unwrap()
            .secrets
            .insert(name.to_string(), secret);
    }

    /// The names of the stored objects.
    pub fn names(&self) -> Vec<String> {
        self.state.lock().unwrap().objects.keys().cloned().collect()
    }

    /// The stored object.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(name).cloned()
    }

    /// Changes the spec (and bumps generation), as `kubectl apply` would.
    pub fn edit_spec(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let version = s.version;
        let object = s.objects.get_mut(name).unwrap();
        edit(&mut object["spec"]);
        let generation = object["metadata"]["generation"].as_i64().unwrap() + 1;
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
    }

    /// Sets an annotation.
    pub fn annotate(&self, name: &str, key: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let version = s.version;
        let object = s.objects.get_mut(name).unwrap();
        object["metadata"]["annotations"][key] = json!(value);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
    }

    /// `kubectl delete`: marks the object (it goes once its finalizers are gone).
    pub fn delete(&self, name: &str) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let version = s.version;
        let object = s.objects.get_mut(name).unwrap();
        object["metadata"]["deletionTimestamp"] = json!("2026-11-25T00:00:00Z");
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let gone = object["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if gone {
            s.objects.remove(name);
        }
    }

    /// Every Event recorded, as sent, repeats (series patches) included.
    pub fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }

    /// Makes every status write fail with 500 (an API server outage, or an operator killed
    /// before its write arrived) until called again with `false`.
    pub fn fail_status_writes(&self, fail: bool) {
        self.state.lock().unwrap().fail_status_writes = fail;
    }

    /// The stored ConfigMap `name`.
    pub fn config_map(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().config_maps.get(name).cloned()
    }

    /// The URL plural this fake serves.
    pub fn plural(&self) -> &str {
        &self.plural
    }

    /// This fake's request handler, to put several fakes (one per kind) behind one mocked
    /// client (see `support::snapshots`).
    pub fn handler(&self) -> impl Fn(&Recorded) -> (u16, Value) + Send + Sync + 'static {
        let state = self.state.clone();
        let plural = self.plural.clone();
        move |r| handle(&state, &plural, r)
    }
}

fn handle(state: &Arc<Mutex<State>>, plural: &str, r: &Recorded) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    let path = r.uri.split('?').next().unwrap_or_default().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // A repeated event is a PATCH of the first (its series count grows): record both.
    if path.contains("/events") && ["POST", "PATCH"].contains(&r.method.as_str()) {
        s.events.push(r.body.clone());
        return (if r.method == "POST" { 201 } else { 200 }, r.body.clone());
    }
    if let Some(i) = segments.iter().position(|p| *p == "secrets") {
        let name = segments.get(i + 1).copied().unwrap_or_default();
        return match s.secrets.get(name) {
            Some(secret) => (200, secret.clone()),
            None => status_error(404, "NotFound", &format!("secrets \"{name}\" not found")),
        };
    }
    if let Some(i) = segments.iter().position(|p| *p == "configmaps") {
        return config_maps(&mut s, segments.get(i + 1).copied(), r);
    }
    let Some(i) = segments.iter().position(|p| *p == plural) else {
        return status_error(404, "NotFound", &format!("unexpected path {path}"));
    };
    let name = segments.get(i + 1).copied().unwrap_or_default().to_string();
    let subresource = segments.get(i + 2).copied();
    if subresource == Some("status") && s.fail_status_writes {
        return status_error(500, "InternalError", "status writes are failing");
    }
    if let Some(answer) = collection(&mut s, plural, &name, r) {
        return answer;
    }
    s.version += 1;
    let version = s.version.to_string();
    let Some(object) = s.objects.get_mut(&name) else {
        return status_error(404, "NotFound", &format!("{plural} \"{name}\" not found"));
    };
    match (r.method.as_str(), subresource) {
        ("GET", None) => (200, object.clone()),
        ("PATCH", Some("status")) => {
            object["status"] = r.body["status"].clone();
            object["metadata"]["resourceVersion"] = json!(version);
            (200, object.clone())
        }
        ("PATCH", None) => {
            let expected = r.body["metadata"]["resourceVersion"].as_str();
            if expected.is_some() && expected != object["metadata"]["resourceVersion"].as_str() {
                return status_error(409, "Conflict", "the object has been modified");
            }
            if let Some(finalizers) = r.body["metadata"].get("finalizers") {
                object["metadata"]["finalizers"] = finalizers.clone();
            }
            if let Some(owners) = r.body["metadata"].get("ownerReferences") {
                object["metadata"]["ownerReferences"] = owners.clone();
            }
            object["metadata"]["resourceVersion"] = json!(version);
            let answer = object.clone();
            let released = object["metadata"].get("deletionTimestamp").is_some()
                && object["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(Vec::is_empty);
            if released {
                s.objects.remove(&name);
            }
            (200, answer)
        }
        _ => status_error(405, "MethodNotAllowed", &format!("{} {path}", r.method)),
    }
}

/// List (with an `a=b,c=d` label selector), create and delete of the custom kind, as the API
/// server does them: a create of an existing name is 409, a delete of an object with
/// finalizers only marks it. `None` for the other requests.
fn collection(s: &mut State, plural: &str, name: &str, r: &Recorded) -> Option<(u16, Value)> {
    match (r.method.as_str(), name) {
        ("GET", "") => {
            let selector = label_selector(r);
            let items: Vec<Value> = s
                .objects
                .values()
                .filter(|o| {
                    selector
                        .iter()
                        .all(|(k, v)| o["metadata"]["labels"][k].as_str() == Some(v))
                })
                .cloned()
                .collect();
            let list = json!({"apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": s.version.to_string()}, "items": items});
            Some((200, list))
        }
        ("POST", "") => {
            let mut object = r.body.clone();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if s.objects.contains_key(&name) {
                let message = format!("{plural} \"{name}\" already exists");
                return Some(status_error(409, "AlreadyExists", &message));
            }
            s.version += 1;
            let meta = object["metadata"].as_object_mut().unwrap();
            meta.insert("uid".into(), json!(format!("uid-{name}")));
            meta.insert("generation".into(), json!(1));
            meta.insert("resourceVersion".into(), json!(s.version.to_string()));
            meta.insert(
                "creationTimestamp".into(),
                json!(k8s_openapi::jiff::Timestamp::now().to_string()),
            );
            s.objects.insert(name, object.clone());
            Some((201, object))
        }
        ("DELETE", name) => {
            let Some(object) = s.objects.get_mut(name) else {
                let message = format!("{plural} \"{name}\" not found");
                return Some(status_error(404, "NotFound", &message));
            };
            s.version += 1;
            object["metadata"]["deletionTimestamp"] = json!("2026-11-25T00:00:00Z");
            object["metadata"]["resourceVersion"] = json!(s.version.to_string());
            let answer = object.clone();
            if object["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                s.objects.remove(name);
            }
            Some((200, answer))
        }
        _ => None,
    }
}

/// The `labelSelector` of a request as key/value pairs.
fn label_selector(r: &Recorded) -> Vec<(String, String)> {
    let query = r.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
        .map(|v| {
            v.replace("%3D", "=")
                .replace("%2F", "/")
                .replace("%2C", ",")
        })
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// ConfigMaps: get, server-side apply (the body replaces labels, annotations and data), list
/// (with an `a=b` label selector) and delete.
fn config_maps(s: &mut State, name: Option<&str>, r: &Recorded) -> (u16, Value) {
    let missing =
        |name: &str| status_error(404, "NotFound", &format!("configmaps \"{name}\" not found"));
    match (r.method.as_str(), name) {
        ("GET", Some(name)) => match s.config_maps.get(name) {
            Some(cm) => (200, cm.clone()),
            None => missing(name),
        },
        ("PATCH", Some(name)) => {
            s.version += 1;
            let mut cm = r.body.clone();
            cm["metadata"]["resourceVersion"] = json!(s.version.to_string());
            s.config_maps.insert(name.to_string(), cm.clone());
            (200, cm)
        }
        ("DELETE", Some(name)) => match s.config_maps.remove(name) {
            Some(cm) => (200, cm),
            None => missing(name),
        },
        ("GET", None) => {
            let query = r.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let selector = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("labelSelector="))
                .map(|v| v.replace("%3D", "=").replace("%2F", "/"));
            let items: Vec<Value> = s
                .config_maps
                .values()
                .filter(|cm| {
                    selector.as_deref().is_none_or(|sel| {
                        sel.split_once('=')
                            .is_some_and(|(k, v)| cm["metadata"]["labels"][k].as_str() == Some(v))
                    })
                })
                .cloned()
                .collect();
            let list = json!({"apiVersion": "v1", "kind": "ConfigMapList",
                "metadata": {"resourceVersion": s.version.to_string()}, "items": items});
            (200, list)
        }
        _ => status_error(405, "MethodNotAllowed", &format!("{} configmaps", r.method)),
    }
}
