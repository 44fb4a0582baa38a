//! Creating and upgrading the schema.

use std::collections::HashSet;

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, Timestamp};
use sqlx::Row;

use crate::codec::backend;
use crate::config::PgStore;

const DIALECT: Dialect = Dialect::Postgres;
/// Serialises migrations of several server processes starting at once.
const MIGRATION_LOCK: i64 = 0x6A63_7365_6C65_6374;

impl PgStore {
    /// Creates what is missing, adds the nullable columns an older table
    /// lacks, records the schema version; one transaction, one process at
    /// a time.
    pub(crate) async fn migrate_schema(
        &self,
        entities: &[&'static EntityDecl],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
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
                        store: "postgres",
                        message,
                    }
                })?;
            for statement in plan.add_columns.iter().chain(&plan.create) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        let now = Timestamp::now().to_datetime();
        sqlx::query(&sql::init_head(DIALECT))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(&sql::insert_schema_version(DIALECT))
            .bind(sql::SCHEMA_VERSION)
            .bind(now)
            .bind("typed entity tables, change log, outbox")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}
