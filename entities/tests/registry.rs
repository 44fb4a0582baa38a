//! The registry as the apps see it: exactly jcselect's seven entities, in
//! the seed's order, decoding records with errors that name what is wrong.

mod common;

use jcselect_entities::{registry, ENTITY_NAMES};
use jcselect_sync::{Error, FieldValue};
use serde_json::json;

#[test]
fn derived_order_is_the_seeds_list() {
    let registry = registry().expect("declarations are consistent");
    assert_eq!(
        registry.names(),
        [
            "User",
            "Party",
            "Pen",
            "TallySession",
            "Voter",
            "TallyLine",
            "AuditLog"
        ]
    );
    assert_eq!(registry.names(), ENTITY_NAMES);
}

#[test]
fn every_parent_comes_before_its_children() {
    let registry = registry().unwrap();
    for decl in registry.entities() {
        for reference in decl.all_references() {
            if reference.parent != decl.name {
                assert!(
                    registry.rank(reference.parent) < registry.rank(decl.name),
                    "{} must come after {}",
                    decl.name,
                    reference.parent
                );
            }
        }
    }
}

fn voter_json() -> serde_json::Value {
    let voter = common::voter(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), common::at(5));
    serde_json::to_value(voter).unwrap()
}

/// What decoding `data` as a voter fails with.
fn voter_error(data: &serde_json::Value) -> Error {
    registry()
        .unwrap()
        .decode("Voter", &data.to_string())
        .unwrap_err()
}

#[test]
fn decodes_a_record_with_arabic_text_byte_for_byte() {
    let data = voter_json();
    let record = registry()
        .unwrap()
        .decode("Voter", &data.to_string())
        .unwrap();
    assert_eq!(
        record.get("full_name"),
        Some(&FieldValue::Text("محمد علي".into()))
    );
    assert_eq!(record.to_json(), data);
}

#[test]
fn unknown_entity_type_is_named_with_the_known_ones() {
    let error = registry().unwrap().decode("Ballot", "{}").unwrap_err();
    assert!(matches!(error, Error::UnknownEntity { .. }));
    let message = error.to_string();
    assert!(
        message.contains("Ballot") && message.contains("TallyLine"),
        "{message}"
    );
}

#[test]
fn a_missing_field_is_named() {
    let mut data = voter_json();
    data.as_object_mut().unwrap().remove("voter_number");
    let error = voter_error(&data);
    assert_eq!(
        error,
        Error::MissingField {
            entity: "Voter",
            field: "voter_number"
        }
    );
}

#[test]
fn a_wrong_type_is_named() {
    let mut data = voter_json();
    data["has_voted"] = json!("yes");
    let error = voter_error(&data);
    assert!(
        matches!(
            error,
            Error::WrongType {
                field: "has_voted",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("has_voted"));

    data["has_voted"] = json!(false);
    data["updated_at"] = json!("15 May 2026");
    let error = voter_error(&data);
    assert!(error.to_string().contains("updated_at"), "{error}");
}

#[test]
fn an_absent_nullable_field_reads_as_null() {
    let mut data = voter_json();
    data.as_object_mut().unwrap().remove("mother_name");
    let record = registry()
        .unwrap()
        .decode("Voter", &data.to_string())
        .unwrap();
    assert_eq!(record.get("mother_name"), Some(&FieldValue::Null));
}

#[test]
fn entity_rules_are_checked() {
    let line = json!({
        "id": uuid::Uuid::new_v4(), "created_at": "2026-05-15T09:00:00.000000Z",
        "updated_at": "2026-05-15T09:00:00.000000Z", "deleted_at": null, "deleted_by": null,
        "tally_session_id": uuid::Uuid::new_v4(), "party_id": uuid::Uuid::new_v4(),
        "vote_count": -1
    });
    let error = registry()
        .unwrap()
        .decode("TallyLine", &line.to_string())
        .unwrap_err();
    assert!(matches!(
        error,
        Error::Invalid {
            entity: "TallyLine",
            ..
        }
    ));
    assert!(error.to_string().contains("vote_count"), "{error}");
}

#[test]
fn a_role_outside_admin_and_operator_is_refused() {
    let user = json!({
        "id": uuid::Uuid::new_v4(), "created_at": "2026-05-15T09:00:00.000000Z",
        "updated_at": "2026-05-15T09:00:00.000000Z", "deleted_at": null, "deleted_by": null,
        "username": "sara", "full_name": "Sara", "role": "root", "is_active": true
    });
    let error = registry()
        .unwrap()
        .decode("User", &user.to_string())
        .unwrap_err();
    assert!(error.to_string().contains("root"), "{error}");
}

#[test]
fn json_text_is_read_in_one_pass_whatever_the_key_order() {
    let data = voter_json();
    let mut pairs: Vec<(String, serde_json::Value)> = data
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    pairs.reverse();
    let reversed = format!(
        "{{{}, \"not_a_field\": [1, {{\"x\": null}}]}}",
        pairs
            .iter()
            .map(|(key, value)| format!("{key:?}: {value}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let record = registry().unwrap().decode("Voter", &reversed).unwrap();
    assert_eq!(record.to_json(), data, "undeclared keys are ignored");
}

#[test]
fn text_that_is_not_one_json_object_is_refused_with_its_reason() {
    let data = voter_json().to_string();
    for (text, expected) in [
        (format!("{data} trailing"), "not JSON"),
        (data[..data.len() - 1].to_owned(), "not JSON"),
        ("[1, 2]".to_owned(), "an array"),
        ("\"voter\"".to_owned(), "string"),
        ("null".to_owned(), "null"),
    ] {
        let error = registry().unwrap().decode("Voter", &text).unwrap_err();
        assert!(error.to_string().contains(expected), "{text}: {error}");
    }
    let mut nested = voter_json();
    nested["full_name"] = json!({"first": "Ali"});
    let error = registry()
        .unwrap()
        .decode("Voter", &nested.to_string())
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongType { field: "full_name", ref found, .. } if found == "an object"),
        "{error}"
    );
}

#[test]
fn the_first_bad_field_in_declaration_order_is_the_one_named() {
    let mut data = voter_json();
    data["has_voted"] = json!(1);
    data.as_object_mut().unwrap().remove("pen_id");
    let error = voter_error(&data);
    assert_eq!(
        error,
        Error::MissingField {
            entity: "Voter",
            field: "pen_id"
        }
    );
}
