//! Executing one planned step against Proxmox. Steps that start a Proxmox task return its UPID;
//! the reconcile records it in status and comes back later instead of waiting for it.

use kubepve_plan::{GuestKind, Step};
use pve_client::{Client, Method, Params, Upid};

/// What executing a step did.
#[derive(Debug)]
pub enum Acted {
    /// A Proxmox task was started.
    Task(Upid),
    /// The change was applied synchronously.
    Done,
    /// Nothing was sent (a lock to wait for).
    Nothing,
}

/// Executes `step` for the guest `vmid` of `kind`, on `node` (where it is, or where to create it),
/// with the request the planner defines for it.
pub async fn execute(
    pve: &Client,
    kind: GuestKind,
    node: &str,
    vmid: u64,
    step: &Step,
) -> Result<Acted, pve_client::Error> {
    let Some(request) = step.request(kind, node, i64::try_from(vmid).unwrap_or_default()) else {
        return Ok(Acted::Nothing);
    };
    let method = match request.method {
        kubepve_plan::Method::Post => Method::POST,
        kubepve_plan::Method::Put => Method::PUT,
        kubepve_plan::Method::Delete => Method::DELETE,
    };
    // Secrets leave the planner's redacting type only here, on their way to Proxmox.
    let params = request
        .params
        .expose()
        .fold(Params::new(), |acc, (k, v)| acc.set(k, v));
    let answer: serde_json::Value = pve
        .request(request.op, method, &request.path, params)
        .await?;
    Ok(match answer {
        serde_json::Value::String(upid) => Acted::Task(upid.parse()?),
        _ => Acted::Done,
    })
}

/// The phase a running step puts the guest in.
pub fn phase_of(step: &Step) -> kubepve_api::Phase {
    use kubepve_api::Phase;
    match step {
        Step::Create { .. } | Step::Clone { .. } => Phase::Creating,
        Step::Start => Phase::Starting,
        Step::Shutdown { .. } | Step::Stop => Phase::Stopping,
        Step::Delete { .. } | Step::RemoveOwnership { .. } => Phase::Deleting,
        Step::SetConfig { .. }
        | Step::ResizeDisk { .. }
        | Step::Reboot
        | Step::WaitForLock { .. } => Phase::Updating,
    }
}
