//! Creating and upgrading the schema.

use std::collections::HashSet;

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, Timestamp};
use sqlx::Row;

use crate::codec::{backend, bind, decode_record};
use crate::config::SqliteStore;

const DIALECT: Dialect = Dialect::Sqlite;

impl SqliteStore {
    /// Creates every table and index that is missing, adds the columns an
    /// older table lacks (the tombstone columns of a pre-sync jcselect
    /// database), and records the schema version — in one transaction.
    pub(crate) async fn migrate_schema(
        &self,
        entities: &[&'static EntityDecl],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let first_migration: bool = sqlx::query(
            "SELECT COUNT(*) = 0 FROM sqlite_master WHERE type = 'table' AND name = 'sync_schema_versions'",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .get(0);
        for statement in sql::create_support_tables(DIALECT) {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for entity in entities {
            let existing: HashSet<String> = sqlx::query(&sql::table_columns(DIALECT))
                .bind(entity.table)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect();
            let plan =
                sql::plan_entity_migration(DIALECT, entity, &existing).map_err(|message| {
                    StoreError::Config {
                        store: "sqlite",
                        message,
                    }
                })?;
            for statement in &plan.add_columns {
                tracing::info!(table = entity.table, %statement, "upgrading an older table");
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            if first_migration && !existing.is_empty() {
                normalise_legacy_rows(&mut tx, entity).await?;
            }
            for statement in &plan.create {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        let now = Timestamp::now().to_string();
        sqlx::query(&sql::init_head(DIALECT))
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(&sql::insert_schema_version(DIALECT))
            .bind(sql::SCHEMA_VERSION)
            .bind(&now)
            .bind("typed entity tables, change log, outbox")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        *self.entities.write().expect("entity list lock") = entities.to_vec();
        Ok(())
    }
}

/// Rewrites the rows of a table that predates this store into the one text
/// form the store reads and binds (hyphenated UUIDs, `T`-separated UTC
/// time stamps with six digits), row by row, keeping every row.
async fn normalise_legacy_rows(
    tx: &mut sqlx::SqliteConnection,
    entity: &'static EntityDecl,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = entity.all_fields().map(|field| field.name).collect();
    let select = format!("SELECT {}, rowid FROM {}", columns.join(", "), entity.table);
    let rows = sqlx::query(&select)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    let assignments: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ?{}", index + 1))
        .collect();
    let update = format!(
        "UPDATE {} SET {} WHERE rowid = ?{}",
        entity.table,
        assignments.join(", "),
        columns.len() + 1
    );
    for row in &rows {
        let record = decode_record(entity, row)?;
        let mut query = sqlx::query(&update);
        for value in record.values() {
            query = bind(query, value);
        }
        query
            .bind(row.get::<i64, _>(columns.len()))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tracing::info!(
        table = entity.table,
        rows = rows.len(),
        "normalised rows of a pre-sync table"
    );
    Ok(())
}
