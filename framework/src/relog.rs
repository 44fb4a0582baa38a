//! Logging a scope's records again, so that a replica whose cursor predates
//! its access to that scope receives them (PROTOCOL.md §1: when an
//! operator's pens change, its next pull brings what the new scope adds).
//!
//! A cursor is a position in the log, shared by every scope the replica
//! pulls; the records of a pen added later sit before it. Rather than
//! refusing the cursor (and making the station pull everything again), the
//! server appends the latest version of each of the pen's records at new
//! positions, in one push transaction: the station's next pull brings them,
//! and other stations of that pen receive them once more, which the merge
//! rule makes harmless.

use std::collections::HashMap;

use uuid::Uuid;

use crate::auth::ScopeFilter;
use crate::registry::Registry;
use crate::store::{LogEntry, LogQuery, ServerStore, StoreError};
use crate::timestamp::Timestamp;

/// Log rows read at a time.
const PAGE: usize = 1_000;

/// Appends, at new positions, the latest logged version of every record in
/// scope `key`; returns how many. Serialised with pushes like any of them.
pub async fn relog_scope(
    store: &dyn ServerStore,
    registry: &Registry,
    key: Uuid,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut tx = store.begin_push().await?;
    let head = tx.head();
    let mut latest: HashMap<(String, Uuid), LogEntry> = HashMap::new();
    let mut after_seq = 0;
    loop {
        let page = store
            .read_log(&LogQuery {
                after_seq,
                offset: 0,
                up_to_seq: head.receive_seq,
                scope: ScopeFilter::GlobalAnd(vec![key]),
                limit: PAGE,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_seq = last.receive_seq;
        for entry in page.into_iter().filter(|entry| entry.scope == Some(key)) {
            latest.insert((entry.entity_type.clone(), entry.entity_id), entry);
        }
    }
    let mut entries: Vec<LogEntry> = latest.into_values().collect();
    // parents before their children, as a push applies them
    entries.sort_by_key(|entry| {
        (
            registry.rank(&entry.entity_type).unwrap_or(usize::MAX),
            entry.receive_seq,
        )
    });
    let received_at = now.max(head.received_at.plus_micros(1));
    for (entry, receive_seq) in entries.iter_mut().zip(head.receive_seq + 1..) {
        entry.receive_seq = receive_seq;
        entry.received_at = received_at;
        entry.change_id = Uuid::now_v7();
    }
    if !entries.is_empty() {
        tx.append_log(&entries).await?;
    }
    tx.commit().await?;
    tracing::info!(scope = %key, records = entries.len(), "a scope's records logged again");
    Ok(entries.len())
}
