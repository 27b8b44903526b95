//! Plumbing every controller shares (guests, snapshots, schedules, restores, connections): the
//! Api of a watched kind in the namespace `kubepve run` watches, and the log line at the end of
//! a reconcile. It sits below the controllers and `run`, so that they need not import `run`.

use kube::Client;
use kube::api::Api;

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
