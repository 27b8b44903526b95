//! The pure part of snapshot schedules: parsing the cron expression and time zone, when a run
//! is due (once for any number of missed slots), the names of the snapshots a run creates, and
//! which snapshots retention prunes, and checking the guest selector. No I/O and no clock: `now`
//! is always an argument.

use std::time::Duration;

use croner::Cron;
use croner::parser::CronParser;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Selector;
use kubepve_api::Retention;
use kubepve_api::SnapshotPhase;
use kubepve_api::snapshot::SNAPSHOT_NAME_MAX;

/// Why a schedule cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("schedule {expr:?} is not a 5-field cron expression: {reason}")]
    Cron {
        /// The expression.
        expr: String,
        /// What the parser said.
        reason: String,
    },
    /// The time zone is not an IANA name.
    #[error("timeZone {0:?} is not an IANA time zone name (such as Europe/Berlin)")]
    TimeZone(String),
    /// maxAge does not parse.
    #[error("retention.maxAge {0:?} is not a duration such as 30m, 12h, 7d or 2w")]
    MaxAge(String),
    /// A guestSelector matchExpressions entry is not valid.
    #[error("guestSelector.{0}")]
    Selector(kubepve_api::selector::SelectorError),
}

impl ScheduleError {
    /// The condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Selector(_) => "InvalidSelector",
            _ => "InvalidSchedule",
        }
    }
}

/// The label selector a guestSelector stands for, checked as the kube-apiserver checks one
/// ([`kubepve_api::selector::checked`]).
pub fn selector(selector: &LabelSelector) -> Result<Selector, ScheduleError> {
    kubepve_api::selector::checked(selector).map_err(ScheduleError::Selector)
}

/// A parsed schedule: when, and in which time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    tz: TimeZone,
}

impl Schedule {
    /// Parses a standard 5-field expression in `time_zone` (UTC when `None`).
    pub fn parse(expr: &str, time_zone: Option<&str>) -> Result<Self, ScheduleError> {
        if expr.split_whitespace().count() != 5 {
            return Err(ScheduleError::Cron {
                expr: expr.into(),
                reason: "it needs exactly 5 fields: minute hour day-of-month month day-of-week"
                    .into(),
            });
        }
        let cron = CronParser::new()
            .parse(expr)
            .map_err(|e| ScheduleError::Cron {
                expr: expr.into(),
                reason: e.to_string(),
            })?;
        let tz = match time_zone {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.into()))?,
        };
        Ok(Self { cron, tz })
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_next_occurrence(&t.to_zoned(self.tz.clone()), false)
            .ok()
            .map(|z: Zoned| z.timestamp())
    }

    /// The latest slot at or before `now`.
    pub fn last_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_previous_occurrence(&now.to_zoned(self.tz.clone()), true)
            .ok()
            .map(|z: Zoned| z.timestamp())
    }

    /// The slot to run now, if any: the latest slot in `(since, now]`, where `since` is the
    /// last run (or the schedule's creation). Many missed slots (operator down) give one run,
    /// for the latest of them.
    pub fn due(&self, since: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let next = self.next_after(since)?;
        if next > now {
            return None;
        }
        self.last_at_or_before(now).filter(|slot| *slot > since)
    }
}

/// Parses `7d`, `12h`, `30m`, `2w`.
pub fn parse_max_age(text: &str) -> Result<Duration, ScheduleError> {
    crate::duration::parse(text, jiff::Unit::Week).ok_or_else(|| ScheduleError::MaxAge(text.into()))
}

/// The UTC stamp in snapshot names: `20261102t0300` (lowercase, as object names must be).
fn stamp(slot: Timestamp) -> String {
    slot.strftime("%Y%m%dt%H%M").to_string()
}

/// The ProxmoxSnapshot object name for `guest` at `slot` (a DNS-1123 subdomain, at most 253
/// characters). The same inputs give the same name, so a run repeated after a restart finds
/// the objects it created instead of creating more.
pub fn object_name(schedule: &str, guest: &str, slot: Timestamp) -> String {
    let tail = format!("-{}", stamp(slot));
    let room = 253 - tail.len();
    let mut head = format!("{schedule}-{guest}");
    head.truncate(room);
    let head = head.trim_end_matches(['-', '.']);
    format!("{head}{tail}")
}

/// The Proxmox snapshot name for a run at `slot`: letters, digits, `_` and `-`, a letter
/// first, at most 40 characters, ending in the stamp.
pub fn proxmox_name(schedule: &str, slot: Timestamp) -> String {
    let tail = format!("-{}", stamp(slot));
    let mut head: String = schedule
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !head.starts_with(|c: char| c.is_ascii_alphabetic()) {
        head.insert(0, 's');
    }
    head.truncate(SNAPSHOT_NAME_MAX - tail.len());
    format!("{head}{tail}")
}

/// One snapshot a schedule owns, as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    /// Object name.
    pub name: String,
    /// The guest object it is of.
    pub guest: String,
    /// When its run was (the object's creation).
    pub created: Timestamp,
    /// Where it stands.
    pub state: OwnedState,
    /// Already being deleted.
    pub deleting: bool,
}

/// Where one owned snapshot stands, as the schedule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnedState {
    /// Pending or Creating: a run skips its guest until it settles.
    InFlight,
    /// Ready in Proxmox: counts toward retention.
    Ready,
    /// Failed (a failed task, SnapshotLost, Conflict): it never becomes ready, so it does not
    /// hold up the guest's runs or count toward keepLast, and retention deletes it.
    Failed,
}

impl OwnedState {
    /// The state of a snapshot with status `phase` and `readyToUse` (no status yet: in flight).
    pub fn of(phase: Option<SnapshotPhase>, ready_to_use: Option<bool>) -> Self {
        match phase {
            Some(SnapshotPhase::Failed) => Self::Failed,
            _ if ready_to_use == Some(true) => Self::Ready,
            _ => Self::InFlight,
        }
    }
}

/// Whether a run must skip `guest`: one of its snapshots from this schedule is still in flight.
pub fn busy(owned: &[Owned], guest: &str) -> bool {
    owned
        .iter()
        .any(|o| o.guest == guest && o.state == OwnedState::InFlight && !o.deleting)
}

/// The snapshots retention deletes: per guest, the ready ones beyond the newest `keepLast`,
/// the ready ones older than `maxAge`, and every failed one. Snapshots still being taken are
/// never pruned.
pub fn prune(
    owned: &[Owned],
    retention: &Retention,
    max_age: Option<Duration>,
    now: Timestamp,
) -> Vec<String> {
    let mut guests: Vec<&str> = owned.iter().map(|o| o.guest.as_str()).collect();
    guests.sort_unstable();
    guests.dedup();
    let mut out = Vec::new();
    for guest in guests {
        let mut ready: Vec<&Owned> = owned
            .iter()
            .filter(|o| o.guest == guest && o.state == OwnedState::Ready && !o.deleting)
            .collect();
        ready.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
        let keep = retention
            .keep_last
            .and_then(|k| usize::try_from(k).ok())
            .unwrap_or(usize::MAX);
        for (i, o) in ready.iter().enumerate() {
            let too_many = i >= keep;
            let too_old = max_age.is_some_and(|age| {
                let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
                now.as_second().saturating_sub(o.created.as_second()) > age
            });
            if too_many || too_old {
                out.push(o.name.clone());
            }
        }
    }
    out.extend(
        owned
            .iter()
            .filter(|o| o.state == OwnedState::Failed && !o.deleting)
            .map(|o| o.name.clone()),
    );
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn next_runs_in_utc_and_in_a_zone() {
        let s = Schedule::parse("0 3 * * *", None).unwrap();
        assert_eq!(
            s.next_after(at("2026-11-01T10:00:00Z")),
            Some(at("2026-11-02T03:00:00Z"))
        );
        let berlin = Schedule::parse("0 3 * * *", Some("Europe/Berlin")).unwrap();
        // 03:00 in Berlin in November (CET, UTC+1) is 02:00 UTC.
        assert_eq!(
            berlin.next_after(at("2026-11-01T10:00:00Z")),
            Some(at("2026-11-02T02:00:00Z"))
        );
        let every = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(
            every.next_after(at("2026-11-01T10:07:00Z")),
            Some(at("2026-11-01T10:15:00Z"))
        );
    }

    #[test]
    fn daylight_saving_time_in_both_directions() {
        // Spring forward: 2026-03-29 02:00 does not exist in Berlin; a 02:30 job runs right
        // after the gap, at 03:00 CEST = 01:00 UTC, once.
        let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // Fall back: 2026-10-25 02:30 happens twice; the job runs once, at the first (CEST,
        // 00:30 UTC), and next on the following day (CET, 01:30 UTC).
        let first = s.next_after(at("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, at("2026-10-25T00:30:00Z"));
        assert_eq!(s.next_after(first), Some(at("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn missed_runs_give_one_run_for_the_latest_slot() {
        let s = Schedule::parse("0 * * * *", None).unwrap();
        let since = at("2026-11-01T01:00:00Z");
        // Down for five hours: one run, for 06:00.
        assert_eq!(
            s.due(since, at("2026-11-01T06:20:00Z")),
            Some(at("2026-11-01T06:00:00Z"))
        );
        // After that run nothing more is due until 07:00.
        let last = at("2026-11-01T06:00:00Z");
        assert_eq!(s.due(last, at("2026-11-01T06:59:59Z")), None);
        assert_eq!(
            s.due(last, at("2026-11-01T07:00:00Z")),
            Some(at("2026-11-01T07:00:00Z"))
        );
        // A new schedule does not run for slots before it existed.
        assert_eq!(
            s.due(at("2026-11-01T06:30:00Z"), at("2026-11-01T06:40:00Z")),
            None
        );
    }

    #[test]
    fn bad_expressions_and_zones_say_what_to_fix() {
        let e = Schedule::parse("61 * * * *", None).unwrap_err();
        assert!(
            e.to_string().contains("not a 5-field cron expression"),
            "{e}"
        );
        let e = Schedule::parse("0 3 * * * *", None).unwrap_err();
        assert!(e.to_string().contains("exactly 5 fields"), "{e}");
        let e = Schedule::parse("0 3 * * *", Some("Mars/Olympus")).unwrap_err();
        assert_eq!(e, ScheduleError::TimeZone("Mars/Olympus".into()));
        assert_eq!(parse_max_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_max_age("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse_max_age("7y").is_err());
    }

    fn requirement(operator: &str, values: Option<&[&str]>) -> LabelSelector {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: operator.into(),
                values: values.map(|v| v.iter().map(|s| (*s).to_string()).collect()),
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn selectors_are_checked_like_the_apiserver_does() {
        assert_eq!(
            selector(&requirement("In", Some(&["db"])))
                .unwrap()
                .to_string(),
            "tier in (db)"
        );
        assert!(selector(&requirement("Exists", None)).is_ok());
        for (op, values, says) in [
            ("In", Some(&[][..]), "needs at least one value"),
            ("NotIn", None, "needs at least one value"),
            ("Exists", Some(&["db"][..]), "takes no values"),
            ("DoesNotExist", Some(&["db"][..]), "takes no values"),
            (
                "Equals",
                None,
                "is not one of In, NotIn, Exists, DoesNotExist",
            ),
        ] {
            let e = selector(&requirement(op, values)).unwrap_err();
            assert_eq!(e.reason(), "InvalidSelector");
            assert!(e.to_string().contains(says), "{op}: {e}");
        }
    }

    #[test]
    fn names_are_valid_and_deterministic() {
        let slot = at("2026-11-02T03:00:00Z");
        assert_eq!(
            object_name("nightly", "web", slot),
            "nightly-web-20261102t0300"
        );
        assert_eq!(proxmox_name("nightly", slot), "nightly-20261102t0300");
        let p = proxmox_name("1.very.long.schedule.name.that.goes.on.and.on", slot);
        assert!(p.len() <= 40, "{p}");
        assert!(p.starts_with('s') && p.ends_with("-20261102t0300"), "{p}");
        assert!(
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let long = object_name(&"a".repeat(200), &"b".repeat(200), slot);
        assert!(long.len() <= 253 && long.ends_with("-20261102t0300"));
    }

    fn owned(name: &str, guest: &str, minute: i64, ready: bool) -> Owned {
        let state = if ready {
            OwnedState::Ready
        } else {
            OwnedState::InFlight
        };
        Owned {
            name: name.into(),
            guest: guest.into(),
            created: Timestamp::from_second(1_800_000_000 + minute * 60).unwrap(),
            state,
            deleting: false,
        }
    }

    #[test]
    fn failed_snapshots_are_pruned_and_do_not_hold_up_the_guest() {
        let mut failed = owned("web-4", "web", 4, false);
        failed.state = OwnedState::of(Some(SnapshotPhase::Failed), Some(false));
        let list = vec![
            owned("web-1", "web", 1, true),
            owned("web-2", "web", 2, true),
            owned("web-3", "web", 3, true),
            failed,
        ];
        assert!(!busy(&list, "web"));
        let keep3 = Retention {
            keep_last: Some(3),
            max_age: None,
        };
        let now = Timestamp::from_second(1_800_000_000 + 600).unwrap();
        // The failed one goes; it does not push a ready one out of keepLast.
        assert_eq!(prune(&list, &keep3, None, now), ["web-4"]);
        let mut taking = list.clone();
        taking.push(owned("web-5", "web", 5, false));
        assert!(busy(&taking, "web"));
        assert_eq!(OwnedState::of(None, None), OwnedState::InFlight);
        assert_eq!(
            OwnedState::of(Some(SnapshotPhase::Creating), Some(false)),
            OwnedState::InFlight
        );
    }

    #[test]
    fn retention_keeps_the_newest_per_guest_and_never_prunes_unfinished_ones() {
        let list = vec![
            owned("web-1", "web", 1, true),
            owned("web-2", "web", 2, true),
            owned("web-3", "web", 3, true),
            owned("web-4", "web", 4, true),
            owned("web-5", "web", 5, false),
            owned("db-1", "db", 1, true),
        ];
        let keep3 = Retention {
            keep_last: Some(3),
            max_age: None,
        };
        let now = Timestamp::from_second(1_800_000_000 + 600).unwrap();
        assert_eq!(prune(&list, &keep3, None, now), ["web-1"]);
        let by_age = Retention {
            keep_last: None,
            max_age: Some("3m".into()),
        };
        // Older than 3 minutes at minute 10: those of minutes 1..6.
        assert_eq!(
            prune(&list, &by_age, Some(Duration::from_secs(180)), now),
            ["db-1", "web-1", "web-2", "web-3", "web-4"]
        );
    }
}
