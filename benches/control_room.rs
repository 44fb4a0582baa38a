//! The control room's overview at fleet size: N pens, one operator and
//! one reporting station per pen (10 voters each: the turnout count over
//! 4.2 M voters is measured by `benches/import.rs`). Times the snapshot
//! every open page shares (`Board::snapshot`) cold (no user read yet),
//! warm (nothing changed), and once a tenth of the stations reported again
//! and the counts are due; and the JSON a page downloads: everything on
//! its first poll (every pen), then only the rows changed since its last.
//! Where Chromium and ChromeDriver are installed, the page itself is
//! measured in headless Chromium against a server on the same database:
//! fetching and parsing a first poll, drawing the table (sorting every pen,
//! drawing a page of rows), and the script's heap.
//!
//! `JCSELECT_BENCH_PENS=700,7000 cargo bench -p jcselect-benches --bench
//! control_room` (SQLite). Writes its section of BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jcselect_e2e::webdriver::Browser;
use jcselect_server::admin::{Board, Thresholds, SNAPSHOT_KEPT};
use jcselect_server::secret::JwtSecret;
use jcselect_server::settings::{FileSettings, Overrides, Settings};
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

/// What the page costs in headless Chromium, over a real server on the
/// database at `url`: a first poll fetched and parsed, one drawing of the
/// table (median of 9), the script's heap; `None` without Chromium.
async fn page_in_chromium(store: &Arc<dyn ServerStore>, url: &str) -> Option<(f64, f64, f64)> {
    let (chromium, driver) = jcselect_e2e::webdriver::installed()?;
    let registry = jcselect_server::registry().unwrap();
    add_user(
        store.as_ref(),
        registry,
        NewUser {
            username: "chief".into(),
            full_name: None,
            role: Role::Admin,
            pens: vec![],
            password_hash: Some(jcselect_server::auth::hash_password("bench-password")),
        },
    )
    .await
    .unwrap();
    let settings = Settings::resolve(
        Overrides {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some(url.into()),
            ..Overrides::default()
        },
        FileSettings::default(),
    )
    .unwrap();
    let secret = JwtSecret::new(b"a bench secret of thirty-two bytes!".to_vec(), "bench").unwrap();
    let router = jcselect_server::app(&settings, &secret).await.unwrap();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(jcselect_server::http::run(listener, router, async {
        let _ = stopped.await;
    }));

    let browser = Browser::start(&chromium, &driver).await;
    browser.open(&format!("{base}/admin?lang=en")).await;
    browser.type_into("#username", "chief").await;
    browser.type_into("#password", "bench-password").await;
    browser.click("#log-in").await;
    browser
        .wait_for(
            "return document.querySelectorAll('#pens tbody tr').length === 100",
            "the first page of pens",
        )
        .await;
    browser
        .run(
            "window.measured = null; (async () => { const start = performance.now(); \
             const answer = await fetch('/admin/api/overview', { credentials: 'same-origin' }); \
             const overview = await answer.json(); \
             window.measured = [performance.now() - start, overview.pens.length]; })(); return true",
        )
        .await;
    browser
        .wait_for("return window.measured !== null", "a first poll")
        .await;
    let first_poll = browser.run("return window.measured[0]").await.as_f64()?;
    let mut draws: Vec<f64> = Vec::new();
    for _ in 0..9 {
        let took = browser
            .run("const start = performance.now(); render(); return performance.now() - start")
            .await;
        draws.push(took.as_f64()?);
    }
    draws.sort_by(f64::total_cmp);
    let heap = browser
        .run("return performance.memory ? performance.memory.usedJSHeapSize : 0")
        .await
        .as_f64()?;
    browser.stop().await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    Some((first_poll, draws[draws.len() / 2], heap / 1e6))
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
            drop(board);
            let page = match page_in_chromium(&store, &url).await {
                Some((poll, draw, heap)) => {
                    format!("{poll:.0} ms | {draw:.0} ms | {heap:.0} MB")
                }
                None => "no Chromium | | ".to_owned(),
            };
            let row = format!(
                "| sqlite | {pens} | {pens} | {} | {} | {} | {} | {} | {} | {page} |",
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
             Written by `benches/control_room.rs` (`{command}`), {}. `Board::snapshot` — the overview every open `/admin` page and `/metrics` share, taken again at most once a second — over pens with one operator and one reporting station each: *cold* (the server's first: every user and log-in read, turnout and incidents counted), *warm* (a second later, nothing changed: counts and users reused), *a tenth reported, counts due* (700 or 7,000 stations reported again and the turnout and incidents are read again); and the JSON a page downloads: its first poll (every pen), then only the rows changed since its last poll. Then the page in headless Chromium (Debian's) against a server on the same database: a first poll fetched and parsed by the page, one drawing of the table (sort every pen, draw 100 rows; median of 9), the script's heap.\n\n\
             | database | pens | stations | cold | warm | a tenth reported, counts due | first poll | next poll, nothing changed | next poll, a tenth reported | page: first poll fetched + parsed | page: table drawn | page: JS heap |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n{}\n",
            Timestamp::now(),
            rows.join("\n")
        );
        jcselect_benches::write_section("control_room", &content);
    });
}
