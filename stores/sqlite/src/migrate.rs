//! Creating and upgrading the schema.

use std::collections::HashSet;

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, Timestamp};
use sqlx::Row;

use crate::codec::backend;
use crate::config::SqliteStore;

const DIALECT: Dialect = Dialect::Sqlite;

impl SqliteStore {
    /// Creates every table and index that is missing, adds the columns an
    /// older table lacks (the tombstone columns of a pre-sync jcselect
    /// database), and records the schema version — in one transaction.
    pub(crate) async fn migrate_schema(
        &self,
        entities: &[&'static EntityDecl],
        capture: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
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
            if !existing.is_empty() {
                converge_formats(&mut tx, entity).await?;
            }
            for statement in &plan.create {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        if capture {
            install_capture(&mut tx, entities).await?;
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

/// The capture switch and triggers of a client replica; at the first
/// set-up (no trigger yet) every existing row is queued for the first push.
async fn install_capture(
    tx: &mut sqlx::SqliteConnection,
    entities: &[&'static EntityDecl],
) -> Result<(), StoreError> {
    let first: bool = sqlx::query(crate::capture::COUNT_TRIGGERS)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?
        .get::<i64, _>(0)
        == 0;
    // outbox entries of an earlier version name records by hyphenated ids
    sqlx::query(
        "UPDATE sync_outbox SET entity_id = lower(replace(entity_id, '-', '')) \
         WHERE entity_id LIKE '%-%'",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let mut statements: Vec<String> = crate::capture::CREATE_SWITCH
        .iter()
        .map(|statement| (*statement).to_owned())
        .collect();
    for entity in entities {
        statements.extend(crate::capture::triggers(entity));
        if first {
            statements.push(crate::capture::queue_existing(entity));
        }
    }
    for statement in statements {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Brings values an earlier version of this store wrote (hyphenated UUIDs,
/// `…T…Z` times) into the desktop app's storage format, in place, with one
/// `UPDATE` per column that holds any; values already in the app's form
/// are never touched, so a desktop's own rows stay byte for byte.
async fn converge_formats(
    tx: &mut sqlx::SqliteConnection,
    entity: &'static EntityDecl,
) -> Result<(), StoreError> {
    use jcselect_sync::FieldType;
    for field in entity.all_fields() {
        let (pattern, rewrite) = match field.ty {
            FieldType::Uuid => (
                "________-____-____-____-____________",
                format!("lower(replace({0}, '-', ''))", field.name),
            ),
            FieldType::Timestamp => (
                "____-__-__T__:__:__%Z",
                format!("replace(rtrim({0}, 'Z'), 'T', ' ')", field.name),
            ),
            _ => continue,
        };
        let found: Option<i64> = sqlx::query(&format!(
            "SELECT 1 FROM {table} WHERE {column} LIKE '{pattern}' LIMIT 1",
            table = entity.table,
            column = field.name
        ))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .map(|row| row.get(0));
        if found.is_none() {
            continue;
        }
        let changed = sqlx::query(&format!(
            "UPDATE {table} SET {column} = {rewrite} WHERE {column} LIKE '{pattern}'",
            table = entity.table,
            column = field.name
        ))
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        tracing::info!(
            table = entity.table,
            column = field.name,
            rows = changed,
            "values of an earlier version brought into the desktop app's format"
        );
    }
    Ok(())
}
