//! Prometheus metrics of the operator: reconciles, failures by error label, reconcile durations,
//! Proxmox calls by operation and outcome (fed by the client's metrics hook), and Proxmox tasks
//! in flight. Served as OpenMetrics text on `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-kind reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// ProxmoxVM, ProxmoxContainer or ProxmoxConnection.
    pub kind: String,
}

/// Labels of reconcile failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind reconciled.
    pub kind: String,
    /// A short, bounded error label (the variant of the reconcile error).
    pub error: String,
}

/// Labels of Proxmox API calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The client's operation name, such as `qemu_start` or `cluster_resources`.
    pub operation: String,
    /// `ok` or the error class.
    pub outcome: String,
}

/// Every metric the operator exports.
#[derive(Clone)]
pub struct Metrics {
    reconciles: Family<KindLabels, Counter>,
    failures: Family<ErrorLabels, Counter>,
    durations: Family<KindLabels, Histogram>,
    pve_calls: Family<CallLabels, Counter>,
    tasks_in_flight: Gauge,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the metrics in a fresh registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubepve");
        let reconciles = Family::<KindLabels, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let durations = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let pve_calls = Family::<CallLabels, Counter>::default();
        let tasks_in_flight = Gauge::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, by error",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            durations.clone(),
        );
        registry.register(
            "pve_requests",
            "Proxmox API requests by operation and outcome",
            pve_calls.clone(),
        );
        registry.register(
            "pve_tasks_in_flight",
            "Proxmox tasks started by the operator and not yet seen to end",
            tasks_in_flight.clone(),
        );
        Self {
            reconciles,
            failures,
            durations,
            pve_calls,
            tasks_in_flight,
            registry: Arc::new(registry),
        }
    }

    /// Counts one reconcile of `kind` and how long it took.
    pub fn reconciled(&self, kind: &str, took: Duration) {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts one failed reconcile.
    pub fn failed(&self, kind: &str, error: &str) {
        self.failures
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
                error: error.to_string(),
            })
            .inc();
    }

    /// Sets the number of Proxmox tasks in flight.
    pub fn set_tasks_in_flight(&self, n: i64) {
        self.tasks_in_flight.set(n);
    }

    /// Proxmox requests counted so far with this operation and outcome.
    pub fn pve_calls(&self, operation: &str, outcome: &str) -> u64 {
        self.pve_calls
            .get_or_create(&CallLabels {
                operation: operation.into(),
                outcome: outcome.into(),
            })
            .get()
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl pve_client::Metrics for Metrics {
    fn record(&self, call: &pve_client::CallRecord) {
        self.pve_calls
            .get_or_create(&CallLabels {
                operation: call.op.to_string(),
                outcome: call.outcome.to_string(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_reconciles_failures_and_proxmox_calls() {
        let m = Metrics::new();
        m.reconciled("ProxmoxVM", Duration::from_millis(30));
        m.failed("ProxmoxVM", "Proxmox");
        pve_client::Metrics::record(
            &m,
            &pve_client::CallRecord {
                op: "qemu_start",
                method: "POST",
                outcome: "ok",
                attempt: 0,
                duration: Duration::from_millis(5),
            },
        );
        m.set_tasks_in_flight(2);
        let text = m.encode();
        assert!(
            text.contains(r#"kubepve_reconciles_total{kind="ProxmoxVM"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"kubepve_reconcile_failures_total{kind="ProxmoxVM",error="Proxmox"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"kubepve_pve_requests_total{operation="qemu_start",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains("kubepve_pve_tasks_in_flight 2"), "{text}");
        assert!(
            text.contains("kubepve_reconcile_duration_seconds_count"),
            "{text}"
        );
        assert_eq!(m.pve_calls("qemu_start", "ok"), 1);
    }
}
