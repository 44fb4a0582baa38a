//! The store contracts: what a database backend does for the server
//! ([`ServerStore`]) and for a client replica ([`ClientStore`]), and the
//! error they share. The decisions (buckets, merges, scopes) are made by
//! [`crate::push`], [`crate::pull`] and [`crate::replica`]; a store only
//! loads and writes, set-based, inside one transaction.

mod client;
mod error;
mod server;

use async_trait::async_trait;
use uuid::Uuid;

use crate::decl::EntityDecl;
use crate::record::Record;

/// What every store transaction does with records, set-based.
///
/// # Contract
///
/// - `load_records` returns the stored versions of the ids that exist
///   (tombstones included) and leaves the others out.
/// - `upsert_records` replaces each record whole, or inserts it.
#[async_trait]
pub trait RecordTransaction: Send {
    /// The stored versions of these records of one entity.
    async fn load_records(
        &mut self,
        entity: &'static EntityDecl,
        ids: &[Uuid],
    ) -> Result<Vec<Record>, StoreError>;

    /// Inserts or replaces whole records of one entity.
    async fn upsert_records(
        &mut self,
        entity: &'static EntityDecl,
        records: &[Record],
    ) -> Result<(), StoreError>;

    /// The stored records of `entity` (tombstones included) in which every
    /// field of `conditions` holds one of its values (none of them null):
    /// how natural keys are checked, with every field of a key at once.
    /// Only the last condition's values may be many (they are read in
    /// chunks); the others' are few.
    async fn find_matching(
        &mut self,
        entity: &'static EntityDecl,
        conditions: &[FieldIn<'_>],
    ) -> Result<Vec<Record>, StoreError>;
}

/// A condition of [`RecordTransaction::find_matching`]: `field` holds one
/// of `values`.
#[derive(Debug, Clone, Copy)]
pub struct FieldIn<'v> {
    /// The declared field.
    pub field: &'static str,
    /// The values it may hold.
    pub values: &'v [crate::record::FieldValue],
}

pub use client::{ClientStore, ClientTransaction, OutboxEntry, OutboxState, OutboxSummary};
pub use error::StoreError;
pub use server::{
    LogEntry, LogPages, LogPosition, LogQuery, Login, ParentCount, PushTransaction, RefreshSession,
    SeenOutcome, ServerStore, StationSeen,
};
