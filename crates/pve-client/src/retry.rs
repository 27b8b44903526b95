//! The retry policy: how often and how long to wait before repeating a call that failed in a
//! way that may pass later. Reads (GET) retry transient failures; writes retry only failures
//! that prove nothing was done (never sent, config lock wait timed out). Full jitter keeps
//! many reconcilers from retrying in step.

use std::time::Duration;

/// Retries with capped exponential backoff and full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retries off).
    pub max_retries: u32,
    /// Upper bound of the first wait.
    pub base_delay: Duration,
    /// Largest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `attempt` (0-based): uniform in `[0, min(max, base*2^n)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=millis))
    }
}
