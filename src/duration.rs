//! Durations people write in flags and specs (`7d`, `36h`, `1h30m`, `2w`, or ISO 8601 `PT90M`):
//! one parser for `--backup-retention`, `--full-resync-interval` and a snapshot schedule's
//! `retention.maxAge`, on jiff's friendly format. Days count as 24 hours and weeks as 7 days (a
//! retention is a length of time, not a calendar date); months and years, which have no fixed
//! length, are refused, and each caller says the largest unit it takes.

use std::time::Duration;

use jiff::{Span, SpanRelativeTo, Unit};

/// `text` as a duration, if it is one with no unit larger than `largest` (at most weeks) and
/// not negative.
pub fn parse(text: &str, largest: Unit) -> Option<Duration> {
    let span: Span = text.trim().parse().ok()?;
    let units = [
        (Unit::Year, i64::from(span.get_years())),
        (Unit::Month, i64::from(span.get_months())),
        (Unit::Week, i64::from(span.get_weeks())),
        (Unit::Day, i64::from(span.get_days())),
    ];
    let too_large = units
        .iter()
        .any(|(unit, n)| *n != 0 && (*unit > largest || *unit > Unit::Week));
    if too_large || span.is_negative() {
        return None;
    }
    let exact = span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()?;
    Duration::try_from(exact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_and_iso_durations_parse_with_days_of_24_hours() {
        assert_eq!(parse("7d", Unit::Day), Some(Duration::from_secs(604_800)));
        assert_eq!(parse("1h30m", Unit::Day), Some(Duration::from_secs(5400)));
        assert_eq!(parse("PT90M", Unit::Hour), Some(Duration::from_secs(5400)));
        assert_eq!(
            parse("2w", Unit::Week),
            Some(Duration::from_secs(1_209_600))
        );
    }

    #[test]
    fn units_beyond_the_largest_calendar_units_and_negatives_are_refused() {
        assert_eq!(parse("1w", Unit::Day), None);
        assert_eq!(parse("2d", Unit::Hour), None);
        assert_eq!(parse("1mo", Unit::Week), None);
        assert_eq!(parse("7y", Unit::Week), None);
        assert_eq!(parse("-5m", Unit::Day), None);
        assert_eq!(parse("soon", Unit::Day), None);
    }
}
