//! What every controller shares: the Kubernetes client, the Proxmox connections, metrics, the
//! event recorder and the operator's settings (timings, and the pace of the full resync).
//! A controller's own memory of its objects lives with that controller
//! (`crate::guest::GuestContext`, `crate::connection::ConnectionContext`), beside this one.

use crate::writes::Writes;
use std::time::Duration;

use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::metrics::Metrics;
use crate::proxmox::registry::Registry;
use crate::proxmox::resync::ResyncSettings;

/// The field manager (and event reporter) name the operator writes with.
pub const MANAGER: &str = "kubepve";

/// Tunable timings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Requeue while a Proxmox task runs.
    pub task_poll: Duration,
    /// Requeue when converged, if the connection does not say otherwise.
    pub drift_interval: Duration,
    /// Requeue when a connection is not usable yet.
    pub connection_retry: Duration,
    /// First and longest delay of the per-object error backoff.
    pub backoff: (Duration, Duration),
    /// The full resync of every guest's config and pending changes.
    pub full_resync: ResyncSettings,
    /// Most reconciles one controller runs at once.
    pub concurrency: u16,
}

/// [`Settings::concurrency`] unless `kubepve run --concurrent-reconciles` says otherwise.
pub const CONCURRENT_RECONCILES: u16 = 32;

impl Default for Settings {
    fn default() -> Self {
        Self {
            task_poll: Duration::from_secs(2),
            drift_interval: Duration::from_secs(30),
            connection_retry: Duration::from_secs(15),
            backoff: (Duration::from_secs(5), Duration::from_secs(300)),
            full_resync: ResyncSettings::default(),
            concurrency: CONCURRENT_RECONCILES,
        }
    }
}

/// What every controller shares.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Proxmox connections by namespace and name.
    pub connections: Registry,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Event recorder.
    pub recorder: Recorder,
    /// Timings.
    pub settings: Settings,
    /// The operator's own writes its caches may not show yet.
    pub writes: Writes,
}

impl Context {
    /// A context for `client`, whose events name no reporting instance.
    pub fn new(client: Client, metrics: Metrics, settings: Settings) -> Self {
        Self::reporting_as(client, metrics, settings, None)
    }

    /// A context for `client` whose events name `instance` (the pod) as their reporter.
    pub fn reporting_as(
        client: Client,
        metrics: Metrics,
        settings: Settings,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            connections: Registry::default(),
            metrics,
            settings,
            writes: Writes::default(),
        }
    }

    /// Publishes an event about `object`; failures to publish are logged, never fatal (and
    /// only at debug level where the namespace refuses them because it is being deleted,
    /// which every event of a namespace deletion would otherwise repeat).
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event_on(&object.object_ref(&()), type_, reason, action, note)
            .await;
    }

    /// Publishes an event about the object `reference` names (one this controller did not
    /// get typed, such as the guest of a restore); failures are logged, never fatal.
    pub async fn event_on(
        &self,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        self.publish(reference, &event).await;
    }

    /// Publishes `event` about the object `reference` names; failures are logged, never fatal.
    /// An event with a `secondary` object (a set's member) is its own series: events of one
    /// reason about one object are otherwise folded into the first one's note.
    pub async fn publish(
        &self,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
        event: &Event,
    ) {
        let reason = event.reason.as_str();
        match self.recorder.publish(event, reference).await {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if namespace_terminating(&status) => {
                tracing::debug!(
                    reason,
                    "not publishing an event: the namespace is being deleted"
                );
            }
            Err(error) => tracing::warn!(%error, reason, "could not publish event"),
        }
    }
}

/// Whether the API server refused a create because the namespace is being deleted.
pub fn namespace_terminating(status: &kube::core::Status) -> bool {
    status.code == 403
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}
