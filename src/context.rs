//! What every reconcile shares: the Kubernetes client, the Proxmox connections, metrics, the
//! event recorder and the operator's settings (timings, and the pace of the full resync).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::connection::registry::Registry;
use crate::connection::resync::ResyncSettings;
use crate::metrics::Metrics;

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            task_poll: Duration::from_secs(2),
            drift_interval: Duration::from_secs(30),
            connection_retry: Duration::from_secs(15),
            backoff: (Duration::from_secs(5), Duration::from_secs(300)),
            full_resync: ResyncSettings::default(),
        }
    }
}

/// Shared state of the controllers.
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
    /// Error backoff of guest objects.
    pub guest_backoff: Backoff,
    /// Backoff of connections whose failure needs the user (pin mismatch, bad credentials).
    pub connection_backoff: Backoff,
    /// The last Proxmox observation of each guest object, by object UID.
    pub observations: crate::guest::Observations,
    /// Steps repeated without effect, by object UID.
    pub repeats: Repeats,
    /// Steps Proxmox refused, by object UID, held back until their backoff ends.
    pub refusals: Refusals,
    /// How many configuration backups to keep, and for how long.
    pub backups: crate::guest::backup::BackupSettings,
    /// Objects with a Proxmox task in flight, for the tasks-in-flight gauge.
    tasks: Arc<Mutex<HashSet<String>>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, metrics: Metrics, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            connections: Registry::default(),
            metrics,
            settings,
            guest_backoff: Backoff::default(),
            connection_backoff: Backoff::default(),
            observations: Default::default(),
            repeats: Repeats::default(),
            tasks: Arc::default(),
            refusals: Refusals::default(),
            backups: Default::default(),
        }
    }

    /// The same context with these backup bounds.
    pub fn with_backups(mut self, backups: crate::guest::backup::BackupSettings) -> Self {
        self.backups = backups;
        self
    }

    /// Records whether the object `uid` has a Proxmox task in flight, and updates the gauge.
    pub fn track_task(&self, uid: &str, in_flight: bool) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight {
            tasks.insert(uid.to_string());
        } else {
            tasks.remove(uid);
        }
        self.metrics
            .set_tasks_in_flight(i64::try_from(tasks.len()).unwrap_or(i64::MAX));
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

/// Consecutive failures per object, for exponential backoff.
#[derive(Default, Clone)]
pub struct Backoff {
    failures: Arc<Mutex<HashMap<String, u32>>>,
}

impl Backoff {
    /// The delay after one more failure of `key`.
    pub fn next(&self, key: &str, (base, max): (Duration, Duration)) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow((*n - 1).min(16));
        base.saturating_mul(factor).min(max)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The step each object last executed and how often in a row, to notice a change that Proxmox
/// accepts but that does not stick (which would otherwise repeat forever).
#[derive(Default, Clone)]
pub struct Repeats {
    last: Arc<Mutex<HashMap<String, Repeated>>>,
}

/// The generation, the step's text and how often it ran in a row.
type Repeated = (i64, String, u32);

impl Repeats {
    /// How often `step` ran in a row for `key` at `generation`, without the guest converging.
    pub fn seen(&self, key: &str, generation: i64, step: &str) -> u32 {
        let map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(g, s, _)| *g == generation && s == step)
            .map_or(0, |(_, _, n)| *n)
    }

    /// Records that `step` ran (successfully) for `key` at `generation`.
    pub fn record(&self, key: &str, generation: i64, step: &str) {
        let n = self.seen(key, generation, step);
        let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), (generation, step.to_string(), n + 1));
    }

    /// Forgets `key` once its guest converged.
    pub fn clear(&self, key: &str) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The step Proxmox last refused for each object (a bad value, a missing permission), so that
/// it is not sent again before its backoff ends, however often the object is reconciled
/// (its own status writes, connection changes and resyncs all trigger reconciles).
#[derive(Default, Clone)]
pub struct Refusals {
    last: Arc<Mutex<HashMap<String, Refused>>>,
}

/// The generation, the step's text and when it may be sent again.
type Refused = (i64, String, Instant);

impl Refusals {
    /// Records that Proxmox refused `step` for `key` at `generation`; hold it back for `delay`.
    pub fn record(&self, key: &str, generation: i64, step: &str, delay: Duration) {
        let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            key.to_string(),
            (generation, step.to_string(), Instant::now() + delay),
        );
    }

    /// How long `step` is still held back for `key` at `generation` (`None`: send it).
    pub fn held_back(&self, key: &str, generation: i64, step: &str) -> Option<Duration> {
        let map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(g, s, _)| *g == generation && s == step)
            .map(|(_, _, until)| until.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Forgets `key` once its guest converged.
    pub fn clear(&self, key: &str) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}
