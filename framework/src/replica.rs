//! What a client replica does with its store: local writes with their
//! outbox entries, what a push response means for each entry, and how a
//! pulled page is merged under the conflict rule.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::audit::{AuditEvent, AuditTrail};
use crate::conflict::{merge, Winner};
use crate::record::Record;
use crate::registry::Registry;
use crate::scope::RecordIndex;
use crate::store::{ClientStore, OutboxEntry, OutboxState, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::{EntityChange, Operation, SyncPushResponse};

/// Writes records locally and queues each for the next push, all in one
/// transaction. Returns the change id queued for each record.
pub async fn write_local(
    store: &dyn ClientStore,
    registry: &Registry,
    records: &[Record],
) -> Result<Vec<Uuid>, StoreError> {
    let mut tx = store.begin().await?;
    let mut existing = RecordIndex::default();
    existing
        .load(
            tx.as_mut(),
            registry,
            records.iter().map(|r| (r.entity().name, r.id())),
        )
        .await?;
    for entity in registry.entities() {
        let batch: Vec<Record> = records
            .iter()
            .filter(|record| record.entity().name == entity.name)
            .cloned()
            .collect();
        if !batch.is_empty() {
            tx.upsert_records(entity, &batch).await?;
        }
    }
    let mut change_ids = Vec::with_capacity(records.len());
    for record in records {
        let key = (record.entity().name, record.id());
        let operation = if existing.contains(&key) {
            Operation::Update
        } else {
            Operation::Insert
        };
        change_ids.push(tx.enqueue(record.entity(), record.id(), operation).await?);
    }
    tx.commit().await?;
    Ok(change_ids)
}

/// How dependency conflicts are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after which a change is parked (`sync_max_retries`).
    pub max_retries: u32,
    /// Delay growth per attempt (`sync_backoff_base`).
    pub backoff_base: f64,
    /// Longest delay, in seconds (`sync_backoff_max_seconds`).
    pub max_delay_seconds: u64,
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based): `base^attempt`
    /// seconds, capped.
    pub fn delay_micros(&self, attempt: u32) -> i64 {
        let seconds = self
            .backoff_base
            .powi(attempt.min(64) as i32)
            .min(self.max_delay_seconds as f64);
        (seconds * 1_000_000.0) as i64
    }
}

/// How long a parked change rests before it is tried again by itself.
pub const PARKED_REST_MICROS: i64 = crate::engine::PARKED_RETRY_SECONDS * 1_000_000;

/// One change to an outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxUpdate {
    /// Sorted for good by the server: drop it.
    Remove(Uuid),
    /// Keep it, with a new state.
    Update(OutboxEntry),
    /// Refused as stamped too far ahead of the server's clock: it stays
    /// pending, and the engine stamps the record again with the corrected
    /// clock (a new local write, so a new change id).
    Restamp(OutboxEntry),
}

/// What a push response means for each entry sent: processed and
/// conflicting changes (the server's record comes down on the pull) leave
/// the outbox; dependency conflicts wait for a growing delay and are parked
/// after `max_retries`; clock-skew refusals are stamped again (parked after
/// `max_retries`); other failed changes are parked with their reason.
pub fn plan_settlement(
    sent: &[OutboxEntry],
    response: &SyncPushResponse,
    now: Timestamp,
    policy: &RetryPolicy,
) -> Vec<OutboxUpdate> {
    let waiting: HashMap<Uuid, &crate::wire::DependencyConflict> = response
        .dependency_conflicts
        .iter()
        .map(|conflict| (conflict.change.change_id, conflict))
        .collect();
    let failed: HashMap<Uuid, &crate::wire::FailedChange> = response
        .failed_changes
        .iter()
        .map(|failed| (failed.change.change_id, failed))
        .collect();
    sent.iter()
        .map(|entry| {
            let attempts = entry.attempts + 1;
            let exhausted = attempts >= policy.max_retries;
            if let Some(failed) = failed.get(&entry.change_id) {
                let reason = serde_json::to_value(failed.reason)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let last_error = Some(format!("{reason}: {}", failed.message));
                if failed.reason == crate::wire::FailureReason::ClockSkew && !exhausted {
                    return OutboxUpdate::Restamp(OutboxEntry {
                        attempts,
                        last_error,
                        ..entry.clone()
                    });
                }
                return OutboxUpdate::Update(OutboxEntry {
                    state: OutboxState::Parked,
                    next_attempt_at: Some(now.plus_micros(PARKED_REST_MICROS)),
                    last_error,
                    ..entry.clone()
                });
            }
            if let Some(conflict) = waiting.get(&entry.change_id) {
                let missing: Vec<String> = conflict
                    .missing
                    .iter()
                    .map(|parent| format!("{} {}", parent.entity_type, parent.entity_id))
                    .collect();
                return OutboxUpdate::Update(OutboxEntry {
                    state: if exhausted {
                        OutboxState::Parked
                    } else {
                        OutboxState::Retry
                    },
                    attempts,
                    next_attempt_at: Some(now.plus_micros(if exhausted {
                        PARKED_REST_MICROS
                    } else {
                        policy.delay_micros(attempts)
                    })),
                    last_error: Some(format!("missing parent: {}", missing.join(", "))),
                    ..entry.clone()
                });
            }
            // processed (counted, not listed) or in conflict: sorted for good
            OutboxUpdate::Remove(entry.change_id)
        })
        .collect()
}

/// Applies [`plan_settlement`]'s updates in one transaction.
pub async fn settle_outbox(
    store: &dyn ClientStore,
    updates: &[OutboxUpdate],
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let removed: Vec<Uuid> = updates
        .iter()
        .filter_map(|update| match update {
            OutboxUpdate::Remove(id) => Some(*id),
            OutboxUpdate::Update(_) | OutboxUpdate::Restamp(_) => None,
        })
        .collect();
    tx.remove_outbox(&removed).await?;
    for update in updates {
        if let OutboxUpdate::Update(entry) | OutboxUpdate::Restamp(entry) = update {
            tx.update_outbox(entry).await?;
        }
    }
    tx.commit().await
}

/// Who a replica is: its entities, its audit trail, its local user.
pub struct ReplicaContext<'a> {
    /// The entities.
    pub registry: &'a Registry,
    /// Builds the replica's own `SYNC_CONFLICT` rows.
    pub audit: &'a dyn AuditTrail,
    /// The local user the replica's audit rows name.
    pub actor: Option<Uuid>,
}

/// One pulled page and the cursor to store with it.
pub struct PulledPage<'a> {
    /// The page's changes, in the server's receive order.
    pub changes: &'a [EntityChange],
    /// The setting the cursor is stored under.
    pub cursor_key: &'a str,
    /// The cursor that follows this page.
    pub cursor: &'a str,
}

/// What applying a pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PulledPageApplied {
    /// Records whose local version changed.
    pub written: usize,
    /// Pending local changes that lost to a pulled version (each got a
    /// `SYNC_CONFLICT` audit row).
    pub conflicts: usize,
    /// The latest `updated_at` seen in the page, for the clock.
    pub latest_stamp: Option<Timestamp>,
    /// Local records that held a unique value a pulled record holds on
    /// the server, renamed to let it in (and queued for push).
    pub yielded: usize,
}

/// Merges a pulled page into the replica under the conflict rule and stores
/// `cursor` under `cursor_key`, all in one transaction. A pending local
/// change that loses gets a `SYNC_CONFLICT` audit row (queued for push);
/// a pending local monotonic mark that differs from the pulled one gets a
/// `DUPLICATE_VOTE_MARK` row (queued for push);
/// one that still adds something (a later edit, an earlier vote mark) stays
/// queued with the merged record.
pub async fn apply_pulled_page(
    store: &dyn ClientStore,
    replica: &ReplicaContext<'_>,
    page: &PulledPage<'_>,
    now: Timestamp,
) -> Result<PulledPageApplied, StoreError> {
    let (registry, audit, actor) = (replica.registry, replica.audit, replica.actor);
    let (changes, cursor_key, cursor) = (page.changes, page.cursor_key, page.cursor);
    let pulled: Vec<Record> = changes
        .iter()
        .map(|change| registry.decode(&change.entity_type, change.data.get()))
        .collect::<Result<_, _>>()?;
    let mut tx = store.begin().await?;
    let mut local = RecordIndex::default();
    local
        .load(
            tx.as_mut(),
            registry,
            pulled.iter().map(|r| (r.entity().name, r.id())),
        )
        .await?;
    let mut pending: HashMap<(&'static str, Uuid), OutboxEntry> = HashMap::new();
    let mut ids_by_entity: BTreeMap<&'static str, Vec<Uuid>> = BTreeMap::new();
    for record in &pulled {
        ids_by_entity
            .entry(record.entity().name)
            .or_default()
            .push(record.id());
    }
    for (entity, ids) in &ids_by_entity {
        for entry in tx.load_outbox(registry.entity(entity)?, ids).await? {
            pending.insert((entry.entity_type, entry.entity_id), entry);
        }
    }

    let mut summary = PulledPageApplied::default();
    let mut written: BTreeMap<&'static str, (Vec<Uuid>, HashMap<Uuid, Record>)> = BTreeMap::new();
    let mut audit_rows = Vec::new();
    let mut resolved = Vec::new();
    for incoming in pulled {
        let key = (incoming.entity().name, incoming.id());
        summary.latest_stamp = summary.latest_stamp.max(Some(incoming.version_time()));
        let result = match local.get(&key) {
            None => incoming,
            Some(current) if *current == incoming => continue,
            Some(current) => {
                let merged = merge(current, &incoming);
                if let Some(entry) = pending.get(&key) {
                    // a local mark the server has not seen met another
                    // replica's: this replica is the first to see both, so
                    // it records the duplicate (the server never will: the
                    // merged record it receives carries one mark)
                    for mark in &merged.duplicate_marks {
                        let event = AuditEvent::DuplicateMark {
                            record: &merged.record,
                            mark,
                        };
                        audit_rows.push(audit.record(event, actor, now));
                    }
                    if merged.winner == Winner::Second {
                        summary.conflicts += 1;
                        let event = AuditEvent::SyncConflict {
                            winner: &incoming,
                            loser: current,
                        };
                        audit_rows.push(audit.record(event, actor, now));
                    }
                    if merged.record == incoming {
                        resolved.push(entry.change_id);
                        pending.remove(&key);
                    }
                }
                merged.record
            }
        };
        let (order, latest) = written.entry(key.0).or_default();
        if latest.insert(key.1, result.clone()).is_none() {
            order.push(key.1);
        }
        local.insert(result);
    }
    let mut yielded = Vec::new();
    for entity in registry.entities() {
        if let Some((order, mut latest)) = written.remove(entity.name) {
            let batch: Vec<Record> = order.iter().filter_map(|id| latest.remove(id)).collect();
            let holders = yield_unique_values(tx.as_mut(), entity, &batch, now).await?;
            if !holders.is_empty() {
                tx.upsert_records(entity, &holders).await?;
                yielded.extend(holders.iter().map(|holder| (entity, holder.id())));
            }
            summary.written += batch.len();
            tx.upsert_records(entity, &batch).await?;
        }
    }
    summary.yielded = yielded.len();
    for (entity, id) in yielded {
        tx.enqueue(entity, id, Operation::Update).await?;
    }
    tx.remove_outbox(&resolved).await?;
    for row in &audit_rows {
        tx.upsert_records(row.entity(), std::slice::from_ref(row))
            .await?;
        tx.enqueue(row.entity(), row.id(), Operation::Insert)
            .await?;
    }
    tx.set_setting(cursor_key, cursor).await?;
    tx.commit().await?;
    Ok(summary)
}

/// The server decides who holds a unique value (PROTOCOL.md §1): a local
/// record (the desktop's own `admin`, made before it first synced) that
/// holds one a pulled record of another id holds yields it, keeping every
/// other value, under `"<value> (<first 8 hex digits of its id>)"`. The
/// renamed versions are returned, to be written before the batch and
/// pushed, so the server learns the new name too.
async fn yield_unique_values(
    tx: &mut dyn crate::store::ClientTransaction,
    entity: &'static crate::decl::EntityDecl,
    batch: &[Record],
    now: Timestamp,
) -> Result<Vec<Record>, StoreError> {
    use crate::record::FieldValue;
    let mut renamed: Vec<Record> = Vec::new();
    let incoming: std::collections::HashSet<Uuid> = batch.iter().map(Record::id).collect();
    for field in entity.all_fields().filter(|field| field.unique) {
        let values: Vec<FieldValue> = batch
            .iter()
            .filter_map(|record| record.get(field.name))
            .filter(|value| matches!(value, FieldValue::Text(_)))
            .cloned()
            .collect();
        if values.is_empty() {
            continue;
        }
        let condition = crate::store::FieldIn {
            field: field.name,
            values: &values,
        };
        for mut holder in tx.find_matching(entity, &[condition]).await? {
            if incoming.contains(&holder.id()) {
                continue;
            }
            if let Some(earlier) = renamed.iter().position(|r| r.id() == holder.id()) {
                holder = renamed.remove(earlier);
            }
            let Some(FieldValue::Text(value)) = holder.get(field.name).cloned() else {
                continue;
            };
            let id = holder.id().simple().to_string();
            let new_value = format!("{value} ({})", &id[..8]);
            tracing::warn!(
                entity = entity.name,
                field = field.name,
                %value,
                %new_value,
                "a local record yields a unique value the server gives to another record"
            );
            // a stored record of a declared text field takes text and a
            // version time: these cannot fail short of a corrupt row
            let corrupt = |e: crate::Error| StoreError::Corrupt {
                store: "replica",
                table: entity.table,
                message: e.to_string(),
            };
            holder
                .set(field.name, FieldValue::Text(new_value))
                .map_err(corrupt)?;
            let at = now.max(holder.version_time().plus_micros(1));
            holder.set_version_time(at).map_err(corrupt)?;
            renamed.push(holder);
        }
    }
    Ok(renamed)
}
