//! `AuditLog`: the append-only trail of who did what.

use jcselect_sync::{Syncable, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One audit row (the app's `audit_logs` table). Append-only: an existing
/// row is never edited, only an admin may tombstone one; its `timestamp`
/// is its version time (it has no `created_at`/`updated_at`). It takes the
/// scope of the record it names, fixed when the row is stored. Synced after
/// every other entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(
    table = "audit_logs",
    formerly = "audit_log",
    deleted_by = User,
    version = timestamp,
    scope_named(entity_type, entity_id),
    placement_last,
    append_only,
    owner = operator_id
)]
pub struct AuditLog {
    /// Primary key.
    pub id: Uuid,
    /// Tombstone.
    pub deleted_at: Option<Timestamp>,
    /// Who deleted it.
    pub deleted_by: Option<Uuid>,
    /// Who acted.
    #[sync(references = User, indexed)]
    pub operator_id: Option<Uuid>,
    /// What happened (`VOTER_MARKED`, `SYNC_CONFLICT`, …).
    #[sync(indexed)]
    pub action: String,
    /// The entity acted on (a wire name such as `Voter`; empty in a row
    /// an earlier version stored without one).
    #[sync(indexed, upgrade_default = "''")]
    pub entity_type: String,
    /// The record acted on (the nil id in a row an earlier version stored
    /// without one).
    #[sync(indexed, upgrade_default = "'00000000-0000-0000-0000-000000000000'")]
    pub entity_id: Uuid,
    /// The record before.
    pub old_values: Option<Value>,
    /// The record after.
    pub new_values: Option<Value>,
    /// When it happened.
    #[sync(indexed, formerly = "created_at")]
    pub timestamp: Timestamp,
    /// Where the request came from, when known.
    pub ip_address: Option<String>,
    /// What program made the request, when known.
    pub user_agent: Option<String>,
}

/// jcselect's audit trail for the sync logic: `SYNC_CONFLICT` rows holding
/// the losing version in `old_values` and the winner in `new_values`, and
/// `DUPLICATE_VOTE_MARK` rows holding both marks; credentials never in
/// either.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncAudit;

impl jcselect_sync::audit::AuditTrail for SyncAudit {
    fn record(
        &self,
        event: jcselect_sync::audit::AuditEvent<'_>,
        actor: Option<Uuid>,
        at: Timestamp,
    ) -> jcselect_sync::Record {
        use jcselect_sync::audit::AuditEvent;
        let (action, record, old_values, new_values) = match event {
            AuditEvent::SyncConflict { winner, loser } => (
                "SYNC_CONFLICT",
                winner,
                loser.to_json_without_credentials(),
                winner.to_json_without_credentials(),
            ),
            AuditEvent::DuplicateMark { record, mark } => {
                let as_object = |values: &[jcselect_sync::FieldValue]| {
                    let mut object = serde_json::Map::new();
                    object.insert(mark.flag.to_owned(), Value::Bool(true));
                    for (field, value) in mark.fields.iter().zip(values) {
                        object.insert((*field).to_owned(), value.to_json());
                    }
                    Value::Object(object)
                };
                (
                    "DUPLICATE_VOTE_MARK",
                    record,
                    as_object(&mark.dropped),
                    as_object(&mark.kept),
                )
            }
        };
        let row = AuditLog {
            id: Uuid::now_v7(),
            deleted_at: None,
            deleted_by: None,
            operator_id: actor,
            action: action.to_owned(),
            entity_type: record.entity().name.to_owned(),
            entity_id: record.id(),
            old_values: Some(old_values),
            new_values: Some(new_values),
            timestamp: at,
            ip_address: None,
            user_agent: None,
        };
        row.to_record()
            .expect("an audit row always fits its own declaration")
    }
}
