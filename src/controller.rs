//! Plumbing every controller shares (guests, snapshots, schedules, restores, connections, VM
//! sets): the Api of a watched kind in the namespace `kubepve run` watches, the controller over
//! a cache of trimmed objects, the requeue after a failed reconcile, and the log line at the end
//! of one. It sits below the controllers and `run`, so that they need not import `run`.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::finalizer::Finalized;
use crate::memory::Backoff;

/// The annotation `kubectl apply` keeps the whole applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A controller of `K` whose cache holds each object without `managedFields` and without
/// `kubectl apply`'s copy of the object in an annotation: the controllers never read either,
/// and together they are most of an object's size (kube-rs's advice for large caches). The
/// initial list may come from the API server's watch cache (`resourceVersion=0`), as for
/// kube-controller-manager's informers.
///
/// At most `concurrency` reconciles run at once (kube-runtime's default is no limit): when the
/// operator starts with 1000 objects, an unbounded controller starts 1000 passes together, each
/// with its own API request and connection, which costs memory (one HTTP/1 connection with its
/// buffers per request in flight) and gains nothing, since the Proxmox work is bounded by the
/// connection's in-flight limit anyway.
pub fn trimmed<K>(api: Api<K>, concurrency: u16) -> Controller<K>
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
        .with_config(controller::Config::default().concurrency(concurrency))
}

/// A reconcile error that metrics count by a bounded label.
pub trait Failure: std::fmt::Display {
    /// The label (`Kube`, `Proxmox`, ...).
    fn label(&self) -> &'static str;
}

/// What the shared error policy needs of a controller's context.
pub trait Backed: Send + Sync + 'static {
    /// What every controller shares.
    fn shared(&self) -> &Context;
    /// The controller's error backoff, by object UID.
    fn backoff(&self) -> &Backoff;
}

/// The requeue after a failed reconcile of `object`: per-object exponential backoff, a warning
/// and the failure metric of its kind.
pub fn backoff_policy<K: Resource<DynamicType = ()>, E: Failure, C: Backed>(
    object: Arc<K>,
    error: &E,
    ctx: Arc<C>,
) -> Action {
    let kind = K::kind(&());
    let key = object.meta().uid.clone().unwrap_or_default();
    let delay = ctx.backoff().next(&key, ctx.shared().settings.backoff);
    let name = object.meta().name.clone().unwrap_or_default();
    tracing::warn!(%kind, %name, %error, ?delay, "reconcile failed");
    ctx.shared().metrics.failed(&kind, error.label());
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
pub async fn run_owning<Parent, Child, E, Fut, C>(
    ctx: Arc<C>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    reconcile: fn(Arc<Parent>, Arc<C>) -> Fut,
) where
    Parent: Watched,
    Child: Watched,
    E: Failure + std::error::Error + Send + 'static,
    Fut: std::future::Future<Output = Result<Action, E>> + Send + 'static,
    C: Backed,
{
    let client = ctx.shared().client.clone();
    let kind = Parent::kind(&()).to_string();
    trimmed(
        scoped_api::<Parent>(&client, &namespace),
        ctx.shared().settings.concurrency,
    )
    .owns(
        scoped_api::<Child>(&client, &namespace),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, backoff_policy::<Parent, E, C>, ctx)
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
