//! The client side of a store: the local replica, its outbox and its
//! settings, written only through transactions the framework drives.

use async_trait::async_trait;
use uuid::Uuid;

use crate::decl::EntityDecl;
use crate::record::{FieldValue, Record};
use crate::store::{RecordTransaction, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::Operation;

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for the next push.
    Pending,
    /// Refused for a missing parent; retried after `next_attempt_at`.
    Retry,
    /// Given up on (dead-lettered) until re-queued by a person.
    Parked,
}

impl OutboxState {
    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Retry => "retry",
            OutboxState::Parked => "parked",
        }
    }

    /// The state a stored code stands for.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "pending" => Some(OutboxState::Pending),
            "retry" => Some(OutboxState::Retry),
            "parked" => Some(OutboxState::Parked),
            _ => None,
        }
    }
}

/// One queued change: "push the current local version of this record".
/// Several writes to one record before a push share one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Unique per queued change; renewed on every local write.
    pub change_id: Uuid,
    /// The entity's wire name.
    pub entity_type: &'static str,
    /// The record's id.
    pub entity_id: Uuid,
    /// `INSERT` when the record was new to this replica.
    pub operation: Operation,
    /// Queue position (push order within an entity).
    pub queued_seq: i64,
    /// Where it stands.
    pub state: OutboxState,
    /// Pushes that came back without sorting it for good.
    pub attempts: u32,
    /// Not to be pushed before this time.
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last push did not take it, or why it is parked.
    pub last_error: Option<String>,
}

/// How many outbox entries are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Waiting for a push.
    pub pending: u64,
    /// Waiting for a retry.
    pub retry: u64,
    /// Parked.
    pub parked: u64,
    /// The version time of the oldest record with an entry in any state:
    /// since when the replica holds a change the server has not accepted.
    pub oldest_unsent_at: Option<Timestamp>,
}

/// A client replica's store.
///
/// # Contract
///
/// - Everything written goes through one [`ClientTransaction`]; dropping it
///   uncommitted leaves nothing behind.
/// - [`outbox_ready`](Self::outbox_ready) returns entries that are pending,
///   or waiting for a retry whose time has come, in dependency order of
///   their entities (the order `migrate` was given) and queue order within
///   one, each with the current local version of its record.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates or upgrades the schema for these entities, given parents
    /// first (idempotent).
    async fn migrate(&self, entities: &[&'static EntityDecl]) -> Result<(), StoreError>;

    /// Starts a write transaction.
    async fn begin(&self) -> Result<Box<dyn ClientTransaction>, StoreError>;

    /// The next entries to push, at most `limit`; see the contract.
    async fn outbox_ready(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(OutboxEntry, Record)>, StoreError>;

    /// Every outbox entry, queue order.
    async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Outbox entries by state.
    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError>;

    /// The local version of one record.
    async fn get_record(
        &self,
        entity: &'static EntityDecl,
        id: Uuid,
    ) -> Result<Option<Record>, StoreError>;

    /// Records of `entity` whose fields equal the given values (fields not
    /// declared by the entity are an error); soft-deleted ones only when
    /// `include_deleted`.
    async fn find_records(
        &self,
        entity: &'static EntityDecl,
        equal: &[(&str, FieldValue)],
        include_deleted: bool,
    ) -> Result<Vec<Record>, StoreError>;

    /// Live records of `entity` that `query` finds, at most `limit`: every
    /// word of the query (its [`search_terms`](crate::text::search_terms))
    /// begins a word of one of the entity's searchable fields. Records
    /// holding more of the query's words whole come first, then in the
    /// natural order of the first searchable field. The index behind it
    /// follows every write to the replica, the desktop app's included.
    async fn search(
        &self,
        entity: &'static EntityDecl,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// A sync setting (cursor, clock state…).
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
}

/// One write transaction on a client replica (its records read and written
/// through [`RecordTransaction`]).
#[async_trait]
pub trait ClientTransaction: RecordTransaction {
    /// The outbox entries of these records.
    async fn load_outbox(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Queues the current version of a record: a new entry at the back of
    /// the queue, or the record's existing entry renewed (new change id,
    /// pending, no attempts) keeping its `INSERT` if it had one.
    async fn enqueue(
        &mut self,
        entity: &'static EntityDecl,
        id: Uuid,
        operation: Operation,
    ) -> Result<Uuid, StoreError>;

    /// Removes the entries holding these change ids (an entry renewed
    /// since holds another id and stays).
    async fn remove_outbox(&mut self, change_ids: &[Uuid]) -> Result<(), StoreError>;

    /// Sets state, attempts, next attempt and last error of the entry
    /// holding `entry.change_id`, if it still holds it.
    async fn update_outbox(&mut self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// Sets every parked entry (or only those of `ids`) back to pending.
    async fn requeue_parked(&mut self, change_ids: Option<&[Uuid]>) -> Result<u64, StoreError>;

    /// Stores a sync setting.
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Commits everything.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
