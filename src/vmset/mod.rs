//! The ProxmoxVMSet controller: keeps `replicas` ProxmoxVM members `<set>-<ordinal>` made from
//! the set's template (`reconcile.rs`, planned by the pure `kubepve_plan::vmset`), woken by
//! changes of the set and of the members it owns. `members.rs` reads members and builds the
//! member objects. The members are ordinary ProxmoxVMs, reconciled by the guest controller.

pub mod members;
pub mod reconcile;

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubepve_api::{ProxmoxVM, ProxmoxVMSet};

use crate::controller::{Failure, run_owning};
use crate::guest::GuestContext;

/// What can fail in a set reconcile and is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum VMSetError {
    /// A Kubernetes API call failed.
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
}

impl Failure for VMSetError {
    fn label(&self) -> &'static str {
        match self {
            VMSetError::Kube(_) => "Kube",
        }
    }
}

/// Reconciles one ProxmoxVMSet.
pub async fn reconcile(
    set: Arc<ProxmoxVMSet>,
    ctx: Arc<GuestContext>,
) -> Result<Action, VMSetError> {
    if ctx.writes.behind(&*set) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let started = std::time::Instant::now();
    let result = reconcile::reconcile_set(&set, &ctx).await;
    ctx.metrics.reconciled("ProxmoxVMSet", started.elapsed());
    if result.is_ok() {
        ctx.backoff.reset(&set.uid().unwrap_or_default());
    }
    result
}

/// The ProxmoxVMSet controller, also woken when one of its members changes.
pub async fn controller(
    ctx: Arc<GuestContext>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_owning::<ProxmoxVMSet, ProxmoxVM, _, _, _>(ctx, namespace, shutdown, reconcile).await;
}
