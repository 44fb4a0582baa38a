//! A cycle among entity declarations is refused at start-up with an error
//! that names the entities on it.

use jcselect_sync::{
    register_entity, EntityDecl, Error, FieldDecl, FieldType, ReferenceDecl, Registry, Syncable,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! entity_pointing_at {
    ($name:ident, $wire:literal, $table:literal, $parent:literal) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        struct $name {
            id: Uuid,
            created_at: Timestamp,
            updated_at: Timestamp,
            deleted_at: Option<Timestamp>,
            deleted_by: Option<Uuid>,
            other_id: Uuid,
        }
        impl Syncable for $name {
            const DECL: &'static EntityDecl = &EntityDecl {
                fields: &[FieldDecl::new("other_id", FieldType::Uuid)],
                references: &[ReferenceDecl {
                    field: "other_id",
                    parent: $parent,
                }],
                ..EntityDecl::new($wire, $table)
            };
        }
        register_entity!($name);
    };
}

entity_pointing_at!(Chicken, "Chicken", "chickens", "Egg");
entity_pointing_at!(Egg, "Egg", "eggs", "Chicken");

#[test]
fn a_cycle_is_refused_naming_both_entities() {
    let error = Registry::global().unwrap_err();
    let Error::Cycle { entities } = &error else {
        panic!("expected a cycle error, got {error}");
    };
    assert!(
        entities.contains(&"Chicken") && entities.contains(&"Egg"),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("Chicken") && message.contains("Egg"),
        "{message}"
    );
}
