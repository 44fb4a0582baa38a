//! The entities are the desktop app's models (PROTOCOL.md §1): every
//! field by name, type and nullability, every reference, the tables and
//! scopes, read off the derived declarations.

use jcselect_sync::{FieldType, ScopeDecl, Versioning};

use FieldType::{Bool, Int, Json, Text, Timestamp as Time, Uuid};

/// (field, type, nullable) of an entity's own fields, in order.
type Fields = &'static [(&'static str, FieldType, bool)];
/// (field, parent entity) of an entity's references.
type References = &'static [(&'static str, &'static str)];
/// An entity's wire name, table, fields and references.
type Model = (&'static str, &'static str, Fields, References);

const MODELS: [Model; 7] = [
    (
        "User",
        "users",
        &[
            ("username", Text, false),
            ("password_hash", Text, false),
            ("full_name", Text, false),
            ("role", Text, false),
            ("is_active", Bool, false),
        ],
        &[],
    ),
    (
        "Party",
        "parties",
        &[
            ("name", Text, false),
            ("short_code", Text, true),
            ("display_order", Int, false),
            ("is_active", Bool, false),
        ],
        &[],
    ),
    (
        "Pen",
        "pens",
        &[("town_name", Text, false), ("label", Text, false)],
        &[],
    ),
    (
        "TallySession",
        "tally_sessions",
        &[
            ("pen_id", Uuid, false),
            ("operator_id", Uuid, false),
            ("session_name", Text, false),
            ("started_at", Time, false),
            ("completed_at", Time, true),
            ("total_votes_counted", Int, false),
            ("notes", Text, true),
            ("ballot_number", Int, false),
            ("recounted_at", Time, true),
            ("recount_operator_id", Uuid, true),
        ],
        &[
            ("pen_id", "Pen"),
            ("operator_id", "User"),
            ("recount_operator_id", "User"),
        ],
    ),
    (
        "Voter",
        "voters",
        &[
            ("pen_id", Uuid, false),
            ("voter_number", Text, false),
            ("full_name", Text, false),
            ("father_name", Text, true),
            ("mother_name", Text, true),
            ("birth_year", Int, true),
            ("gender", Text, true),
            ("has_voted", Bool, false),
            ("voted_at", Time, true),
            ("voted_by_operator_id", Uuid, true),
        ],
        &[("pen_id", "Pen"), ("voted_by_operator_id", "User")],
    ),
    (
        "TallyLine",
        "tally_lines",
        &[
            ("tally_session_id", Uuid, false),
            ("party_id", Uuid, false),
            ("candidate_id", Uuid, true),
            ("vote_count", Int, false),
            ("ballot_type", Text, false),
            ("ballot_number", Int, true),
        ],
        &[("tally_session_id", "TallySession"), ("party_id", "Party")],
    ),
    (
        "AuditLog",
        "audit_logs",
        &[
            ("operator_id", Uuid, true),
            ("action", Text, false),
            ("entity_type", Text, false),
            ("entity_id", Uuid, false),
            ("old_values", Json, true),
            ("new_values", Json, true),
            ("timestamp", Time, false),
            ("ip_address", Text, true),
            ("user_agent", Text, true),
        ],
        &[("operator_id", "User")],
    ),
];

#[test]
fn every_entity_is_the_apps_model_field_for_field() {
    let registry = jcselect_entities::registry().unwrap();
    for (name, table, fields, references) in MODELS {
        let decl = registry.entity(name).unwrap();
        assert_eq!(decl.table, table, "{name}");
        let declared: Vec<(&str, FieldType, bool)> = decl
            .fields
            .iter()
            .map(|field| (field.name, field.ty, field.nullable))
            .collect();
        assert_eq!(declared, fields.to_vec(), "{name}");
        let declared: Vec<(&str, &str)> = decl
            .references
            .iter()
            .map(|reference| (reference.field, reference.parent))
            .collect();
        assert_eq!(declared, references.to_vec(), "{name}");
        assert_eq!(decl.deleted_by, Some("User"), "{name}");
        let common: Vec<&str> = decl.common_fields().iter().map(|f| f.name).collect();
        if name == "AuditLog" {
            assert_eq!(common, ["id", "deleted_at", "deleted_by"]);
            assert_eq!(decl.versioning, Versioning::OwnField("timestamp"));
        } else {
            assert_eq!(
                common,
                ["id", "deleted_at", "deleted_by", "created_at", "updated_at"],
                "{name}"
            );
        }
    }
}

#[test]
fn scopes_keys_and_rules_are_the_contracts() {
    let registry = jcselect_entities::registry().unwrap();
    let entity = |name| registry.entity(name).unwrap();
    assert_eq!(entity("Pen").scope, ScopeDecl::Own);
    assert_eq!(entity("Party").scope, ScopeDecl::Global);
    assert_eq!(
        entity("User").scope,
        ScopeDecl::Principal {
            username: "username",
            role: "role",
            admin: "admin"
        }
    );
    assert_eq!(entity("Voter").scope, ScopeDecl::Field("pen_id"));
    assert_eq!(entity("TallySession").scope, ScopeDecl::Field("pen_id"));
    assert_eq!(
        entity("TallyLine").scope,
        ScopeDecl::Parent("tally_session_id")
    );
    assert_eq!(
        entity("AuditLog").scope,
        ScopeDecl::Named {
            entity_type: "entity_type",
            entity_id: "entity_id"
        }
    );
    let keys = |name| -> Vec<(Vec<&str>, bool)> {
        entity(name)
            .natural_keys
            .iter()
            .map(|key| (key.fields.to_vec(), key.live_only))
            .collect()
    };
    assert_eq!(keys("User"), [(vec!["username"], false)]);
    assert_eq!(keys("Party"), [(vec!["name"], false)]);
    assert_eq!(keys("Voter"), [(vec!["pen_id", "voter_number"], true)]);
    assert!(keys("TallyLine").is_empty());
    let field = |entity_name, field_name| {
        *entity(entity_name)
            .fields
            .iter()
            .find(|field| field.name == field_name)
            .unwrap()
    };
    assert!(field("User", "password_hash").credential);
    assert_eq!(
        field("TallyLine", "ballot_type").one_of,
        ["normal", "cancel", "white", "illegal", "blank"]
    );
    assert_eq!(field("User", "role").one_of, ["admin", "operator"]);
    assert_eq!(field("TallyLine", "vote_count").min, Some(0));
    let voter = entity("Voter");
    assert_eq!(voter.monotonic[0].flag, "has_voted");
    assert_eq!(
        voter.monotonic[0].mark,
        ["voted_at", "voted_by_operator_id"]
    );
}
