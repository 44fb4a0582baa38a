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
        execute_all(&mut tx, sql::create_support_tables(DIALECT)).await?;
        let created = Timestamp::now().to_string();
        sqlx::query(&sql::init_head(DIALECT))
            .bind(&created)
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
                        store: "sqlite",
                        message,
                    }
                })?;
            for statement in plan.upgrade.iter().chain(&plan.copy) {
                tracing::info!(table = entity.table, %statement, "upgrading an older table");
            }
            execute_all(&mut tx, &plan.upgrade).await?;
            execute_all(&mut tx, &plan.create).await?;
            execute_all(&mut tx, &plan.copy).await?;
            if !existing.table.is_empty() || !plan.copy.is_empty() {
                converge_formats(&mut tx, entity).await?;
            }
            if plan.rewrite_log {
                rewrite_log(&mut tx, entity).await?;
            }
        }
        if capture {
            install_capture(&mut tx, entities).await?;
        }
        let now = Timestamp::now().to_string();
        sqlx::query(&sql::insert_schema_version(DIALECT))
            .bind(sql::SCHEMA_VERSION)
            .bind(&now)
            .bind(sql::SCHEMA_DESCRIPTION)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        *self.entities.write().expect("entity list lock") = entities.to_vec();
        Ok(())
    }
}

/// Compacts the log past the compaction mark (see
/// [`sql::read_compaction_mark`]: all of a log an earlier version wrote),
/// with a line of progress per range, and moves the mark to the end.
async fn compact_log_past_mark(tx: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
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
    Ok(())
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
        free_undeclared_unique(&mut *tx, entity).await?;
    }
    for entity in entities {
        statements.extend(crate::capture::triggers(entity));
        if first {
            statements.push(crate::capture::queue_existing(entity));
        }
    }
    execute_all(tx, &statements).await?;
    crate::search::install(tx, entities).await
}

/// The first column of every row of `query`, as text.
async fn texts(tx: &mut sqlx::SqliteConnection, query: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query(query)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The columns of a table (none: no such table).
async fn table_columns(
    tx: &mut sqlx::SqliteConnection,
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
    tx: &mut sqlx::SqliteConnection,
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
                store: "sqlite",
                message,
            })?;
        rewritten += changed.len() as u64;
        for (receive_seq, data) in changed {
            sqlx::query(&sql::update_logged_record(DIALECT))
                .bind(data)
                .bind(receive_seq)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
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

/// Runs statements one after the other.
async fn execute_all(
    tx: &mut sqlx::SqliteConnection,
    statements: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<(), StoreError> {
    for statement in statements {
        sqlx::query(statement.as_ref())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// A desktop table may carry a unique constraint the entity does not
/// declare (the app's `uq_tally_session_party` on `tally_lines`, which its
/// own one-line-per-ballot entry contradicts): it would refuse records the
/// server holds. A unique index is dropped; a constraint written into the
/// table is removed by rebuilding the table under the declared columns,
/// every row copied and the other indexes recreated.
async fn free_undeclared_unique(
    tx: &mut sqlx::SqliteConnection,
    entity: &'static EntityDecl,
) -> Result<(), StoreError> {
    let table = entity.table;
    let indexes: Vec<(String, String)> = sqlx::query(&format!(
        "SELECT name, origin FROM pragma_index_list('{table}') WHERE \"unique\" = 1"
    ))
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    let mut rebuild = false;
    for (index, origin) in indexes {
        let columns = texts(
            tx,
            &format!("SELECT name FROM pragma_index_info('{index}')"),
        )
        .await?;
        let declared = match columns.as_slice() {
            [only] => {
                only == "id"
                    || entity
                        .all_fields()
                        .any(|field| field.name == only && field.unique)
            }
            _ => false,
        };
        if declared || origin == "pk" {
            continue;
        }
        tracing::info!(table, index = %index, ?columns, "a unique constraint the entity does not declare is removed");
        if origin == "c" {
            sqlx::query(&format!("DROP INDEX \"{index}\""))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        } else {
            rebuild = true;
        }
    }
    if rebuild {
        rebuild_table(tx, entity).await?;
    }
    Ok(())
}

/// Rebuilds an entity's table under its declared columns, keeping every
/// row and the indexes it had (SQLite cannot drop a table constraint).
async fn rebuild_table(
    tx: &mut sqlx::SqliteConnection,
    entity: &'static EntityDecl,
) -> Result<(), StoreError> {
    let table = entity.table;
    let existing = texts(
        tx,
        &format!("SELECT name FROM pragma_table_info('{table}')"),
    )
    .await?;
    if let Some(unknown) = existing
        .iter()
        .find(|column| entity.field_index(column).is_none())
    {
        tracing::warn!(table, column = %unknown, "not rebuilt: the table has a column the entity does not declare");
        return Ok(());
    }
    let indexes = texts(
        tx,
        &format!(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL"
        ),
    )
    .await?;
    let scratch = format!("sync_rebuild_{table}");
    let create = sql::create_entity_table(DIALECT, entity).replacen(
        &format!(" {table} ("),
        &format!(" {scratch} ("),
        1,
    );
    let columns = existing.join(", ");
    let statements = [
        create,
        format!("INSERT INTO {scratch} ({columns}) SELECT {columns} FROM {table}"),
        format!("DROP TABLE {table}"),
        // views over the table (the app's results view) stay as they are
        "PRAGMA legacy_alter_table = ON".to_owned(),
        format!("ALTER TABLE {scratch} RENAME TO {table}"),
        "PRAGMA legacy_alter_table = OFF".to_owned(),
    ];
    for statement in statements.iter().chain(&indexes) {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tracing::info!(
        table,
        "rebuilt without the undeclared unique constraint; every row kept"
    );
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
