//! An entity defined only here, by implementing the trait and submitting
//! it, takes its place in the derived order with no other code edited.

use jcselect_sync::{register_entity, Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A recount request for one tally line: the struct is its declaration.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[sync(table = "recounts", deleted_by = User, scope_parent = tally_line_id)]
struct Recount {
    id: Uuid,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Option<Timestamp>,
    deleted_by: Option<Uuid>,
    #[sync(references = TallyLine)]
    tally_line_id: Uuid,
    reason: String,
}

register_entity!(Recount);

#[test]
fn the_eighth_entity_goes_after_its_parent_and_before_the_audit_logs() {
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
    assert_eq!(decl, Recount::DECL);
    let fields: Vec<_> = decl
        .fields
        .iter()
        .map(|f| (f.name, f.ty, f.nullable))
        .collect();
    assert_eq!(
        fields,
        [
            ("tally_line_id", jcselect_sync::FieldType::Uuid, false),
            ("reason", jcselect_sync::FieldType::Text, false)
        ]
    );
    assert_eq!(decl.references[0].parent, "TallyLine");
    assert_eq!(
        decl.scope,
        jcselect_sync::ScopeDecl::Parent("tally_line_id")
    );
}
