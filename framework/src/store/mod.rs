//! The store contracts: what a database backend does for the server
//! ([`ServerStore`]) and for a client replica ([`ClientStore`]), and the
//! error they share. The decisions (buckets, merges, scopes) are made by
//! [`crate::push`], [`crate::pull`] and [`crate::replica`]; a store only
//! loads and writes, set-based, inside one transaction.

mod client;
mod error;
mod server;

pub use client::{ClientStore, ClientTransaction, OutboxEntry, OutboxState, OutboxSummary};
pub use error::StoreError;
pub use server::{
    LogEntry, LogPosition, LogQuery, Login, PushTransaction, SeenOutcome, ServerStore,
};
