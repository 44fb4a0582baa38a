//! # jcselect-store-sqlite
//!
//! The SQLite store (sqlx, WAL, `synchronous = FULL`): a client's local
//! replica with its outbox, and the server's embedded default. Implements
//! both [`ServerStore`](jcselect_sync::store::ServerStore) and
//! [`ClientStore`](jcselect_sync::store::ClientStore).
//!
//! Push transactions start with `BEGIN IMMEDIATE`, which takes SQLite's one
//! write lock: pushes are serialised and receive positions are taken in
//! commit order, as the store contract asks.

mod capture;
mod client;
mod codec;
mod config;
mod migrate;
mod search;
mod server;
mod tx;

pub use config::{SqliteStore, REPLICA_CACHE_MIB, SERVER_CACHE_MIB};
