//! Store throughput: batch apply (the whole push path: decode, rule, FK and
//! scope checks, upsert, change log) and paged reads (the pull path), each
//! next to the raw rate of the same database in the same run — multi-row
//! upserts of the same rows, and keyset selects plus JSON encoding.
//!
//! `cargo bench -p jcselect-benches --bench store` (SQLite; PostgreSQL too
//! when JCSELECT_TEST_POSTGRES_URL is set). `JCSELECT_BENCH_N` sets the
//! number of voters (default 50,000).

use std::sync::Arc;

use jcselect_benches::{rate, report, timed};
use jcselect_entities::{SyncAudit, Voter};
use jcselect_store_conformance::fixture::{update, voter, World};
use jcselect_sync::pull::{read_pull, PullFrom};
use jcselect_sync::push::{apply_push, PushContext, DEFAULT_MAX_CLOCK_SKEW_MICROS};
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::SyncPushRequest;
use jcselect_sync::{Syncable, Timestamp};

const BATCH: usize = 1000;

fn voters(world: &World, n: usize) -> Vec<Voter> {
    (0..n)
        .map(|i| voter(&world.pen_a, &i.to_string(), &format!("ناخب رقم {i}")))
        .collect()
}

/// The push requests of `voters`, built before the clock starts: what a
/// server has once it has read the request bodies.
fn requests(voters: &[Voter]) -> Vec<SyncPushRequest> {
    voters
        .chunks(BATCH)
        .map(|batch| SyncPushRequest {
            client_id: "bench".into(),
            changes: batch.iter().map(update).collect(),
        })
        .collect()
}

async fn push_all(store: &Arc<dyn ServerStore>, world: &World, requests: &[SyncPushRequest]) {
    let context = PushContext {
        registry: jcselect_entities::registry().unwrap(),
        audit: &SyncAudit,
        max_clock_skew_micros: DEFAULT_MAX_CLOCK_SKEW_MICROS,
    };
    for request in requests {
        let response = apply_push(
            store.as_ref(),
            &context,
            &world.admin,
            request,
            Timestamp::now(),
        )
        .await
        .unwrap();
        assert_eq!(response.processed_count as usize, request.changes.len());
    }
}

async fn pull_all(store: &Arc<dyn ServerStore>, world: &World, after: i64) -> usize {
    let mut cursor = after;
    let mut count = 0;
    loop {
        let page = read_pull(
            store.as_ref(),
            &world.admin,
            PullFrom::Cursor(Some(cursor)),
            BATCH,
        )
        .await
        .unwrap();
        count += page.changes.len();
        // the server sends JSON: encode the page as it would
        std::hint::black_box(serde_json::to_vec(&page).unwrap());
        cursor = jcselect_sync::pull::decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap();
        if !page.has_more {
            return count;
        }
    }
}

/// Raw SQLite: multi-row upserts of the same voter rows, then keyset reads
/// with JSON encoding.
async fn raw_sqlite(url: &str, voters: &[Voter]) -> (f64, f64) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let entity = Voter::DECL;
    let records: Vec<_> = voters.iter().map(|v| v.to_record().unwrap()).collect();
    let (_, write) = timed(async {
        for chunk in records.chunks(BATCH) {
            let mut tx = pool.begin().await.unwrap();
            let text = jcselect_store_sql_text(entity, chunk.len());
            let mut query = sqlx::query(&text);
            for record in chunk {
                for value in record.values() {
                    query = match value {
                        jcselect_sync::FieldValue::Null => query.bind(None::<String>),
                        jcselect_sync::FieldValue::Int(n) => query.bind(*n),
                        jcselect_sync::FieldValue::Bool(b) => query.bind(*b),
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
            tx.commit().await.unwrap();
        }
    })
    .await;
    let (read_rows, read) = timed(async {
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
                use sqlx::{Column, Row, ValueRef};
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
    pool.close().await;
    (rate(voters.len(), write), rate(read_rows, read))
}

fn jcselect_store_sql_text(entity: &jcselect_sync::EntityDecl, rows: usize) -> String {
    let columns: Vec<&str> = entity.all_fields().map(|f| f.name).collect();
    let width = columns.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let _ = row;
            format!("({})", vec!["?"; width].join(", "))
        })
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO bench_voters ({}) VALUES {} ON CONFLICT (id) DO UPDATE SET {}",
        columns.join(", "),
        values.join(", "),
        updates.join(", ")
    )
}

async fn bench_sqlite(n: usize) {
    let dir = std::env::temp_dir().join(format!("jcselect-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = jcselect_store_sqlite::SqliteStore::open(&url)
        .await
        .unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    ServerStore::migrate(&store, &entities).await.unwrap();
    let store: Arc<dyn ServerStore> = Arc::new(store);
    let world = World::new();
    world.seed(&store).await;
    let after = store.log_head().await.unwrap().receive_seq;
    let rows = voters(&world, n);

    let batches = requests(&rows);
    let (_, push) = timed(push_all(&store, &world, &batches)).await;
    let (pulled, pull) = timed(pull_all(&store, &world, after)).await;
    assert_eq!(pulled, n);

    let raw_pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    // the same table, columns and indexes as the store's, under another name
    let dialect = jcselect_store_sql::Dialect::Sqlite;
    let mut ddl = vec![jcselect_store_sql::create_entity_table(
        dialect,
        Voter::DECL,
    )];
    ddl.extend(jcselect_store_sql::create_indexes(dialect, Voter::DECL));
    for statement in ddl {
        sqlx::query(&statement.replace("voters", "bench_voters"))
            .execute(&raw_pool)
            .await
            .unwrap();
    }
    raw_pool.close().await;
    let (raw_write, raw_read) = raw_sqlite(&url, &rows).await;
    report(
        "sqlite",
        &format!("push apply ({n} voters, {BATCH}/batch)"),
        rate(n, push),
        raw_write,
    );
    report(
        "sqlite",
        &format!("pull read ({n} changes, {BATCH}/page)"),
        rate(n, pull),
        raw_read,
    );
    std::fs::remove_dir_all(dir).unwrap();
}

async fn bench_postgres(url: &str, n: usize) {
    let schema = format!("jcs_bench_{}", uuid::Uuid::new_v4().simple());
    let store = jcselect_store_postgres::PgStore::open_in_schema(url, &schema)
        .await
        .unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    let store: Arc<dyn ServerStore> = Arc::new(store);
    let world = World::new();
    world.seed(&store).await;
    let after = store.log_head().await.unwrap().receive_seq;
    let rows = voters(&world, n);
    let batches = requests(&rows);
    let (_, push) = timed(push_all(&store, &world, &batches)).await;
    let (pulled, pull) = timed(pull_all(&store, &world, after)).await;
    assert_eq!(pulled, n);

    // raw: UNNEST upserts of the same rows, keyset reads with JSON encoding
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {schema}.bench_voters (LIKE {schema}.voters INCLUDING ALL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let (_, write) = timed(async {
        for chunk in rows.chunks(BATCH) {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|v| v.id).collect();
            let pens: Vec<uuid::Uuid> = chunk.iter().map(|v| v.pen_id).collect();
            let numbers: Vec<String> = chunk.iter().map(|v| v.voter_number.clone()).collect();
            let names: Vec<String> = chunk.iter().map(|v| v.full_name.clone()).collect();
            let times: Vec<_> = chunk.iter().map(|v| v.updated_at.to_datetime()).collect();
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
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
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
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    report(
        "postgres",
        &format!("push apply ({n} voters, {BATCH}/batch)"),
        rate(n, push),
        rate(n, write),
    );
    report(
        "postgres",
        &format!("pull read ({n} changes, {BATCH}/page)"),
        rate(n, pull),
        rate(read_rows, read),
    );
}

fn main() {
    let n: usize = std::env::var("JCSELECT_BENCH_N")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        bench_sqlite(n).await;
        match std::env::var("JCSELECT_TEST_POSTGRES_URL") {
            Ok(url) => bench_postgres(&url, n).await,
            Err(_) => println!("postgres   skipped: JCSELECT_TEST_POSTGRES_URL is not set"),
        }
    });
}
