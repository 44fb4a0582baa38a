//! An entity defined only here, by implementing the trait and submitting
//! it, takes its place in the derived order with no other code edited.

use jcselect_sync::{
    register_entity, EntityDecl, FieldDecl, FieldType, ReferenceDecl, ScopeDecl, Syncable,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A recount request for one tally line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recount {
    id: Uuid,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Option<Timestamp>,
    deleted_by: Option<Uuid>,
    tally_line_id: Uuid,
    reason: String,
}

impl Syncable for Recount {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("tally_line_id", FieldType::Uuid),
            FieldDecl::new("reason", FieldType::Text),
        ],
        references: &[ReferenceDecl {
            field: "tally_line_id",
            parent: "TallyLine",
        }],
        deleted_by: Some("User"),
        scope: ScopeDecl::Parent("tally_line_id"),
        ..EntityDecl::new("Recount", "recounts")
    };
}

register_entity!(Recount);

#[test]
fn the_eighth_entity_goes_after_its_parent_and_before_the_audit_log() {
    let registry = jcselect_entities::registry().unwrap();
    assert_eq!(
        registry.names(),
        [
            "User",
            "Party",
            "Pen",
            "TallySession",
            "Voter",
            "TallyLine",
            "Recount",
            "AuditLog"
        ]
    );
    let decl = registry.entity("Recount").unwrap();
    assert_eq!(decl.table, "recounts");
}
