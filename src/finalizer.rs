//! The operator's finalizer on its objects (guests and connections): added with a JSON merge
//! patch guarded by the resourceVersion it was computed from, removed the same way, and an
//! object or finalizer that is already gone is success (a controller must tolerate its own
//! removal answering 404 or 409).
//!
//! Why not `kube::runtime::finalizer`: it removes the finalizer as soon as the cleanup closure
//! returns `Ok`, so a cleanup must finish in one pass. Ours spans several reconciles: a guest's
//! deletion is a shutdown task, then a destroy task, each started in one pass, recorded in
//! status and followed in later passes, and only the pass that finds the guest gone releases
//! the object (`guest::reconcile`'s `release`); a connection is released only once no guest
//! object uses it. With `finalizer()` every intermediate pass would have to return an error to
//! keep the finalizer, which would count as a failure in metrics and backoff. The guest pipeline
//! also plans deletion and update as one path (the planner's `Intent::deleting`), which its
//! separate `Apply`/`Cleanup` events would split. The race safety it gets from a JSON patch
//! whose `test` op checks the finalizer's index, this gets from the resourceVersion in the
//! merge patch: the API server applies it only to the version the list was computed from, so a
//! concurrent writer's finalizer is never dropped (a 409 and the next reconcile see its list).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use kubepve_api::FINALIZER;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::writes::Writes;

/// A namespaced kind the operator puts its finalizer on.
pub trait Finalized:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned
{
}

impl<K> Finalized for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
{
}

/// Whether `object` carries the operator's finalizer.
pub fn has<K: Finalized>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds the finalizer unless it is there already, and remembers the write in `writes`.
pub async fn add<K: Finalized>(
    client: &Client,
    writes: &Writes,
    object: &K,
) -> Result<(), kube::Error> {
    if has(object) {
        return Ok(());
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    let written = set(client, object, finalizers).await?;
    writes.wrote(&written);
    Ok(())
}

/// Removes the finalizer; an object or finalizer that is already gone is success. The object
/// is going, so `writes` forgets it.
pub async fn remove<K: Finalized>(
    client: &Client,
    writes: &Writes,
    object: &K,
) -> Result<(), kube::Error> {
    if !has(object) {
        return Ok(());
    }
    writes.forget(&object.uid().unwrap_or_default());
    let finalizers = object
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match set(client, object, finalizers).await {
        // Gone already, or changed under us (the next reconcile sees the new list).
        Err(kube::Error::Api(status)) if [404, 409].contains(&status.code) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

/// A merge patch of the finalizer list, guarded by the resourceVersion it was computed from so
/// that a concurrent change is not overwritten; the object as written.
async fn set<K: Finalized>(
    client: &Client,
    object: &K,
    finalizers: Vec<String>,
) -> Result<K, kube::Error> {
    let patch = json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": object.resource_version()}
    });
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}
