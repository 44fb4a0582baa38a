//! Counting: a `TallySession` per pen and its `TallyLine`s, one per ballot.

use jcselect_sync::{
    EntityDecl, FieldDecl, FieldType, ReferenceDecl, ScopeDecl, Syncable, Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One counting session at one pen (the app's `tally_sessions` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub pen_id: Uuid,
    /// Who runs the count.
    pub operator_id: Uuid,
    /// Display name.
    pub session_name: String,
    /// When counting began.
    pub started_at: Timestamp,
    /// When counting ended.
    pub completed_at: Option<Timestamp>,
    /// Ballots counted so far.
    pub total_votes_counted: i64,
    /// Free notes.
    pub notes: Option<String>,
    /// The running ballot number (the next line's `ballot_number`).
    pub ballot_number: i64,
    /// When it was recounted.
    pub recounted_at: Option<Timestamp>,
    /// Who recounted it.
    pub recount_operator_id: Option<Uuid>,
}

impl Syncable for TallySession {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("pen_id", FieldType::Uuid).indexed(),
            FieldDecl::new("operator_id", FieldType::Uuid).indexed(),
            FieldDecl::new("session_name", FieldType::Text),
            FieldDecl::new("started_at", FieldType::Timestamp),
            FieldDecl::new("completed_at", FieldType::Timestamp).nullable(),
            FieldDecl::new("total_votes_counted", FieldType::Int),
            FieldDecl::new("notes", FieldType::Text).nullable(),
            FieldDecl::new("ballot_number", FieldType::Int),
            FieldDecl::new("recounted_at", FieldType::Timestamp)
                .nullable()
                .indexed(),
            FieldDecl::new("recount_operator_id", FieldType::Uuid)
                .nullable()
                .indexed(),
        ],
        references: &[
            ReferenceDecl {
                field: "pen_id",
                parent: "Pen",
            },
            ReferenceDecl {
                field: "operator_id",
                parent: "User",
            },
            ReferenceDecl {
                field: "recount_operator_id",
                parent: "User",
            },
        ],
        deleted_by: Some("User"),
        scope: ScopeDecl::Field("pen_id"),
        ..EntityDecl::new("TallySession", "tally_sessions")
    };
}

/// The kinds of ballot a tally line counts (the wire carries the app's
/// enum values, lower case).
pub const BALLOT_TYPES: [&str; 5] = ["normal", "cancel", "white", "illegal", "blank"];

/// One counted ballot for one party in one session (the app's
/// `tally_lines` table: one line per ballot, numbered by `ballot_number`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub tally_session_id: Uuid,
    /// The party counted.
    pub party_id: Uuid,
    /// The candidate, when the ballot names one (no entity of its own).
    pub candidate_id: Option<Uuid>,
    /// Votes counted, never negative.
    pub vote_count: i64,
    /// `normal`, `cancel`, `white`, `illegal` or `blank`.
    pub ballot_type: String,
    /// The ballot's number in its session.
    pub ballot_number: Option<i64>,
}

impl Syncable for TallyLine {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("tally_session_id", FieldType::Uuid).indexed(),
            FieldDecl::new("party_id", FieldType::Uuid).indexed(),
            FieldDecl::new("candidate_id", FieldType::Uuid).nullable(),
            FieldDecl::new("vote_count", FieldType::Int).min(0),
            FieldDecl::new("ballot_type", FieldType::Text)
                .one_of(&BALLOT_TYPES)
                .indexed(),
            FieldDecl::new("ballot_number", FieldType::Int)
                .nullable()
                .indexed(),
        ],
        references: &[
            ReferenceDecl {
                field: "tally_session_id",
                parent: "TallySession",
            },
            ReferenceDecl {
                field: "party_id",
                parent: "Party",
            },
        ],
        deleted_by: Some("User"),
        scope: ScopeDecl::Parent("tally_session_id"),
        ..EntityDecl::new("TallyLine", "tally_lines")
    };
}
