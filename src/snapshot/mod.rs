//! The snapshot controllers: `ProxmoxSnapshot` (`reconcile.rs`: observe -> pure plan from
//! `kubepve_plan::snapshot` -> at most one Proxmox task -> status with the UPID),
//! `ProxmoxSnapshotSchedule` (`crate::schedule`) and `ProxmoxSnapshotRestore` (`restore.rs`).
//! `target.rs` finds the guest object and observes its guest; `task.rs` follows the task
//! recorded in status without waiting.

pub mod reconcile;
pub mod restore;
pub mod target;
pub mod task;

use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kubepve_api::{ProxmoxContainer, ProxmoxSnapshot, ProxmoxSnapshotRestore, ProxmoxVM};

use crate::controller::{Failure, backoff_policy, log_outcome, scoped_api, trimmed};
use crate::guest::GuestContext;

pub use reconcile::reconcile;

/// What can fail in a snapshot or restore reconcile and is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A Kubernetes API call failed.
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    /// A Proxmox call failed.
    #[error("proxmox {op} for VMID {vmid}: {source}")]
    Proxmox {
        /// What the operator was doing.
        op: &'static str,
        /// The guest.
        vmid: u32,
        /// The client error (never carries credentials).
        source: pve_client::Error,
    },
}

impl Failure for SnapshotError {
    fn label(&self) -> &'static str {
        match self {
            SnapshotError::Kube(_) => "Kube",
            SnapshotError::Proxmox { .. } => "Proxmox",
        }
    }
}

/// The ProxmoxSnapshot controller, also woken when a guest object changes (it may have got
/// its VMID, or be going away).
pub async fn controller(
    ctx: Arc<GuestContext>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let controller = trimmed(
        scoped_api::<ProxmoxSnapshot>(&client, &namespace),
        ctx.settings.concurrency,
    );
    let store = controller.store();
    let store2 = store.clone();
    let of_guest = move |store: &kube::runtime::reflector::Store<ProxmoxSnapshot>,
                         kind: &str,
                         ns: Option<String>,
                         name: String| {
        store
            .state()
            .into_iter()
            .filter(|s| {
                s.namespace() == ns
                    && s.spec.guest_ref.kind.as_str() == kind
                    && s.spec.guest_ref.name == name
            })
            .map(|s| ObjectRef::from_obj(&*s))
            .collect::<Vec<_>>()
    };
    controller
        .watches(
            scoped_api::<ProxmoxVM>(&client, &namespace),
            watcher::Config::default(),
            move |vm| of_guest(&store, "ProxmoxVM", vm.namespace(), vm.name_any()),
        )
        .watches(
            scoped_api::<ProxmoxContainer>(&client, &namespace),
            watcher::Config::default(),
            move |ct| of_guest(&store2, "ProxmoxContainer", ct.namespace(), ct.name_any()),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            reconcile,
            backoff_policy::<ProxmoxSnapshot, SnapshotError, GuestContext>,
            ctx,
        )
        .for_each(|outcome| async move { log_outcome("ProxmoxSnapshot", outcome) })
        .await;
}

/// The ProxmoxSnapshotRestore controller.
pub async fn restore_controller(
    ctx: Arc<GuestContext>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    trimmed(
        scoped_api::<ProxmoxSnapshotRestore>(&client, &namespace),
        ctx.settings.concurrency,
    )
    .graceful_shutdown_on(shutdown)
    .run(
        restore::reconcile,
        backoff_policy::<ProxmoxSnapshotRestore, SnapshotError, GuestContext>,
        ctx,
    )
    .for_each(|outcome| async move { log_outcome("ProxmoxSnapshotRestore", outcome) })
    .await;
}
