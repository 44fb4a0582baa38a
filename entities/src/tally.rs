//! Counting: a `TallySession` per pen and its `TallyLine`s per party.

use jcselect_sync::{
    record_meta, EntityDecl, FieldDecl, FieldType, RecordMeta, ReferenceDecl, ScopeDecl, Syncable,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One counting session at one pen.
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
}

impl Syncable for TallySession {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("pen_id", FieldType::Uuid).indexed(),
            FieldDecl::new("operator_id", FieldType::Uuid),
            FieldDecl::new("session_name", FieldType::Text),
            FieldDecl::new("started_at", FieldType::Timestamp),
            FieldDecl::new("completed_at", FieldType::Timestamp).nullable(),
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
        ],
        deleted_by: Some("User"),
        scope: ScopeDecl::Field("pen_id"),
        ..EntityDecl::new("TallySession", "tally_sessions")
    };

    fn meta(&self) -> RecordMeta {
        record_meta!(self)
    }
}

/// The votes one party got in one tally session.
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
    /// Votes counted, never negative.
    pub vote_count: i64,
}

impl Syncable for TallyLine {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("tally_session_id", FieldType::Uuid).indexed(),
            FieldDecl::new("party_id", FieldType::Uuid),
            FieldDecl::new("vote_count", FieldType::Int),
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

    fn meta(&self) -> RecordMeta {
        record_meta!(self)
    }

    fn validate(&self) -> Result<(), String> {
        if self.vote_count < 0 {
            return Err(format!(
                "vote_count must be 0 or more, got {}",
                self.vote_count
            ));
        }
        Ok(())
    }
}
