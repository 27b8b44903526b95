//! Writing a kubepve object's status (server-side apply, field manager `kubepve`): guests,
//! snapshots, schedules and restores, whichever controller owns them. Their finalizer is
//! `crate::finalizer`'s.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde_json::json;

use crate::context::{Context, MANAGER};
use crate::finalizer::Finalized;

/// Applies `status` as the whole status of `object`, and remembers the write (`crate::writes`).
pub async fn write<K: Finalized, S: Serialize>(
    ctx: &Context,
    object: &K,
    status: &S,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let written = api
        .patch_status(
            &object.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    ctx.writes.wrote(&written);
    Ok(())
}
