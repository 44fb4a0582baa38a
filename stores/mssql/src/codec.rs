//! Field values to SQL Server parameters and back.

use chrono::NaiveDateTime;
use jcselect_sync::record::{FieldValue, Record};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, FieldType, Timestamp};
use tiberius::{Query, Row};
use uuid::Uuid;

/// Maps a driver error; deadlocks and I/O failures are retryable.
pub(crate) fn backend(error: tiberius::error::Error) -> StoreError {
    let retryable = error.is_deadlock() || matches!(error, tiberius::error::Error::Io { .. });
    StoreError::Backend {
        store: "mssql",
        retryable,
        source: Box::new(error),
    }
}

/// Maps a pool error (time-outs are retryable).
pub(crate) fn pool(error: bb8::RunError<tiberius::error::Error>) -> StoreError {
    match error {
        bb8::RunError::User(error) => backend(error),
        bb8::RunError::TimedOut => StoreError::Backend {
            store: "mssql",
            retryable: true,
            source: "timed out waiting for a connection".into(),
        },
    }
}

pub(crate) fn corrupt(table: &'static str, message: String) -> StoreError {
    StoreError::Corrupt {
        store: "mssql",
        table,
        message,
    }
}

/// A time stamp as `DATETIME2` (UTC, no offset).
pub(crate) fn datetime(ts: Timestamp) -> NaiveDateTime {
    ts.to_datetime().naive_utc()
}

/// A stored `DATETIME2` read back.
pub(crate) fn timestamp(
    table: &'static str,
    value: NaiveDateTime,
) -> Result<Timestamp, StoreError> {
    Timestamp::from_datetime(value.and_utc()).map_err(|error| corrupt(table, error.to_string()))
}

/// Binds one value with its column's type.
pub(crate) fn bind(query: &mut Query<'_>, value: &FieldValue, ty: FieldType) {
    match (value, ty) {
        (FieldValue::Null, FieldType::Uuid) => query.bind(None::<Uuid>),
        (FieldValue::Null, FieldType::Int) => query.bind(None::<i64>),
        (FieldValue::Null, FieldType::Bool) => query.bind(None::<bool>),
        (FieldValue::Null, FieldType::Timestamp) => query.bind(None::<NaiveDateTime>),
        (FieldValue::Null, _) => query.bind(None::<String>),
        (FieldValue::Uuid(id), _) => query.bind(*id),
        (FieldValue::Text(text), _) => query.bind(text.clone()),
        (FieldValue::Int(number), _) => query.bind(*number),
        (FieldValue::Bool(flag), _) => query.bind(*flag),
        (FieldValue::Timestamp(ts), _) => query.bind(datetime(*ts)),
        (FieldValue::Json(json), _) => query.bind(json.to_string()),
    }
}

/// Binds one value of `field` (text stored as the field says).
pub(crate) fn bind_field(
    query: &mut Query<'_>,
    field: &jcselect_sync::FieldDecl,
    value: &FieldValue,
) {
    match value {
        FieldValue::Text(text) if field.stored_upper => query.bind(field.to_stored(text)),
        other => bind(query, other, field.ty),
    }
}

/// Reads a row of `SELECT all_fields FROM table` into a record.
pub(crate) fn decode_record(entity: &'static EntityDecl, row: &Row) -> Result<Record, StoreError> {
    let table = entity.table;
    let mut values = Vec::with_capacity(entity.field_count());
    for (index, field) in entity.all_fields().enumerate() {
        let bad =
            |error: tiberius::error::Error| corrupt(table, format!("{}: {error}", field.name));
        let value = match field.ty {
            FieldType::Uuid => row
                .try_get::<Uuid, _>(index)
                .map_err(bad)?
                .map(FieldValue::Uuid),
            FieldType::Text => row
                .try_get::<&str, _>(index)
                .map_err(bad)?
                .map(|text| FieldValue::Text(field.from_stored(text.to_owned()))),
            FieldType::Int => row
                .try_get::<i64, _>(index)
                .map_err(bad)?
                .map(FieldValue::Int),
            FieldType::Bool => row
                .try_get::<bool, _>(index)
                .map_err(bad)?
                .map(FieldValue::Bool),
            FieldType::Timestamp => row
                .try_get::<NaiveDateTime, _>(index)
                .map_err(bad)?
                .map(|value| timestamp(table, value).map(FieldValue::Timestamp))
                .transpose()?,
            FieldType::Json => row
                .try_get::<&str, _>(index)
                .map_err(bad)?
                .map(|text| {
                    serde_json::from_str(text)
                        .map(FieldValue::Json)
                        .map_err(|error| corrupt(table, error.to_string()))
                })
                .transpose()?,
        };
        values.push(value.unwrap_or(FieldValue::Null));
    }
    Ok(Record::from_values(entity, values)?)
}
