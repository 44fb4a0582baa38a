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

    /// The stored records of `entity` (tombstones included) whose `field`
    /// holds one of `values` (none of them null): how natural keys are
    /// checked.
    async fn find_by_field(
        &mut self,
        entity: &'static EntityDecl,
        field: &'static str,
        values: &[crate::record::FieldValue],
    ) -> Result<Vec<Record>, StoreError>;
}

pub use client::{ClientStore, ClientTransaction, OutboxEntry, OutboxState, OutboxSummary};
pub use error::StoreError;
pub use server::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, RefreshSession, SeenOutcome,
    ServerStore,
};
