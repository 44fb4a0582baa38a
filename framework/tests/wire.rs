//! The wire types and the timestamp, as JSON.

use jcselect_sync::wire::{
    DependencyConflict, EntityChange, EntityRef, FailedChange, FailureReason, Operation,
    SyncPushRequest, SyncPushResponse,
};
use jcselect_sync::Timestamp;
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

proptest! {
    #[test]
    fn timestamps_round_trip_through_json_to_the_microsecond(
        micros in Timestamp::MIN.unix_micros()..=Timestamp::MAX.unix_micros()
    ) {
        let ts = Timestamp::from_unix_micros(micros);
        let text = serde_json::to_string(&ts).unwrap();
        // "YYYY-MM-DDTHH:MM:SS.ffffffZ" plus the quotes
        prop_assert_eq!(text.len(), 29);
        prop_assert_eq!(serde_json::from_str::<Timestamp>(&text).unwrap(), ts);
        // the text sorts like the instant
        let later = ts.plus_micros(1);
        prop_assert!(later.to_string() >= ts.to_string());
    }
}

#[test]
fn a_push_request_reads_the_protocol_example() {
    let body = json!({
        "client_id": "8b0c2f1e-0000-4000-8000-000000000001",
        "changes": [{
            "change_id": "5f1e0000-0000-4000-8000-000000000001",
            "entity_type": "Voter",
            "entity_id": "0d9a0000-0000-4000-8000-000000000001",
            "operation": "UPDATE",
            "timestamp": "2026-05-15T09:12:44.120031Z",
            "data": {"id": "0d9a0000-0000-4000-8000-000000000001"}
        }]
    });
    let request: SyncPushRequest = serde_json::from_str(&body.to_string()).unwrap();
    assert_eq!(request.changes[0].operation, Operation::Update);
    assert_eq!(
        request.changes[0].timestamp.to_string(),
        "2026-05-15T09:12:44.120031Z"
    );
    assert_eq!(serde_json::to_value(&request).unwrap(), body);
}

#[test]
fn a_bad_envelope_names_the_field() {
    let error = serde_json::from_str::<EntityChange>(
        &json!({
            "change_id": "5f1e0000-0000-4000-8000-000000000001",
            "entity_type": "Voter",
            "entity_id": "0d9a0000-0000-4000-8000-000000000001",
            "operation": "DELETE",
            "timestamp": "2026-05-15T09:12:44.120031Z",
            "data": {}
        })
        .to_string(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("DELETE"), "{error}");
}

#[test]
fn bucket_entries_are_the_change_with_extra_keys() {
    let change = EntityChange {
        change_id: Uuid::nil(),
        entity_type: "TallyLine".into(),
        entity_id: Uuid::nil(),
        operation: Operation::Insert,
        timestamp: Timestamp::from_unix_micros(0),
        data: serde_json::value::to_raw_value(&json!({"id": "x", "n": 1})).unwrap(),
    };
    let response = SyncPushResponse {
        processed_count: 0,
        conflicts: vec![],
        dependency_conflicts: vec![DependencyConflict {
            change: change.clone(),
            missing: vec![EntityRef {
                entity_type: "TallySession".into(),
                entity_id: Uuid::nil(),
            }],
        }],
        failed_changes: vec![FailedChange {
            change,
            reason: FailureReason::ClockSkew,
            message: "too far ahead".into(),
        }],
        server_timestamp: Timestamp::from_unix_micros(0),
    };
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["dependency_conflicts"][0]["entity_type"], "TallyLine");
    assert_eq!(
        json["dependency_conflicts"][0]["missing"][0]["entity_type"],
        "TallySession"
    );
    assert_eq!(json["failed_changes"][0]["reason"], "clock_skew");
    assert_eq!(json["server_timestamp"], "1970-01-01T00:00:00.000000Z");
    assert_eq!(json["failed_changes"][0]["data"]["n"], 1);
    let back: SyncPushResponse = serde_json::from_str(&json.to_string()).unwrap();
    assert_eq!(back, response);
}
