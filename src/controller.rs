//! Plumbing every controller shares (guests, snapshots, schedules, restores, connections): the
//! Api of a watched kind in the namespace `kubepve run` watches, the controller over a cache of
//! trimmed objects, and the log line at the end of a reconcile. It sits below the controllers
//! and `run`, so that they need not import `run`.

use std::fmt::Debug;

use kube::api::Api;
use kube::runtime::reflector::{self, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// The annotation `kubectl apply` keeps the whole applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A controller of `K` whose cache holds each object without `managedFields` and without
/// `kubectl apply`'s copy of the object in an annotation: the controllers never read either,
/// and together they are most of an object's size (kube-rs's advice for large caches). The
/// initial list may come from the API server's watch cache (`resourceVersion=0`), as for
/// kube-controller-manager's informers.
pub fn trimmed<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let objects = watcher(api, watcher::Config::default().any_semantic()).modify(|o: &mut K| {
        o.managed_fields_mut().clear();
        o.annotations_mut().remove(LAST_APPLIED);
    });
    let stream = reflector(writer, objects).applied_objects();
    Controller::for_stream(stream, reader)
}

/// The Api for a namespaced kind, in one namespace or all of them.
pub fn scoped_api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Logs the end of a reconcile run by a controller.
pub fn log_outcome<T: std::fmt::Debug, E: std::fmt::Display>(kind: &str, outcome: Result<T, E>) {
    match outcome {
        Ok(object) => tracing::debug!(kind, ?object, "reconciled"),
        Err(error) => tracing::debug!(kind, %error, "reconcile error"),
    }
}
