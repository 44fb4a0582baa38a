//! Tables and indexes, derived from declarations, created idempotently.

use jcselect_sync::{EntityDecl, FieldDecl};

use crate::dialect::{Dialect, SupportType};

/// The schema version these statements create. Stored in
/// `sync_schema_versions`; a later layout adds a migration step.
pub const SCHEMA_VERSION: i64 = 2;

/// What [`SCHEMA_VERSION`] holds, as recorded beside it.
pub const SCHEMA_DESCRIPTION: &str =
    "typed entity tables, compacted change log (one live entry per record and scope), outbox";

fn create_table(dialect: Dialect, table: &str, body: &str) -> String {
    match dialect {
        Dialect::MsSql => {
            format!("IF OBJECT_ID(N'{table}', N'U') IS NULL CREATE TABLE {table} ({body})")
        }
        _ => format!("CREATE TABLE IF NOT EXISTS {table} ({body})"),
    }
}

/// A narrow table keyed by a UUID: on SQLite, clustered on that key
/// (`WITHOUT ROWID`), which spares every insert a second B-tree.
fn create_keyed_table(dialect: Dialect, table: &str, body: &str) -> String {
    let statement = create_table(dialect, table, body);
    match dialect {
        Dialect::Sqlite => format!("{statement} WITHOUT ROWID"),
        _ => statement,
    }
}

fn create_index(dialect: Dialect, unique: bool, name: &str, table: &str, columns: &str) -> String {
    let unique = if unique { "UNIQUE " } else { "" };
    match dialect {
        Dialect::MsSql => format!(
            "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{name}') \
             CREATE {unique}INDEX {name} ON {table} ({columns})"
        ),
        _ => format!("CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} ({columns})"),
    }
}

pub(crate) fn column(dialect: Dialect, field: &FieldDecl) -> String {
    let null = if field.nullable { "NULL" } else { "NOT NULL" };
    format!("{} {} {null}", field.name, dialect.column_type(field))
}

/// `CREATE TABLE` for an entity: one typed column per declared field.
pub fn create_entity_table(dialect: Dialect, entity: &EntityDecl) -> String {
    let columns: Vec<String> = entity
        .all_fields()
        .map(|field| column(dialect, field))
        .collect();
    let body = format!("{}, PRIMARY KEY (id)", columns.join(", "));
    // not clustered on the id: wide rows under random keys would make
    // every page split move whole rows
    create_table(dialect, entity.table, &body)
}

/// The indexes of an entity: `deleted_at`, every reference, every field
/// declared indexed or unique, and every natural key of several fields.
pub fn create_indexes(dialect: Dialect, entity: &EntityDecl) -> Vec<String> {
    let mut indexes = Vec::new();
    let mut indexed: Vec<&str> = Vec::new();
    for field in entity.all_fields() {
        let is_reference = entity.all_references().any(|r| r.field == field.name);
        if field.unique {
            let name = format!("ux_{}_{}", entity.table, field.name);
            indexes.push(create_index(dialect, true, &name, entity.table, field.name));
        } else if field.indexed || is_reference {
            indexed.push(field.name);
        }
    }
    for field in indexed {
        let name = format!("ix_{}_{}", entity.table, field);
        indexes.push(create_index(dialect, false, &name, entity.table, field));
    }
    // a key of several fields is looked up by all of them at once
    for key in entity
        .natural_keys
        .iter()
        .filter(|key| key.fields.len() > 1)
    {
        let name = format!("nk_{}_{}", entity.table, key.fields.join("_"));
        let columns = key.fields.join(", ");
        indexes.push(create_index(dialect, false, &name, entity.table, &columns));
    }
    indexes
}

/// The support tables, by name: the server's log-ins and refresh
/// sessions (never synced),
/// schema versions, the change log and its head, the change ids already
/// sorted, and the client's outbox and settings.
pub fn support_tables() -> [&'static str; 9] {
    [
        "sync_logins",
        "sync_stations",
        "sync_sessions",
        "sync_schema_versions",
        "sync_state",
        "sync_log",
        "sync_seen_changes",
        "sync_outbox",
        "sync_settings",
    ]
}

/// `CREATE` statements for the support tables and their indexes.
pub fn create_support_tables(dialect: Dialect) -> Vec<String> {
    use SupportType::*;
    let ty = |kind| dialect.support_type(kind);
    let small = match dialect {
        Dialect::Sqlite => "INTEGER",
        _ => "SMALLINT",
    };
    vec![
        create_table(
            dialect,
            "sync_schema_versions",
            &format!(
                "version {} NOT NULL, applied_at {} NOT NULL, description {} NOT NULL, PRIMARY KEY (version)",
                ty(BigInt),
                ty(Timestamp),
                ty(LongText)
            ),
        ),
        create_table(
            dialect,
            "sync_state",
            &format!(
                "id {small} NOT NULL, last_seq {} NOT NULL, last_received_at {} NOT NULL, PRIMARY KEY (id)",
                ty(BigInt),
                ty(Timestamp)
            ),
        ),
        create_table(
            dialect,
            "sync_log",
            &format!(
                "receive_seq {} NOT NULL, received_at {} NOT NULL, change_id {} NOT NULL, \
                 entity_type {} NOT NULL, entity_id {} NOT NULL, operation {} NOT NULL, \
                 scope_id {} NULL, data {} NOT NULL, PRIMARY KEY (receive_seq)",
                ty(BigInt),
                ty(Timestamp),
                ty(Uuid),
                ty(Key),
                ty(Uuid),
                ty(Key),
                ty(Uuid),
                ty(LongText)
            ),
        ),
        // an operator's pull reads its scopes' rows in receive order
        create_index(
            dialect,
            false,
            "ix_sync_log_scope",
            "sync_log",
            "scope_id, receive_seq",
        ),
        // a push finds the entries its new versions supersede
        create_index(dialect, false, "ix_sync_log_entity", "sync_log", "entity_id"),
        create_keyed_table(
            dialect,
            "sync_seen_changes",
            &format!(
                "change_id {} NOT NULL, outcome {small} NOT NULL, PRIMARY KEY (change_id)",
                ty(Uuid)
            ),
        ),
        create_table(
            dialect,
            "sync_outbox",
            &format!(
                "entity_type {} NOT NULL, entity_id {} NOT NULL, change_id {} NOT NULL, \
                 operation {} NOT NULL, queued_seq {} NOT NULL, state {} NOT NULL, \
                 attempts {} NOT NULL, next_attempt_at {} NULL, last_error {} NULL, \
                 PRIMARY KEY (entity_type, entity_id)",
                ty(Key),
                ty(Uuid),
                ty(Uuid),
                ty(Key),
                ty(BigInt),
                ty(Key),
                ty(BigInt),
                ty(Timestamp),
                ty(LongText)
            ),
        ),
        create_index(dialect, true, "ux_sync_outbox_change_id", "sync_outbox", "change_id"),
        create_index(dialect, false, "ix_sync_outbox_state", "sync_outbox", "state, queued_seq"),
        create_table(
            dialect,
            "sync_logins",
            &format!(
                "username {} NOT NULL, user_id {} NOT NULL, password_hash {} NULL, pens {} NOT NULL, \
                 PRIMARY KEY (username)",
                ty(Key),
                ty(Uuid),
                ty(LongText),
                ty(LongText)
            ),
        ),
        create_table(
            dialect,
            "sync_stations",
            &format!(
                "client_id {} NOT NULL, user_id {} NOT NULL, seen_at_micros {} NOT NULL, \
                 report {} NOT NULL, PRIMARY KEY (client_id)",
                ty(Key),
                ty(Uuid),
                ty(BigInt),
                ty(LongText)
            ),
        ),
        create_table(
            dialect,
            "sync_sessions",
            &format!(
                "token_hash {} NOT NULL, username {} NOT NULL, user_id {} NOT NULL, \
                 expires_at_micros {} NOT NULL, PRIMARY KEY (token_hash)",
                ty(Key),
                ty(Key),
                ty(Uuid),
                ty(BigInt)
            ),
        ),
        create_table(
            dialect,
            "sync_settings",
            &format!(
                "name {} NOT NULL, value {} NOT NULL, PRIMARY KEY (name)",
                ty(Key),
                ty(LongText)
            ),
        ),
    ]
}
