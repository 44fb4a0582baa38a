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

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
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

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            self.to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true)
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
