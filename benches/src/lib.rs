//! Helpers shared by the benchmarks: timing, the report line, and the raw
//! database rates every figure is compared with.

pub mod raw;

use std::time::{Duration, Instant};

/// Runs `work` once and returns what it returned and how long it took.
pub async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let value = work.await;
    (value, start.elapsed())
}

/// Items per second.
pub fn rate(items: usize, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Prints one result line: our rate, the raw rate and their ratio.
pub fn report(database: &str, what: &str, ours: f64, raw: f64) {
    println!(
        "{database:<10} {what:<34} {ours:>10.0}/s   raw {raw:>10.0}/s   ratio {:>5.2}",
        ours / raw
    );
}
