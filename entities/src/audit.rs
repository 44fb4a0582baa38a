//! `AuditLog`: the append-only trail of who did what.

use jcselect_sync::{
    record_meta, EntityDecl, FieldDecl, FieldType, Placement, RecordMeta, ReferenceDecl, ScopeDecl,
    Syncable, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One audit row. Append-only: an existing row is never edited, only an
/// admin may tombstone one. Synced after every other entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLog {
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
    /// Who acted.
    pub operator_id: Option<Uuid>,
    /// What happened (`VOTER_DELETED`, `SYNC_CONFLICT`, …).
    pub action: String,
    /// The entity acted on.
    pub entity_type: Option<String>,
    /// The record acted on.
    pub entity_id: Option<Uuid>,
    /// The record before.
    pub old_values: Option<Value>,
    /// The record after.
    pub new_values: Option<Value>,
    /// The pen it happened at.
    pub pen_id: Option<Uuid>,
}

impl Syncable for AuditLog {
    const DECL: &'static EntityDecl = &EntityDecl {
        fields: &[
            FieldDecl::new("operator_id", FieldType::Uuid).nullable(),
            FieldDecl::new("action", FieldType::Text),
            FieldDecl::new("entity_type", FieldType::Text).nullable(),
            FieldDecl::new("entity_id", FieldType::Uuid)
                .nullable()
                .indexed(),
            FieldDecl::new("old_values", FieldType::Json).nullable(),
            FieldDecl::new("new_values", FieldType::Json).nullable(),
            FieldDecl::new("pen_id", FieldType::Uuid)
                .nullable()
                .indexed(),
        ],
        references: &[
            ReferenceDecl {
                field: "operator_id",
                parent: "User",
            },
            ReferenceDecl {
                field: "pen_id",
                parent: "Pen",
            },
        ],
        deleted_by: Some("User"),
        scope: ScopeDecl::Field("pen_id"),
        placement: Placement::Last,
        append_only: true,
        owner_field: Some("operator_id"),
        ..EntityDecl::new("AuditLog", "audit_log")
    };

    fn meta(&self) -> RecordMeta {
        record_meta!(self)
    }
}

/// jcselect's audit trail for the sync logic: `SYNC_CONFLICT` rows holding
/// the losing version in `old_values` and the winner in `new_values`, and
/// `DUPLICATE_VOTE_MARK` rows holding both marks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncAudit;

impl jcselect_sync::audit::AuditTrail for SyncAudit {
    fn record(
        &self,
        event: jcselect_sync::audit::AuditEvent<'_>,
        actor: Option<Uuid>,
        scope: Option<Uuid>,
        at: Timestamp,
    ) -> jcselect_sync::Record {
        use jcselect_sync::audit::AuditEvent;
        let (action, record, old_values, new_values) = match event {
            AuditEvent::SyncConflict { winner, loser } => {
                ("SYNC_CONFLICT", winner, loser.to_json(), winner.to_json())
            }
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
            created_at: at,
            updated_at: at,
            deleted_at: None,
            deleted_by: None,
            operator_id: actor,
            action: action.to_owned(),
            entity_type: Some(record.entity().name.to_owned()),
            entity_id: Some(record.id()),
            old_values: Some(old_values),
            new_values: Some(new_values),
            pen_id: scope,
        };
        row.to_record()
            .expect("an audit row always fits its own declaration")
    }
}
