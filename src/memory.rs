//! What a controller remembers about each object between reconciles, keyed by object UID:
//! its error backoff, the step it repeated without effect, and the step Proxmox refused. Each
//! controller owns its own instances (a guest's in `crate::guest::GuestContext`, a connection's
//! in `crate::connection::ConnectionContext`); nothing here knows a controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Exponential backoff per object: `base`, twice that, and so on up to `max` (no jitter: one
/// object's retries need no spreading, and a predictable delay is what the condition shows).
#[derive(Default, Clone)]
pub struct Backoff {
    failures: Arc<Mutex<HashMap<String, ExponentialBackoff>>>,
}

impl Backoff {
    /// The delay after one more failure of `key`.
    pub fn next(&self, key: &str, (base, max): (Duration, Duration)) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string())
            .or_insert_with(|| {
                ExponentialBuilder::new()
                    .with_min_delay(base)
                    .with_max_delay(max)
                    .with_factor(2.0)
                    .without_max_times()
                    .build()
            })
            .next()
            .unwrap_or(max)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_failure_up_to_the_longest_and_starts_over_after_a_reset() {
        let backoff = Backoff::default();
        let bounds = (Duration::from_secs(5), Duration::from_secs(30));
        let delays: Vec<u64> = (0..5)
            .map(|_| backoff.next("a", bounds).as_secs())
            .collect();
        assert_eq!(delays, [5, 10, 20, 30, 30]);
        assert_eq!(
            backoff.next("b", bounds),
            Duration::from_secs(5),
            "per object"
        );
        backoff.reset("a");
        assert_eq!(backoff.next("a", bounds), Duration::from_secs(5));
    }
}
