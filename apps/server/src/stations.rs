//! What stations report of themselves ([`STATION_HEADER`] on every push
//! and pull): kept in the store, the latest per station, for the control
//! room and `user list`. A report is written when it says something new
//! (its outbox counts, its version, its user) or, unchanged, once per
//! [`REWRITE_AFTER`] — enough for "last seen" without a write per pull.
//! A report that cannot be read is ignored: it never fails a sync.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use jcselect_sync::store::{ServerStore, StationSeen};
use jcselect_sync::wire::{StationReport, STATION_HEADER};
use jcselect_sync::Timestamp;
use uuid::Uuid;

/// How long an unchanged report goes unwritten.
pub const REWRITE_AFTER: Duration = Duration::from_secs(5);
/// Longest report header read, bytes.
const MAX_REPORT_BYTES: usize = 4096;

/// The reports this process wrote last, by client id.
#[derive(Debug, Default)]
pub struct StationBook {
    written: Mutex<HashMap<String, (StationReport, Uuid, Instant)>>,
}

impl StationBook {
    /// Keeps the report a request of `user_id` carried, if it carried one
    /// this process has not just written.
    pub async fn heard(&self, store: &dyn ServerStore, user_id: Uuid, headers: &HeaderMap) {
        let Some(report) = read_report(headers) else {
            return;
        };
        let now = Instant::now();
        {
            let written = self.written.lock().expect("station book lock");
            if let Some((last, user, at)) = written.get(&report.client_id) {
                if *last == report && *user == user_id && now.duration_since(*at) < REWRITE_AFTER {
                    return;
                }
            }
        }
        let seen = StationSeen {
            report: report.clone(),
            user_id,
            seen_at: Timestamp::now(),
        };
        match store.put_station(&seen).await {
            Ok(()) => {
                self.written
                    .lock()
                    .expect("station book lock")
                    .insert(report.client_id.clone(), (report, user_id, now));
            }
            Err(error) => {
                tracing::warn!(%error, client_id = report.client_id, "a station's report was not kept")
            }
        }
    }
}

/// The report of a request, if it has one that reads.
fn read_report(headers: &HeaderMap) -> Option<StationReport> {
    let value = headers.get(STATION_HEADER)?;
    if value.len() > MAX_REPORT_BYTES {
        tracing::debug!(bytes = value.len(), "station report too long; ignored");
        return None;
    }
    match serde_json::from_slice::<StationReport>(value.as_bytes()) {
        Ok(report) if !report.client_id.is_empty() && report.client_id.len() <= 200 => Some(report),
        Ok(_) => None,
        Err(error) => {
            tracing::debug!(%error, "station report unreadable; ignored");
            None
        }
    }
}
