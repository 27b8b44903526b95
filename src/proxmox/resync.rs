//! The pace of the full resync: how often every managed guest's config and pending changes are
//! read again although `/cluster/resources` shows no change, and how fast one connection may
//! be read for that.
//!
//! `/cluster/resources` (the fast path, one read per connection per poll interval) never shows
//! pending values and most settings (bridges, disk options), so a change made behind the
//! operator's back would never be noticed without this slow path. Each guest's next full read
//! is due at a jittered time within [`ResyncSettings::interval`] after its last read (kept with
//! its observation: one instant per guest), and each connection's [`Pacer`] hands out read
//! slots at least [`ResyncSettings::gap`] apart, so that the slow path costs at most
//! `reads_per_second` config reads per connection however many guests there are, and a
//! restarted operator spreads its first reads of settled guests the same way. With more guests
//! than `interval * reads_per_second` on one connection, one round takes longer than the
//! interval: the rate limit wins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The operator's full-resync settings (`--full-resync-interval`,
/// `--full-resync-reads-per-second`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResyncSettings {
    /// Every guest is read in full again within this interval after its last read (rate
    /// permitting).
    pub interval: Duration,
    /// Most full reads (config plus pending changes) per second per connection.
    pub reads_per_second: f64,
}

impl Default for ResyncSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            reads_per_second: 1.0,
        }
    }
}

impl ResyncSettings {
    /// The least time between two paced reads on one connection.
    pub fn gap(&self) -> Duration {
        if self.reads_per_second > 0.0 && self.reads_per_second.is_finite() {
            Duration::from_secs_f64(1.0 / self.reads_per_second)
        } else {
            Duration::MAX
        }
    }

    /// The mean time between two full reads of one guest, rate permitting (see
    /// [`ResyncSettings::next_due`]).
    pub fn mean_interval(&self) -> Duration {
        self.interval.mul_f64(0.75)
    }

    /// Full reads per second one connection makes for `guests` guests in the long run: one per
    /// guest per mean interval, at most the rate limit.
    pub fn long_run_reads(&self, guests: usize) -> f64 {
        let wanted = guests as f64 / self.mean_interval().as_secs_f64().max(1e-9);
        wanted.min(self.reads_per_second)
    }

    /// When the next full read of a guest read at `now` is due: uniform in the second half of
    /// the interval, so that guests read together (at start, after a node came back) do not
    /// come due together again.
    pub fn next_due(&self, now: Instant) -> Instant {
        now + self.jittered()
    }

    /// A wait uniform in the second half of the interval (for periodic checks that should not
    /// come due together, such as the drift check of a Ready snapshot).
    pub fn jittered(&self) -> Duration {
        self.interval.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// How long a slot stays reserved for a guest that does not come back for it (its object was
/// deleted, or it was read for another reason meanwhile).
const STALE: Duration = Duration::from_secs(900);

/// One connection's read slots for paced reads. It holds the next free slot and at most one
/// reserved slot per waiting guest.
#[derive(Debug, Default)]
pub struct Pacer {
    state: Mutex<PacerState>,
}

#[derive(Debug, Default)]
struct PacerState {
    next_free: Option<Instant>,
    reserved: HashMap<String, Instant>,
}

impl Pacer {
    /// Whether the guest of object `uid` may be read now (`Ok`), or how long until its slot.
    /// A guest that must wait keeps its slot: asking again before it comes is not a new turn.
    pub fn admit(&self, uid: &str, gap: Duration) -> Result<(), Duration> {
        self.admit_at(uid, gap, Instant::now())
    }

    fn admit_at(&self, uid: &str, gap: Duration, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .reserved
            .retain(|_, at| now.saturating_duration_since(*at) < STALE);
        if let Some(at) = state.reserved.get(uid).copied() {
            if at <= now {
                state.reserved.remove(uid);
                return Ok(());
            }
            return Err(at - now);
        }
        let slot = state.next_free.map_or(now, |free| free.max(now));
        state.next_free = Some(slot.checked_add(gap).unwrap_or(slot + STALE));
        if slot <= now {
            return Ok(());
        }
        state.reserved.insert(uid.to_string(), slot);
        Err(slot - now)
    }

    /// Gives up the object's reserved slot (it was read for another reason, or it is gone).
    pub fn forget(&self, uid: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.reserved.remove(uid);
    }

    /// How many guests wait for a slot.
    pub fn waiting(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.reserved.len()
    }
}

/// Parses an interval such as `10m`, `90s` or `1h30m` (jiff's friendly format, or ISO 8601).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = crate::duration::parse(text, jiff::Unit::Day)
        .ok_or_else(|| format!("{text:?} is not an interval like 10m, 90s or 1h30m"))?;
    if interval.is_zero() {
        return Err(format!("{text:?}: the interval must be longer than zero"));
    }
    Ok(interval)
}

/// Parses a rate of reads per second: a positive number (`0.5` is one read every 2 seconds).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: give a positive number of reads per second, such as 1 or 0.5"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_secs(1);

    #[test]
    fn jittered_waits_fall_in_the_second_half_of_the_interval() {
        let settings = ResyncSettings::default();
        for _ in 0..200 {
            let wait = settings.jittered();
            assert!(
                wait >= settings.interval / 2 && wait <= settings.interval,
                "{wait:?}"
            );
        }
    }

    #[test]
    fn slots_are_one_gap_apart_and_kept_while_waiting() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(pacer.admit_at("a", GAP, t0), Ok(()));
        assert_eq!(pacer.admit_at("b", GAP, t0), Err(GAP));
        assert_eq!(pacer.admit_at("c", GAP, t0), Err(2 * GAP));
        // Asking again is not a new turn: b keeps its slot, c keeps its place behind it.
        assert_eq!(pacer.admit_at("b", GAP, t0 + GAP / 2), Err(GAP / 2));
        assert_eq!(pacer.admit_at("b", GAP, t0 + GAP), Ok(()));
        assert_eq!(pacer.admit_at("c", GAP, t0 + GAP), Err(GAP));
        assert_eq!(pacer.waiting(), 1);
        assert_eq!(pacer.admit_at("c", GAP, t0 + 2 * GAP), Ok(()));
        assert_eq!(pacer.waiting(), 0);
        // An idle connection reads at once again.
        assert_eq!(pacer.admit_at("a", GAP, t0 + 10 * GAP), Ok(()));
    }

    #[test]
    fn a_thousand_guests_at_once_are_spread_at_the_rate() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..1000)
            .map(|i| match pacer.admit_at(&i.to_string(), GAP, t0) {
                Ok(()) => Duration::ZERO,
                Err(wait) => wait,
            })
            .collect();
        assert_eq!(waits.iter().filter(|w| w.is_zero()).count(), 1);
        assert_eq!(waits[999], 999 * GAP);
        // Never two reads within one gap.
        assert!(waits.windows(2).all(|w| w[1] - w[0] == GAP));
    }

    #[test]
    fn abandoned_and_forgotten_slots_are_dropped() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let _ = pacer.admit_at("a", GAP, t0);
        let _ = pacer.admit_at("gone", GAP, t0);
        let _ = pacer.admit_at("read", GAP, t0);
        pacer.forget("read");
        assert_eq!(pacer.waiting(), 1);
        let _ = pacer.admit_at("x", GAP, t0 + STALE + 2 * GAP);
        assert_eq!(pacer.waiting(), 0, "the slot nobody came for is gone");
    }

    #[test]
    fn the_next_read_is_due_in_the_second_half_of_the_interval() {
        let settings = ResyncSettings::default();
        let now = Instant::now();
        for _ in 0..200 {
            let due = settings.next_due(now) - now;
            assert!(
                due >= settings.interval / 2 && due <= settings.interval,
                "{due:?}"
            );
        }
        assert_eq!(settings.gap(), Duration::from_secs(1));
        // 100 guests: one read every 4.5 s; 1000 guests: the rate limit, one a second.
        assert!((settings.long_run_reads(100) - 100.0 / 450.0).abs() < 1e-9);
        assert_eq!(settings.long_run_reads(1000), 1.0);
    }

    #[test]
    fn intervals_and_rates_parse_or_say_what_to_write() {
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_interval("soon").unwrap_err().contains("10m"));
        assert!(
            parse_interval("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("0").unwrap_err().contains("positive"));
        assert!(parse_rate("fast").is_err());
    }
}
