//! Times and durations as Docker's clients write and read them: the timestamps of `since` and
//! `until` (events, logs, prune filters), the RFC 3339 times of records, and dockerd's human
//! durations ("About a minute").

use super::{EngineError, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's timestamps: unix seconds with an optional fraction ("1700000000.5",
/// "1700000000.000000001"), as moby's `ParseTimestamps` reads them, or RFC 3339. None for an
/// empty string.
pub fn parse_timestamp(s: &str) -> Result<Option<SystemTime>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || EngineError::invalid_parameter(format!("invalid timestamp: {s:?}"));
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if let Ok(secs) = secs.parse::<i64>() {
        // Nine digits at most; a cut inside a character is no number either.
        let digits = frac.get(..frac.len().min(9)).ok_or_else(bad)?;
        let nanos = if digits.is_empty() {
            0
        } else {
            let n: u32 = digits.parse().map_err(|_| bad())?;
            n * 10u32.pow(9 - digits.len() as u32)
        };
        let secs = secs.max(0) as u64;
        return Ok(Some(UNIX_EPOCH + Duration::new(secs, nanos)));
    }
    humantime::parse_rfc3339_weak(s)
        .map(Some)
        .map_err(|_| bad())
}

/// A `since` or `until` bound of the logs and of prune filters: [`parse_timestamp`]'s time,
/// where 0 (dockerd's "no `until`") and what cannot be read set no bound.
pub fn parse_bound(s: &str) -> Option<SystemTime> {
    parse_timestamp(s)
        .ok()
        .flatten()
        .filter(|t| *t > UNIX_EPOCH)
}

/// `since` or `until` of the logs: [`parse_timestamp`]'s time, 0 (dockerd's "no bound") as
/// none; what cannot be read is an error, not "no bound".
pub fn parse_log_bound(s: &str) -> Result<Option<SystemTime>> {
    Ok(parse_timestamp(s)?.filter(|t| *t > UNIX_EPOCH))
}

/// `--since` and `--until` as the docker CLI reads them (its `GetTimestamp`): a Go duration
/// before `now` ("10m", "1h30m"), or a timestamp. "0" is the timestamp, as there.
pub fn parse_cli_time(s: &str, now: SystemTime) -> Result<Option<SystemTime>> {
    let s = s.trim();
    if s != "0" {
        if let Ok(d) = humantime::parse_duration(s) {
            return Ok(Some(now.checked_sub(d).unwrap_or(UNIX_EPOCH)));
        }
    }
    parse_log_bound(s)
}

/// `until` of the prune filters: a Go duration ago ("24h"), or a timestamp; unix seconds.
pub fn parse_until(s: &str) -> Option<i64> {
    let now = SystemTime::now();
    let t = match humantime::parse_duration(s) {
        Ok(d) => now.checked_sub(d)?,
        Err(_) => parse_bound(s)?,
    };
    Some(unix_secs_of(t))
}

/// An RFC 3339 time of a record (the zone optional).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// Seconds since the epoch of an RFC 3339 time; 0 when it does not parse.
pub fn unix_secs(rfc3339: &str) -> i64 {
    parse_rfc3339(rfc3339).map_or(0, unix_secs_of)
}

/// Unix seconds of a time (0 before the epoch).
pub fn unix_secs_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// How long ago an RFC 3339 time was; None when it is unset or in the future.
pub fn since(rfc3339: &str) -> Option<Duration> {
    SystemTime::now()
        .duration_since(parse_rfc3339(rfc3339)?)
        .ok()
}

/// dockerd's (go-units) HumanDuration.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=4_838_399 => format!("{} weeks", s / 604_800),
        4_838_400..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_bound_that_cannot_be_read_is_an_error() {
        assert!(
            parse_log_bound("garbage").is_err(),
            "garbage read as no bound"
        );
        assert!(
            parse_log_bound("10m").is_err(),
            "the API takes timestamps only"
        );
        assert_eq!(
            parse_log_bound("0").unwrap(),
            None,
            "0 is dockerd's no bound"
        );
        assert_eq!(parse_log_bound("").unwrap(), None);
        assert_eq!(
            parse_log_bound("1700000000.5").unwrap(),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
    }

    #[test]
    fn the_cli_takes_durations_before_now_and_timestamps() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_cli_time("10m", now).unwrap(),
            Some(now - Duration::from_secs(600))
        );
        assert_eq!(
            parse_cli_time("1h30m", now).unwrap(),
            Some(now - Duration::from_secs(5400))
        );
        assert_eq!(parse_cli_time("0", now).unwrap(), None, "0 is a timestamp");
        assert_eq!(
            parse_cli_time("1600000000", now).unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(1_600_000_000))
        );
        assert!(parse_cli_time("soon", now).is_err());
    }

    fn nanos(s: &str) -> u128 {
        parse_timestamp(s)
            .unwrap()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn timestamps_as_moby_reads_them() {
        assert_eq!(nanos("1700000000"), 1_700_000_000_000_000_000);
        assert_eq!(nanos("1700000000.5"), 1_700_000_000_500_000_000);
        assert_eq!(nanos("1700000000.000000001"), 1_700_000_000_000_000_001);
        assert_eq!(nanos("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert!(parse_timestamp("").unwrap().is_none());
        assert!(parse_timestamp("soon").is_err());
    }

    /// Issue 20: a `since` or `until` from a query string is anyone's text; a fraction whose
    /// ninth byte falls inside a character is refused, not sliced there.
    #[test]
    fn a_fraction_of_any_characters_is_refused() {
        for s in ["1.a€€€", "1.12345678€", "1.€€€€"] {
            assert!(
                parse_timestamp(s).is_err(),
                "expected {s:?} refused, got {:?}",
                parse_timestamp(s)
            );
        }
    }

    #[test]
    fn bounds_keep_nanoseconds_and_ignore_zero_and_nonsense() {
        let t = parse_bound("1700000000.000000001").expect("a bound");
        let got = t.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        assert_eq!(got, 1_700_000_000_000_000_001, "the bound's nanoseconds");
        for none in ["", "0", "-5", "soon"] {
            let got = parse_bound(none);
            assert_eq!(
                got, None,
                "the bound of {none:?}: expected none, got {got:?}"
            );
        }
    }

    #[test]
    fn durations_read_as_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
