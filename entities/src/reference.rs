//! The reference data every pen needs: `Party` and `Pen`.

use jcselect_sync::{
    record_meta, EntityDecl, FieldDecl, FieldType, RecordMeta, Syncable, Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A party on the ballot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
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
    /// Full name.
    pub name: String,
    /// Short name.
    pub abbreviation: Option<String>,
    /// Position on tally sheets.
    pub display_order: i64,
}

impl Syncable for Party {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("name", FieldType::Text),
            FieldDecl::new("abbreviation", FieldType::Text).nullable(),
            FieldDecl::new("display_order", FieldType::Int),
        ],
        deleted_by: Some("User"),
        ..EntityDecl::new("Party", "parties")
    };

    fn meta(&self) -> RecordMeta {
        record_meta!(self)
    }
}

/// A polling station ("pen"): the unit of scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pen {
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
    /// Display label.
    pub label: String,
    /// Town it serves.
    pub town: Option<String>,
}

impl Syncable for Pen {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("label", FieldType::Text),
            FieldDecl::new("town", FieldType::Text).nullable(),
        ],
        deleted_by: Some("User"),
        ..EntityDecl::new("Pen", "pens")
    };

    fn meta(&self) -> RecordMeta {
        record_meta!(self)
    }
}
