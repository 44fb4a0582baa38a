//! `Voter`: one person on a pen's list, and whether they voted.

use jcselect_sync::{
    EntityDecl, FieldDecl, FieldType, MonotonicDecl, NaturalKey, ReferenceDecl, ScopeDecl,
    Syncable, Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A voter (the app's `voters` table). `has_voted` is monotonic: once any
/// replica marks the voter, the mark stays, with the earliest
/// `voted_at`/`voted_by_operator_id`. A pen's `voter_number` is unique
/// among its live voters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub pen_id: Uuid,
    /// Number on the list.
    pub voter_number: String,
    /// Full name.
    pub full_name: String,
    /// Father's name.
    pub father_name: Option<String>,
    /// Mother's name.
    pub mother_name: Option<String>,
    /// Year of birth.
    pub birth_year: Option<i64>,
    /// Gender, as the list gives it.
    pub gender: Option<String>,
    /// Whether the voter has voted.
    pub has_voted: bool,
    /// When the voter was marked.
    pub voted_at: Option<Timestamp>,
    /// Who marked the voter.
    pub voted_by_operator_id: Option<Uuid>,
}

impl Syncable for Voter {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("pen_id", FieldType::Uuid).indexed(),
            FieldDecl::new("voter_number", FieldType::Text).indexed(),
            FieldDecl::new("full_name", FieldType::Text).indexed(),
            FieldDecl::new("father_name", FieldType::Text)
                .nullable()
                .indexed(),
            FieldDecl::new("mother_name", FieldType::Text).nullable(),
            FieldDecl::new("birth_year", FieldType::Int).nullable(),
            FieldDecl::new("gender", FieldType::Text).nullable(),
            FieldDecl::new("has_voted", FieldType::Bool).indexed(),
            FieldDecl::new("voted_at", FieldType::Timestamp).nullable(),
            FieldDecl::new("voted_by_operator_id", FieldType::Uuid)
                .nullable()
                .indexed(),
        ],
        references: &[
            ReferenceDecl {
                field: "pen_id",
                parent: "Pen",
            },
            ReferenceDecl {
                field: "voted_by_operator_id",
                parent: "User",
            },
        ],
        natural_keys: &[NaturalKey {
            fields: &["pen_id", "voter_number"],
            live_only: true,
        }],
        deleted_by: Some("User"),
        scope: ScopeDecl::Field("pen_id"),
        monotonic: &[MonotonicDecl {
            flag: "has_voted",
            mark: &["voted_at", "voted_by_operator_id"],
        }],
        ..EntityDecl::new("Voter", "voters")
    };
}
