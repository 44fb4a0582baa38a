//! Field values to PostgreSQL parameters and back.

use chrono::{DateTime, Utc};
use jcselect_sync::record::{FieldValue, Record};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, FieldType, Timestamp};
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::Row;
use uuid::Uuid;

/// A query being bound.
pub(crate) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Maps a driver error; serialisation failures, deadlocks, lost
/// connections and pool time-outs are retryable.
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    let retryable = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(code.as_ref(), "40001" | "40P01" | "57P01") || code.starts_with("08")
        }),
        _ => false,
    };
    StoreError::Backend {
        store: "postgres",
        retryable,
        source: Box::new(error),
    }
}

pub(crate) fn corrupt(table: &'static str, message: String) -> StoreError {
    StoreError::Corrupt {
        store: "postgres",
        table,
        message,
    }
}

/// Binds one value with its native type (JSON as text, cast by the
/// statement).
pub(crate) fn bind<'q>(query: PgQuery<'q>, value: &FieldValue, ty: FieldType) -> PgQuery<'q> {
    match (value, ty) {
        (FieldValue::Null, FieldType::Uuid) => query.bind(None::<Uuid>),
        (FieldValue::Null, FieldType::Int) => query.bind(None::<i64>),
        (FieldValue::Null, FieldType::Bool) => query.bind(None::<bool>),
        (FieldValue::Null, FieldType::Timestamp) => query.bind(None::<DateTime<Utc>>),
        (FieldValue::Null, _) => query.bind(None::<String>),
        (FieldValue::Uuid(id), _) => query.bind(*id),
        (FieldValue::Text(text), _) => query.bind(text.clone()),
        (FieldValue::Int(number), _) => query.bind(*number),
        (FieldValue::Bool(flag), _) => query.bind(*flag),
        (FieldValue::Timestamp(ts), _) => query.bind(ts.to_datetime()),
        (FieldValue::Json(json), _) => query.bind(json.to_string()),
    }
}

/// A stored time stamp (PostgreSQL keeps microseconds, as we do).
pub(crate) fn timestamp(
    table: &'static str,
    value: DateTime<Utc>,
) -> Result<Timestamp, StoreError> {
    Timestamp::from_datetime(value).map_err(|error| corrupt(table, error.to_string()))
}

/// Reads a row of `SELECT all_fields FROM table` into a record.
pub(crate) fn decode_record(
    entity: &'static EntityDecl,
    row: &PgRow,
) -> Result<Record, StoreError> {
    let table = entity.table;
    let mut values = Vec::with_capacity(entity.field_count());
    for (index, field) in entity.all_fields().enumerate() {
        let bad = |error: sqlx::Error| corrupt(table, format!("{}: {error}", field.name));
        let value = match field.ty {
            FieldType::Uuid => row
                .try_get::<Option<Uuid>, _>(index)
                .map_err(bad)?
                .map(FieldValue::Uuid),
            FieldType::Text => row
                .try_get::<Option<String>, _>(index)
                .map_err(bad)?
                .map(FieldValue::Text),
            FieldType::Int => row
                .try_get::<Option<i64>, _>(index)
                .map_err(bad)?
                .map(FieldValue::Int),
            FieldType::Bool => row
                .try_get::<Option<bool>, _>(index)
                .map_err(bad)?
                .map(FieldValue::Bool),
            FieldType::Timestamp => row
                .try_get::<Option<DateTime<Utc>>, _>(index)
                .map_err(bad)?
                .map(|value| timestamp(table, value).map(FieldValue::Timestamp))
                .transpose()?,
            FieldType::Json => row
                .try_get::<Option<Json<serde_json::Value>>, _>(index)
                .map_err(bad)?
                .map(|Json(value)| FieldValue::Json(value)),
        };
        values.push(value.unwrap_or(FieldValue::Null));
    }
    Ok(Record::from_values(entity, values)?)
}
