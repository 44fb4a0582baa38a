//! Creating and upgrading the schema.

use std::collections::HashSet;

use jcselect_store_sql as sql;
use jcselect_sync::store::StoreError;
use jcselect_sync::{EntityDecl, Timestamp};
use tiberius::Query;

use crate::codec::{backend, datetime, pool};
use crate::config::{Connection, MssqlStore};
use crate::statements::{BEGIN, COMMIT, DIALECT, ROLLBACK_IF_OPEN};

/// Attempts at migrating when another process creates the same tables at
/// the same moment.
const ATTEMPTS: usize = 3;

async fn run(conn: &mut Connection, text: String) -> Result<(), StoreError> {
    conn.execute(text, &[]).await.map_err(backend)?;
    Ok(())
}

async fn migrate_once(
    conn: &mut Connection,
    entities: &[&'static EntityDecl],
) -> Result<(), StoreError> {
    for statement in sql::create_support_tables(DIALECT) {
        run(conn, statement).await?;
    }
    for entity in entities {
        let mut columns = Query::new(sql::table_columns(DIALECT));
        columns.bind(entity.table);
        let existing: HashSet<String> = columns
            .query(conn)
            .await
            .map_err(backend)?
            .into_first_result()
            .await
            .map_err(backend)?
            .iter()
            .filter_map(|row| row.get::<&str, _>(0).map(str::to_owned))
            .collect();
        let plan = sql::plan_entity_migration(DIALECT, entity, &existing).map_err(|message| {
            StoreError::Config {
                store: "mssql",
                message,
            }
        })?;
        for statement in plan.add_columns.into_iter().chain(plan.create) {
            run(conn, statement).await?;
        }
    }
    let now = datetime(Timestamp::now());
    let mut head = Query::new(sql::init_head(DIALECT));
    head.bind(now);
    head.execute(conn).await.map_err(backend)?;
    let mut version = Query::new(sql::insert_schema_version(DIALECT));
    version.bind(sql::SCHEMA_VERSION);
    version.bind(now);
    version.bind("typed entity tables, change log, outbox");
    version.execute(conn).await.map_err(backend)?;
    Ok(())
}

impl MssqlStore {
    /// Creates what is missing and adds the nullable columns an older
    /// table lacks, in one transaction; retried when another server process
    /// migrates at the same moment.
    pub(crate) async fn migrate_schema(
        &self,
        entities: &[&'static EntityDecl],
    ) -> Result<(), StoreError> {
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            let mut conn = self.pool.get().await.map_err(pool)?;
            conn.execute(BEGIN, &[]).await.map_err(backend)?;
            match migrate_once(&mut conn, entities).await {
                Ok(()) => {
                    conn.execute(COMMIT, &[]).await.map_err(backend)?;
                    return Ok(());
                }
                Err(error) => {
                    let _ = conn.execute(ROLLBACK_IF_OPEN, &[]).await;
                    tracing::warn!(attempt, %error, "schema migration failed");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }
}
