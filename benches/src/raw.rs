//! The raw rate of a database for the work the sync does: multi-row
//! upserts of voter rows (UNNEST on PostgreSQL) and keyset reads encoded as
//! JSON, on a table with the store's own columns and indexes; and the same
//! upserts with the rows every accepted change adds beside its record (a
//! change-log row carrying the record's JSON, a remembered change id), in
//! the store's own tables, one transaction per 1000 changes.

use jcselect_entities::Voter;
use jcselect_store_sql::Dialect;
use jcselect_sync::{FieldValue, Syncable};

use crate::{rate, timed};

const ROWS: usize = 1000;

/// The raw rates measured for one set of voters, rows per second.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRates {
    /// Voter upserts alone.
    pub upsert: f64,
    /// Voter upserts plus the change-log and change-id rows of each: the
    /// rows a push writes.
    pub upsert_and_log: f64,
    /// Keyset reads encoded as JSON.
    pub read: f64,
}

/// What each change writes beside its record, built before any clock
/// starts: (change id, log JSON).
fn log_rows(voters: &[Voter]) -> Vec<(uuid::Uuid, String)> {
    voters
        .iter()
        .map(|voter| {
            let record = voter.to_record().unwrap();
            (uuid::Uuid::now_v7(), record.to_json_string())
        })
        .collect()
}

/// The store's own `sync_log` and `sync_seen_changes` definitions, under
/// other names.
fn log_tables(dialect: Dialect, prefix: &str) -> Vec<String> {
    jcselect_store_sql::create_support_tables(dialect)
        .into_iter()
        .filter(|statement| {
            statement.contains("sync_log (") || statement.contains("sync_seen_changes (")
        })
        .map(|statement| {
            statement
                .replace("sync_log (", &format!("{prefix}bench_log ("))
                .replace("sync_seen_changes (", &format!("{prefix}bench_seen ("))
        })
        .collect()
}

/// Upserts `records` into `bench_voters`, 1000 per transaction, with
/// their log and change-id rows when `logs` is given; returns the time.
async fn sqlite_writes(
    pool: &sqlx::SqlitePool,
    records: &[jcselect_sync::Record],
    logs: Option<&[(uuid::Uuid, String)]>,
) -> std::time::Duration {
    let columns: Vec<&str> = Voter::DECL.all_fields().map(|f| f.name).collect();
    let updates: Vec<String> = columns
        .iter()
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let rows = |count: usize, width: usize| {
        vec![format!("({})", vec!["?"; width].join(", ")); count].join(", ")
    };
    let (_, elapsed) = timed(async {
        for (index, chunk) in records.chunks(ROWS).enumerate() {
            let text = format!(
                "INSERT INTO bench_voters ({}) VALUES {} ON CONFLICT (id) DO UPDATE SET {}",
                columns.join(", "),
                rows(chunk.len(), columns.len()),
                updates.join(", ")
            );
            let mut tx = pool.begin().await.unwrap();
            let mut query = sqlx::query(&text);
            for record in chunk {
                for value in record.values() {
                    query = match value {
                        FieldValue::Null => query.bind(None::<String>),
                        FieldValue::Int(n) => query.bind(*n),
                        FieldValue::Bool(b) => query.bind(*b),
                        other => query.bind(
                            other
                                .to_json()
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_default(),
                        ),
                    };
                }
            }
            query.execute(&mut *tx).await.unwrap();
            if let Some(logs) = logs {
                let first = index * ROWS;
                let chunk_logs = &logs[first..first + chunk.len()];
                let text = format!(
                    "INSERT INTO bench_log ({}) VALUES {}",
                    jcselect_store_sql::LOG_COLUMNS,
                    rows(chunk.len(), 8)
                );
                let mut query = sqlx::query(&text);
                for (offset, ((change_id, json), record)) in
                    chunk_logs.iter().zip(chunk).enumerate()
                {
                    query = query
                        .bind((first + offset) as i64 + 1)
                        .bind(record.version_time().to_string())
                        .bind(change_id.to_string())
                        .bind("Voter")
                        .bind(record.id().to_string())
                        .bind("INSERT")
                        .bind(
                            record
                                .get("pen_id")
                                .and_then(FieldValue::as_uuid)
                                .map(|id| id.to_string()),
                        )
                        .bind(json.clone());
                }
                query.execute(&mut *tx).await.unwrap();
                let text = format!(
                    "INSERT INTO bench_seen (change_id, outcome) VALUES {}",
                    rows(chunk.len(), 2)
                );
                let mut query = sqlx::query(&text);
                for (change_id, _) in chunk_logs {
                    query = query.bind(change_id.to_string()).bind(0_i64);
                }
                query.execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
    })
    .await;
    elapsed
}

async fn sqlite_tables(pool: &sqlx::SqlitePool) {
    let mut ddl = vec![
        "DROP TABLE IF EXISTS bench_voters".to_owned(),
        "DROP TABLE IF EXISTS bench_log".to_owned(),
        "DROP TABLE IF EXISTS bench_seen".to_owned(),
    ];
    let voters = std::iter::once(jcselect_store_sql::create_entity_table(
        Dialect::Sqlite,
        Voter::DECL,
    ))
    .chain(jcselect_store_sql::create_indexes(
        Dialect::Sqlite,
        Voter::DECL,
    ));
    ddl.extend(voters.map(|statement| statement.replace("voters", "bench_voters")));
    ddl.extend(log_tables(Dialect::Sqlite, ""));
    for statement in ddl {
        sqlx::query(&statement).execute(pool).await.unwrap();
    }
}

/// Upserts and reads `voters` in fresh tables of the SQLite file at `url`,
/// tuned as the store tunes its own (WAL, full sync, 64 MiB of cache).
pub async fn sqlite(url: &str, voters: &[Voter]) -> RawRates {
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .pragma("cache_size", "-65536")
        .pragma("wal_autocheckpoint", "8192");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let records: Vec<_> = voters.iter().map(|v| v.to_record().unwrap()).collect();
    let logs = log_rows(voters);
    sqlite_tables(&pool).await;
    let with_log = sqlite_writes(&pool, &records, Some(&logs)).await;
    sqlite_tables(&pool).await;
    let write = sqlite_writes(&pool, &records, None).await;
    let (read_rows, read) = timed(async {
        use sqlx::{Column, Row, ValueRef};
        let mut last = String::new();
        let mut count = 0;
        loop {
            let rows =
                sqlx::query("SELECT * FROM bench_voters WHERE id > ? ORDER BY id LIMIT 1000")
                    .bind(&last)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            if rows.is_empty() {
                return count;
            }
            count += rows.len();
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut object = serde_json::Map::new();
                for (index, column) in row.columns().iter().enumerate() {
                    let raw = row.try_get_raw(index).unwrap();
                    let value = if raw.is_null() {
                        serde_json::Value::Null
                    } else if let Ok(text) = row.try_get::<String, _>(index) {
                        serde_json::Value::String(text)
                    } else {
                        serde_json::Value::from(row.get::<i64, _>(index))
                    };
                    object.insert(column.name().to_owned(), value);
                }
                page.push(object);
            }
            std::hint::black_box(serde_json::to_vec(&page).unwrap());
            last = sqlx::Row::get::<String, _>(rows.last().unwrap(), "id");
        }
    })
    .await;
    for table in ["bench_voters", "bench_log", "bench_seen"] {
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    RawRates {
        upsert: rate(voters.len(), write),
        upsert_and_log: rate(voters.len(), with_log),
        read: rate(read_rows, read),
    }
}

async fn postgres_tables(pool: &sqlx::PgPool, schema: &str) {
    let mut ddl: Vec<String> = ["bench_voters", "bench_log", "bench_seen"]
        .iter()
        .map(|table| format!("DROP TABLE IF EXISTS {schema}.{table}"))
        .collect();
    ddl.push(format!(
        "CREATE TABLE {schema}.bench_voters (LIKE {schema}.voters INCLUDING ALL)"
    ));
    ddl.extend(log_tables(Dialect::Postgres, &format!("{schema}.")));
    for statement in ddl {
        sqlx::query(&statement).execute(pool).await.unwrap();
    }
}

/// UNNEST upserts of `voters` into `schema.bench_voters`, 1000 per
/// transaction, with their log and change-id rows when `logs` is given.
async fn postgres_writes(
    pool: &sqlx::PgPool,
    schema: &str,
    voters: &[Voter],
    logs: Option<&[(uuid::Uuid, String)]>,
) -> std::time::Duration {
    let (_, elapsed) = timed(async {
        for (index, chunk) in voters.chunks(ROWS).enumerate() {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|v| v.id).collect();
            let pens: Vec<uuid::Uuid> = chunk.iter().map(|v| v.pen_id).collect();
            let numbers: Vec<String> = chunk.iter().map(|v| v.voter_number.clone()).collect();
            let names: Vec<String> = chunk.iter().map(|v| v.full_name.clone()).collect();
            let times: Vec<_> = chunk.iter().map(|v| v.updated_at.to_datetime()).collect();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(&format!(
                "INSERT INTO {schema}.bench_voters (id, created_at, updated_at, pen_id, voter_number, full_name, has_voted) \
                 SELECT id, t, t, pen, num, name, false FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[]) \
                 AS u(id, t, pen, num, name) \
                 ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, updated_at = excluded.updated_at"
            ))
            .bind(&ids)
            .bind(&times)
            .bind(&pens)
            .bind(&numbers)
            .bind(&names)
            .execute(&mut *tx)
            .await
            .unwrap();
            if let Some(logs) = logs {
                let first = index * ROWS;
                let chunk_logs = &logs[first..first + chunk.len()];
                let seqs: Vec<i64> = (first..first + chunk.len()).map(|seq| seq as i64 + 1).collect();
                let change_ids: Vec<uuid::Uuid> = chunk_logs.iter().map(|(id, _)| *id).collect();
                let data: Vec<String> = chunk_logs.iter().map(|(_, json)| json.clone()).collect();
                sqlx::query(&format!(
                    "INSERT INTO {schema}.bench_log ({}) \
                     SELECT seq, t, change, 'Voter', id, 'INSERT', pen, data FROM UNNEST($1::bigint[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[]) \
                     AS u(seq, t, change, id, pen, data)",
                    jcselect_store_sql::LOG_COLUMNS
                ))
                .bind(&seqs)
                .bind(&times)
                .bind(&change_ids)
                .bind(&ids)
                .bind(&pens)
                .bind(&data)
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(&format!(
                    "INSERT INTO {schema}.bench_seen (change_id, outcome) SELECT id, 0 FROM UNNEST($1::uuid[]) AS u(id)"
                ))
                .bind(&change_ids)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    })
    .await;
    elapsed
}

/// The same on PostgreSQL, in `schema` (beside a copy of its `voters`
/// table): UNNEST upserts and keyset reads with `to_json`.
pub async fn postgres(url: &str, schema: &str, voters: &[Voter]) -> RawRates {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let logs = log_rows(voters);
    postgres_tables(&pool, schema).await;
    let with_log = postgres_writes(&pool, schema, voters, Some(&logs)).await;
    postgres_tables(&pool, schema).await;
    let write = postgres_writes(&pool, schema, voters, None).await;
    let (read_rows, read) = timed(async {
        let mut last = uuid::Uuid::nil();
        let mut count = 0;
        loop {
            let rows: Vec<(serde_json::Value, uuid::Uuid)> = sqlx::query_as(&format!(
                "SELECT to_json(b), id FROM {schema}.bench_voters b WHERE id > $1 ORDER BY id LIMIT 1000"
            ))
            .bind(last)
            .fetch_all(&pool)
            .await
            .unwrap();
            if rows.is_empty() {
                return count;
            }
            count += rows.len();
            let page: Vec<&serde_json::Value> = rows.iter().map(|(json, _)| json).collect();
            std::hint::black_box(serde_json::to_vec(&page).unwrap());
            last = rows.last().unwrap().1;
        }
    })
    .await;
    for table in ["bench_voters", "bench_log", "bench_seen"] {
        sqlx::query(&format!("DROP TABLE {schema}.{table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    RawRates {
        upsert: rate(voters.len(), write),
        upsert_and_log: rate(voters.len(), with_log),
        read: rate(read_rows, read),
    }
}
