//! A replica's search index: the [`search_terms`] of each live record's
//! searchable fields, so that a search reads an index range per word
//! instead of every record. Triggers on each searchable table mark a
//! written record stale, whoever writes it (the desktop app, a local edit
//! through the store, a pulled record); the store re-reads stale records
//! before it searches, in Rust, so that one folding serves the index and
//! the query.

use std::collections::{BTreeSet, HashMap};

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::record::{FieldValue, Record};
use jcselect_sync::store::StoreError;
use jcselect_sync::text::{natural_order_key, search_terms};
use jcselect_sync::EntityDecl;
use sqlx::{Row, SqliteConnection};

use crate::codec::{backend, decode_record};
use crate::config::SqliteStore;

/// Most words of a query that count (the rest are ignored).
const MAX_QUERY_TERMS: usize = 8;
/// Stale records re-read per statement, and index rows written per
/// statement: a statement binding thousands of values costs more per value
/// than several binding hundreds (measured by `benches/search.rs`).
const REFRESH_BATCH: usize = 200;
const INSERT_ROWS: usize = 100;

/// The index tables: each record's terms (read by term range, and by
/// record when it is re-read), its order key, and the records to re-read.
const CREATE_TABLES: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS sync_search_terms (entity_type TEXT NOT NULL, term TEXT NOT NULL, \
     record_id TEXT NOT NULL, PRIMARY KEY (entity_type, term, record_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sync_search_terms_by_record \
     ON sync_search_terms (entity_type, record_id, term)",
    "CREATE TABLE IF NOT EXISTS sync_search_records (entity_type TEXT NOT NULL, \
     record_id TEXT NOT NULL, order_key TEXT NOT NULL, PRIMARY KEY (entity_type, record_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sync_search_stale (entity_type TEXT NOT NULL, \
     record_id TEXT NOT NULL, PRIMARY KEY (entity_type, record_id)) WITHOUT ROWID",
];

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The setting that remembers which fields the index of `entity` holds.
fn fields_setting(entity: &EntityDecl) -> String {
    format!("search_fields:{}", entity.name)
}

/// The searchable fields of `entity`, as the setting keeps them.
fn field_list(entity: &EntityDecl) -> String {
    entity
        .searchable_fields()
        .map(|field| field.name)
        .collect::<Vec<_>>()
        .join(",")
}

/// The statements that (re)create the triggers of one entity's table.
fn triggers(entity: &EntityDecl) -> Vec<String> {
    let table = entity.table;
    let name = quote(entity.name);
    let mark = |row: &str| {
        // not `OR IGNORE`: the policy of the statement firing the trigger
        // would override it
        format!(
            "INSERT INTO sync_search_stale (entity_type, record_id) SELECT {name}, {row}.id \
             WHERE NOT EXISTS (SELECT 1 FROM sync_search_stale WHERE entity_type = {name} AND record_id = {row}.id);"
        )
    };
    let watched: Vec<&str> = entity
        .searchable_fields()
        .map(|field| field.name)
        .chain(["id", "deleted_at"])
        .collect();
    let mut statements: Vec<String> = ["insert", "update", "delete"]
        .iter()
        .map(|event| format!("DROP TRIGGER IF EXISTS sync_search_{table}_{event}"))
        .collect();
    if watched.len() > 2 {
        statements.extend([
            format!(
                "CREATE TRIGGER sync_search_{table}_insert AFTER INSERT ON {table} BEGIN {} END",
                mark("NEW")
            ),
            format!(
                "CREATE TRIGGER sync_search_{table}_update AFTER UPDATE OF {} ON {table} BEGIN {} {} END",
                watched.join(", "),
                mark("OLD"),
                mark("NEW")
            ),
            format!(
                "CREATE TRIGGER sync_search_{table}_delete AFTER DELETE ON {table} BEGIN {} END",
                mark("OLD")
            ),
        ]);
    }
    statements
}

/// Creates the index and each entity's triggers (idempotent); an entity
/// whose searchable fields changed since the index was built (or that was
/// never indexed) has every row marked stale.
pub(crate) async fn install(
    tx: &mut SqliteConnection,
    entities: &[&'static EntityDecl],
) -> Result<(), StoreError> {
    for statement in CREATE_TABLES {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    for entity in entities {
        for statement in triggers(entity) {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let indexed: Option<String> =
            sqlx::query_scalar("SELECT value FROM sync_settings WHERE name = ?1")
                .bind(fields_setting(entity))
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let fields = field_list(entity);
        if indexed.as_deref().unwrap_or("") == fields {
            continue;
        }
        tracing::info!(entity = entity.name, fields, "rebuilding the search index");
        for statement in [
            "DELETE FROM sync_search_terms WHERE entity_type = ?1",
            "DELETE FROM sync_search_records WHERE entity_type = ?1",
        ] {
            sqlx::query(statement)
                .bind(entity.name)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        if !fields.is_empty() {
            sqlx::query(&format!(
                "INSERT OR IGNORE INTO sync_search_stale (entity_type, record_id) SELECT ?1, id FROM {}",
                entity.table
            ))
            .bind(entity.name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query(
            "INSERT INTO sync_settings (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(fields_setting(entity))
        .bind(&fields)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// What the index keeps of one live record: its terms and its order key.
fn index_entry(entity: &'static EntityDecl, record: &Record) -> (BTreeSet<String>, String) {
    let mut terms = BTreeSet::new();
    let mut order_key = None;
    for field in entity.searchable_fields() {
        let text = match record.get(field.name) {
            Some(FieldValue::Text(text)) => text.clone(),
            Some(FieldValue::Int(number)) => number.to_string(),
            _ => String::new(),
        };
        order_key.get_or_insert_with(|| natural_order_key(&text));
        terms.extend(search_terms(&text));
    }
    (terms, order_key.unwrap_or_default())
}

/// A query's terms with each one's upper bound: a term `t` begins every
/// term in `[t, t + U+10FFFF)`.
fn query_ranges(query: &str) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    search_terms(query)
        .into_iter()
        .filter(|term| seen.insert(term.clone()))
        .take(MAX_QUERY_TERMS)
        .map(|term| {
            let upper = format!("{term}\u{10FFFF}");
            (term, upper)
        })
        .collect()
}

/// The ids of the records every range finds, those matching the most terms
/// whole first, then by order key: `?1` the entity, `?2k`/`?2k+1` the
/// lower/upper bound of term k, then the limit.
fn search_statement(terms: usize) -> String {
    let found = (0..terms)
        .map(|k| {
            format!(
                "SELECT record_id FROM sync_search_terms WHERE entity_type = ?1 AND term >= ?{} AND term < ?{}",
                2 * k + 2,
                2 * k + 3
            )
        })
        .collect::<Vec<_>>()
        .join(" INTERSECT ");
    let whole = (0..terms)
        .map(|k| format!("?{}", 2 * k + 2))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT r.record_id FROM ({found}) AS found \
         JOIN sync_search_records AS r ON r.entity_type = ?1 AND r.record_id = found.record_id \
         ORDER BY (SELECT COUNT(*) FROM sync_search_terms AS w WHERE w.entity_type = ?1 \
         AND w.record_id = r.record_id AND w.term IN ({whole})) DESC, r.order_key, r.record_id \
         LIMIT ?{}",
        2 * terms + 2
    )
}

impl SqliteStore {
    /// Re-reads the stale records of `entity` into the index, in one write
    /// transaction (none when nothing is stale).
    pub(crate) async fn refresh_search(
        &self,
        entity: &'static EntityDecl,
    ) -> Result<(), StoreError> {
        let any_stale: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sync_search_stale WHERE entity_type = ?1)",
        )
        .bind(entity.name)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        if !any_stale {
            return Ok(());
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let mut refreshed = 0usize;
        loop {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT record_id FROM sync_search_stale WHERE entity_type = ?1 LIMIT ?2",
            )
            .bind(entity.name)
            .bind(REFRESH_BATCH as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            if stale.is_empty() {
                break;
            }
            refresh_batch(&mut tx, entity, &stale).await?;
            refreshed += stale.len();
        }
        tx.commit().await.map_err(backend)?;
        tracing::debug!(entity = entity.name, refreshed, "search index refreshed");
        Ok(())
    }

    /// Live records of `entity` that `query` finds (see
    /// [`ClientStore::search`](jcselect_sync::store::ClientStore::search)).
    pub(crate) async fn search_records(
        &self,
        entity: &'static EntityDecl,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let ranges = query_ranges(query);
        if ranges.is_empty() || limit == 0 || entity.searchable_fields().next().is_none() {
            return Ok(Vec::new());
        }
        self.refresh_search(entity).await?;
        let text = search_statement(ranges.len());
        let mut statement = sqlx::query_scalar::<_, String>(&text).bind(entity.name);
        for (lower, upper) in &ranges {
            statement = statement.bind(lower).bind(upper);
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let ids = statement
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let mut records = load_by_stored_id(&mut tx, entity, &ids).await?;
        let mut found = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(record) = records.remove(id) {
                found.push(record);
            }
        }
        Ok(found)
    }
}

/// The records of these stored ids, by stored id.
async fn load_by_stored_id(
    tx: &mut SqliteConnection,
    entity: &'static EntityDecl,
    ids: &[String],
) -> Result<HashMap<String, Record>, StoreError> {
    let mut records = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(Dialect::Sqlite.max_parameters()) {
        let text = sql::select_records(Dialect::Sqlite, entity, chunk.len());
        let mut query = sqlx::query(&text);
        for id in chunk {
            query = query.bind(id);
        }
        for (row, record) in query
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| (row, decode_record(entity, row)))
        {
            let stored: String = row.try_get(0).map_err(backend)?;
            records.insert(stored, record?);
        }
    }
    Ok(records)
}

/// Re-indexes these stale records: a live one gets its terms and order
/// key afresh, a deleted or vanished one leaves the index. A few
/// set-based statements per batch, not one per record and term.
async fn refresh_batch(
    tx: &mut SqliteConnection,
    entity: &'static EntityDecl,
    stale: &[String],
) -> Result<(), StoreError> {
    let records = load_by_stored_id(tx, entity, stale).await?;
    let ids = (2..stale.len() + 2)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    for table in [
        "sync_search_terms",
        "sync_search_records",
        "sync_search_stale",
    ] {
        let text = format!("DELETE FROM {table} WHERE entity_type = ?1 AND record_id IN ({ids})");
        let mut statement = sqlx::query(&text).bind(entity.name);
        for id in stale {
            statement = statement.bind(id);
        }
        statement.execute(&mut *tx).await.map_err(backend)?;
    }
    let mut terms: Vec<[String; 2]> = Vec::new();
    let mut keys: Vec<[String; 2]> = Vec::new();
    for stored_id in stale {
        let Some(record) = records
            .get(stored_id)
            .filter(|record| record.get("deleted_at") == Some(&FieldValue::Null))
        else {
            continue;
        };
        let (record_terms, order_key) = index_entry(entity, record);
        terms.extend(
            record_terms
                .into_iter()
                .map(|term| [term, stored_id.clone()]),
        );
        keys.push([stored_id.clone(), order_key]);
    }
    insert_rows(
        tx,
        entity,
        "sync_search_terms (entity_type, term, record_id)",
        &terms,
    )
    .await?;
    insert_rows(
        tx,
        entity,
        "sync_search_records (entity_type, record_id, order_key)",
        &keys,
    )
    .await
}

/// Inserts `(entity, a, b)` rows into `target` (a table and its columns),
/// [`INSERT_ROWS`] per statement.
async fn insert_rows(
    tx: &mut SqliteConnection,
    entity: &'static EntityDecl,
    target: &str,
    rows: &[[String; 2]],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_ROWS) {
        let values = (0..chunk.len())
            .map(|n| format!("(?1, ?{}, ?{})", 2 * n + 2, 2 * n + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!("INSERT INTO {target} VALUES {values}");
        let mut statement = sqlx::query(&text).bind(entity.name);
        for [first, second] in chunk {
            statement = statement.bind(first).bind(second);
        }
        statement.execute(&mut *tx).await.map_err(backend)?;
    }
    Ok(())
}
