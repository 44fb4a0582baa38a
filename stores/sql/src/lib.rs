//! # jcselect-store-sql
//!
//! The SQL every store sends, derived from entity declarations: one place
//! that knows the table layout, so the SQLite, PostgreSQL and SQL Server
//! backends differ only where their dialects do ([`Dialect`]). Pure text,
//! no driver: each backend binds the values in the order documented on each
//! builder.

mod dialect;
mod schema;
mod statements;
mod stations;
mod upgrade;

pub use dialect::Dialect;
pub use schema::{
    create_entity_table, create_indexes, create_support_tables, support_tables, SCHEMA_DESCRIPTION,
    SCHEMA_VERSION,
};
pub use statements::*;
pub use stations::{station_from_row, station_report_text};
pub use upgrade::{
    add_column, plan_entity_migration, upgrade_logged_page, upgrade_logged_record, EntityMigration,
    ExistingTables,
};
