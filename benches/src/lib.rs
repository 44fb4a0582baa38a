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

/// The server's push context for the benchmarks: the app's entities,
/// default clock skew, no credentials.
pub fn push_context() -> jcselect_sync::push::PushContext<'static> {
    jcselect_sync::push::PushContext {
        registry: jcselect_entities::registry().expect("the entities register"),
        audit: &jcselect_entities::SyncAudit,
        max_clock_skew_micros: jcselect_sync::push::DEFAULT_MAX_CLOCK_SKEW_MICROS,
        accept_credentials: false,
        new_logins: &[],
    }
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

/// The path of the report every benchmark writes into.
pub fn report_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")
}

fn markers(name: &str) -> (String, String) {
    (format!("<!-- {name} -->"), format!("<!-- /{name} -->"))
}

/// The sections other benchmarks wrote into `report` (between their
/// `<!-- name -->` markers), to keep when one benchmark rewrites the rest.
pub fn kept_sections(report: &str) -> String {
    let mut kept = String::new();
    let mut rest = report;
    while let Some(start) = rest.find("<!-- ") {
        let Some(name_end) = rest[start..].find(" -->") else {
            break;
        };
        let name = &rest[start + 5..start + name_end];
        let (_, close) = markers(name);
        let Some(end) = rest.find(&close) else { break };
        kept.push_str(&rest[start..end + close.len()]);
        kept.push('\n');
        rest = &rest[end + close.len()..];
    }
    kept
}

/// Writes `content` as the section `name` of the report, replacing the
/// section's earlier text and keeping everything else.
pub fn write_section(name: &str, content: &str) {
    let path = report_path();
    let report = std::fs::read_to_string(&path).unwrap_or_default();
    let (open, close) = markers(name);
    let section = format!("{open}\n{content}{close}\n");
    let updated = match (report.find(&open), report.find(&close)) {
        (Some(start), Some(end)) if start < end => format!(
            "{}{section}{}",
            &report[..start],
            report[end + close.len()..].trim_start_matches('\n')
        ),
        _ => format!("{report}\n{section}"),
    };
    std::fs::write(&path, updated).unwrap();
    eprintln!("wrote section {name} of {}", path.display());
}

/// The table rows (`| …`, past the header and its rule) of the report's
/// section `name`, as an earlier run wrote them.
pub fn section_rows(name: &str) -> Vec<String> {
    let report = std::fs::read_to_string(report_path()).unwrap_or_default();
    let (open, close) = markers(name);
    let (Some(start), Some(end)) = (report.find(&open), report.find(&close)) else {
        return Vec::new();
    };
    report[start..end]
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| database"))
        .map(str::to_owned)
        .collect()
}

/// Waits for PostgreSQL to write out what earlier runs left dirty, so that
/// its checkpointer does not run beside the next measurement.
pub async fn settle_postgres(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query("CHECKPOINT").execute(&pool).await.unwrap();
    pool.close().await;
}

/// The sizes a benchmark runs at: the comma-separated list in `variable`,
/// else `default`; and how that variable reads in the benchmark's command
/// line (`VARIABLE=a,b`).
pub fn sizes(variable: &str, default: &str) -> (Vec<usize>, String) {
    let sizes: Vec<usize> = std::env::var(variable)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let shown = sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    (sizes, format!("{variable}={shown}"))
}

/// Whether `JCSELECT_BENCH_DATABASES` (default: every one) names
/// `database` (`sqlite`, `postgres`).
pub fn wanted(database: &str) -> bool {
    std::env::var("JCSELECT_BENCH_DATABASES").map_or(true, |names| {
        names.split(',').any(|name| name.trim() == database)
    })
}

#[cfg(test)]
mod tests {
    use super::kept_sections;

    #[test]
    fn sections_of_other_benchmarks_are_kept_whole() {
        let report = "# Benchmarks\n\nold table\n<!-- scoped_pull -->\n## One pen\n| a |\n<!-- /scoped_pull -->\ntail\n";
        assert_eq!(
            kept_sections(report),
            "<!-- scoped_pull -->\n## One pen\n| a |\n<!-- /scoped_pull -->\n"
        );
        assert_eq!(kept_sections("# Benchmarks\nno sections\n"), "");
    }
}
