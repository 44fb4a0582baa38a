use jcselect_sync::{Syncable, Timestamp};
use uuid::Uuid;

#[derive(serde::Serialize, serde::Deserialize, Syncable)]
#[sync(table = "notes")]
struct Note {
    id: Uuid,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Option<Timestamp>,
    deleted_by: Option<Uuid>,
    weight: f64,
}

fn main() {}
