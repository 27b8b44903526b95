//! The operator's finalizer on its objects (guests and connections): added with a JSON merge
//! patch guarded by the resourceVersion it was computed from, removed the same way, and an
//! object or finalizer that is already gone is success (a controller must tolerate its own
//! removal answering 404 or 409).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use kubepve_api::FINALIZER;
use serde::de::DeserializeOwned;
use serde_json::json;

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

/// Adds the finalizer unless it is there already.
pub async fn add<K: Finalized>(client: &Client, object: &K) -> Result<(), kube::Error> {
    if has(object) {
        return Ok(());
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    set(client, object, finalizers).await
}

/// Removes the finalizer; an object or finalizer that is already gone is success.
pub async fn remove<K: Finalized>(client: &Client, object: &K) -> Result<(), kube::Error> {
    if !has(object) {
        return Ok(());
    }
    let finalizers = object
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match set(client, object, finalizers).await {
        // Gone already, or changed under us (the next reconcile sees the new list).
        Err(kube::Error::Api(status)) if [404, 409].contains(&status.code) => Ok(()),
        other => other,
    }
}

/// A merge patch of the finalizer list, guarded by the resourceVersion it was computed from so
/// that a concurrent change is not overwritten.
async fn set<K: Finalized>(
    client: &Client,
    object: &K,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": object.resource_version()}
    });
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
