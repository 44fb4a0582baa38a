//! The control room's overview at fleet size: N pens, one operator and
//! one reporting station per pen (10 voters each: the turnout count over
//! 4.2 M voters is measured by `benches/import.rs`). Times the snapshot
//! every open page shares (`Board::snapshot`) cold (no user read yet),
//! warm (nothing changed), and once a tenth of the stations reported again
//! and the counts are due; and the JSON a page downloads: everything on
//! its first poll, then only the rows changed since its last.
//!
//! `JCSELECT_BENCH_PENS=700,7000 cargo bench -p jcselect-benches --bench
//! control_room` (SQLite). Writes its section of BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jcselect_server::admin::{Board, Thresholds, SNAPSHOT_KEPT};
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

/// Takes the shared snapshot; returns how long it took and the JSON a
/// page holding `since` downloads, and the new version.
async fn timed_poll(
    board: &Board,
    store: &Arc<dyn ServerStore>,
    since: Option<&str>,
) -> (Duration, usize, String) {
    let start = Instant::now();
    let snapshot = board.snapshot(store.as_ref()).await.unwrap();
    let took = start.elapsed();
    let delta = snapshot.delta(since);
    let bytes = serde_json::to_vec(&delta).unwrap().len();
    (took, bytes, delta.version.clone())
}

/// A tenth of the stations report again (as each does on every sync).
async fn a_tenth_report(store: &Arc<dyn ServerStore>) {
    let stations = store.stations().await.unwrap();
    for station in stations.iter().step_by(10) {
        let mut again = station.clone();
        again.seen_at = Timestamp::now();
        store.put_station(&again).await.unwrap();
    }
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
            let (cold, full, version) = timed_poll(&board, &store, None).await;
            tokio::time::sleep(SNAPSHOT_KEPT).await;
            let (warm, unchanged, version) = timed_poll(&board, &store, Some(&version)).await;
            a_tenth_report(&store).await;
            tokio::time::sleep(Duration::from_secs(6)).await;
            let (due, changed, _) = timed_poll(&board, &store, Some(&version)).await;
            let kb = |bytes: usize| format!("{:.1} kB", bytes as f64 / 1e3);
            let row = format!(
                "| sqlite | {pens} | {pens} | {} | {} | {} | {} | {} | {} |",
                ms(cold),
                ms(warm),
                ms(due),
                kb(full),
                kb(unchanged),
                kb(changed),
            );
            println!("{row}");
            rows.push(row);
            drop(store);
            std::fs::remove_dir_all(dir).unwrap();
        }
        let content = format!(
            "## The control room's overview\n\n\
             Written by `benches/control_room.rs` (`{command}`), {}. `Board::snapshot` — the overview every open `/admin` page and `/metrics` share, taken again at most once a second — over pens with one operator and one reporting station each: *cold* (the server's first: every user and log-in read, turnout and incidents counted), *warm* (a second later, nothing changed: counts and users reused), *a tenth reported, counts due* (700 or 7,000 stations reported again and the turnout and incidents are read again); and the JSON a page downloads: its first poll (every pen), then only the rows changed since its last poll.\n\n\
             | database | pens | stations | cold | warm | a tenth reported, counts due | first poll | next poll, nothing changed | next poll, a tenth reported |\n|---|---|---|---|---|---|---|---|---|\n{}\n",
            Timestamp::now(),
            rows.join("\n")
        );
        jcselect_benches::write_section("control_room", &content);
    });
}
