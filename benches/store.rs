//! Store throughput: batch apply (the whole push path: decode, rule, FK and
//! scope checks, upsert, change log) and paged reads (the pull path), each
//! next to the raw rate of the same database in the same run.
//!
//! `cargo bench -p jcselect-benches --bench store` (SQLite; PostgreSQL too
//! when JCSELECT_TEST_POSTGRES_URL is set). `JCSELECT_BENCH_N` sets the
//! number of voters (default 50,000).

use std::sync::Arc;

use jcselect_benches::raw::RawRates;
use jcselect_benches::{rate, report, timed};
use jcselect_entities::Voter;
use jcselect_store_conformance::fixture::{update, voter, World};
use jcselect_sync::pull::{read_pull, PullFrom};
use jcselect_sync::push::apply_push;
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::SyncPushRequest;
use jcselect_sync::Timestamp;

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
    let context = jcselect_benches::push_context();
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
            &jcselect_store_conformance::fixture::pull_context(),
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

/// Pushes and pulls `n` voters through `store`; returns (push/s, pull/s).
async fn measure(store: Arc<dyn ServerStore>, n: usize) -> (f64, f64, Vec<Voter>) {
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    let world = World::new();
    world.seed(&store).await;
    let after = store.log_head().await.unwrap().receive_seq;
    let rows = voters(&world, n);
    let batches = requests(&rows);
    let (_, push) = timed(push_all(&store, &world, &batches)).await;
    let (pulled, pull) = timed(pull_all(&store, &world, after)).await;
    assert_eq!(pulled, n);
    (rate(n, push), rate(n, pull), rows)
}

async fn bench_sqlite(n: usize) {
    let dir = std::env::temp_dir().join(format!("jcselect-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = jcselect_store_sqlite::SqliteStore::open(&url)
        .await
        .unwrap();
    let (push, pull, rows) = measure(Arc::new(store), n).await;
    let raw = jcselect_benches::raw::sqlite(&url, &rows).await;
    report_all("sqlite", n, push, pull, raw);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn bench_postgres(url: &str, n: usize) {
    let schema = format!("jcs_bench_{}", uuid::Uuid::new_v4().simple());
    let store = jcselect_store_postgres::PgStore::open_in_schema(url, &schema)
        .await
        .unwrap();
    let (push, pull, rows) = measure(Arc::new(store), n).await;
    let raw = jcselect_benches::raw::postgres(url, &schema, &rows).await;
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    report_all("postgres", n, push, pull, raw);
}

/// The three lines of one database: push against both raw rates, pull.
fn report_all(database: &str, n: usize, push: f64, pull: f64, raw: RawRates) {
    let what = format!("push apply ({n} voters, {BATCH}/batch)");
    report(database, &format!("{what} vs upsert"), push, raw.upsert);
    report(
        database,
        &format!("{what} vs same rows"),
        push,
        raw.upsert_and_log,
    );
    report(
        database,
        &format!("pull read ({n} changes, {BATCH}/page)"),
        pull,
        raw.read,
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
