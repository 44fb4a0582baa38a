//! Builders shared by the entity tests.
#![allow(dead_code)]

use jcselect_entities::Voter;
use jcselect_sync::Timestamp;
use uuid::Uuid;

/// A timestamp `seconds` after 2026-05-15T08:00:00Z.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_778_832_000_000_000 + seconds * 1_000_000)
}

/// A live, unvoted voter.
pub fn voter(id: Uuid, pen_id: Uuid, updated_at: Timestamp) -> Voter {
    Voter {
        id,
        created_at: at(0),
        updated_at,
        deleted_at: None,
        deleted_by: None,
        pen_id,
        voter_number: "1042".into(),
        full_name: "محمد علي".into(),
        father_name: Some("علي".into()),
        mother_name: None,
        birth_year: Some(1980),
        gender: None,
        has_voted: false,
        voted_at: None,
        voted_by_operator_id: None,
    }
}
