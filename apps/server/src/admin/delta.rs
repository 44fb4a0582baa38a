//! Only what changed: the control room's page asks for the overview
//! `since` the version it holds and gets the pens whose rows changed and
//! the pens gone since, not all 7,000 rows every few seconds. One snapshot
//! is shared by every open page and taken again at most once a second.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::Hasher;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use super::overview::{Overview, PenRow, StationRow, Thresholds};
use jcselect_sync::Timestamp;

/// How long a snapshot serves every page before it is taken again.
pub const SNAPSHOT_KEPT: Duration = Duration::from_secs(1);

/// The overview as taken at one generation, with when each pen's row last
/// changed.
#[derive(Debug)]
pub struct Snapshot {
    /// This server process's snapshots: a version of another process (a
    /// restarted server) gets everything again.
    epoch: Uuid,
    generation: u64,
    taken: Instant,
    /// The overview itself.
    pub overview: Overview,
    /// Per pen: a fingerprint of its row and the generation it last changed.
    rows: HashMap<Uuid, (u64, u64)>,
    /// Pens gone, with the generation they went.
    removed: HashMap<Uuid, u64>,
}

/// What the page gets: everything (`full`), or the rows changed since the
/// version it sent.
#[derive(Debug, Serialize)]
pub struct Delta<'s> {
    /// The version to send back as `since` next time.
    pub version: String,
    /// Whether `pens` is every pen (the page replaces what it holds) or
    /// only the changed ones.
    pub full: bool,
    /// When the overview was read.
    pub generated_at: Timestamp,
    /// The thresholds it was judged by.
    pub thresholds: Thresholds,
    /// Every pen, or those whose row changed, by town and label.
    pub pens: Vec<&'s PenRow>,
    /// Pens gone since (deleted), when not `full`.
    pub removed: Vec<Uuid>,
    /// The centre's stations (always all: a handful).
    pub centre: &'s [StationRow],
}

/// Feeds what is written to it to a hasher.
struct HashWriter(DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A hash of the row's JSON, as the page would get it (so that any field
/// that changes what the page shows changes it), made without holding
/// the text.
fn fingerprint(row: &PenRow) -> u64 {
    let mut writer = HashWriter(DefaultHasher::new());
    serde_json::to_writer(&mut writer, row).expect("a pen's row serialises");
    writer.0.finish()
}

impl Snapshot {
    /// The first snapshot of this process.
    pub fn first(overview: Overview) -> Self {
        let mut snapshot = Snapshot {
            epoch: Uuid::new_v4(),
            generation: 0,
            taken: Instant::now(),
            overview: Overview {
                pens: Vec::new(),
                centre: Vec::new(),
                ..overview
            },
            rows: HashMap::new(),
            removed: HashMap::new(),
        };
        snapshot.advance(overview);
        snapshot
    }

    /// Whether it is young enough to serve another page.
    pub fn is_fresh(&self) -> bool {
        self.taken.elapsed() < SNAPSHOT_KEPT
    }

    /// Takes `overview` as the next generation, noting which rows changed
    /// and which pens went.
    pub fn advance(&mut self, overview: Overview) {
        let generation = self.generation + 1;
        let mut rows = HashMap::with_capacity(overview.pens.len());
        for row in &overview.pens {
            let print = fingerprint(row);
            let changed = match self.rows.get(&row.id) {
                Some((before, at)) if *before == print => *at,
                _ => generation,
            };
            self.removed.remove(&row.id);
            rows.insert(row.id, (print, changed));
        }
        for id in self.rows.keys() {
            if !rows.contains_key(id) {
                self.removed.insert(*id, generation);
            }
        }
        self.rows = rows;
        self.generation = generation;
        self.taken = Instant::now();
        self.overview = overview;
    }

    /// The version a page sends back to get what changed after this one.
    pub fn version(&self) -> String {
        format!("{}.{}", self.epoch.simple(), self.generation)
    }

    /// The generation `since` names, when it is one of this process's and
    /// not ahead of this snapshot.
    fn generation_of(&self, since: &str) -> Option<u64> {
        let (epoch, generation) = since.split_once('.')?;
        let generation: u64 = generation.parse().ok()?;
        (epoch == self.epoch.simple().to_string() && generation <= self.generation)
            .then_some(generation)
    }

    /// What a page holding version `since` (none: nothing) needs.
    pub fn delta(&self, since: Option<&str>) -> Delta<'_> {
        let after = since.and_then(|since| self.generation_of(since));
        let changed_after = |row: &&PenRow| match after {
            None => true,
            Some(after) => self.rows.get(&row.id).map_or(true, |(_, at)| *at > after),
        };
        Delta {
            version: self.version(),
            full: after.is_none(),
            generated_at: self.overview.generated_at,
            thresholds: self.overview.thresholds,
            pens: self.overview.pens.iter().filter(changed_after).collect(),
            removed: match after {
                None => Vec::new(),
                Some(after) => self
                    .removed
                    .iter()
                    .filter(|(_, at)| **at > after)
                    .map(|(id, _)| *id)
                    .collect(),
            },
            centre: &self.overview.centre,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Snapshot;
    use crate::admin::overview::{Health, Overview, PenRow, Thresholds};
    use jcselect_sync::Timestamp;
    use uuid::Uuid;

    fn pen(id: Uuid, voted: u64) -> PenRow {
        PenRow {
            id,
            town_name: "بلدة".into(),
            label: "1".into(),
            voters: 600,
            voted,
            unsent: 0,
            parked: 0,
            oldest_unsent_at: None,
            health: Health::Green,
            stations: vec![],
            conflicts_today: 0,
            duplicates_today: 0,
            incidents: vec![],
        }
    }

    fn overview(pens: Vec<PenRow>) -> Overview {
        Overview {
            generated_at: Timestamp::now(),
            thresholds: Thresholds {
                amber_seconds: 600,
                red_seconds: 1_800,
            },
            pens,
            centre: vec![],
        }
    }

    fn ids(delta: &super::Delta<'_>) -> Vec<Uuid> {
        delta.pens.iter().map(|row| row.id).collect()
    }

    #[test]
    fn a_page_gets_only_the_rows_changed_since_its_version() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut snapshot = Snapshot::first(overview(vec![pen(a, 0), pen(b, 0), pen(c, 0)]));
        let first = snapshot.delta(None);
        assert!(first.full);
        assert_eq!(ids(&first), vec![a, b, c]);
        let held = first.version.clone();

        snapshot.advance(overview(vec![pen(a, 0), pen(b, 1), pen(c, 0)]));
        let second = snapshot.delta(Some(&held));
        assert!(!second.full);
        assert_eq!(ids(&second), vec![b], "only the pen whose turnout moved");
        let held_b = second.version.clone();

        snapshot.advance(overview(vec![pen(a, 0), pen(b, 1)]));
        let third = snapshot.delta(Some(&held_b));
        assert!(ids(&third).is_empty());
        assert_eq!(third.removed, vec![c], "the deleted pen goes");
        let from_start = snapshot.delta(Some(&held));
        assert_eq!(ids(&from_start), vec![b]);
        assert_eq!(from_start.removed, vec![c]);

        snapshot.advance(overview(vec![pen(a, 0), pen(b, 1), pen(c, 5)]));
        let back = snapshot.delta(Some(&held_b));
        assert_eq!(ids(&back), vec![c], "a pen that comes back is sent");
        assert!(back.removed.is_empty());
    }

    #[test]
    fn a_version_of_another_process_or_the_future_gets_everything() {
        let a = Uuid::now_v7();
        let snapshot = Snapshot::first(overview(vec![pen(a, 0)]));
        for since in ["0123.1", "nonsense", &format!("{}9", snapshot.version())] {
            let delta = snapshot.delta(Some(since));
            assert!(delta.full, "{since}");
            assert_eq!(ids(&delta), vec![a]);
        }
    }
}
