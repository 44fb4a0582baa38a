//! What one pen's pull costs as the fleet grows: a fresh pen's first pull,
//! and an incremental pull with 5 changes of its own, quiet and after
//! 35,000 changes of the other pens, at several fleet sizes of 600 voters
//! per pen. The pull path is the server's own (`read_pull` on the store,
//! in-process: no HTTP), as the operator of one pen.
//!
//! Writes its section of BENCHMARKS.md, goals included.
//!
//! `JCSELECT_BENCH_PENS=100,1000 cargo bench -p jcselect-benches --bench
//! scoped_pull` (SQLite; PostgreSQL too when JCSELECT_TEST_POSTGRES_URL is
//! set; `JCSELECT_BENCH_DATABASES=postgres` runs one of them only). Wall time per pull is the median of 5; the process's CPU time over
//! those pulls is the server's on SQLite (the database runs in-process) and
//! the server process's alone on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jcselect_entities::{Role as UserRole, Voter};
use jcselect_store_conformance::fixture::{party, pen, pull_context, update, user, voter, World};
use jcselect_sync::auth::{Principal, Role};
use jcselect_sync::pull::{decode_cursor, read_pull, PullFrom};
use jcselect_sync::push::{apply_push, PushQueue};
use jcselect_sync::store::{Login, ServerStore};
use jcselect_sync::wire::{EntityChange, SyncPushRequest};
use jcselect_sync::Timestamp;
use uuid::Uuid;

const VOTERS_PER_PEN: usize = 600;
const PAGE: usize = 1000;
const OTHER_CHANGES: usize = 35_000;

async fn push(store: &Arc<dyn ServerStore>, world: &World, changes: Vec<EntityChange>) {
    let context = jcselect_benches::push_context();
    for batch in changes.chunks(PAGE) {
        let request = SyncPushRequest {
            client_id: "bench".into(),
            changes: batch.to_vec(),
        };
        let response = apply_push(
            store.as_ref(),
            &context,
            &world.admin,
            &request,
            Timestamp::now(),
        )
        .await
        .unwrap();
        assert_eq!(
            response.processed_count as usize,
            batch.len(),
            "{response:?}"
        );
    }
}

/// Every page from `after` as `operator`: (rows, next cursor).
async fn pull(
    store: &Arc<dyn ServerStore>,
    operator: &Principal,
    after: Option<i64>,
) -> (usize, i64) {
    let mut from = PullFrom::Cursor(after);
    let mut rows = 0;
    loop {
        let page = read_pull(store.as_ref(), &pull_context(), operator, from, PAGE)
            .await
            .unwrap();
        rows += page.changes.len();
        std::hint::black_box(serde_json::to_vec(&page).unwrap());
        let cursor = decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap();
        if !page.has_more {
            return (rows, cursor);
        }
        from = PullFrom::Cursor(Some(cursor));
    }
}

/// This process's CPU time (user + system).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|n| fields.get(*n).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The median wall time and the mean CPU time of 5 runs of `pull`.
async fn measured(
    store: &Arc<dyn ServerStore>,
    operator: &Principal,
    after: Option<i64>,
) -> (usize, Duration, Duration) {
    let mut walls = Vec::new();
    let mut rows = 0;
    let cpu_before = cpu();
    for _ in 0..5 {
        let start = Instant::now();
        rows = pull(store, operator, after).await.0;
        walls.push(start.elapsed());
    }
    let cpu_each = (cpu() - cpu_before) / 5;
    walls.sort();
    (rows, walls[2], cpu_each)
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// One table row: database, pens, log rows, pull, rows, wall, CPU.
fn row(
    database: &str,
    pens: usize,
    head: i64,
    pull: &str,
    rows: usize,
    wall: Duration,
    cpu: Duration,
) -> String {
    format!(
        "| {database} | {pens} | {head} | {pull} | {rows} | {} | {} |",
        ms(wall),
        ms(cpu)
    )
}

const FRESH: &str = "fresh pen's first pull";
const QUIET: &str = "incremental, quiet fleet";
const BUSY: &str = "incremental after 35000 other-pen changes";
const RESTART: &str = "restart: start-up compaction pass over the log";
const ELECTION_DAY: &str = "election day: 16 stations for 15 s, each cycle 5 marks + a pull from 35000 positions behind (rows: cycles; wall: p99 of a cycle; CPU: per cycle)";

/// Measures one fleet size on one database; `postgres_url` (PostgreSQL
/// only) lets it settle the checkpointer after seeding and before the
/// election-day model.
async fn fleet(
    database: &str,
    store: Arc<dyn ServerStore>,
    pens: usize,
    postgres_url: Option<&str>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    let world = World::new();
    world.seed(&store).await;
    let seeding = Instant::now();
    let fleet: Vec<_> = (0..pens).map(|p| pen(&format!("pen {p}"))).collect();
    let mut reference: Vec<EntityChange> = (0..10)
        .map(|n| update(&party(&format!("party {n}"))))
        .collect();
    reference.extend(fleet.iter().map(update));
    let operators: Vec<_> = (0..pens)
        .map(|p| user(&format!("operator of pen {p}"), UserRole::Operator))
        .collect();
    for (operator, pen) in operators.iter().zip(&fleet) {
        store
            .put_login(&Login {
                username: operator.username.clone(),
                user_id: operator.id,
                password_hash: None,
                pens: vec![pen.id],
            })
            .await
            .unwrap();
    }
    reference.extend(operators.iter().map(update));
    push(&store, &world, reference).await;
    let mut voters_of: Vec<Vec<Voter>> = Vec::with_capacity(pens);
    for some_pens in fleet.chunks(50) {
        let mut changes = Vec::new();
        for pen in some_pens {
            let voters: Vec<Voter> = (0..VOTERS_PER_PEN)
                .map(|n| voter(pen, &n.to_string(), &format!("ناخب {n}")))
                .collect();
            changes.extend(voters.iter().map(update));
            voters_of.push(voters);
        }
        push(&store, &world, changes).await;
    }
    let head = store.log_head().await.unwrap().receive_seq;
    eprintln!(
        "{database}: {pens} pens seeded ({head} log rows) in {:.0} s",
        seeding.elapsed().as_secs_f64()
    );
    if let Some(url) = postgres_url {
        jcselect_benches::settle_postgres(url).await;
    }

    let mine = pens / 2;
    let operator = Principal {
        user_id: operators[mine].id,
        role: Role::Operator,
        pens: vec![fleet[mine].id],
    };
    let (rows, wall, cpu_each) = measured(&store, &operator, None).await;
    lines.push(row(database, pens, head, FRESH, rows, wall, cpu_each));

    // 5 changes of its own after its cursor, the rest of the fleet quiet
    let cursor = pull(&store, &operator, None).await.1;
    let marked = |voters: &[Voter], n: usize| -> Vec<EntityChange> {
        voters
            .iter()
            .take(n)
            .map(|v| {
                let mut v = v.clone();
                v.full_name.push_str(" ·");
                v.updated_at = Timestamp::now();
                update(&v)
            })
            .collect()
    };
    push(&store, &world, marked(&voters_of[mine], 5)).await;
    let (rows, wall, cpu_each) = measured(&store, &operator, Some(cursor)).await;
    lines.push(row(database, pens, head, QUIET, rows, wall, cpu_each));

    // one 300 s interval of the other pens' traffic, then 5 of its own
    let cursor = pull(&store, &operator, None).await.1;
    let mut others = Vec::with_capacity(OTHER_CHANGES);
    let mut p = 0;
    while others.len() < OTHER_CHANGES {
        if p % pens != mine {
            others.extend(marked(&voters_of[p % pens], 5));
        }
        p += 1;
    }
    others.truncate(OTHER_CHANGES);
    push(&store, &world, others).await;
    push(&store, &world, marked(&voters_of[mine][5..], 5)).await;
    let (rows, wall, cpu_each) = measured(&store, &operator, Some(cursor)).await;
    lines.push(row(database, pens, head, BUSY, rows, wall, cpu_each));

    // a restart: the start-up compaction pass over every position (the
    // mark of a database seeded since its creation is at 0)
    let head = store.log_head().await.unwrap().receive_seq;
    let (start, cpu_before) = (Instant::now(), cpu());
    store.migrate(&entities).await.unwrap();
    let (reopened, cpu_reopening) = (start.elapsed(), cpu() - cpu_before);
    lines.push(row(
        database,
        pens,
        head,
        RESTART,
        head as usize,
        reopened,
        cpu_reopening,
    ));

    let stations: Vec<Station> = fleet
        .iter()
        .zip(&operators)
        .zip(voters_of)
        .map(|((pen, operator), voters)| Station {
            operator: Principal {
                user_id: operator.id,
                role: Role::Operator,
                pens: vec![pen.id],
            },
            voters,
        })
        .collect();
    if let Some(url) = postgres_url {
        jcselect_benches::settle_postgres(url).await;
    }
    let model = election_day(&store, stations).await;
    eprintln!(
        "{database}: election day {} cycles, {:.1}/s, p50 {}, p99 {}",
        model.cycles,
        model.per_second,
        ms(model.p50),
        ms(model.p99)
    );
    lines.push(row(
        database,
        pens,
        store.log_head().await.unwrap().receive_seq,
        ELECTION_DAY,
        model.cycles,
        model.p99,
        model.cpu_per_cycle,
    ));
    for line in &lines {
        println!("{line}");
    }
    lines
}

/// One pen's station in the election-day model.
struct Station {
    operator: Principal,
    voters: Vec<Voter>,
}

/// What the election-day model measured.
struct Model {
    cycles: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_cycle: Duration,
}

/// Concurrent stations in the model.
const MODEL_WORKERS: usize = 16;
/// How long the model runs.
const MODEL_SECONDS: u64 = 15;

/// The election-day model: stations in turn, 16 at once, each cycle
/// pushes 5 vote marks as its pen's operator and pulls every page from a
/// cursor one 300 s interval of the whole fleet's traffic behind the head
/// (7,000 pens × 5 marks = 35,000 positions), as a real station's is.
async fn election_day(store: &Arc<dyn ServerStore>, stations: Vec<Station>) -> Model {
    let stations = Arc::new(stations);
    let deadline = Instant::now() + Duration::from_secs(MODEL_SECONDS);
    let cpu_before = cpu();
    let started = Instant::now();
    let mut workers = Vec::new();
    // the server's own group commit, as `POST /sync/push` uses it
    let queue = Arc::new(PushQueue::default());
    for worker in 0..MODEL_WORKERS {
        let (store, stations, queue) = (store.clone(), stations.clone(), queue.clone());
        workers.push(tokio::spawn(async move {
            let context = jcselect_benches::push_context();
            let mut latencies = Vec::new();
            let mut turn = worker;
            while Instant::now() < deadline {
                let station = &stations[turn % stations.len()];
                let round = turn / stations.len();
                let now = Timestamp::now();
                let changes: Vec<EntityChange> = (0..5)
                    .map(|k| {
                        let mut v = station.voters[(round * 5 + k) % VOTERS_PER_PEN].clone();
                        v.has_voted = true;
                        v.voted_at = Some(now);
                        v.voted_by_operator_id = Some(station.operator.user_id);
                        v.updated_at = now;
                        update(&v)
                    })
                    .collect();
                let cycle = Instant::now();
                let request = SyncPushRequest {
                    client_id: "station".into(),
                    changes,
                };
                let body = serde_json::to_vec(&request).unwrap();
                let request: SyncPushRequest = serde_json::from_slice(&body).unwrap();
                let response = queue
                    .apply(
                        store.as_ref(),
                        &context,
                        &station.operator,
                        Arc::new(request),
                        now,
                    )
                    .await
                    .unwrap();
                assert!(response.failed_changes.is_empty(), "{response:?}");
                std::hint::black_box(serde_json::to_vec(&response).unwrap());
                let head = store.log_head().await.unwrap().receive_seq;
                let behind = (head - OTHER_CHANGES as i64).max(0);
                pull(&store, &station.operator, Some(behind)).await;
                latencies.push(cycle.elapsed());
                turn += MODEL_WORKERS;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Model {
        cycles: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        cpu_per_cycle: (cpu() - cpu_before) / latencies.len().max(1) as u32,
    }
}

/// The cells of a table row.
fn cells(line: &str) -> Vec<&str> {
    line.trim_matches('|').split('|').map(str::trim).collect()
}

/// The wall time of the row of (`database`, `pens`, `pull`), in ms.
fn wall_of(rows: &[String], database: &str, pens: &str, pull: &str) -> Option<f64> {
    rows.iter().map(|line| cells(line)).find_map(|c| {
        (c.len() == 7 && c[0] == database && c[1] == pens && c[3] == pull)
            .then(|| c[5].trim_end_matches(" ms").parse().ok())
            .flatten()
    })
}

/// The report's section: this run's rows over an earlier run's of other
/// sizes, and the goals of the issue read off them.
fn section(rows: Vec<String>, command: &str) -> String {
    let key = |line: &String| {
        let c = cells(line);
        (
            c[0].to_owned(),
            c[1].parse::<usize>().unwrap_or(0),
            c[3].to_owned(),
        )
    };
    let mut merged: std::collections::BTreeMap<(String, usize, String), String> =
        jcselect_benches::section_rows("scoped_pull")
            .into_iter()
            .filter(|line| cells(line).len() == 7)
            .map(|line| (key(&line), line))
            .collect();
    for line in rows {
        merged.insert(key(&line), line);
    }
    let rows: Vec<String> = merged.into_values().collect();
    let mut out = String::new();
    out.push_str("## One pen's pull as the fleet grows (600 voters per pen)\n\n");
    out.push_str(&format!(
        "Written by `benches/scoped_pull.rs` (`{command}`), {}; rows of sizes this run did not measure are an earlier run's. The pull is the server's (`read_pull` on the store, in-process), as the operator of one pen, pages of 1,000; wall is the median of 5, CPU this process's (the database's too on SQLite; on PostgreSQL the database's own CPU is not counted).\n\n",
        Timestamp::now()
    ));
    out.push_str("| database | pens | log rows | pull | rows | wall (median of 5) | CPU of this process |\n|---|---|---|---|---|---|---|\n");
    for line in &rows {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n| goal | measured | verdict |\n|---|---|---|\n");
    for database in ["sqlite", "postgres"] {
        let largest = rows
            .iter()
            .map(|line| cells(line))
            .filter(|c| c.len() == 7 && c[0] == database)
            .filter_map(|c| c[1].parse::<usize>().ok())
            .max();
        let (Some(small), Some(large)) = (wall_of(&rows, database, "100", FRESH), largest) else {
            continue;
        };
        let large = large.to_string();
        if let Some(big) = wall_of(&rows, database, &large, FRESH) {
            let ratio = big / small;
            out.push_str(&format!(
                "| {database}: a fresh pen's first pull at {large} pens within 1.5× of 100 pens | {big:.1} ms vs {small:.1} ms (×{ratio:.2}) | {} |\n",
                if ratio <= 1.5 { "met" } else { "**missed**" }
            ));
            let pens: f64 = large.parse().unwrap_or(0.0);
            let morning = big / 1000.0 * pens;
            out.push_str(&format!(
                "| {database}: the morning, {large} fresh pens pulling their pen, under 10 min of server time | {morning:.0} s ({large} × {big:.1} ms) | {} |\n",
                if morning < 600.0 { "met" } else { "**missed**" }
            ));
        }
        let model = rows
            .iter()
            .map(|line| cells(line))
            .find(|c| c.len() == 7 && c[0] == database && c[1] == large && c[3] == ELECTION_DAY);
        if let Some(c) = model {
            let cycles: f64 = c[4].parse().unwrap_or(0.0);
            let per_second = cycles / MODEL_SECONDS as f64;
            let needed = 7_000.0 / 300.0;
            let headroom = per_second / needed;
            out.push_str(&format!(
                "| {database}: election day at {large} pens, stations one interval behind, ≥ 20× headroom (aim 100×) | {per_second:.0} cycles/s against {needed:.1} needed: {headroom:.0}×, p99 {} | {} |\n",
                c[5],
                if headroom >= 20.0 { "met" } else { "**missed**" }
            ));
        }
        if let (Some(quiet), Some(busy)) = (
            wall_of(&rows, database, &large, QUIET),
            wall_of(&rows, database, &large, BUSY),
        ) {
            let ratio = busy / quiet;
            out.push_str(&format!(
                "| {database}: incremental pull after 35,000 other-pen changes within 2× of a quiet one ({large} pens) | {busy:.1} ms vs {quiet:.1} ms (×{ratio:.2}) | {} |\n",
                if ratio <= 2.0 { "met" } else { "**missed**" }
            ));
        }
    }
    out
}

fn main() {
    let (pens, sizes_given) = jcselect_benches::sizes("JCSELECT_BENCH_PENS", "100,1000");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let command = format!(
        "{sizes_given}{} cargo bench -p jcselect-benches --bench scoped_pull",
        if std::env::var("JCSELECT_TEST_POSTGRES_URL").is_ok() {
            " JCSELECT_TEST_POSTGRES_URL=…"
        } else {
            ""
        }
    );
    runtime.block_on(async {
        let mut rows = Vec::new();
        for &count in &pens {
            let dir = std::env::temp_dir().join(format!("jcselect-scoped-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            if jcselect_benches::wanted("sqlite") {
                let store = jcselect_store_sqlite::SqliteStore::open(&url)
                    .await
                    .unwrap();
                rows.extend(fleet("sqlite", Arc::new(store), count, None).await);
            }
            std::fs::remove_dir_all(dir).unwrap();
            if let Some(url) = std::env::var("JCSELECT_TEST_POSTGRES_URL")
                .ok()
                .filter(|_| jcselect_benches::wanted("postgres"))
            {
                let schema = format!("jcs_bench_{}", Uuid::new_v4().simple());
                let store = jcselect_store_postgres::PgStore::open_in_schema(&url, &schema)
                    .await
                    .unwrap();
                rows.extend(fleet("postgres", Arc::new(store), count, Some(&url)).await);
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            // after every size, so a long run leaves what it measured
            jcselect_benches::write_section("scoped_pull", &section(rows.clone(), &command));
        }
    });
}
