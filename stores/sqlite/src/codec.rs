//! Field values to SQLite parameters and back.

use jcselect_sync::record::{FieldValue, Record};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, FieldType, Timestamp};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::Row;
use uuid::Uuid;

/// A query being bound.
pub(crate) type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

/// Maps a driver error; busy databases and pool time-outs are retryable.
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    let retryable = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517"))
        }
        _ => false,
    };
    StoreError::Backend {
        store: "sqlite",
        retryable,
        source: Box::new(error),
    }
}

/// Binds one value of an entity table in the jcselect desktop app's
/// storage format (PROTOCOL.md §7): UUIDs as 32 lower-case hex digits,
/// times as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff`, booleans 0/1, JSON as
/// text.
pub(crate) fn bind<'q>(query: SqliteQuery<'q>, value: &FieldValue) -> SqliteQuery<'q> {
    match value {
        FieldValue::Null => query.bind(None::<String>),
        FieldValue::Uuid(id) => query.bind(app_uuid(id)),
        FieldValue::Text(text) => query.bind(text.clone()),
        FieldValue::Int(number) => query.bind(*number),
        FieldValue::Bool(flag) => query.bind(*flag),
        FieldValue::Timestamp(ts) => query.bind(app_time(*ts)),
        FieldValue::Json(json) => query.bind(json.to_string()),
    }
}

/// Binds one value of `field` (text stored as the field says).
pub(crate) fn bind_field<'q>(
    query: SqliteQuery<'q>,
    field: &jcselect_sync::FieldDecl,
    value: &FieldValue,
) -> SqliteQuery<'q> {
    match value {
        FieldValue::Text(text) if field.stored_upper => query.bind(field.to_stored(text)),
        other => bind(query, other),
    }
}

/// A UUID as the desktop app stores it: 32 lower-case hex digits.
pub(crate) fn app_uuid(id: &Uuid) -> String {
    id.simple().to_string()
}

/// A time as the desktop app stores it: naive UTC with a space and six
/// fractional digits (fixed width, so text order is time order).
pub(crate) fn app_time(ts: Timestamp) -> String {
    let canonical = ts.to_string();
    format!("{} {}", &canonical[..10], &canonical[11..26])
}

pub(crate) fn corrupt(table: &'static str, message: String) -> StoreError {
    StoreError::Corrupt {
        store: "sqlite",
        table,
        message,
    }
}

/// Reads a UUID stored as text, hyphenated or not (older jcselect
/// databases store 32 hex digits).
pub(crate) fn parse_uuid(table: &'static str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text)
        .map_err(|error| corrupt(table, format!("{text:?} is not a UUID: {error}")))
}

/// Reads a time stamp stored as text: the app's naive form (a space, six
/// fractional digits or whole seconds, no zone: UTC) or RFC 3339.
pub(crate) fn parse_timestamp(table: &'static str, text: &str) -> Result<Timestamp, StoreError> {
    let normalised = if text.as_bytes().get(10) == Some(&b' ') {
        format!("{}T{}", &text[..10], &text[11..])
    } else {
        text.to_owned()
    };
    normalised
        .parse()
        .map_err(|error| corrupt(table, format!("{error}")))
}

/// Reads a row of `SELECT all_fields FROM table` into a record.
pub(crate) fn decode_record(
    entity: &'static EntityDecl,
    row: &SqliteRow,
) -> Result<Record, StoreError> {
    let table = entity.table;
    let get_text = |index: usize| -> Result<Option<String>, StoreError> {
        row.try_get::<Option<String>, _>(index)
            .map_err(|error| corrupt(table, error.to_string()))
    };
    let mut values = Vec::with_capacity(entity.field_count());
    for (index, field) in entity.all_fields().enumerate() {
        let value = match field.ty {
            FieldType::Int | FieldType::Bool => {
                let number = row
                    .try_get::<Option<i64>, _>(index)
                    .map_err(|error| corrupt(table, format!("{}: {error}", field.name)))?;
                match (field.ty, number) {
                    (_, None) => FieldValue::Null,
                    (FieldType::Bool, Some(number)) => FieldValue::Bool(number != 0),
                    (_, Some(number)) => FieldValue::Int(number),
                }
            }
            ty => match get_text(index)? {
                None => FieldValue::Null,
                Some(text) => match ty {
                    FieldType::Uuid => FieldValue::Uuid(parse_uuid(table, &text)?),
                    FieldType::Timestamp => FieldValue::Timestamp(parse_timestamp(table, &text)?),
                    FieldType::Json => FieldValue::Json(
                        serde_json::from_str(&text)
                            .map_err(|error| corrupt(table, error.to_string()))?,
                    ),
                    _ => FieldValue::Text(field.from_stored(text)),
                },
            },
        };
        values.push(value);
    }
    Ok(Record::from_values(entity, values)?)
}
