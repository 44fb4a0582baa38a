//! Adding an entity: one struct and its registration, nothing else edited.
//! Its order, decoding, foreign-key checks, scope, tables and schema
//! follow from the struct.
//!
//! `cargo run -p jcselect-entities --example recount` prints where it lands.

use jcselect_sync::{register_entity, Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A recount request for one tally line.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[sync(table = "recounts", deleted_by = User, scope_parent = tally_line_id)]
pub struct Recount {
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
    /// The line to count again.
    #[sync(references = TallyLine, indexed)]
    pub tally_line_id: Uuid,
    /// Why.
    pub reason: String,
}

register_entity!(Recount);

fn main() {
    let registry = jcselect_entities::registry().expect("the declarations are consistent");
    println!("sync order: {}", registry.names().join(" → "));
    let decl = Recount::DECL;
    for field in decl.all_fields() {
        println!(
            "  {}.{}: {:?}{}",
            decl.table,
            field.name,
            field.ty,
            if field.nullable { " (nullable)" } else { "" }
        );
    }
}
