//! How a server answers a pull (PROTOCOL.md §4): a page of its change log
//! in receive order, filtered by the caller's scope, that never lets a
//! client skip a change.
//!
//! Why nothing is skipped: pushes are serialised by the store, so receive
//! positions are taken in commit order, and the head read first bounds the
//! page: every row at or before the head is committed and visible. The
//! next cursor is the last row returned, or the head when the page ends the
//! log, so rows outside the caller's scope are stepped over once. For the
//! seed's `last_sync` form the answer's `server_timestamp` is the head's
//! receive time, and every later transaction is stamped strictly after it.

use crate::auth::Principal;
use crate::error::Error;
use crate::store::{LogQuery, ServerStore, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::{EntityChange, SyncPullResponse};

/// Most changes one pull page may hold.
pub const MAX_PULL_LIMIT: usize = 1000;
/// The page size when the request names none.
pub const DEFAULT_PULL_LIMIT: usize = 100;

const CURSOR_PREFIX: &str = "r";

/// Where a pull starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFrom {
    /// After a cursor (`None`: from the beginning).
    Cursor(Option<i64>),
    /// The seed's form: changes received after `last_sync`, skipping
    /// `offset` of them.
    LastSync {
        /// The previous answer's `server_timestamp`.
        last_sync: Timestamp,
        /// Changes to skip.
        offset: u64,
    },
}

/// The opaque text of a cursor at receive position `receive_seq`.
pub fn encode_cursor(receive_seq: i64) -> String {
    format!("{CURSOR_PREFIX}{receive_seq}")
}

/// The receive position a cursor holds; an error for anything this server
/// did not make.
pub fn decode_cursor(cursor: &str) -> Result<i64, Error> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|seq| *seq >= 0 && !cursor[1..].starts_with('+'))
        .ok_or_else(|| Error::Invalid {
            entity: "cursor",
            message: format!("{cursor:?} is not a cursor this server issued"),
        })
}

/// The last receive position whose time is at or before `since` (0 when
/// none): a binary search over the log's primary key, which works because
/// receive times never decrease along receive positions.
async fn last_seq_received_by(
    store: &dyn ServerStore,
    since: Timestamp,
    head_seq: i64,
) -> Result<i64, StoreError> {
    let (mut known, mut unknown_up_to) = (0_i64, head_seq);
    while known < unknown_up_to {
        let middle = known + (unknown_up_to - known + 1) / 2;
        match store.log_position_from(middle).await? {
            Some(found) if found.receive_seq <= unknown_up_to && found.received_at <= since => {
                known = found.receive_seq;
            }
            _ => unknown_up_to = middle - 1,
        }
    }
    Ok(known)
}

/// Why a pull page cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cursor points past the end of this server's change log: it was
    /// issued by another database, or before this one was restored from a
    /// backup. Answering with an empty page would make the client skip
    /// everything written since; it must pull from the beginning instead.
    #[error("cursor {cursor} is ahead of this server's change log (last position {head}); pull from the beginning")]
    CursorAhead {
        /// The cursor as given.
        cursor: String,
        /// The log's last position.
        head: i64,
    },
}

/// Reads one pull page for `principal`. `limit` must be 1…[`MAX_PULL_LIMIT`].
pub async fn read_pull(
    store: &dyn ServerStore,
    principal: &Principal,
    from: PullFrom,
    limit: usize,
) -> Result<SyncPullResponse, PullError> {
    let head = store.log_head().await?;
    if let PullFrom::Cursor(Some(seq)) = from {
        if seq > head.receive_seq {
            return Err(PullError::CursorAhead {
                cursor: encode_cursor(seq),
                head: head.receive_seq,
            });
        }
    }
    let (after_seq, offset) = match from {
        PullFrom::Cursor(seq) => (seq.unwrap_or(0), 0),
        PullFrom::LastSync { last_sync, offset } => (
            last_seq_received_by(store, last_sync, head.receive_seq).await?,
            offset,
        ),
    };
    let query = LogQuery {
        after_seq,
        offset,
        up_to_seq: head.receive_seq,
        scope: principal.scope_filter(),
        limit: limit + 1,
    };
    let mut entries = store.read_log(&query).await?;
    let has_more = entries.len() > limit;
    entries.truncate(limit);
    // Receive positions are contiguous, so an unfiltered count is a
    // subtraction; a scope filter needs the database to count.
    let total_available = match query.scope.pens() {
        None => u64::try_from(head.receive_seq - after_seq).unwrap_or(0),
        Some(_) => store.count_log(&query).await?,
    }
    .saturating_sub(offset);

    let (next_seq, server_timestamp) = match (has_more, entries.last()) {
        // Rows of the last transaction may continue on the next page, so a
        // client resuming from this time stamp gets them again, not never.
        (true, Some(last)) => (last.receive_seq, last.received_at.plus_micros(-1)),
        _ => (head.receive_seq.max(after_seq), head.received_at),
    };
    let changes = entries
        .into_iter()
        .map(|entry| {
            let corrupt = |problem: String| StoreError::Corrupt {
                store: "log",
                table: "sync_log",
                message: format!("receive_seq {}: {problem}", entry.receive_seq),
            };
            /// The one field a pull reads out of the stored JSON.
            #[derive(serde::Deserialize)]
            struct Stamp {
                updated_at: Timestamp,
            }
            let timestamp = serde_json::from_str::<Stamp>(&entry.data)
                .map_err(|error| corrupt(error.to_string()))?
                .updated_at;
            let data = serde_json::value::RawValue::from_string(entry.data)
                .map_err(|error| corrupt(error.to_string()))?;
            Ok(EntityChange {
                change_id: entry.change_id,
                entity_type: entry.entity_type,
                entity_id: entry.entity_id,
                operation: entry.operation,
                timestamp,
                data,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(SyncPullResponse {
        changes,
        server_timestamp,
        has_more,
        total_available: Some(total_available),
        next_cursor: Some(encode_cursor(next_seq)),
    })
}
