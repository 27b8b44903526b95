//! Plumbing every controller shares (guests, snapshots, schedules, restores, connections, VM
//! sets): the Api of a watched kind in the namespace `kubepve run` watches, the log line at the
//! end of a reconcile, and the requeue after a failed one. It sits below the controllers and
//! `run`, so that they need not import `run`.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, Resource};

use crate::context::Context;

/// A reconcile error that metrics count by a bounded label.
pub trait Failure: std::fmt::Display {
    /// The label (`Kube`, `Proxmox`, ...).
    fn label(&self) -> &'static str;
}

/// The requeue after a failed reconcile of `object`: per-object exponential backoff, a warning
/// and the failure metric of its kind.
pub fn backoff_policy<K: Resource<DynamicType = ()>, E: Failure>(
    object: Arc<K>,
    error: &E,
    ctx: Arc<Context>,
) -> Action {
    let kind = K::kind(&());
    let key = object.meta().uid.clone().unwrap_or_default();
    let delay = ctx.guest_backoff.next(&key, ctx.settings.backoff);
    let name = object.meta().name.clone().unwrap_or_default();
    tracing::warn!(%kind, %name, %error, ?delay, "reconcile failed");
    ctx.metrics.failed(&kind, error.label());
    Action::requeue(delay)
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
