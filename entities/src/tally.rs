//! Counting: a `TallySession` per pen and its `TallyLine`s, one per ballot.

use jcselect_sync::{Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One counting session at one pen (the app's `tally_sessions` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(table = "tally_sessions", deleted_by = User, scope_field = pen_id)]
pub struct TallySession {
    /// Primary key.
    pub id: Uuid,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// Tombstone.
    pub deleted_at: Option<Timestamp>,
    /// Who deleted it.
    pub deleted_by: Option<Uuid>,
    /// The pen counted.
    #[sync(references = Pen, indexed)]
    pub pen_id: Uuid,
    /// Who runs the count.
    #[sync(references = User, indexed)]
    pub operator_id: Uuid,
    /// Display name.
    pub session_name: String,
    /// When counting began.
    pub started_at: Timestamp,
    /// When counting ended.
    pub completed_at: Option<Timestamp>,
    /// Ballots counted so far.
    #[sync(upgrade_default = "0")]
    pub total_votes_counted: i64,
    /// Free notes.
    pub notes: Option<String>,
    /// The running ballot number (the next line's `ballot_number`).
    #[sync(upgrade_default = "0")]
    pub ballot_number: i64,
    /// When it was recounted.
    #[sync(indexed)]
    pub recounted_at: Option<Timestamp>,
    /// Who recounted it.
    #[sync(references = User, indexed)]
    pub recount_operator_id: Option<Uuid>,
}

/// One counted ballot for one party in one session (the app's
/// `tally_lines` table: one line per ballot, numbered by `ballot_number`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(table = "tally_lines", deleted_by = User, scope_parent = tally_session_id)]
pub struct TallyLine {
    /// Primary key.
    pub id: Uuid,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// Tombstone.
    pub deleted_at: Option<Timestamp>,
    /// Who deleted it.
    pub deleted_by: Option<Uuid>,
    /// The session counted in.
    #[sync(references = TallySession, indexed)]
    pub tally_session_id: Uuid,
    /// The party counted.
    #[sync(references = Party, indexed)]
    pub party_id: Uuid,
    /// The candidate, when the ballot names one (no entity of its own).
    pub candidate_id: Option<Uuid>,
    /// Votes counted, never negative.
    #[sync(min = 0)]
    pub vote_count: i64,
    /// `normal`, `cancel`, `white`, `illegal` or `blank` (stored as the
    /// app's enum member names, `NORMAL`…).
    #[sync(
        one_of("normal", "cancel", "white", "illegal", "blank"),
        stored_upper,
        indexed,
        upgrade_default = "'NORMAL'"
    )]
    pub ballot_type: String,
    /// The ballot's number in its session.
    #[sync(indexed)]
    pub ballot_number: Option<i64>,
}
