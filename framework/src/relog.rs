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
//! rule makes harmless. Their earlier entries in that scope become stubs,
//! as any superseded version does.

use std::collections::HashMap;

use uuid::Uuid;

use crate::auth::ScopeFilter;
use crate::decl::ScopeDecl;
use crate::registry::Registry;
use crate::scope::{RecordIndex, RecordKey, Scope};
use crate::store::{LogEntry, ServerStore, StoreError};
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
    // the log holds one live entry per record and scope
    let mut entries: Vec<LogEntry> =
        live_entries(store, ScopeFilter::GlobalAnd(vec![key]), head.receive_seq)
            .await?
            .into_iter()
            .filter(|entry| entry.scope == Some(key))
            .collect();
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
    supersede(tx.as_mut(), &entries, Some(key)).await?;
    if !entries.is_empty() {
        tx.append_log(&entries).await?;
    }
    tx.commit().await?;
    tracing::info!(scope = %key, records = entries.len(), "a scope's records logged again");
    Ok(entries.len())
}

/// Places again the live global entries of records whose entity is not
/// global by declaration ([`ScopeDecl::Own`], [`ScopeDecl::Principal`]): an
/// earlier version logged every pen and user globally, which PROTOCOL.md §1
/// narrows. Each such record whose scope is now narrower is logged again in
/// its scopes and its global entry becomes a stub, in one push transaction;
/// returns how many. Run at start-up: once placed, nothing is left to do.
pub async fn place_global_entries(
    store: &dyn ServerStore,
    registry: &Registry,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut tx = store.begin_push().await?;
    let head = tx.head();
    let misplaced: Vec<LogEntry> =
        live_entries(store, ScopeFilter::GlobalAnd(Vec::new()), head.receive_seq)
            .await?
            .into_iter()
            .filter(|entry| {
                registry.entity(&entry.entity_type).is_ok_and(|entity| {
                    matches!(entity.scope, ScopeDecl::Own | ScopeDecl::Principal { .. })
                })
            })
            .collect();
    let mut known = RecordIndex::default();
    let keys: Vec<RecordKey> = misplaced
        .iter()
        .filter_map(|entry| {
            let entity = registry.entity(&entry.entity_type).ok()?;
            Some((entity.name, entry.entity_id))
        })
        .collect();
    known
        .load(tx.as_mut(), registry, keys.iter().copied())
        .await?;
    let users = known.principals([]);
    for user in users {
        let scope = crate::push::principal_scope(store, &[], &user).await?;
        known.set_principal_scope(user.id(), scope);
    }
    let received_at = now.max(head.received_at.plus_micros(1));
    let mut entries = Vec::new();
    let mut placed = Vec::new();
    for (entry, key) in misplaced.iter().zip(&keys) {
        let Some(record) = known.get(key) else {
            continue;
        };
        let scope = known.scope_of(record, registry);
        if scope == Scope::Global {
            continue;
        }
        placed.push(entry.clone());
        let data = record.to_json_string();
        for scope_key in scope.log_keys() {
            entries.push(LogEntry {
                receive_seq: head.receive_seq + entries.len() as i64 + 1,
                received_at,
                change_id: Uuid::now_v7(),
                entity_type: entry.entity_type.clone(),
                entity_id: entry.entity_id,
                operation: entry.operation,
                scope: scope_key,
                data: data.clone(),
            });
        }
    }
    supersede(tx.as_mut(), &placed, None).await?;
    if !entries.is_empty() {
        tx.append_log(&entries).await?;
    }
    tx.commit().await?;
    if !entries.is_empty() {
        tracing::info!(
            entries = entries.len(),
            "global entries of pens and users placed in their scopes"
        );
    }
    Ok(entries.len())
}

/// Every live log entry that `scope` reads up to `up_to_seq`, in receive
/// order, read a page at a time.
async fn live_entries(
    store: &dyn ServerStore,
    scope: ScopeFilter,
    up_to_seq: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut pages = crate::store::LogPages::new(store, 0, up_to_seq, scope, PAGE);
    while let Some(page) = pages.next_page().await? {
        entries.extend(page);
    }
    Ok(entries)
}

/// Turns the live entries of the records `entries` name into stubs (in
/// every scope, or in `only_scope`), one statement per entity.
async fn supersede(
    tx: &mut dyn crate::store::PushTransaction,
    entries: &[LogEntry],
    only_scope: Option<Uuid>,
) -> Result<(), StoreError> {
    let mut by_entity: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for entry in entries {
        by_entity
            .entry(entry.entity_type.as_str())
            .or_default()
            .push(entry.entity_id);
    }
    for (entity_type, ids) in by_entity {
        tx.supersede_log(entity_type, &ids, only_scope).await?;
    }
    Ok(())
}
