//! Writing a kubepve object's status (server-side apply, field manager `kubepve`) and its
//! finalizer (JSON patches that tolerate the object or the finalizer being gone already).

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use kubepve_api::FINALIZER;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::context::{Context, MANAGER};

/// What these helpers work on: any namespaced kubepve object (guests, snapshots, restores).
pub trait Object:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + DeserializeOwned
{
}

impl<K> Object for K where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
{
}

fn api<K: Object>(ctx: &Context, object: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default())
}

/// Applies `status` as the whole status of `object`.
pub async fn write<K: Object, S: Serialize>(
    ctx: &Context,
    object: &K,
    status: &S,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api(ctx, object)
        .patch_status(
            &object.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Adds the finalizer unless it is there already.
pub async fn add_finalizer<K: Object>(ctx: &Context, object: &K) -> Result<(), kube::Error> {
    if object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    set_finalizers(ctx, object, finalizers).await
}

/// Removes the finalizer; an object or finalizer that is already gone is success.
pub async fn remove_finalizer<K: Object>(ctx: &Context, object: &K) -> Result<(), kube::Error> {
    if !object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let finalizers = object
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match set_finalizers(ctx, object, finalizers).await {
        // Gone already, or changed under us (the next reconcile sees the new list).
        Err(kube::Error::Api(status)) if [404, 409].contains(&status.code) => Ok(()),
        other => other,
    }
}

/// A merge patch of the finalizer list, guarded by the resourceVersion it was computed from so
/// that a concurrent change is not overwritten.
async fn set_finalizers<K: Object>(
    ctx: &Context,
    object: &K,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": object.resource_version()}
    });
    api(ctx, object)
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}
