//! Times in server lines: UTC, to the second, written as RFC 3339 (`2026-12-01T18:43:05Z`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    seconds: i64,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    // Both are small and positive by construction.
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl UtcTime {
    /// The moment `seconds` after 1970-01-01T00:00:00Z.
    pub const fn from_unix(seconds: i64) -> UtcTime {
        UtcTime { seconds }
    }

    /// A system time, to the second (earlier than 1970 counts as 1970).
    pub fn from_system(time: SystemTime) -> UtcTime {
        let seconds = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        UtcTime::from_unix(i64::try_from(seconds).unwrap_or(i64::MAX))
    }

    /// Now.
    pub fn now() -> UtcTime {
        UtcTime::from_system(SystemTime::now())
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub const fn unix(self) -> i64 {
        self.seconds
    }

    /// As a system time.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(self.seconds).unwrap_or(0))
    }

    /// Reads `YYYY-MM-DDTHH:MM:SSZ` at the start of `text`; returns the time and the rest.
    pub fn parse_prefix(text: &str) -> Option<(UtcTime, &str)> {
        let stamp = text.get(..20)?;
        let bytes = stamp.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = stamp.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let separators = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ];
        if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(i64::from(year), month, day);
        let seconds =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some((UtcTime { seconds }, &text[20..]))
    }

    /// Reads exactly `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(text: &str) -> Option<UtcTime> {
        match UtcTime::parse_prefix(text)? {
            (time, "") => Some(time),
            _ => None,
        }
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.seconds.div_euclid(86_400));
        let second_of_day = self.seconds.rem_euclid(86_400);
        let (hour, minute, second) = (
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60,
        );
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
        )
    }
}

/// How long ago something was, as people say it: `just now`, `5 minutes ago`,
/// `3 hours ago`, `2 days ago`.
pub fn ago(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    let (amount, unit) = match seconds {
        0..60 => return "just now".to_string(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moments_are_written_in_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_796_150_585, "2026-12-01T18:43:05Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
        ];
        for (seconds, text) in cases {
            let time = UtcTime::from_unix(seconds);
            assert_eq!(time.to_string(), text);
            assert_eq!(UtcTime::parse(text), Some(time), "{text}");
        }
    }

    #[test]
    fn every_day_over_centuries_reads_back() {
        for days in (-800_000..800_000).step_by(997) {
            let time = UtcTime::from_unix(days * 86_400 + 45_296);
            let written = time.to_string();
            if written.starts_with('-') || written.len() != 20 {
                continue;
            }
            assert_eq!(UtcTime::parse(&written), Some(time), "{written}");
        }
    }

    #[test]
    fn bad_times_are_refused() {
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01 18:43:05Z",
            "2026-12-01T18:43:05",
            "2026-12-01T18:43:05+01:00",
            "２026-12-01T18:43:05Z",
        ] {
            assert_eq!(UtcTime::parse(bad), None, "{bad}");
        }
        assert_eq!(
            UtcTime::parse_prefix("2026-12-01T18:43:05Z alice: hi").map(|(_, rest)| rest),
            Some(" alice: hi")
        );
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(Duration::from_secs(5)), "just now");
        assert_eq!(ago(Duration::from_secs(60)), "1 minute ago");
        assert_eq!(ago(Duration::from_secs(3 * 3600 + 5)), "3 hours ago");
        assert_eq!(ago(Duration::from_secs(2 * 86_400)), "2 days ago");
    }
}
