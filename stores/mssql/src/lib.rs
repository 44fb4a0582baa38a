//! # jcselect-store-mssql
//!
//! The SQL Server store (tiberius over a bb8 pool): the production server
//! database. Tables are typed (`UNIQUEIDENTIFIER`, `NVARCHAR` for Arabic
//! text, `DATETIME2(6)` for microsecond time stamps), records are upserted
//! with multi-row `MERGE`, and every push transaction begins by
//! taking an update lock on the change log's head row, so pushes from every
//! server process are serialised and receive positions follow commit order
//! (which is also why a `MERGE` needs no `HOLDLOCK`: no two ever race).
//!
//! Every statement this store sends is built in [`statements`]; a test that
//! always runs parses each of them with sqlparser's `MsSqlDialect`.

mod codec;
mod config;
mod migrate;
mod server;
pub mod statements;

pub use config::{MssqlConfig, MssqlStore};
