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

/// The columns of a table (none: no such table).
async fn table_columns(conn: &mut Connection, table: &str) -> Result<HashSet<String>, StoreError> {
    let mut columns = Query::new(sql::table_columns(DIALECT));
    columns.bind(table.to_owned());
    Ok(columns
        .query(conn)
        .await
        .map_err(backend)?
        .into_first_result()
        .await
        .map_err(backend)?
        .iter()
        .filter_map(|row| row.get::<&str, _>(0).map(str::to_owned))
        .collect())
}

/// Brings the records an earlier version logged for `entity` into its
/// current shape (see [`sql::upgrade_logged_record`]), a page at a time.
async fn rewrite_log(conn: &mut Connection, entity: &'static EntityDecl) -> Result<(), StoreError> {
    let (mut after, mut rewritten) = (0_i64, 0_u64);
    loop {
        let mut select = Query::new(sql::select_logged_records(DIALECT));
        select.bind(entity.name);
        select.bind(after);
        let page: Vec<(i64, String)> = select
            .query(conn)
            .await
            .map_err(backend)?
            .into_first_result()
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let receive_seq = row.get::<i64, _>(0).unwrap_or_default();
                (
                    receive_seq,
                    row.get::<&str, _>(1).unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let Some(&(last, _)) = page.last() else { break };
        let changed =
            sql::upgrade_logged_page(entity, page).map_err(|message| StoreError::Config {
                store: "mssql",
                message,
            })?;
        rewritten += changed.len() as u64;
        for (receive_seq, data) in changed {
            let mut update = Query::new(sql::update_logged_record(DIALECT));
            update.bind(data);
            update.bind(receive_seq);
            update.execute(conn).await.map_err(backend)?;
        }
        after = last;
    }
    tracing::info!(
        entity = entity.name,
        rewritten,
        "logged records brought into the current shape"
    );
    Ok(())
}

/// The first column of the first row of `query`, as a number.
async fn scalar(conn: &mut Connection, query: Query<'_>) -> Result<i64, StoreError> {
    let row = query
        .query(conn)
        .await
        .map_err(backend)?
        .into_row()
        .await
        .map_err(backend)?;
    let value = row.as_ref().and_then(|row| {
        row.try_get::<i64, _>(0)
            .ok()
            .flatten()
            .or_else(|| row.try_get::<i32, _>(0).ok().flatten().map(i64::from))
    });
    Ok(value.unwrap_or(0))
}

/// Compacts the log past the compaction mark (see
/// [`sql::read_compaction_mark`]: all of a log an earlier version wrote),
/// with a line of progress per range, and moves the mark to the end.
async fn compact_log_past_mark(conn: &mut Connection) -> Result<(), StoreError> {
    // serialised with pushes, which supersede entries too
    run(conn, sql::lock_head(DIALECT)).await?;
    let mark = scalar(conn, Query::new(sql::read_compaction_mark(DIALECT))).await?;
    let last_seq = scalar(conn, Query::new(sql::LAST_LOGGED_SEQ)).await?;
    let mut superseded = 0;
    for (after, up_to) in sql::compaction_ranges(mark, last_seq) {
        let mut compact = Query::new(sql::compact_log_range(DIALECT));
        compact.bind(after);
        compact.bind(up_to);
        superseded += compact.execute(conn).await.map_err(backend)?.total();
        tracing::info!(
            position = up_to,
            of = last_seq,
            superseded,
            "compacting the change log"
        );
    }
    let mut moved = Query::new(sql::update_compaction_mark(DIALECT));
    moved.bind(last_seq);
    moved.execute(conn).await.map_err(backend)?;
    Ok(())
}

async fn migrate_once(
    conn: &mut Connection,
    entities: &[&'static EntityDecl],
) -> Result<(), StoreError> {
    for statement in sql::create_support_tables(DIALECT) {
        run(conn, statement).await?;
    }
    let created = datetime(Timestamp::now());
    let mut head = Query::new(sql::init_head(DIALECT));
    head.bind(created);
    head.execute(conn).await.map_err(backend)?;
    compact_log_past_mark(conn).await?;
    for entity in entities {
        let mut existing = sql::ExistingTables {
            table: table_columns(conn, entity.table).await?,
            former: HashSet::new(),
        };
        if let (true, Some(former)) = (existing.table.is_empty(), entity.formerly) {
            existing.former = table_columns(conn, former).await?;
        }
        let plan = sql::plan_entity_migration(DIALECT, entity, &existing).map_err(|message| {
            StoreError::Config {
                store: "mssql",
                message,
            }
        })?;
        for statement in plan.upgrade.iter().chain(&plan.copy) {
            tracing::info!(table = entity.table, %statement, "upgrading an older table");
        }
        for statement in plan.upgrade.into_iter().chain(plan.create).chain(plan.copy) {
            run(conn, statement).await?;
        }
        if plan.rewrite_log {
            rewrite_log(conn, entity).await?;
        }
    }
    let now = datetime(Timestamp::now());
    let mut version = Query::new(sql::insert_schema_version(DIALECT));
    version.bind(sql::SCHEMA_VERSION);
    version.bind(now);
    version.bind(sql::SCHEMA_DESCRIPTION);
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
