//! The hybrid logical clock that stamps local writes.
//!
//! A stamp is the wall clock corrected by the server's offset, but never at
//! or behind the last stamp made or seen: a replica with a wrong wall clock
//! neither loses its edits (stamps behind what it has seen) nor wins by
//! accident (stamps hours ahead of everyone else).

use crate::timestamp::Timestamp;

/// A hybrid logical clock. Pure: the wall-clock reading is passed in, so
/// tests and callers decide where time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HybridClock {
    /// The last stamp made or seen.
    last: Timestamp,
    /// The latest stamp seen on others' records.
    seen: Timestamp,
    offset_micros: i64,
}

impl Default for HybridClock {
    fn default() -> Self {
        HybridClock::new(Timestamp::MIN, Timestamp::MIN, 0)
    }
}

/// How far our own stamps may run ahead of the server's clock before they
/// are taken for the work of a wrong wall clock and let go.
const RUN_AHEAD_MICROS: i64 = 60 * 1_000_000;

impl HybridClock {
    /// A clock whose last stamp made or seen is `last`, that has seen
    /// others' stamps up to `seen`, and that corrects the wall clock by
    /// `offset_micros` (server time minus local time).
    pub fn new(last: Timestamp, seen: Timestamp, offset_micros: i64) -> Self {
        HybridClock {
            last: last.max(seen),
            seen,
            offset_micros,
        }
    }

    /// The next stamp for a local write, given the local wall clock now:
    /// strictly after every earlier stamp and every time stamp seen.
    pub fn stamp(&mut self, wall: Timestamp) -> Timestamp {
        let corrected = wall.plus_micros(self.offset_micros);
        self.last = corrected.max(self.last.plus_micros(1));
        self.last
    }

    /// Records a time stamp seen on a pulled or stored record.
    pub fn observe(&mut self, seen: Timestamp) {
        self.seen = self.seen.max(seen);
        self.last = self.last.max(seen);
    }

    /// Records the server's clock: `server` was read while the local wall
    /// clock went from `sent` to `received`; the offset is measured against
    /// the midpoint, which halves the error a slow round trip adds. Stamps
    /// this clock made far ahead of the server's time came from a wrong wall
    /// clock: they are let go (never below anything seen), so that the next
    /// stamp is the corrected time again.
    pub fn observe_server(&mut self, server: Timestamp, sent: Timestamp, received: Timestamp) {
        let local_midpoint = sent.unix_micros() + (received.unix_micros() - sent.unix_micros()) / 2;
        self.offset_micros = server.unix_micros() - local_midpoint;
        if self.last > server.plus_micros(RUN_AHEAD_MICROS) {
            self.last = self.seen.max(server);
        }
        self.observe(server);
    }

    /// The last stamp made or seen.
    pub fn last(&self) -> Timestamp {
        self.last
    }

    /// The latest stamp seen on others' records (or the server's clock).
    pub fn seen(&self) -> Timestamp {
        self.seen
    }

    /// Server time minus local wall time, in microseconds.
    pub fn offset_micros(&self) -> i64 {
        self.offset_micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(seconds * 1_000_000)
    }

    #[test]
    fn stamps_strictly_increase_even_when_the_wall_clock_stands_still() {
        let mut clock = HybridClock::default();
        let first = clock.stamp(at(100));
        let second = clock.stamp(at(100));
        assert!(second > first);
    }

    #[test]
    fn never_stamps_behind_what_was_seen() {
        let mut clock = HybridClock::default();
        clock.observe(at(5_000));
        assert!(clock.stamp(at(100)) > at(5_000));
    }

    #[test]
    fn stamps_made_by_a_wrong_clock_are_let_go_but_never_below_what_was_seen() {
        let mut clock = HybridClock::default();
        clock.observe(at(9_000));
        // the wall clock is two hours fast: the first stamp is far ahead
        let wrong = clock.stamp(at(10_000 + 7_200));
        assert_eq!(wrong, at(10_000 + 7_200));
        clock.observe_server(at(10_000), at(10_000 + 7_200), at(10_000 + 7_200));
        let corrected = clock.stamp(at(10_001 + 7_200));
        assert_eq!(corrected, at(10_001));
        assert!(corrected > at(9_000));
    }

    #[test]
    fn a_fast_clock_is_corrected_by_the_server_offset() {
        let mut clock = HybridClock::default();
        // local wall clock two hours ahead of the server
        let local = at(10_000 + 7_200);
        clock.observe_server(at(10_000), local, local);
        assert_eq!(clock.offset_micros(), -7_200 * 1_000_000);
        let stamp = clock.stamp(at(10_010 + 7_200));
        assert_eq!(stamp, at(10_010));
    }
}
