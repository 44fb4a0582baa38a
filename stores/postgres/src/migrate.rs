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
        let created = Timestamp::now().to_datetime();
        sqlx::query(&sql::init_head(DIALECT))
            .bind(created)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        compact_log_past_mark(&mut tx).await?;
        for entity in entities {
            let mut existing = sql::ExistingTables {
                table: table_columns(&mut tx, entity.table).await?,
                former: Default::default(),
            };
            if let (true, Some(former)) = (existing.table.is_empty(), entity.formerly) {
                existing.former = table_columns(&mut tx, former).await?;
            }
            let plan =
                sql::plan_entity_migration(DIALECT, entity, &existing).map_err(|message| {
                    StoreError::Config {
                        store: "postgres",
                        message,
                    }
                })?;
            for statement in plan.upgrade.iter().chain(&plan.copy) {
                tracing::info!(table = entity.table, %statement, "upgrading an older table");
            }
            for statement in plan.upgrade.iter().chain(&plan.create).chain(&plan.copy) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            if plan.rewrite_log {
                rewrite_log(&mut tx, entity).await?;
            }
        }
        let now = Timestamp::now().to_datetime();
        sqlx::query(&sql::insert_schema_version(DIALECT))
            .bind(sql::SCHEMA_VERSION)
            .bind(now)
            .bind(sql::SCHEMA_DESCRIPTION)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

/// Compacts the log past the compaction mark (see
/// [`sql::read_compaction_mark`]: all of a log an earlier version wrote),
/// with a line of progress per range, and moves the mark to the end.
async fn compact_log_past_mark(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    // serialised with pushes, which supersede entries too
    sqlx::query(&sql::lock_head(DIALECT))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let mark: i64 = sqlx::query_scalar(&sql::read_compaction_mark(DIALECT))
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    let last_seq: i64 = sqlx::query_scalar(sql::LAST_LOGGED_SEQ)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    let mut superseded = 0;
    for (after, up_to) in sql::compaction_ranges(mark, last_seq) {
        superseded += sqlx::query(&sql::compact_log_range(DIALECT))
            .bind(after)
            .bind(up_to)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        tracing::info!(
            position = up_to,
            of = last_seq,
            superseded,
            "compacting the change log"
        );
    }
    sqlx::query(&sql::update_compaction_mark(DIALECT))
        .bind(last_seq)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    // Statistics for the log's indexes: without them (a log filled faster
    // than autovacuum analyses it, as an import does) PostgreSQL guesses
    // a push's lookup of the entries it supersedes matches thousands of
    // rows and scans the whole log instead (seen: 1.3 s per push at 4.2 M)
    sqlx::query("ANALYZE sync_log")
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The columns of a table in the current schema (none: no such table).
async fn table_columns(
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> Result<HashSet<String>, StoreError> {
    Ok(sqlx::query(&sql::table_columns(DIALECT))
        .bind(table)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect())
}

/// Brings the records an earlier version logged for `entity` into its
/// current shape (see [`sql::upgrade_logged_record`]), a page at a time.
async fn rewrite_log(
    tx: &mut sqlx::PgConnection,
    entity: &'static EntityDecl,
) -> Result<(), StoreError> {
    let (mut after, mut rewritten) = (0_i64, 0_u64);
    loop {
        let page: Vec<(i64, String)> = sqlx::query_as(&sql::select_logged_records(DIALECT))
            .bind(entity.name)
            .bind(after)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let Some(&(last, _)) = page.last() else { break };
        let changed =
            sql::upgrade_logged_page(entity, page).map_err(|message| StoreError::Config {
                store: "postgres",
                message,
            })?;
        rewritten += changed.len() as u64;
        let (positions, records): (Vec<i64>, Vec<String>) = changed.into_iter().unzip();
        sqlx::query(sql::postgres::UPDATE_LOGGED_RECORDS)
            .bind(positions)
            .bind(records)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        after = last;
    }
    tracing::info!(
        entity = entity.name,
        rewritten,
        "logged records brought into the current shape"
    );
    Ok(())
}
