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
                .map(|text| FieldValue::Text(field.from_stored(text))),
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

/// One column of a batch of records, as the array PostgreSQL unnests.
pub(crate) enum ColumnArray {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<DateTime<Utc>>>),
}

/// The columns of `records`, in [`EntityDecl::all_fields`] order, typed as
/// `jcselect_store_sql::postgres::array_type` says (JSON as text).
pub(crate) fn column_arrays(entity: &EntityDecl, records: &[Record]) -> Vec<ColumnArray> {
    entity
        .all_fields()
        .enumerate()
        .map(|(index, field)| {
            column_array(
                field.ty,
                records.iter().map(|record| &record.values()[index]),
            )
        })
        .collect()
}

/// Values of one type as the array PostgreSQL unnests.
pub(crate) fn column_array<'v>(
    ty: FieldType,
    column: impl Iterator<Item = &'v FieldValue>,
) -> ColumnArray {
    match ty {
        FieldType::Uuid => ColumnArray::Uuid(column.map(FieldValue::as_uuid).collect()),
        FieldType::Text | FieldType::Json => ColumnArray::Text(
            column
                .map(|value| match value {
                    FieldValue::Text(text) => Some(text.clone()),
                    FieldValue::Json(json) => Some(json.to_string()),
                    _ => None,
                })
                .collect(),
        ),
        FieldType::Int => ColumnArray::Int(
            column
                .map(|value| match value {
                    FieldValue::Int(number) => Some(*number),
                    _ => None,
                })
                .collect(),
        ),
        FieldType::Bool => ColumnArray::Bool(column.map(FieldValue::as_bool).collect()),
        FieldType::Timestamp => ColumnArray::Time(
            column
                .map(|value| value.as_timestamp().map(Timestamp::to_datetime))
                .collect(),
        ),
    }
}

/// Binds one column array.
pub(crate) fn bind_array<'q>(query: PgQuery<'q>, column: ColumnArray) -> PgQuery<'q> {
    match column {
        ColumnArray::Uuid(values) => query.bind(values),
        ColumnArray::Text(values) => query.bind(values),
        ColumnArray::Int(values) => query.bind(values),
        ColumnArray::Bool(values) => query.bind(values),
        ColumnArray::Time(values) => query.bind(values),
    }
}
