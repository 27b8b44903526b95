//! The fake's URL layout, as the API server's: `/api/v1[/namespaces/{ns}]/{plural}[/{name}
//! [/status]]` for the core group and `/apis/{group}/{version}/...` for the others; GET (one or
//! a list, with an `a=b,c=d` label selector), POST, PUT, PATCH (merge or server-side apply,
//! told apart by the content type, with `fieldManager` and `force` from the query), DELETE (of
//! one object, or of a namespace's collection with a label selector),
//! `GET ...?watch=true` (a stream of events, see [`super::watch`]), and the scale subresource
//! of a CRD that declares one.

use std::time::Duration;

use serde_json::json;

use super::super::mockkube::{Recorded, Reply};
use super::errors::{self, Answer};
use super::kinds::{self, Kind};
use super::store::{Change, Store};
use super::watch::{Filter, labels_match};

/// A parsed request path.
struct Target<'a> {
    kind: &'static Kind,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    status: bool,
    scale: bool,
}

fn parse(path: &str) -> Option<Target<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, rest @ ..] => (Some(*ns), [&[*plural][..], rest].concat()),
        other => (None, other.to_vec()),
    };
    let kind = kinds::find(rest.first()?)?;
    Some(Target {
        kind,
        namespace,
        name: rest.get(1).copied(),
        status: rest.get(2) == Some(&"status"),
        scale: rest.get(2) == Some(&"scale"),
    })
}

fn query(uri: &str, key: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The API server's default for a watch without `timeoutSeconds` (it picks 30 to 60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Answers one request: a watch with a stream, everything else with one document.
pub fn reply(store: &mut Store, r: &Recorded) -> Reply {
    let path = r.uri.split('?').next().unwrap_or_default();
    let watching = r.method == "GET"
        && query(&r.uri, "watch").is_some_and(|w| w == "true" || w == "1")
        && query(&r.uri, "fieldSelector").is_none();
    match parse(path).filter(|t| t.name.is_none() && watching) {
        Some(t) => watch(store, &t, r),
        None => Reply::Json(handle(store, r)),
    }
}

fn watch(store: &mut Store, t: &Target<'_>, r: &Recorded) -> Reply {
    let from = match query(&r.uri, "resourceVersion").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return Reply::Json(errors::bad_request(&format!(
                    "invalid resourceVersion {v:?} for a watch"
                )));
            }
        },
    };
    let filter = Filter {
        plural: t.kind.plural.to_string(),
        namespace: t.namespace.map(str::to_string),
        labels: query(&r.uri, "labelSelector"),
    };
    let current = store
        .list(t.kind.plural, t.namespace)
        .into_iter()
        .filter(|o| labels_match(o, filter.labels.as_deref()))
        .cloned()
        .collect();
    let newest = store.newest();
    let chunks = store.watches.open(filter, from, current, newest);
    let timeout = query(&r.uri, "timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    Reply::Stream { chunks, timeout }
}

/// Answers one request that is not a watch.
pub fn handle(store: &mut Store, r: &Recorded) -> Answer {
    let path = r.uri.split('?').next().unwrap_or_default();
    let Some(t) = parse(path) else {
        return errors::unsupported(path);
    };
    let ns = t.namespace.unwrap_or_default();
    if t.scale {
        return scale(store, &t, ns, r);
    }
    match (r.method.as_str(), t.name) {
        ("GET", None) if query(&r.uri, "fieldSelector").is_some() => {
            errors::unsupported("field selectors")
        }
        ("GET", None) => {
            let selector = query(&r.uri, "labelSelector");
            let items: Vec<serde_json::Value> = store
                .list(t.kind.plural, t.namespace)
                .into_iter()
                .filter(|o| labels_match(o, selector.as_deref()))
                .cloned()
                .collect();
            let list = json!({
                "apiVersion": t.kind.api_version, "kind": format!("{}List", t.kind.kind),
                "metadata": {"resourceVersion": store.version()}, "items": items,
            });
            (200, list)
        }
        ("GET", Some(name)) => match store.get(t.kind.plural, ns, name) {
            Some(object) => (200, object.clone()),
            None => errors::not_found(t.kind, name),
        },
        ("POST", None) => store.create(t.kind, ns, &r.body),
        ("PUT", Some(name)) => store.update(t.kind, ns, name, Change::Replace(&r.body), t.status),
        ("PATCH", Some(name)) => {
            let change = if r.content_type.starts_with("application/apply-patch") {
                let Some(manager) = query(&r.uri, "fieldManager") else {
                    return errors::bad_request(
                        "PATCH: fieldManager is required for apply requests",
                    );
                };
                let force = query(&r.uri, "force").is_some_and(|f| f == "true");
                return store.update(
                    t.kind,
                    ns,
                    name,
                    Change::Apply {
                        config: &r.body,
                        manager: &manager,
                        force,
                    },
                    t.status,
                );
            } else if r.content_type.starts_with("application/merge-patch")
                || r.content_type
                    .starts_with("application/strategic-merge-patch")
            {
                Change::Merge(&r.body)
            } else {
                return errors::unsupported(&format!("PATCH as {}", r.content_type));
            };
            store.update(t.kind, ns, name, change, t.status)
        }
        ("DELETE", Some(name)) => store.delete(t.kind, ns, name),
        // deletecollection: each selected object is deleted as by its own DELETE (marked when
        // it has finalizers); the answer is the list of what was selected.
        ("DELETE", None) if t.namespace.is_some() => {
            let selector = query(&r.uri, "labelSelector");
            let names: Vec<String> = store
                .list(t.kind.plural, t.namespace)
                .into_iter()
                .filter(|o| labels_match(o, selector.as_deref()))
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            let items: Vec<serde_json::Value> = names
                .iter()
                .map(|name| store.delete(t.kind, ns, name).1)
                .collect();
            let list = json!({
                "apiVersion": t.kind.api_version, "kind": format!("{}List", t.kind.kind),
                "metadata": {"resourceVersion": store.version()}, "items": items,
            });
            (200, list)
        }
        (method, _) => errors::unsupported(&format!("{method} {path}")),
    }
}

/// A JSON path of the CRD (`.spec.replicas`) as a JSON pointer.
fn pointer(path: &str) -> String {
    path.replace('.', "/")
}

/// The scale subresource, as the API server serves it for a CRD that declares one: GET gives an
/// `autoscaling/v1` Scale made from the declared paths; PATCH (merge, as `kubectl scale` sends)
/// or PUT of a Scale writes `spec.replicas` into the object at `specReplicasPath` (a spec
/// change: generation goes up).
fn scale(store: &mut Store, t: &Target<'_>, ns: &str, r: &Recorded) -> Answer {
    let (Some(paths), Some(name)) = (t.kind.scale.as_ref(), t.name) else {
        return errors::unsupported(&format!("{} has no scale subresource", t.kind.plural));
    };
    if matches!(r.method.as_str(), "PATCH" | "PUT") {
        let Some(replicas) = r.body["spec"]["replicas"].as_i64() else {
            return (
                422,
                json!({"kind": "Status", "code": 422, "reason": "Invalid",
                    "message": "Scale.autoscaling \"\" is invalid: spec.replicas: Required value"}),
            );
        };
        let mut patch = json!({});
        let keys: Vec<&str> = paths
            .spec_replicas
            .trim_start_matches('.')
            .split('.')
            .collect();
        let mut node = &mut patch;
        for key in &keys[..keys.len() - 1] {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(*key)
                .or_insert(json!({}));
        }
        node[keys[keys.len() - 1]] = json!(replicas);
        let (code, answer) = store.update(t.kind, ns, name, Change::Merge(&patch), false);
        if code >= 300 {
            return (code, answer);
        }
    } else if r.method != "GET" {
        return errors::unsupported(&format!("{} on scale", r.method));
    }
    let Some(object) = store.get(t.kind.plural, ns, name) else {
        return errors::not_found(t.kind, name);
    };
    let at = |path: &str| object.pointer(&pointer(path)).cloned();
    let selector = paths.label_selector.as_deref().and_then(at);
    (
        200,
        json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": name, "namespace": ns,
                "uid": object["metadata"]["uid"], "resourceVersion": object["metadata"]["resourceVersion"]},
            "spec": {"replicas": at(&paths.spec_replicas).unwrap_or(json!(0))},
            "status": {"replicas": at(&paths.status_replicas).unwrap_or(json!(0)),
                "selector": selector.unwrap_or(json!(""))},
        }),
    )
}
