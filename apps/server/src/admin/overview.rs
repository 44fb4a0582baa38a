//! What the control room shows: every pen with its stations' health,
//! what they hold unsent and parked, and its turnout; the stations of
//! users without a pen (the centre's). Read from the store for each
//! snapshot (at most once a second, shared by every open page); the
//! turnout is kept up to date from the change log, the users' names and
//! pens are read in bulk every 30 s, so that many open pages cost the
//! database little.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jcselect_entities::{AuditLog, Pen, User, Voter};
use jcselect_sync::scope::{RecordIndex, Scope};
use jcselect_sync::store::{FieldIn, ServerStore, StationSeen};
use jcselect_sync::{FieldValue, Registry, Syncable, Timestamp};
use serde::Serialize;
use uuid::Uuid;

use super::delta::Snapshot;
use super::turnout::{Cadence, TurnoutCounter};
use crate::error::ServerError;

/// How long a user's name and pens are reused.
const USERS_KEPT: Duration = Duration::from_secs(30);
/// How long the incidents (conflicts, duplicate marks) are reused.
const INCIDENTS_KEPT: Duration = Duration::from_secs(5);
/// Incidents a pen's row carries for its detail (the newest).
const INCIDENTS_LISTED: usize = 50;
/// The audit actions the control room shows.
const INCIDENT_ACTIONS: [&str; 2] = ["SYNC_CONFLICT", "DUPLICATE_VOTE_MARK"];

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
    /// The first of its parked changes, with the server's reasons.
    pub parked_changes: Vec<jcselect_sync::wire::ParkedChange>,
}

/// A conflict or a duplicate mark, as the page shows it: both versions,
/// side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// `SYNC_CONFLICT` or `DUPLICATE_VOTE_MARK`.
    pub action: String,
    /// When it was recorded.
    pub at: Timestamp,
    /// The kind of record (`Voter`, `TallyLine`, …).
    pub entity_type: String,
    /// The record.
    pub entity_id: Uuid,
    /// The record as people name it (a voter by number and name).
    pub what: String,
    /// Who was acting where it was recorded.
    pub operator: Option<String>,
    /// The version kept (the winner; the mark that stands).
    pub kept: serde_json::Value,
    /// The version dropped (the loser; the other station's mark).
    pub dropped: serde_json::Value,
    /// The pens it concerns.
    #[serde(skip)]
    pub pens: Vec<Uuid>,
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
    /// `SYNC_CONFLICT` rows of its records since midnight (UTC).
    pub conflicts_today: u64,
    /// `DUPLICATE_VOTE_MARK` rows of its records since midnight (UTC).
    pub duplicates_today: u64,
    /// Its conflicts and duplicate marks, newest first.
    pub incidents: Vec<Incident>,
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

/// A user's name and pens.
#[derive(Debug, Clone)]
struct UserSeen {
    username: String,
    pens: Vec<Uuid>,
}

/// Every user's name and pens, as read at `read` (two reads: the users,
/// the log-ins), with those looked up one by one since.
#[derive(Debug)]
struct Users {
    by_id: HashMap<Uuid, UserSeen>,
    read: Instant,
}

/// What the control room reuses between polls.
#[derive(Debug)]
pub struct Board {
    thresholds: Thresholds,
    turnout: TurnoutCounter,
    users: Mutex<Option<Users>>,
    incidents: Mutex<Option<(Instant, Vec<Incident>)>>,
    snapshot: tokio::sync::Mutex<Option<Snapshot>>,
    registry: &'static Registry,
}

impl Board {
    /// A board judging stations by `thresholds`.
    pub fn new(thresholds: Thresholds, registry: &'static Registry) -> Self {
        Board {
            thresholds,
            turnout: TurnoutCounter::new(Voter::DECL, "pen_id", "has_voted", Cadence::default()),
            users: Mutex::new(None),
            incidents: Mutex::new(None),
            snapshot: tokio::sync::Mutex::new(None),
            registry,
        }
    }

    /// Every live conflict and duplicate-mark row, with the pens of the
    /// record each names (read through the audit table's index on
    /// `action`: such rows are few beside the vote marks).
    async fn incidents(&self, store: &dyn ServerStore) -> Result<Vec<Incident>, ServerError> {
        if let Some((at, incidents)) = &*self.incidents.lock().expect("incidents lock") {
            if at.elapsed() < INCIDENTS_KEPT {
                return Ok(incidents.clone());
            }
        }
        let actions: Vec<FieldValue> = INCIDENT_ACTIONS
            .iter()
            .map(|action| FieldValue::Text((*action).to_owned()))
            .collect();
        let mut tx = store.begin_push().await?;
        let rows: Vec<_> = tx
            .find_matching(
                AuditLog::DECL,
                &[FieldIn {
                    field: "action",
                    values: &actions,
                }],
            )
            .await?
            .into_iter()
            .filter(|row| !row.is_tombstone())
            .collect();
        let mut index = RecordIndex::default();
        index
            .load_parents(tx.as_mut(), self.registry, rows.iter())
            .await?;
        drop(tx);
        let mut incidents = Vec::with_capacity(rows.len());
        for record in &rows {
            let row =
                AuditLog::from_record(record).map_err(jcselect_sync::store::StoreError::from)?;
            let pens = match index.scope_of(record, self.registry) {
                Scope::Keys(keys) => keys,
                Scope::Global => Vec::new(),
            };
            let operator = match row.operator_id {
                Some(id) => Some(self.user(store, id).await?.username),
                None => None,
            };
            let named = self.registry.entity(&row.entity_type).ok();
            let what = match index.get(&(named.map_or("", |decl| decl.name), row.entity_id)) {
                Some(record) if record.entity().name == Voter::DECL.name => {
                    let text = |field| match record.get(field) {
                        Some(FieldValue::Text(text)) => text.clone(),
                        _ => String::new(),
                    };
                    format!("{} {}", text("voter_number"), text("full_name"))
                }
                _ => row.entity_id.to_string(),
            };
            let mut kept = row.new_values.unwrap_or_default();
            let mut dropped = row.old_values.unwrap_or_default();
            if let Some(decl) = named {
                for version in [&mut kept, &mut dropped] {
                    self.name_users(store, decl, version).await?;
                }
            }
            incidents.push(Incident {
                action: row.action,
                at: row.timestamp,
                entity_type: row.entity_type,
                entity_id: row.entity_id,
                what,
                operator,
                kept,
                dropped,
                pens,
            });
        }
        incidents.sort_by_key(|incident| std::cmp::Reverse(incident.at));
        *self.incidents.lock().expect("incidents lock") = Some((Instant::now(), incidents.clone()));
        Ok(incidents)
    }

    /// Every user's name and pens, read again when older than
    /// [`USERS_KEPT`].
    async fn refresh_users(&self, store: &dyn ServerStore) -> Result<(), ServerError> {
        let fresh = |users: &Option<Users>| {
            users
                .as_ref()
                .is_some_and(|users| users.read.elapsed() < USERS_KEPT)
        };
        if fresh(&self.users.lock().expect("users lock")) {
            return Ok(());
        }
        let mut pens: HashMap<Uuid, Vec<Uuid>> = store
            .logins()
            .await?
            .into_iter()
            .map(|login| (login.user_id, login.pens))
            .collect();
        let by_id = crate::export::live::<User>(store)
            .await?
            .into_iter()
            .map(|user| {
                let seen = UserSeen {
                    pens: pens.remove(&user.id).unwrap_or_default(),
                    username: user.username,
                };
                (user.id, seen)
            })
            .collect();
        *self.users.lock().expect("users lock") = Some(Users {
            by_id,
            read: Instant::now(),
        });
        Ok(())
    }

    /// A user's name and pens: from the last bulk read, else (a user made
    /// since) looked up alone and kept until the next bulk read.
    async fn user(&self, store: &dyn ServerStore, user_id: Uuid) -> Result<UserSeen, ServerError> {
        self.refresh_users(store).await?;
        let known = |users: &Option<Users>| users.as_ref()?.by_id.get(&user_id).cloned();
        if let Some(seen) = known(&self.users.lock().expect("users lock")) {
            return Ok(seen);
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
        let seen = UserSeen { username, pens };
        if let Some(users) = self.users.lock().expect("users lock").as_mut() {
            users.by_id.insert(user_id, seen.clone());
        }
        Ok(seen)
    }

    /// Puts user names in place of the user ids in `version` (a record's
    /// values, as an audit row keeps them).
    async fn name_users(
        &self,
        store: &dyn ServerStore,
        decl: &'static jcselect_sync::EntityDecl,
        version: &mut serde_json::Value,
    ) -> Result<(), ServerError> {
        let Some(object) = version.as_object_mut() else {
            return Ok(());
        };
        for reference in decl.all_references() {
            if reference.parent != User::DECL.name {
                continue;
            }
            let id = object
                .get(reference.field)
                .and_then(|value| value.as_str())
                .and_then(|text| text.parse::<Uuid>().ok());
            if let Some(id) = id {
                let name = self.user(store, id).await?.username;
                object.insert(reference.field.to_owned(), serde_json::Value::String(name));
            }
        }
        Ok(())
    }

    /// The overview every page and `/metrics` share: taken again when
    /// older than [`SNAPSHOT_KEPT`](super::delta::SNAPSHOT_KEPT), by one
    /// caller while the others wait for it.
    pub async fn snapshot(
        &self,
        store: &dyn ServerStore,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, Snapshot>, ServerError> {
        let mut held = self.snapshot.lock().await;
        match held.as_mut() {
            Some(snapshot) if snapshot.is_fresh() => {}
            Some(snapshot) => snapshot.advance(self.overview(store).await?),
            None => *held = Some(Snapshot::first(self.overview(store).await?)),
        }
        Ok(tokio::sync::MutexGuard::map(held, |held| {
            held.as_mut().expect("taken above")
        }))
    }

    /// The overview now.
    async fn overview(&self, store: &dyn ServerStore) -> Result<Overview, ServerError> {
        let now = Timestamp::now();
        let turnout = self.turnout.current(store).await?;
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
                parked_changes: station.report.parked_changes.clone(),
            };
            for pen in &user.pens {
                by_pen.entry(*pen).or_default().push(row.clone());
            }
            if user.pens.is_empty() {
                centre.push(row);
            }
        }
        let midnight = Timestamp::from_unix_micros(
            now.unix_micros() - now.unix_micros().rem_euclid(86_400_000_000),
        );
        let mut incidents_by_pen: HashMap<Uuid, Vec<Incident>> = HashMap::new();
        for incident in self.incidents(store).await? {
            for pen in &incident.pens {
                incidents_by_pen
                    .entry(*pen)
                    .or_default()
                    .push(incident.clone());
            }
        }
        let mut pens: BTreeMap<(String, String), PenRow> = BTreeMap::new();
        for pen in crate::export::live::<Pen>(store).await? {
            let stations = by_pen.remove(&pen.id).unwrap_or_default();
            let mut incidents = incidents_by_pen.remove(&pen.id).unwrap_or_default();
            let today = |action: &str| {
                incidents
                    .iter()
                    .filter(|incident| incident.action == action && incident.at >= midnight)
                    .count() as u64
            };
            let (conflicts_today, duplicates_today) =
                (today(INCIDENT_ACTIONS[0]), today(INCIDENT_ACTIONS[1]));
            incidents.truncate(INCIDENTS_LISTED);
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
                conflicts_today,
                duplicates_today,
                incidents,
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

/// A pen's live voters and when each who voted was marked.
#[derive(Debug, Clone, Serialize)]
pub struct PenVotes {
    /// Live voters of the pen.
    pub voters: u64,
    /// The marks' times, earliest first.
    pub voted_at: Vec<Timestamp>,
}

/// The votes of one pen (its voters read through the `pen_id` index).
pub async fn pen_votes(store: &dyn ServerStore, pen: Uuid) -> Result<PenVotes, ServerError> {
    let pens = [FieldValue::Uuid(pen)];
    let mut tx = store.begin_push().await?;
    let records = tx
        .find_matching(
            Voter::DECL,
            &[FieldIn {
                field: "pen_id",
                values: &pens,
            }],
        )
        .await?;
    drop(tx);
    let mut votes = PenVotes {
        voters: 0,
        voted_at: Vec::new(),
    };
    for record in records.iter().filter(|record| !record.is_tombstone()) {
        votes.voters += 1;
        let voter = Voter::from_record(record).map_err(jcselect_sync::store::StoreError::from)?;
        if let (true, Some(at)) = (voter.has_voted, voter.voted_at) {
            votes.voted_at.push(at);
        }
    }
    votes.voted_at.sort();
    Ok(votes)
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
        let gauges: [Gauge; 7] = [
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
            (
                "jcselect_pen_conflicts_today",
                "SYNC_CONFLICT audit rows of the pen's records since midnight (UTC).",
                |pen| pen.conflicts_today,
            ),
            (
                "jcselect_pen_duplicate_marks_today",
                "DUPLICATE_VOTE_MARK audit rows of the pen's records since midnight (UTC).",
                |pen| pen.duplicates_today,
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
                parked_changes: vec![],
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
