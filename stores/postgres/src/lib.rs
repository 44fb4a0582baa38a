//! # jcselect-store-postgres
//!
//! The PostgreSQL store (sqlx): a server database that several server
//! processes can share. Implements
//! [`ServerStore`](jcselect_sync::store::ServerStore); client replicas use
//! SQLite.
//!
//! Every push transaction begins by locking the change log's head row
//! (`SELECT … FOR UPDATE`), so pushes from every process are serialised and
//! receive positions are taken in commit order: a reader that has seen the
//! head at position `p` sees every row up to `p`, and the classic
//! out-of-order-commit skip of cursor-based sync cannot happen. Readers do
//! not take the lock.

mod codec;
mod config;
mod migrate;
mod server;

pub use config::PgStore;
