//! `User`: a person who operates or administers the system.

use jcselect_sync::{Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May write anything, including soft deletes.
    Admin,
    /// May write records of the pens in its token, never delete.
    Operator,
}

impl Role {
    /// The wire form (`admin`, `operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

/// A user (the app's `users` table). Its `password_hash` is a credential:
/// the server holds the real bcrypt hash and sends it only to a replica
/// entitled to it (PROTOCOL.md §2); others receive `"!"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(
    table = "users",
    deleted_by = User,
    natural_key(username),
    scope_principal(username, role, "admin")
)]
pub struct User {
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
    /// Log-in name, unique (tombstones included).
    #[sync(unique)]
    pub username: String,
    /// bcrypt hash (passlib's `$2b$`), or `"!"` (no password verifies).
    #[sync(credential)]
    pub password_hash: String,
    /// Display name.
    pub full_name: String,
    /// Admin or operator.
    #[sync(one_of("admin", "operator"))]
    pub role: Role,
    /// Whether the user may log in.
    pub is_active: bool,
}
