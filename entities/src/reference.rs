//! The reference data every pen needs: `Party` and `Pen`.

use jcselect_sync::{Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A party on the ballot (the app's `parties` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(table = "parties", deleted_by = User, natural_key(name))]
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
    #[sync(unique)]
    pub name: String,
    /// Short name.
    #[sync(formerly = "abbreviation")]
    pub short_code: Option<String>,
    /// Position on tally sheets.
    #[sync(indexed)]
    pub display_order: i64,
    /// Whether it is on this election's ballot.
    #[sync(indexed, upgrade_default = "1")]
    pub is_active: bool,
}

/// A polling station ("pen", the app's `pens` table): the unit of scope,
/// in its own scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(table = "pens", deleted_by = User, scope = "own")]
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
    #[sync(indexed, formerly = "town", upgrade_default = "''")]
    pub town_name: String,
    /// Display label.
    #[sync(indexed)]
    pub label: String,
}
