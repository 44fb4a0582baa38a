//! What the control room shows: every pen with its stations' health,
//! what they hold unsent and parked, and its turnout; the stations of
//! users without a pen (the centre's). Read from the store at each poll;
//! the turnout count and the users' pens are kept a few seconds, so that
//! many open pages cost the database little.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jcselect_entities::{Pen, User, Voter};
use jcselect_sync::store::{ServerStore, StationSeen};
use jcselect_sync::{Syncable, Timestamp};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ServerError;

/// How long the turnout count is reused.
const TURNOUT_KEPT: Duration = Duration::from_secs(15);
/// How long a user's name and pens are reused.
const USERS_KEPT: Duration = Duration::from_secs(30);

/// How a station (or a pen, by its worst station) is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No station has reported.
    None,
    /// Heard from lately, nothing old unsent, nothing parked.
    Green,
    /// Not heard from for the amber threshold, or holding changes older.
    Amber,
    /// Not heard from for the red threshold, holding changes older, or
    /// holding a parked change.
    Red,
}

/// The amber and red thresholds, seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// Seconds to amber.
    pub amber_seconds: u64,
    /// Seconds to red.
    pub red_seconds: u64,
}

impl Thresholds {
    /// How a station that reported `station` is doing at `now`.
    pub fn health(&self, station: &StationSeen, now: Timestamp) -> Health {
        let age = |at: Timestamp| (now.unix_micros() - at.unix_micros()).max(0) as u64 / 1_000_000;
        let silent = age(station.seen_at);
        let unsent = station.report.oldest_unsent_at.map_or(0, age);
        if station.report.parked > 0 || silent >= self.red_seconds || unsent >= self.red_seconds {
            Health::Red
        } else if silent >= self.amber_seconds || unsent >= self.amber_seconds {
            Health::Amber
        } else {
            Health::Green
        }
    }
}

/// One station as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StationRow {
    /// The replica's id.
    pub client_id: String,
    /// Who syncs it.
    pub username: String,
    /// Its program and version.
    pub version: String,
    /// When it was last heard from.
    pub last_seen_at: Timestamp,
    /// Changes waiting for their first push.
    pub pending: u64,
    /// Changes waiting to be sent again.
    pub retry: u64,
    /// Changes set aside until a person acts.
    pub parked: u64,
    /// Its oldest change the server has not accepted.
    pub oldest_unsent_at: Option<Timestamp>,
    /// Its clock's offset from the server's, seconds (positive: ahead).
    pub clock_offset_seconds: f64,
    /// How it is doing.
    pub health: Health,
}

/// One pen as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PenRow {
    /// The pen's id.
    pub id: Uuid,
    /// Its town.
    pub town_name: String,
    /// Its label.
    pub label: String,
    /// Its live voters.
    pub voters: u64,
    /// Of those, who voted.
    pub voted: u64,
    /// Changes its stations hold unsent (pending, retry and parked).
    pub unsent: u64,
    /// Of those, parked.
    pub parked: u64,
    /// The oldest change its stations hold unsent.
    pub oldest_unsent_at: Option<Timestamp>,
    /// The worst of its stations.
    pub health: Health,
    /// Its stations.
    pub stations: Vec<StationRow>,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// When it was read.
    pub generated_at: Timestamp,
    /// The thresholds it was judged by.
    pub thresholds: Thresholds,
    /// Every live pen, by town and label.
    pub pens: Vec<PenRow>,
    /// Stations of users without a pen (admins at the centre).
    pub centre: Vec<StationRow>,
}

type Turnout = HashMap<Uuid, (u64, u64)>;

/// A user's name and pens, as read at `read`.
#[derive(Debug, Clone)]
struct UserSeen {
    username: String,
    pens: Vec<Uuid>,
    read: Instant,
}

/// What the control room reuses between polls.
#[derive(Debug)]
pub struct Board {
    thresholds: Thresholds,
    turnout: Mutex<Option<(Instant, Turnout)>>,
    users: Mutex<HashMap<Uuid, UserSeen>>,
}

impl Board {
    /// A board judging stations by `thresholds`.
    pub fn new(thresholds: Thresholds) -> Self {
        Board {
            thresholds,
            turnout: Mutex::new(None),
            users: Mutex::new(HashMap::new()),
        }
    }

    async fn turnout(&self, store: &dyn ServerStore) -> Result<Turnout, ServerError> {
        if let Some((at, turnout)) = &*self.turnout.lock().expect("turnout lock") {
            if at.elapsed() < TURNOUT_KEPT {
                return Ok(turnout.clone());
            }
        }
        let counted: Turnout = store
            .count_per_parent(Voter::DECL, "pen_id", "has_voted")
            .await?
            .into_iter()
            .map(|count| (count.parent, (count.records, count.flagged)))
            .collect();
        *self.turnout.lock().expect("turnout lock") = Some((Instant::now(), counted.clone()));
        Ok(counted)
    }

    async fn user(&self, store: &dyn ServerStore, user_id: Uuid) -> Result<UserSeen, ServerError> {
        if let Some(seen) = self.users.lock().expect("users lock").get(&user_id) {
            if seen.read.elapsed() < USERS_KEPT {
                return Ok(seen.clone());
            }
        }
        let username = match store.get_record(User::DECL, user_id).await? {
            Some(record) => User::from_record(&record)
                .map(|user| user.username)
                .unwrap_or_else(|_| user_id.to_string()),
            None => user_id.to_string(),
        };
        let pens = store
            .login(&username)
            .await?
            .map(|login| login.pens)
            .unwrap_or_default();
        let seen = UserSeen {
            username,
            pens,
            read: Instant::now(),
        };
        self.users
            .lock()
            .expect("users lock")
            .insert(user_id, seen.clone());
        Ok(seen)
    }

    /// The overview now.
    pub async fn overview(&self, store: &dyn ServerStore) -> Result<Overview, ServerError> {
        let now = Timestamp::now();
        let turnout = self.turnout(store).await?;
        let mut by_pen: HashMap<Uuid, Vec<StationRow>> = HashMap::new();
        let mut centre = Vec::new();
        for station in store.stations().await? {
            let user = self.user(store, station.user_id).await?;
            let row = StationRow {
                client_id: station.report.client_id.clone(),
                username: user.username.clone(),
                version: station.report.version.clone(),
                last_seen_at: station.seen_at,
                pending: station.report.pending,
                retry: station.report.retry,
                parked: station.report.parked,
                oldest_unsent_at: station.report.oldest_unsent_at,
                clock_offset_seconds: station.report.clock_offset_micros as f64 / 1e6,
                health: self.thresholds.health(&station, now),
            };
            for pen in &user.pens {
                by_pen.entry(*pen).or_default().push(row.clone());
            }
            if user.pens.is_empty() {
                centre.push(row);
            }
        }
        let mut pens: BTreeMap<(String, String), PenRow> = BTreeMap::new();
        for pen in crate::export::live::<Pen>(store).await? {
            let stations = by_pen.remove(&pen.id).unwrap_or_default();
            let (voters, voted) = turnout.get(&pen.id).copied().unwrap_or((0, 0));
            let row = PenRow {
                id: pen.id,
                voters,
                voted,
                unsent: stations
                    .iter()
                    .map(|s| s.pending + s.retry + s.parked)
                    .sum(),
                parked: stations.iter().map(|s| s.parked).sum(),
                oldest_unsent_at: stations.iter().filter_map(|s| s.oldest_unsent_at).min(),
                health: stations
                    .iter()
                    .map(|s| s.health)
                    .max()
                    .unwrap_or(Health::None),
                stations,
                town_name: pen.town_name.clone(),
                label: pen.label.clone(),
            };
            pens.insert((pen.town_name, pen.label), row);
        }
        Ok(Overview {
            generated_at: now,
            thresholds: self.thresholds,
            pens: pens.into_values().collect(),
            centre,
        })
    }
}

/// A per-pen gauge: its name, its help text, its value for a pen.
type Gauge = (&'static str, &'static str, fn(&PenRow) -> u64);

/// Escapes a Prometheus label value.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Overview {
    /// Per-pen gauges in Prometheus text, for an existing Prometheus or
    /// Grafana to alert on: stations behind (amber or red), changes held
    /// unsent, parked changes, voters and votes.
    pub fn prometheus(&self) -> String {
        let gauges: [Gauge; 5] = [
            (
                "jcselect_pen_stations_behind",
                "Stations of the pen that are amber or red.",
                |pen| {
                    pen.stations
                        .iter()
                        .filter(|s| s.health >= Health::Amber)
                        .count() as u64
                },
            ),
            (
                "jcselect_pen_unsent_changes",
                "Changes the pen's stations hold that the server has not accepted.",
                |pen| pen.unsent,
            ),
            (
                "jcselect_pen_parked_changes",
                "Changes the pen's stations hold parked.",
                |pen| pen.parked,
            ),
            ("jcselect_pen_voters", "Live voters of the pen.", |pen| {
                pen.voters
            }),
            (
                "jcselect_pen_voted",
                "Voters of the pen marked as voted.",
                |pen| pen.voted,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in gauges {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for pen in &self.pens {
                out.push_str(&format!(
                    "{name}{{town=\"{}\",label=\"{}\"}} {}\n",
                    label(&pen.town_name),
                    label(&pen.label),
                    value(pen)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use jcselect_sync::store::StationSeen;
    use jcselect_sync::wire::StationReport;
    use jcselect_sync::Timestamp;

    use super::{Health, Thresholds};

    fn station(silent: i64, parked: u64, unsent_for: Option<i64>) -> StationSeen {
        let now = Timestamp::now();
        StationSeen {
            report: StationReport {
                client_id: "c".into(),
                version: "v".into(),
                pending: u64::from(unsent_for.is_some()),
                retry: 0,
                parked,
                oldest_unsent_at: unsent_for.map(|s| now.plus_micros(-s * 1_000_000)),
                clock_offset_micros: 0,
            },
            user_id: uuid::Uuid::nil(),
            seen_at: now.plus_micros(-silent * 1_000_000),
        }
    }

    #[test]
    fn a_station_turns_amber_then_red_as_it_falls_behind() {
        let thresholds = Thresholds {
            amber_seconds: 600,
            red_seconds: 1_800,
        };
        let now = Timestamp::now();
        let health = |s: StationSeen| thresholds.health(&s, now);
        assert_eq!(health(station(10, 0, None)), Health::Green);
        assert_eq!(health(station(10, 0, Some(60))), Health::Green);
        assert_eq!(health(station(700, 0, None)), Health::Amber);
        assert_eq!(health(station(10, 0, Some(700))), Health::Amber);
        assert_eq!(health(station(2_000, 0, None)), Health::Red);
        assert_eq!(health(station(10, 0, Some(2_000))), Health::Red);
        assert_eq!(health(station(10, 1, None)), Health::Red);
    }
}
