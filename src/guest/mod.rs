//! The `ProxmoxVM` and `ProxmoxContainer` controllers. Both kinds share one reconcile pipeline
//! (`reconcile.rs`: observe -> plan -> act -> status) and one [`GuestContext`] (their memory of
//! their objects beside the shared context); [`GuestObject`] is what differs.

pub mod backup;
mod context;
pub mod hold;
mod migration;
mod observe;
pub mod preflight;
pub mod reconcile;

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use kubepve_api::{
    GuestCommon, GuestStatus, ProxmoxConnection, ProxmoxContainer, ProxmoxVM, SecretKeySelector,
};
use kubepve_plan::{Desired, GuestKind, Identity, PlanError, Secrets, TemplateRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controller::{log_outcome, scoped_api, trimmed};

pub use context::GuestContext;
pub use observe::Observations;
pub use observe::forget as forget_observation;
pub use reconcile::{GuestError, reconcile};

/// What the shared pipeline needs to know about a guest kind.
pub trait GuestObject:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The Kubernetes kind.
    const KIND: &'static str;
    /// The Proxmox guest type.
    const PVE_KIND: GuestKind;
    /// Connection, node, VMID, policies.
    fn common(&self) -> &GuestCommon;
    /// The current status.
    fn guest_status(&self) -> Option<&GuestStatus>;
    /// The Secret keys whose values the desired state needs (password, SSH keys).
    fn secret_refs(&self) -> (Option<&SecretKeySelector>, Option<&SecretKeySelector>);
    /// The clone source named by template name, if any.
    fn template_name(&self) -> Option<&str>;
    /// The desired guest.
    fn desired(
        &self,
        identity: &Identity,
        secrets: &Secrets,
        template: Option<TemplateRef>,
    ) -> Result<Desired, PlanError>;
}

impl GuestObject for ProxmoxVM {
    const KIND: &'static str = "ProxmoxVM";
    const PVE_KIND: GuestKind = GuestKind::Qemu;
    fn common(&self) -> &GuestCommon {
        &self.spec.guest
    }
    fn guest_status(&self) -> Option<&GuestStatus> {
        self.status.as_ref()
    }
    fn secret_refs(&self) -> (Option<&SecretKeySelector>, Option<&SecretKeySelector>) {
        let ci = self.spec.cloud_init.as_ref();
        (
            ci.and_then(|c| c.password_secret_ref.as_ref()),
            ci.and_then(|c| c.ssh_keys_secret_ref.as_ref()),
        )
    }
    fn template_name(&self) -> Option<&str> {
        self.spec
            .source
            .clone
            .as_ref()
            .and_then(|c| c.template_name.as_deref())
    }
    fn desired(
        &self,
        identity: &Identity,
        secrets: &Secrets,
        template: Option<TemplateRef>,
    ) -> Result<Desired, PlanError> {
        Desired::vm(&self.spec, identity, secrets, template)
    }
}

impl GuestObject for ProxmoxContainer {
    const KIND: &'static str = "ProxmoxContainer";
    const PVE_KIND: GuestKind = GuestKind::Lxc;
    fn common(&self) -> &GuestCommon {
        &self.spec.guest
    }
    fn guest_status(&self) -> Option<&GuestStatus> {
        self.status.as_ref()
    }
    fn secret_refs(&self) -> (Option<&SecretKeySelector>, Option<&SecretKeySelector>) {
        (
            self.spec.password_secret_ref.as_ref(),
            self.spec.ssh_keys_secret_ref.as_ref(),
        )
    }
    fn template_name(&self) -> Option<&str> {
        None
    }
    fn desired(
        &self,
        identity: &Identity,
        secrets: &Secrets,
        _template: Option<TemplateRef>,
    ) -> Result<Desired, PlanError> {
        Desired::container(&self.spec, identity, secrets)
    }
}

/// The controller for one guest kind, also woken when a connection it uses changes.
pub async fn controller<K: GuestObject>(
    ctx: Arc<GuestContext>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let guests = scoped_api::<K>(&client, &namespace);
    let controller = trimmed(guests, ctx.settings.concurrency);
    let store = controller.store();
    // Objects woken when a create slot they wait for frees up.
    let woken = futures::stream::unfold(ctx.wake_requests(K::KIND), |mut requests| async move {
        let (namespace, name) = requests.recv().await?;
        Some((ObjectRef::<K>::new(&name).within(&namespace), requests))
    });
    controller
        .reconcile_on(woken)
        .watches(
            scoped_api::<ProxmoxConnection>(&client, &namespace),
            watcher::Config::default(),
            move |conn| {
                let ns = conn.namespace();
                let name = conn.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|g| g.namespace() == ns && g.common().connection_ref.name == name)
                    .map(|g| ObjectRef::from_obj(&*g))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|outcome| async move { log_outcome(K::KIND, outcome) })
        .await;
}

fn error_policy<K: GuestObject>(
    object: Arc<K>,
    error: &GuestError,
    ctx: Arc<GuestContext>,
) -> Action {
    let key = object.uid().unwrap_or_default();
    let delay = ctx.backoff.next(&key, ctx.settings.backoff);
    tracing::warn!(kind = K::KIND, name = %object.name_any(), %error, ?delay, "reconcile failed");
    ctx.metrics.failed(K::KIND, error.label());
    Action::requeue(delay)
}
