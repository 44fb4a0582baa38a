//! The JSON shapes of PROTOCOL.md §2–4, exactly as they travel.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use crate::timestamp::Timestamp;

/// Most changes one push request may carry.
pub const MAX_CHANGES_PER_PUSH: usize = 10_000;

/// The request header in which a station reports itself with every push
/// and pull: its [`StationReport`] as JSON. Optional: a server keeps the
/// latest report of each station (server-only, never synced) for the
/// people at the centre; a request without it, or with one it cannot
/// read, is served all the same.
pub const STATION_HEADER: &str = "x-jcselect-station";

/// What a station says of itself: who it is, and what it holds that the
/// server has not seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StationReport {
    /// The replica's id (the `client_id` of its pushes).
    pub client_id: String,
    /// The program and its version, e.g. `jcselect-client 0.1.0`.
    pub version: String,
    /// Changes waiting for their first push.
    pub pending: u64,
    /// Changes waiting to be sent again (a parent was missing, a link
    /// failed).
    pub retry: u64,
    /// Changes set aside until a person acts (PROTOCOL.md §5).
    pub parked: u64,
    /// The time of the oldest change not yet accepted by the server (the
    /// change's own time stamp), if any.
    pub oldest_unsent_at: Option<Timestamp>,
    /// How far the station's clock is from the server's, microseconds
    /// (positive: the station is ahead).
    pub clock_offset_micros: i64,
    /// The first of its parked changes (at most
    /// [`PARKED_CHANGES_REPORTED`]), each with the server's reason.
    #[serde(default)]
    pub parked_changes: Vec<ParkedChange>,
}

impl StationReport {
    /// The report as the [`STATION_HEADER`] value: JSON with every
    /// character past ASCII escaped (`\uXXXX`), since a header carries
    /// ASCII only (a server's reason may be in Arabic).
    pub fn header_value(&self) -> String {
        let json = serde_json::to_string(self).expect("a report serialises");
        let mut ascii = String::with_capacity(json.len());
        for c in json.chars() {
            if c.is_ascii() && !c.is_ascii_control() {
                ascii.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    ascii.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        ascii
    }
}

/// How many parked changes a [`StationReport`] lists.
pub const PARKED_CHANGES_REPORTED: usize = 10;

/// A parked change as a station reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ParkedChange {
    /// The kind of record.
    pub entity_type: String,
    /// The record.
    pub entity_id: Uuid,
    /// Why the server refused it (its message), if it said.
    pub reason: Option<String>,
    /// How many times it was sent.
    pub attempts: u32,
}

/// `INSERT` or `UPDATE`; both mean "this is the whole record now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// The record is new to the sender.
    Insert,
    /// The record existed before (a soft delete is an update).
    Update,
}

/// One change: the whole state of one record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityChange {
    /// Unique per queued change; makes a resent change harmless.
    pub change_id: Uuid,
    /// The entity's wire name.
    pub entity_type: String,
    /// The record's id (equals `data.id`).
    pub entity_id: Uuid,
    /// Insert or update.
    pub operation: Operation,
    /// Equals `data.updated_at`.
    pub timestamp: Timestamp,
    /// Every field of the record, as the JSON text it travels as: read
    /// once, straight into a record, and passed on without re-encoding.
    #[cfg_attr(feature = "schema", schemars(with = "Value"))]
    pub data: Box<RawValue>,
}

impl EntityChange {
    /// `data` parsed into a JSON value (for tests and tools; the sync
    /// paths decode it straight into a record).
    pub fn data_value(&self) -> Value {
        serde_json::from_str(self.data.get()).expect("RawValue holds valid JSON")
    }
}

/// Two changes are equal when their envelopes and their `data` JSON
/// values are (whatever the key order or spacing of the text).
impl PartialEq for EntityChange {
    fn eq(&self, other: &Self) -> bool {
        self.change_id == other.change_id
            && self.entity_type == other.entity_type
            && self.entity_id == other.entity_id
            && self.operation == other.operation
            && self.timestamp == other.timestamp
            && (self.data.get() == other.data.get() || self.data_value() == other.data_value())
    }
}

/// The fields of an [`EntityChange`] and of what the server says about
/// it, side by side: how [`DependencyConflict`] and [`FailedChange`] are
/// read (serde's `flatten` cannot read a `RawValue`).
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct ChangeWith<T> {
    change_id: Uuid,
    entity_type: String,
    entity_id: Uuid,
    operation: Operation,
    timestamp: Timestamp,
    #[cfg_attr(feature = "schema", schemars(with = "Value"))]
    data: Box<RawValue>,
    #[serde(flatten)]
    rest: T,
}

impl<T> ChangeWith<T> {
    fn split(self) -> (EntityChange, T) {
        let change = EntityChange {
            change_id: self.change_id,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            operation: self.operation,
            timestamp: self.timestamp,
            data: self.data,
        };
        (change, self.rest)
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct Missing {
    missing: Vec<EntityRef>,
}

impl From<ChangeWith<Missing>> for DependencyConflict {
    fn from(wire: ChangeWith<Missing>) -> Self {
        let (change, Missing { missing }) = wire.split();
        DependencyConflict { change, missing }
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
struct Refusal {
    reason: FailureReason,
    message: String,
}

impl From<ChangeWith<Refusal>> for FailedChange {
    fn from(wire: ChangeWith<Refusal>) -> Self {
        let (change, Refusal { reason, message }) = wire.split();
        FailedChange {
            change,
            reason,
            message,
        }
    }
}

/// `POST /sync/push` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncPushRequest {
    /// The sending replica.
    pub client_id: String,
    /// The changes, in any order.
    pub changes: Vec<EntityChange>,
}

/// A parent a change refers to that the server does not have.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityRef {
    /// The parent's wire name.
    pub entity_type: String,
    /// The parent's id.
    pub entity_id: Uuid,
}

/// A change that waits for a missing parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(from = "ChangeWith<Missing>")]
pub struct DependencyConflict {
    /// The change as sent.
    #[serde(flatten)]
    pub change: EntityChange,
    /// What it refers to that is missing.
    pub missing: Vec<EntityRef>,
}

/// Why a change can never succeed as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Unknown entity type, a field missing or of the wrong type,
    /// `timestamp` ≠ `data.updated_at`, a broken entity rule.
    Invalid,
    /// The role or pen scope does not allow it.
    Forbidden,
    /// An edit of an append-only record.
    Immutable,
    /// Stamped too far ahead of the server's clock.
    ClockSkew,
}

/// A change the server refused for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(from = "ChangeWith<Refusal>")]
pub struct FailedChange {
    /// The change as sent.
    #[serde(flatten)]
    pub change: EntityChange,
    /// The kind of refusal.
    pub reason: FailureReason,
    /// What went wrong, for a person.
    pub message: String,
}

/// `POST /sync/push` answer (at 200 and 409).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncPushResponse {
    /// Changes applied or already there.
    pub processed_count: u64,
    /// Changes the server's record beat.
    pub conflicts: Vec<EntityChange>,
    /// Changes waiting for a parent.
    #[serde(default)]
    pub dependency_conflicts: Vec<DependencyConflict>,
    /// Changes refused for good.
    pub failed_changes: Vec<FailedChange>,
    /// The server's clock when it answered.
    pub server_timestamp: Timestamp,
}

/// `GET /sync/pull` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncPullResponse {
    /// The page, in the server's receive order.
    pub changes: Vec<EntityChange>,
    /// The position to pass as `last_sync` next time (seed form).
    pub server_timestamp: Timestamp,
    /// Whether more changes follow this page.
    pub has_more: bool,
    /// How many changes are available from this page's start on, for the
    /// caller's scopes, at no more cost than the page: exact when the page
    /// is the last (`has_more` false); otherwise an estimate — for an admin,
    /// the log positions left (an upper bound: superseded versions count),
    /// for an operator, its scopes' entries counted up to ten pages ahead
    /// (a lower bound beyond that).
    #[serde(default)]
    pub total_available: Option<u64>,
    /// The cursor to pass next time (recommended form).
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `POST /auth/login` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoginRequest {
    /// The user's name.
    pub username: String,
    /// The password in clear (over TLS).
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// `POST /auth/login` answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoginResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `"bearer"`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The user's id.
    pub user_id: Uuid,
    /// `admin` or `operator`.
    pub role: String,
    /// A token for `POST /auth/refresh`: a new access token without the
    /// password, once (each use returns a new one). Absent from servers
    /// that do not offer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires: when the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<u64>,
}

/// `POST /auth/refresh` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RefreshRequest {
    /// The refresh token of the last log-in or refresh.
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"<hidden>")
            .field("expires_in", &self.expires_in)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .finish()
    }
}

/// Every error response's body, at any status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A short machine-readable code.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::{ParkedChange, StationReport};

    #[test]
    fn a_report_travels_as_ascii_and_reads_back_whole() {
        let report = StationReport {
            client_id: "c".into(),
            version: "jcselect-client 0.1.0".into(),
            pending: 1,
            retry: 0,
            parked: 1,
            oldest_unsent_at: None,
            clock_offset_micros: -3,
            parked_changes: vec![ParkedChange {
                entity_type: "Voter".into(),
                entity_id: uuid::Uuid::nil(),
                reason: Some("القلم غير موجود 🗳\n".into()),
                attempts: 5,
            }],
        };
        let header = report.header_value();
        assert!(
            header.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
            "{header}"
        );
        let read: StationReport = serde_json::from_str(&header).unwrap();
        assert_eq!(read, report);
    }
}
