//! `Voter`: one person on a pen's list, and whether they voted.

use jcselect_sync::{Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A voter (the app's `voters` table). `has_voted` is monotonic: once any
/// replica marks the voter, the mark stays, with the earliest
/// `voted_at`/`voted_by_operator_id`. A pen's `voter_number` is unique
/// among its live voters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(
    table = "voters",
    deleted_by = User,
    scope_field = pen_id,
    monotonic(has_voted, voted_at, voted_by_operator_id),
    natural_key_live(pen_id, voter_number)
)]
pub struct Voter {
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
    /// The pen the voter votes at.
    #[sync(references = Pen, indexed)]
    pub pen_id: Uuid,
    /// Number on the list (searched; orders what a search finds).
    #[sync(indexed, searchable)]
    pub voter_number: String,
    /// Full name (searched).
    #[sync(indexed, searchable)]
    pub full_name: String,
    /// Father's name (searched).
    #[sync(indexed, searchable)]
    pub father_name: Option<String>,
    /// Mother's name.
    pub mother_name: Option<String>,
    /// Year of birth.
    pub birth_year: Option<i64>,
    /// Gender, as the list gives it.
    pub gender: Option<String>,
    /// Whether the voter has voted.
    #[sync(indexed)]
    pub has_voted: bool,
    /// When the voter was marked.
    pub voted_at: Option<Timestamp>,
    /// Who marked the voter.
    #[sync(references = User, indexed, formerly = "voted_by")]
    pub voted_by_operator_id: Option<Uuid>,
}
