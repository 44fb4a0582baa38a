//! One SQLite transaction, shared by the server's push and the client's
//! writes: set-based loads and upserts of records.

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::record::Record;
use jcselect_sync::store::{LogPosition, StoreError};
use jcselect_sync::EntityDecl;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::codec::{backend, bind, bind_field, decode_record};
use crate::config::SqliteStore;

const DIALECT: Dialect = Dialect::Sqlite;

/// An open transaction.
pub(crate) struct SqliteTx {
    pub(crate) tx: Transaction<'static, Sqlite>,
    pub(crate) store: SqliteStore,
    pub(crate) head: LogPosition,
    /// Whether this transaction paused the capture triggers (a client's
    /// own write), to resume them just before it commits.
    pub(crate) resume_capture: bool,
}

impl SqliteTx {
    pub(crate) async fn load(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(DIALECT.max_parameters()) {
            let text = sql::select_records(DIALECT, entity, chunk.len());
            let mut query = sqlx::query(&text);
            for id in chunk {
                query = query.bind(crate::codec::app_uuid(id));
            }
            for row in query.fetch_all(&mut *self.tx).await.map_err(backend)? {
                records.push(decode_record(entity, &row)?);
            }
        }
        Ok(records)
    }

    pub(crate) async fn upsert(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError> {
        for chunk in records.chunks(DIALECT.rows_per_statement(entity.field_count())) {
            let text = sql::upsert_records(DIALECT, entity, chunk.len());
            let mut query = sqlx::query(&text);
            for record in chunk {
                for (field, value) in entity.all_fields().zip(record.values()) {
                    query = bind_field(query, field, value);
                }
            }
            query.execute(&mut *self.tx).await.map_err(backend)?;
        }
        Ok(())
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if self.resume_capture {
            sqlx::query(crate::capture::RESUME)
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
        }
        self.tx.commit().await.map_err(backend)
    }
}

/// Starts a transaction holding SQLite's write lock from its first
/// statement, so that concurrent writers queue instead of failing midway.
pub(crate) async fn begin_immediate(store: &SqliteStore) -> Result<SqliteTx, StoreError> {
    let tx = store
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(backend)?;
    Ok(SqliteTx {
        tx,
        store: store.clone(),
        head: LogPosition {
            receive_seq: 0,
            received_at: jcselect_sync::Timestamp::MIN,
        },
        resume_capture: false,
    })
}

/// A client's own write transaction: capture paused until it commits, so
/// that the triggers queue only the desktop app's writes.
pub(crate) async fn begin_client(store: &SqliteStore) -> Result<SqliteTx, StoreError> {
    let mut tx = begin_immediate(store).await?;
    sqlx::query(crate::capture::PAUSE)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend)?;
    tx.resume_capture = true;
    Ok(tx)
}

#[async_trait::async_trait]
impl jcselect_sync::store::RecordTransaction for SqliteTx {
    async fn load_records(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError> {
        self.load(entity, ids).await
    }

    async fn upsert_records(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError> {
        self.upsert(entity, records).await
    }

    async fn find_matching(
        &mut self,
        entity: &'static EntityDecl,
        conditions: &[jcselect_sync::store::FieldIn<'_>],
    ) -> Result<Vec<Record>, StoreError> {
        let Some((last, fixed)) = conditions.split_last() else {
            return Ok(Vec::new());
        };
        let fixed_values: usize = fixed.iter().map(|c| c.values.len()).sum();
        let room = DIALECT.max_parameters().saturating_sub(fixed_values).max(1);
        let mut records = Vec::new();
        for chunk in last.values.chunks(room) {
            let shape: Vec<(&'static str, usize)> = fixed
                .iter()
                .map(|c| (c.field, c.values.len()))
                .chain(std::iter::once((last.field, chunk.len())))
                .collect();
            let text = sql::select_matching(DIALECT, entity, &shape);
            let mut query = sqlx::query(&text);
            for value in fixed.iter().flat_map(|c| c.values).chain(chunk) {
                query = bind(query, value);
            }
            for row in query.fetch_all(&mut *self.tx).await.map_err(backend)? {
                records.push(decode_record(entity, &row)?);
            }
        }
        Ok(records)
    }
}
