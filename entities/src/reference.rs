//! The reference data every pen needs: `Party` and `Pen`.

use jcselect_sync::{EntityDecl, FieldDecl, FieldType, NaturalKey, ScopeDecl, Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A party on the ballot (the app's `parties` table).
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
    /// Full name, unique (tombstones included).
    pub name: String,
    /// Short name.
    pub short_code: Option<String>,
    /// Position on tally sheets.
    pub display_order: i64,
    /// Whether it is on this election's ballot.
    pub is_active: bool,
}

impl Syncable for Party {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("name", FieldType::Text).unique(),
            FieldDecl::new("short_code", FieldType::Text).nullable(),
            FieldDecl::new("display_order", FieldType::Int).indexed(),
            FieldDecl::new("is_active", FieldType::Bool).indexed(),
        ],
        natural_keys: &[NaturalKey {
            fields: &["name"],
            live_only: false,
        }],
        deleted_by: Some("User"),
        ..EntityDecl::new("Party", "parties")
    };
}

/// A polling station ("pen", the app's `pens` table): the unit of scope,
/// in its own scope.
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
    /// Town it serves.
    pub town_name: String,
    /// Display label.
    pub label: String,
}

impl Syncable for Pen {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("town_name", FieldType::Text).indexed(),
            FieldDecl::new("label", FieldType::Text).indexed(),
        ],
        deleted_by: Some("User"),
        scope: ScopeDecl::Own,
        ..EntityDecl::new("Pen", "pens")
    };
}
