//! The control room's overview at fleet size: N pens, one operator and
//! one reporting station per pen (10 voters each: the turnout count over
//! 4.2 M voters is measured by `benches/import.rs`). Times
//! `Board::overview` — what every open page asks for every 3 s — cold (no
//! user looked up yet), warm (users and counts reused), and once the
//! counts are due again; and the size of the JSON the page downloads.
//!
//! `JCSELECT_BENCH_PENS=700,7000 cargo bench -p jcselect-benches --bench
//! control_room` (SQLite). Writes its section of BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jcselect_server::admin::{Board, Thresholds};
use jcselect_server::users::{add_user, NewUser};
use jcselect_store_conformance::fixture::{pen, update, voter, World};
use jcselect_sync::auth::Role;
use jcselect_sync::push::apply_push;
use jcselect_sync::store::{ServerStore, StationSeen};
use jcselect_sync::wire::{StationReport, SyncPushRequest};
use jcselect_sync::Timestamp;
use uuid::Uuid;

const VOTERS_PER_PEN: usize = 10;

async fn seed(store: &Arc<dyn ServerStore>, pens: usize) {
    let world = World::new();
    let context = jcselect_benches::push_context();
    let registry = jcselect_server::registry().unwrap();
    let all: Vec<_> = (0..pens).map(|n| pen(&format!("قلم {n}"))).collect();
    let mut changes: Vec<_> = all.iter().map(update).collect();
    for pen in &all {
        changes.extend((0..VOTERS_PER_PEN).map(|n| update(&voter(pen, &n.to_string(), "ناخب"))));
    }
    for batch in changes.chunks(1000) {
        let request = SyncPushRequest {
            client_id: "bench".into(),
            changes: batch.to_vec(),
        };
        let answer = apply_push(
            store.as_ref(),
            &context,
            &world.admin,
            &request,
            Timestamp::now(),
        )
        .await
        .unwrap();
        assert_eq!(answer.processed_count as usize, batch.len());
    }
    for (n, pen) in all.iter().enumerate() {
        let user_id = add_user(
            store.as_ref(),
            registry,
            NewUser {
                username: format!("op{n}"),
                full_name: None,
                role: Role::Operator,
                pens: vec![pen.id],
                password_hash: None,
            },
        )
        .await
        .unwrap();
        store
            .put_station(&StationSeen {
                report: StationReport {
                    client_id: Uuid::new_v4().to_string(),
                    version: "jcselect-client 0.1.0".into(),
                    pending: (n % 3) as u64,
                    retry: 0,
                    parked: u64::from(n % 50 == 0),
                    oldest_unsent_at: (n % 3 > 0)
                        .then(|| Timestamp::now().plus_micros(-60_000_000)),
                    clock_offset_micros: 0,
                    parked_changes: vec![],
                },
                user_id,
                seen_at: Timestamp::now().plus_micros(-((n % 40) as i64) * 60_000_000),
            })
            .await
            .unwrap();
    }
}

async fn timed_overview(board: &Board, store: &Arc<dyn ServerStore>) -> (Duration, usize) {
    let start = Instant::now();
    let overview = board.overview(store.as_ref()).await.unwrap();
    let took = start.elapsed();
    (took, serde_json::to_vec(&overview).unwrap().len())
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn main() {
    let (sizes, sizes_given) = jcselect_benches::sizes("JCSELECT_BENCH_PENS", "700,7000");
    let command = format!("{sizes_given} cargo bench -p jcselect-benches --bench control_room");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rows = Vec::new();
        for &pens in &sizes {
            let dir = std::env::temp_dir().join(format!("jcselect-room-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("server.db").display());
            let registry = jcselect_server::registry().unwrap();
            let store = jcselect_server::database::open_store(&url, registry)
                .await
                .unwrap();
            seed(&store, pens).await;
            let board = Board::new(
                Thresholds {
                    amber_seconds: 600,
                    red_seconds: 1_800,
                },
                registry,
            );
            let (cold, bytes) = timed_overview(&board, &store).await;
            let (warm, _) = timed_overview(&board, &store).await;
            tokio::time::sleep(Duration::from_secs(6)).await;
            let (due, _) = timed_overview(&board, &store).await;
            let row = format!(
                "| sqlite | {pens} | {pens} | {} | {} | {} | {:.1} MB |",
                ms(cold),
                ms(warm),
                ms(due),
                bytes as f64 / 1e6
            );
            println!("{row}");
            rows.push(row);
            drop(store);
            std::fs::remove_dir_all(dir).unwrap();
        }
        let content = format!(
            "## The control room's overview\n\n\
             Written by `benches/control_room.rs` (`{command}`), {}. `Board::overview` — what each open `/admin` page asks for every 3 s — over pens with one operator and one reporting station each: *cold* (no user looked up yet: a user record and a log-in per station), *warm* (users and counts reused), *counts due* (turnout and incidents read again, users still known); and the JSON the page downloads each time.\n\n\
             | database | pens | stations | cold | warm | counts due | JSON |\n|---|---|---|---|---|---|---|\n{}\n",
            Timestamp::now(),
            rows.join("\n")
        );
        jcselect_benches::write_section("control_room", &content);
    });
}
