//! Plumbing every controller shares (guests, snapshots, schedules, restores, connections, VM
//! sets): the Api of a watched kind in the namespace `kubepve run` watches, the log line at the
//! end of a reconcile, and the requeue after a failed one. It sits below the controllers and
//! `run`, so that they need not import `run`.

use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource};

use crate::context::Context;
use crate::finalizer::Finalized;

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

/// A namespaced kind a controller watches: one the operator can put its finalizer on, and
/// that can cross threads.
pub trait Watched: Finalized + Send + Sync + 'static {}

impl<K: Finalized + Send + Sync + 'static> Watched for K {}

/// Runs the controller of `Parent` objects, also woken when a `Child` they own changes, with
/// [`backoff_policy`] on errors, until `shutdown` resolves (schedules and their snapshots, VM
/// sets and their members).
pub async fn run_owning<Parent, Child, E, Fut>(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    reconcile: fn(Arc<Parent>, Arc<Context>) -> Fut,
) where
    Parent: Watched,
    Child: Watched,
    E: Failure + std::error::Error + Send + 'static,
    Fut: std::future::Future<Output = Result<Action, E>> + Send + 'static,
{
    let client = ctx.client.clone();
    let kind = Parent::kind(&()).to_string();
    Controller::new(
        scoped_api::<Parent>(&client, &namespace),
        watcher::Config::default(),
    )
    .owns(
        scoped_api::<Child>(&client, &namespace),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, backoff_policy::<Parent, E>, ctx)
    .for_each(|outcome| {
        let kind = kind.clone();
        async move { log_outcome(&kind, outcome) }
    })
    .await;
}

/// Logs the end of a reconcile run by a controller.
pub fn log_outcome<T: std::fmt::Debug, E: std::fmt::Display>(kind: &str, outcome: Result<T, E>) {
    match outcome {
        Ok(object) => tracing::debug!(kind, ?object, "reconciled"),
        Err(error) => tracing::debug!(kind, %error, "reconcile error"),
    }
}
