//! A station's voter search at the size of the largest replicas: 30,000
//! voters (an admin's replica of 50 pens) and ten times that, with Arabic
//! names drawn from common first and family names in several spellings.
//! For each size: the time to index the voters once (the first search
//! after they were written), then each kind of query run 50 times —
//! median and slowest — beside what the search did before this index
//! (reading every voter of the replica).
//!
//! `JCSELECT_BENCH_VOTERS=30000,300000 cargo bench -p jcselect-benches
//! --bench search`. Writes its section of BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jcselect_client::dao::SEARCH_LIMIT;
use jcselect_entities::Voter;
use jcselect_sync::store::ClientStore;
use jcselect_sync::{Syncable, Timestamp};
use uuid::Uuid;

const RUNS: usize = 50;
const FIRST_NAMES: [&str; 20] = [
    "أحمد",
    "احمد",
    "محمد",
    "مُحَمَّد",
    "فاطمة",
    "زينب",
    "علي",
    "حسن",
    "حسين",
    "مريم",
    "خديجة",
    "يوسف",
    "إبراهيم",
    "مصطفى",
    "ليلى",
    "سمير",
    "رامي",
    "هدى",
    "نور",
    "كريم",
];
const FAMILY_NAMES: [&str; 25] = [
    "حداد",
    "خوري",
    "الأمين",
    "شمس الدين",
    "عيسى",
    "فرحات",
    "نصر الله",
    "بزي",
    "سلامة",
    "عطوي",
    "الحاج",
    "موسى",
    "ياسين",
    "قاسم",
    "حمود",
    "زعيتر",
    "شعيب",
    "مغنية",
    "بيضون",
    "طه",
    "سرور",
    "جابر",
    "رعد",
    "فضل الله",
    "الزين",
];

/// A deterministic stream of numbers (the same names every run).
struct Draw(u64);

impl Draw {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        from[(self.0 >> 33) as usize % from.len()]
    }
}

fn voters(count: usize) -> Vec<Voter> {
    let at = Timestamp::now().plus_micros(-3_600_000_000);
    let pens: Vec<Uuid> = (0..count.div_ceil(600)).map(|_| Uuid::new_v4()).collect();
    let mut draw = Draw(7);
    (0..count)
        .map(|n| Voter {
            id: Uuid::new_v4(),
            created_at: at,
            updated_at: at,
            deleted_at: None,
            deleted_by: None,
            pen_id: pens[n / 600],
            voter_number: (n + 1).to_string(),
            full_name: format!(
                "{} {} {}",
                draw.pick(&FIRST_NAMES),
                draw.pick(&FIRST_NAMES),
                draw.pick(&FAMILY_NAMES)
            ),
            father_name: Some(draw.pick(&FIRST_NAMES).to_owned()),
            mother_name: None,
            birth_year: Some(1940 + (n % 60) as i64),
            gender: None,
            has_voted: false,
            voted_at: None,
            voted_by_operator_id: None,
        })
        .collect()
}

/// Writes the pens and voters into the replica file the way the desktop
/// app does (plain SQL, its storage format), capture paused so that none
/// is queued: what is measured is the search, not the writing.
async fn fill(url: &str, voters: &[Voter]) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE sync_capture SET paused = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    let pens: std::collections::BTreeSet<Uuid> = voters.iter().map(|voter| voter.pen_id).collect();
    for (n, pen) in pens.iter().enumerate() {
        sqlx::query(
            "INSERT INTO pens (id, created_at, updated_at, town_name, label) \
             VALUES (?1, '2026-05-01 08:00:00', '2026-05-01 08:00:00', 'بلدة', ?2)",
        )
        .bind(pen.simple().to_string())
        .bind(format!("قلم {n}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for voter in voters {
        sqlx::query(
            "INSERT INTO voters (id, created_at, updated_at, pen_id, voter_number, full_name, father_name, has_voted) \
             VALUES (?1, '2026-05-01 08:00:00', '2026-05-01 08:00:00', ?2, ?3, ?4, ?5, 0)",
        )
        .bind(voter.id.simple().to_string())
        .bind(voter.pen_id.simple().to_string())
        .bind(&voter.voter_number)
        .bind(&voter.full_name)
        .bind(&voter.father_name)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE sync_capture SET paused = 0")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

/// Median and slowest of `RUNS` searches for `query`, and how many it found.
async fn measure(store: &Arc<dyn ClientStore>, query: &str) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut found = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        found = store
            .search(Voter::DECL, query, SEARCH_LIMIT)
            .await
            .unwrap()
            .len();
        times.push(start.elapsed());
    }
    times.sort();
    (times[RUNS / 2], times[RUNS - 1], found)
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

async fn size(count: usize) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("jcselect-search-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("station.db").display());
    let store = jcselect_client::Replica::open_store(&url).await.unwrap();
    fill(&url, &voters(count)).await;
    let start = Instant::now();
    store.search(Voter::DECL, "1", 1).await.unwrap();
    let indexing = start.elapsed();
    let mut rows = vec![format!(
        "| {count} | index every voter once (the first search after the desktop app wrote them) | {} | | |",
        ms(indexing)
    )];
    let exact = (count / 2).to_string();
    let arabic_digits: String = exact
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + 0x660).unwrap())
        .collect();
    for (what, query) in [
        ("exact voter number", exact.as_str()),
        (
            "the same number in Arabic-Indic digits",
            arabic_digits.as_str(),
        ),
        ("number prefix `1`", "1"),
        ("common first name `محمد`", "محمد"),
        ("folded spelling `احمد` (أحمد and احمد)", "احمد"),
        ("two words `فاطمة حداد`", "فاطمة حداد"),
        ("word prefix `شمس ال`", "شمس ال"),
        ("three words `علي حسن الزين`", "علي حسن الزين"),
        ("no voter `zzz`", "zzz"),
    ] {
        let (median, slowest, found) = measure(&store, query).await;
        rows.push(format!(
            "| {count} | {what} | {} | {} | {found} |",
            ms(median),
            ms(slowest)
        ));
    }
    let start = Instant::now();
    let everyone = store.find_records(Voter::DECL, &[], false).await.unwrap();
    let loading = start.elapsed();
    rows.push(format!(
        "| {count} | before this index: reading every voter ({} read) | {} | | |",
        everyone.len(),
        ms(loading)
    ));
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
    for row in &rows {
        println!("{row}");
    }
    rows
}

fn main() {
    let (sizes, sizes_given) = jcselect_benches::sizes("JCSELECT_BENCH_VOTERS", "30000,300000");
    let command = format!("{sizes_given} cargo bench -p jcselect-benches --bench search");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rows = Vec::new();
        for &count in &sizes {
            rows.extend(size(count).await);
        }
        let content = format!(
            "## Finding a voter on the station\n\n\
             Written by `benches/search.rs` (`{command}`), {}. A replica file holding that many voters (600 per pen; full names of two first names and a family name drawn from 20 first names — some the same name spelled differently — and 25 family names; a father's name), searched through `ClientStore::search` as `jcselect-client search` does (at most {SEARCH_LIMIT} voters returned, read whole). Each query runs {RUNS} times: median and slowest. Goal: ≤ 50 ms for any query at 30,000 voters.\n\n\
             | voters | query | median | slowest | found |\n|---|---|---|---|---|\n{}\n",
            Timestamp::now(),
            rows.join("\n")
        );
        jcselect_benches::write_section("search", &content);
    });
}
