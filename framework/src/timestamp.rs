//! [`Timestamp`]: a UTC instant with microsecond precision that prints as
//! RFC 3339 with exactly six fractional digits and round-trips exactly.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Microseconds in one second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// A UTC instant, counted in microseconds since the Unix epoch.
///
/// Printed as `2024-01-01T10:00:00.123456Z` (RFC 3339, UTC, six fractional
/// digits) so that the text form sorts like the instant and survives every
/// store and hop unchanged. Parsing accepts any RFC 3339 offset (converted to
/// UTC), a missing offset (read as UTC, the form Python's naive
/// `datetime.isoformat()` produces) and 0–9 fractional digits, but refuses
/// precision finer than a microsecond, which could not round-trip.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest instant the text form can hold (year 1).
    pub const MIN: Timestamp = Timestamp(-62_135_596_800 * MICROS_PER_SECOND);
    /// The latest instant the text form can hold (end of year 9999).
    pub const MAX: Timestamp = Timestamp(253_402_300_799 * MICROS_PER_SECOND + 999_999);

    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// The current wall-clock time, truncated to the microsecond.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// This instant moved by `micros` microseconds (saturating at the
    /// bounds of the text form).
    pub fn plus_micros(self, micros: i64) -> Self {
        Timestamp(
            self.0
                .saturating_add(micros)
                .clamp(Self::MIN.0, Self::MAX.0),
        )
    }

    /// As a `chrono` UTC date-time (for stores that bind one).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).expect("Timestamp is always within chrono's range")
    }

    /// From a `chrono` UTC date-time; refuses sub-microsecond precision and
    /// instants outside years 1–9999.
    pub fn from_datetime(value: DateTime<Utc>) -> Result<Self, Error> {
        if value.timestamp_subsec_nanos() % 1_000 != 0 {
            return Err(Error::Timestamp {
                input: value.to_rfc3339_opts(SecondsFormat::Nanos, true),
                reason: "more precise than a microsecond",
            });
        }
        let micros = value.timestamp_micros();
        if !(Self::MIN.0..=Self::MAX.0).contains(&micros) {
            return Err(Error::Timestamp {
                input: value.to_rfc3339(),
                reason: "outside years 1 to 9999",
            });
        }
        Ok(Timestamp(micros))
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Reads exactly the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the one
/// every replica prints; anything else is left to the general parser.
fn parse_canonical(input: &str) -> Option<Timestamp> {
    let bytes = input.as_bytes();
    if bytes.len() != 27 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        bytes[range].iter().try_fold(0_i64, |acc, byte| {
            byte.is_ascii_digit()
                .then(|| acc * 10 + i64::from(byte - b'0'))
        })
    };
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if separators.iter().any(|(at, byte)| bytes[*at] != *byte) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second, micros) = (
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
        digits(20..26)?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > month_days[month as usize - 1] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(Timestamp(seconds * MICROS_PER_SECOND + micros))
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        if let Some(ts) = parse_canonical(input) {
            return Ok(ts);
        }
        let parsed = DateTime::parse_from_rfc3339(input)
            .map(|with_offset| with_offset.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|naive| naive.and_utc())
            })
            .map_err(|_| Error::Timestamp {
                input: input.to_owned(),
                reason: "not an RFC 3339 date-time",
            })?;
        Timestamp::from_datetime(parsed).map_err(|error| match error {
            Error::Timestamp { reason, .. } => Error::Timestamp {
                input: input.to_owned(),
                reason,
            },
            other => other,
        })
    }
}

impl Timestamp {
    /// The canonical text of a time in years 0–9999, written digit by digit
    /// (printing stamps is on every push's and pull's path).
    fn canonical_bytes(self) -> Option<[u8; 27]> {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        if !(0..=9999).contains(&year) {
            return None;
        }
        let second_of_day = seconds.rem_euclid(86_400);
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |end: usize, width: usize, value: i64| {
            let mut value = value;
            for slot in out[end - width..end].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(4, 4, year);
        put(7, 2, month);
        put(10, 2, day);
        put(13, 2, second_of_day / 3_600);
        put(16, 2, second_of_day / 60 % 60);
        put(19, 2, second_of_day % 60);
        put(26, 6, self.0.rem_euclid(MICROS_PER_SECOND));
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bytes) = self.canonical_bytes() {
            return f.write_str(std::str::from_utf8(&bytes).expect("digits and ASCII punctuation"));
        }
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let second_of_day = seconds.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            second_of_day / 3_600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp such as 2024-01-01T10:00:00.123456Z")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Timestamp, E> {
                value.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC with exactly six fractional digits",
            "example": "2026-05-15T09:12:44.120031Z"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_six_fractional_digits_in_utc() {
        let ts: Timestamp = "2024-01-01T12:00:00+02:00".parse().unwrap();
        assert_eq!(ts.to_string(), "2024-01-01T10:00:00.000000Z");
        let ts: Timestamp = "2024-01-01T10:00:00.1234Z".parse().unwrap();
        assert_eq!(ts.to_string(), "2024-01-01T10:00:00.123400Z");
    }

    #[test]
    fn reads_python_naive_isoformat_as_utc() {
        let ts: Timestamp = "2026-05-15T09:12:44.120031".parse().unwrap();
        assert_eq!(ts.to_string(), "2026-05-15T09:12:44.120031Z");
    }

    #[test]
    fn refuses_nanoseconds_and_garbage() {
        let error = "2024-01-01T10:00:00.123456789Z"
            .parse::<Timestamp>()
            .unwrap_err();
        assert!(error.to_string().contains("microsecond"), "{error}");
        assert!("yesterday".parse::<Timestamp>().is_err());
        // trailing nanosecond zeros are exact and accepted
        assert!("2024-01-01T10:00:00.123456000Z"
            .parse::<Timestamp>()
            .is_ok());
    }

    #[test]
    fn the_fast_path_agrees_with_chrono() {
        let mut micros = Timestamp::MIN.0;
        // a stride that visits every month, leap days and both sides of 1970
        while micros < Timestamp::MAX.0 {
            let ts = Timestamp(micros);
            let by_chrono = ts
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(ts.to_string(), by_chrono);
            assert_eq!(parse_canonical(&by_chrono), Some(ts));
            micros += 86_399_999_937 * 7 + 13;
        }
        for bad in [
            "2023-02-29T00:00:00.000000Z",
            "2024-13-01T00:00:00.000000Z",
            "2024-01-01T24:00:00.000000Z",
            "2024-01-01 00:00:00.000000Z",
            "0000-01-01T00:00:00.000000Z",
        ] {
            assert_eq!(parse_canonical(bad), None, "{bad}");
        }
        assert!("2024-02-29T23:59:59.999999Z".parse::<Timestamp>().is_ok());
    }

    #[test]
    fn bounds_round_trip() {
        for ts in [
            Timestamp::MIN,
            Timestamp::MAX,
            Timestamp::from_unix_micros(-1),
        ] {
            assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts);
        }
    }
}
