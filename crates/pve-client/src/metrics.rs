//! The metrics hook: every HTTP call the client makes is reported with its operation, method,
//! outcome (`ok` or the error kind), attempt number and duration. Benchmarks count Proxmox calls
//! per guest with [`CallCounters`]; the operator adapts the same trait to Prometheus.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// One HTTP call, as reported to [`Metrics`].
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Operation name, e.g. `qemu_start`, `cluster_resources`, `login`.
    pub op: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// `ok`, or [`crate::Error::kind`].
    pub outcome: &'static str,
    /// 0 for the first attempt, then 1, 2, ... for retries.
    pub attempt: u32,
    /// Time from send to answer (or failure).
    pub duration: Duration,
}

/// Receives a record for every HTTP call. Must be cheap: it runs on the request path.
pub trait Metrics: Send + Sync {
    /// Record one call.
    fn record(&self, call: &CallRecord);
}

/// Counts calls by (operation, outcome).
#[derive(Debug, Default)]
pub struct CallCounters {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl CallCounters {
    /// Every (operation, outcome) with its count.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls of `op` with `outcome`.
    pub fn get(&self, op: &str, outcome: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((o, r), _)| *o == op && *r == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// All calls counted.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

impl Metrics for CallCounters {
    fn record(&self, call: &CallRecord) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((call.op, call.outcome)).or_default() += 1;
        }
    }
}
