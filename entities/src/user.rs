//! `User`: a person who operates or administers the system.

use jcselect_sync::{EntityDecl, FieldDecl, FieldType, NaturalKey, Syncable, Timestamp};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub username: String,
    /// bcrypt hash (passlib's `$2b$`), or `"!"` (no password verifies).
    pub password_hash: String,
    /// Display name.
    pub full_name: String,
    /// Admin or operator.
    pub role: Role,
    /// Whether the user may log in.
    pub is_active: bool,
}

impl Syncable for User {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("username", FieldType::Text).unique(),
            FieldDecl::new("password_hash", FieldType::Text).credential(),
            FieldDecl::new("full_name", FieldType::Text),
            FieldDecl::new("role", FieldType::Text).one_of(&["admin", "operator"]),
            FieldDecl::new("is_active", FieldType::Bool),
        ],
        natural_keys: &[NaturalKey {
            fields: &["username"],
            live_only: false,
        }],
        deleted_by: Some("User"),
        ..EntityDecl::new("User", "users")
    };
}
