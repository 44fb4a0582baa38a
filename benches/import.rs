//! `jcselect-server import` of the electoral list at fleet size: a pens
//! file and a voters file of 600 voters per pen (CSV, Arabic names),
//! imported into an empty database, then imported again unchanged (every
//! row checked against the store, nothing written). Wall time, rows per
//! second and the process's peak resident memory for each, at two sizes so
//! that growth with the file shows.
//!
//! `JCSELECT_BENCH_PENS=700,7000 cargo bench -p jcselect-benches --bench
//! import` (SQLite; PostgreSQL too when JCSELECT_TEST_POSTGRES_URL is set;
//! `JCSELECT_BENCH_DATABASES=postgres` runs one of them only). Writes its
//! section of BENCHMARKS.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use jcselect_server::import::{import, ImportFile, Kind};
use jcselect_sync::store::ServerStore;
use uuid::Uuid;

const VOTERS_PER_PEN: usize = 600;

/// Writes the pens and voters files of `pens` pens into `dir`.
fn write_files(dir: &Path, pens: usize) -> (PathBuf, PathBuf) {
    let pens_path = dir.join("pens.csv");
    let voters_path = dir.join("voters.csv");
    let mut pens_file = std::io::BufWriter::new(std::fs::File::create(&pens_path).unwrap());
    let mut voters_file = std::io::BufWriter::new(std::fs::File::create(&voters_path).unwrap());
    writeln!(pens_file, "town_name,label").unwrap();
    writeln!(
        voters_file,
        "town_name,label,voter_number,full_name,father_name,birth_year,gender"
    )
    .unwrap();
    for pen in 0..pens {
        let (town, label) = (format!("بلدة {}", pen / 10), format!("قلم {pen}"));
        writeln!(pens_file, "{town},{label}").unwrap();
        for voter in 0..VOTERS_PER_PEN {
            writeln!(
                voters_file,
                "{town},{label},{},ناخب {voter} بن {pen},أب {voter},{},{}",
                1000 + voter,
                1940 + voter % 60,
                if voter % 2 == 0 { "M" } else { "F" }
            )
            .unwrap();
        }
    }
    (pens_path, voters_path)
}

/// This process's peak resident memory since the last reset, MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Starts counting the peak resident memory from now.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Imports both files once; returns the table row.
async fn measured(
    store: &Arc<dyn ServerStore>,
    database: &str,
    pens: usize,
    run: &str,
    files: &(PathBuf, PathBuf),
) -> String {
    let registry = jcselect_entities::registry().unwrap();
    let import_files = vec![
        ImportFile {
            kind: Kind::Pens,
            path: files.0.clone(),
        },
        ImportFile {
            kind: Kind::Voters,
            path: files.1.clone(),
        },
    ];
    reset_peak();
    let before = peak_mib();
    let start = Instant::now();
    let reports = import(store.as_ref(), registry, import_files, false, &mut |_| {})
        .await
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    let peak = peak_mib();
    let rows: u64 = reports
        .iter()
        .map(|r| r.added + r.changed + r.unchanged)
        .sum();
    let written: u64 = reports.iter().map(|r| r.added + r.changed).sum();
    assert!(reports.iter().all(|r| r.error_count == 0), "{reports:#?}");
    let size_mib = std::fs::metadata(&files.1).unwrap().len() as f64 / (1 << 20) as f64;
    let line = format!(
        "| {database} | {pens} | {} | {size_mib:.0} MiB | {run} | {written} | {wall:.1} s | {:.0} | {peak:.0} MiB (at start {before:.0}) |",
        pens * VOTERS_PER_PEN,
        rows as f64 / wall
    );
    println!("{line}");
    line
}

async fn sizes(
    database: &str,
    store: Arc<dyn ServerStore>,
    pens: usize,
    dir: &Path,
) -> Vec<String> {
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    let files = write_files(dir, pens);
    let mut rows = vec![
        measured(&store, database, pens, "first import", &files).await,
        measured(&store, database, pens, "same files again", &files).await,
    ];
    // what the control room asks every few seconds: voters and votes per pen
    let start = Instant::now();
    let counted = store
        .count_per_parent(
            <jcselect_entities::Voter as jcselect_sync::Syncable>::DECL,
            "pen_id",
            "has_voted",
            None,
        )
        .await
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(counted.len(), pens);
    let size_mib = std::fs::metadata(&files.1).unwrap().len() as f64 / (1 << 20) as f64;
    let line = format!(
        "| {database} | {pens} | {} | {size_mib:.0} MiB | turnout per pen (control room) | 0 | {wall:.2} s | | |",
        pens * VOTERS_PER_PEN
    );
    println!("{line}");
    rows.push(line);
    // between full counts the control room counts only the pens whose
    // voters the change log shows changed: a few hundred in five seconds
    let touched: Vec<Uuid> = counted.iter().take(300).map(|count| count.parent).collect();
    let start = Instant::now();
    let recounted = store
        .count_per_parent(
            <jcselect_entities::Voter as jcselect_sync::Syncable>::DECL,
            "pen_id",
            "has_voted",
            Some(&touched),
        )
        .await
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(recounted.len(), touched.len().min(pens));
    let line = format!(
        "| {database} | {pens} | {} | {size_mib:.0} MiB | turnout of 300 changed pens (control room, between full counts) | 0 | {wall:.3} s | | |",
        pens * VOTERS_PER_PEN
    );
    println!("{line}");
    rows.push(line);
    rows
}

fn main() {
    let (pens, sizes_given) = jcselect_benches::sizes("JCSELECT_BENCH_PENS", "700,7000");
    let command = format!("{sizes_given} cargo bench -p jcselect-benches --bench import");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rows = jcselect_benches::section_rows("import");
        for &count in &pens {
            let dir = std::env::temp_dir().join(format!("jcselect-import-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut measured_now = Vec::new();
            if jcselect_benches::wanted("sqlite") {
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                let store = jcselect_store_sqlite::SqliteStore::open(&url).await.unwrap();
                measured_now.extend(sizes("sqlite", Arc::new(store), count, &dir).await);
            }
            if let Some(url) = std::env::var("JCSELECT_TEST_POSTGRES_URL")
                .ok()
                .filter(|_| jcselect_benches::wanted("postgres"))
            {
                let schema = format!("jcs_bench_{}", Uuid::new_v4().simple());
                let store = jcselect_store_postgres::PgStore::open_in_schema(&url, &schema)
                    .await
                    .unwrap();
                measured_now.extend(sizes("postgres", Arc::new(store), count, &dir).await);
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            std::fs::remove_dir_all(dir).unwrap();
            // this run's rows replace an earlier run's of the same database, size and run
            let key = |line: &str| line.split('|').take(3).collect::<String>()
                + line.split('|').nth(5).unwrap_or("");
            rows.retain(|old| measured_now.iter().all(|new| key(new) != key(old)));
            rows.extend(measured_now);
            rows.sort();
            let content = format!(
                "## Importing the electoral list\n\n\
                 Written by `benches/import.rs` (`{command}`, PostgreSQL when `JCSELECT_TEST_POSTGRES_URL` is set), {}; rows of sizes this run did not measure are an earlier run's. \
                 Two files — the pens and their voters (600 per pen, Arabic names, 7 columns) — imported by the library behind `jcselect-server import` into an empty database (*first import*: every row checked, then pushed in batches of 500), then the same files again (*same files again*: every row checked and matched, nothing written). Peak memory is this process's resident peak during the import (the database's too on SQLite).\n\n\
                 | database | pens | voters | voters file | run | records written | wall | rows/s | peak memory |\n\
                 |---|---|---|---|---|---|---|---|---|\n{}\n",
                jcselect_sync::Timestamp::now(),
                rows.join("\n")
            );
            jcselect_benches::write_section("import", &content);
        }
    });
}
