//! Prometheus metrics of this process: requests by route and status,
//! latency histograms, changes by bucket, pull pages.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use jcselect_sync::wire::{SyncPullResponse, SyncPushResponse};

/// Upper bounds of the latency buckets, seconds.
const LATENCY_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; LATENCY_BOUNDS.len()],
    total: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    changes: BTreeMap<&'static str, u64>,
    pull_pages: u64,
    pulled_changes: u64,
}

/// This process's counters (each process of a fleet reports its own).
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn with<T>(&self, update: impl FnOnce(&mut Counters) -> T) -> T {
        update(
            &mut self
                .counters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        self.with(|counters| {
            *counters
                .requests
                .entry((route.to_owned(), status))
                .or_default() += 1;
            let histogram = counters.latency.entry(route.to_owned()).or_default();
            let seconds = elapsed.as_secs_f64();
            for (count, bound) in histogram.counts.iter_mut().zip(LATENCY_BOUNDS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            histogram.total += 1;
            histogram.sum += seconds;
        });
    }

    /// Counts a push's changes by bucket.
    pub fn push(&self, response: &SyncPushResponse) {
        self.with(|counters| {
            *counters.changes.entry("processed").or_default() += response.processed_count;
            *counters.changes.entry("conflict").or_default() += response.conflicts.len() as u64;
            *counters.changes.entry("dependency_conflict").or_default() +=
                response.dependency_conflicts.len() as u64;
            *counters.changes.entry("failed").or_default() += response.failed_changes.len() as u64;
        });
    }

    /// Counts a pull page.
    pub fn pull(&self, response: &SyncPullResponse) {
        self.with(|counters| {
            counters.pull_pages += 1;
            counters.pulled_changes += response.changes.len() as u64;
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|counters| {
            let mut out = String::new();
            out.push_str("# HELP jcselect_http_requests_total Requests answered, by route and status.\n");
            out.push_str("# TYPE jcselect_http_requests_total counter\n");
            for ((route, status), count) in &counters.requests {
                let _ = writeln!(out, "jcselect_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}");
            }
            out.push_str("# HELP jcselect_http_request_duration_seconds Time to answer, by route.\n");
            out.push_str("# TYPE jcselect_http_request_duration_seconds histogram\n");
            for (route, histogram) in &counters.latency {
                for (count, bound) in histogram.counts.iter().zip(LATENCY_BOUNDS) {
                    let _ = writeln!(
                        out,
                        "jcselect_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "jcselect_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    histogram.total
                );
                let _ = writeln!(out, "jcselect_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", histogram.sum);
                let _ = writeln!(out, "jcselect_http_request_duration_seconds_count{{route=\"{route}\"}} {}", histogram.total);
            }
            out.push_str("# HELP jcselect_sync_changes_total Pushed changes, by bucket.\n");
            out.push_str("# TYPE jcselect_sync_changes_total counter\n");
            for (bucket, count) in &counters.changes {
                let _ = writeln!(out, "jcselect_sync_changes_total{{bucket=\"{bucket}\"}} {count}");
            }
            out.push_str("# HELP jcselect_sync_pull_pages_total Pull pages served.\n");
            out.push_str("# TYPE jcselect_sync_pull_pages_total counter\n");
            let _ = writeln!(out, "jcselect_sync_pull_pages_total {}", counters.pull_pages);
            out.push_str("# HELP jcselect_sync_pulled_changes_total Changes served by pulls.\n");
            out.push_str("# TYPE jcselect_sync_pulled_changes_total counter\n");
            let _ = writeln!(out, "jcselect_sync_pulled_changes_total {}", counters.pulled_changes);
            out
        })
    }
}
