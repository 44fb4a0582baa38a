//! Stations' reports as every store keeps them: the report as JSON text,
//! the time seen as Unix microseconds.

use jcselect_sync::store::{StationSeen, StoreError};
use jcselect_sync::Timestamp;
use uuid::Uuid;

/// The report column's text.
pub fn station_report_text(station: &StationSeen) -> String {
    serde_json::to_string(&station.report).expect("a report serialises")
}

/// A row of [`SELECT_STATIONS`](crate::SELECT_STATIONS) read back by the
/// store `store` (user id, time seen, report text).
pub fn station_from_row(
    store: &'static str,
    user_id: Uuid,
    seen_at_micros: i64,
    report: &str,
) -> Result<StationSeen, StoreError> {
    Ok(StationSeen {
        report: serde_json::from_str(report).map_err(|error| StoreError::Corrupt {
            store,
            table: "sync_stations",
            message: format!("report: {error}"),
        })?,
        user_id,
        seen_at: Timestamp::from_unix_micros(seen_at_micros),
    })
}
