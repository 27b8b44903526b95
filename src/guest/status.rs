//! Writing a guest object's status (server-side apply, field manager `kubepve`); its finalizer
//! is `crate::finalizer`'s.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kubepve_api::GuestStatus;
use serde_json::json;

use super::GuestObject;
use crate::context::{Context, MANAGER};

fn api<K: GuestObject>(ctx: &Context, object: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default())
}

/// Applies `status` as the whole status of `object`.
pub async fn write<K: GuestObject>(
    ctx: &Context,
    object: &K,
    status: &GuestStatus,
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
