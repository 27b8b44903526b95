//! Executing a planned step with the Proxmox client: the one piece of I/O in this crate, behind
//! the `client` feature, so that the operator and `pvectl apply` send steps the same way.

use pve_client::{Client, Method, Params, Upid};

use crate::desired::GuestKind;
use crate::step::Step;

/// Sends the request of `step` for guest `vmid` of `kind` on `node` (see [`Step::request`]).
/// Returns the task Proxmox started, or `None` for a synchronous change (and for
/// [`Step::WaitForLock`], which sends nothing).
pub async fn execute(
    client: &Client,
    kind: GuestKind,
    node: &str,
    vmid: i64,
    step: &Step,
) -> Result<Option<Upid>, pve_client::Error> {
    let Some(request) = step.request(kind, node, vmid) else {
        return Ok(None);
    };
    let method = match request.method {
        crate::Method::Post => Method::POST,
        crate::Method::Put => Method::PUT,
        crate::Method::Delete => Method::DELETE,
    };
    // Secrets leave the planner's redacting type only here, on their way to Proxmox.
    let params = request
        .params
        .expose()
        .fold(Params::new(), |acc, (k, v)| acc.set(k, v));
    let answer: serde_json::Value = client
        .request(request.op, method, &request.path, params)
        .await?;
    Ok(match answer {
        serde_json::Value::String(upid) => Some(upid.parse()?),
        _ => None,
    })
}

/// The pre-flight check of a [`Step::Migrate`] of guest `vmid` of `kind` on `node`: Proxmox's
/// precondition endpoint `GET .../migrate?target=...` and the cluster's nodes (`GET /nodes`).
/// [`crate::MigrationCheck::blockers`] says what in the answer blocks the step. A container on
/// PVE 8, which has no such endpoint, is checked against the nodes only.
pub async fn migration_check(
    client: &Client,
    kind: GuestKind,
    node: &str,
    vmid: i64,
    target: &str,
) -> Result<crate::MigrationCheck, pve_client::Error> {
    let kind_path = match kind {
        GuestKind::Qemu => "qemu",
        GuestKind::Lxc => "lxc",
    };
    let path = format!("nodes/{node}/{kind_path}/{vmid}/migrate");
    let answer: serde_json::Value = match client
        .request(
            "guest_migrate_check",
            Method::GET,
            &path,
            Params::new().set("target", target),
        )
        .await
    {
        Ok(answer) => answer,
        // PVE 8 has no precondition endpoint for containers (it answers 501): nothing to check
        // beyond the nodes; the migration task itself says what Proxmox refuses.
        Err(e) if kind == GuestKind::Lxc && e.status() == Some(501) => serde_json::json!({}),
        Err(e) => return Err(e),
    };
    let nodes = client
        .nodes()
        .await?
        .into_iter()
        .map(|n| crate::migration::NodeState {
            online: n.status == "online",
            name: n.node,
        })
        .collect();
    Ok(crate::MigrationCheck::from_json(&answer, nodes))
}
