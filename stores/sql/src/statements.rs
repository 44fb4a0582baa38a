//! Set-based statements. Each builder documents the values it expects to
//! be bound, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jcselect_sync::{EntityDecl, FieldType};

use crate::dialect::Dialect;

/// Most statement shapes kept: a client sending every batch size from 1 to
/// 10,000 must not make the cache grow without bound.
const MAX_SHAPES: usize = 128;

/// What a statement was built for: dialect, kind, entity (by address),
/// rows.
type Shape = (Dialect, &'static str, usize, usize);

/// The text of a statement of this shape, built once and shared after:
/// pushes and pulls ask for the same few shapes over and over, and a
/// thousand-row statement costs far more to build than to look up.
fn shaped(shape: Shape, build: impl FnOnce() -> String) -> Arc<str> {
    static SHAPES: OnceLock<Mutex<HashMap<Shape, Arc<str>>>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(Mutex::default);
    if let Some(text) = shapes.lock().expect("statement cache lock").get(&shape) {
        return text.clone();
    }
    let text: Arc<str> = build().into();
    let mut shapes = shapes.lock().expect("statement cache lock");
    if shapes.len() < MAX_SHAPES {
        shapes.insert(shape, text.clone());
    }
    text
}

fn address(entity: &'static EntityDecl) -> usize {
    std::ptr::from_ref(entity) as usize
}

/// Columns of `sync_log`, in the order [`insert_log`] binds and
/// [`read_log`] returns them.
pub const LOG_COLUMNS: &str =
    "receive_seq, received_at, change_id, entity_type, entity_id, operation, scope_id, data";
const LOG_COLUMN_COUNT: usize = 8;

fn placeholders(dialect: Dialect, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| dialect.placeholder(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_rows(dialect: Dialect, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(dialect, row * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Value rows for whole records: like [`value_rows`], with the casts a
/// dialect needs to read text as a typed column (PostgreSQL's `json`).
fn record_rows(dialect: Dialect, entity: &EntityDecl, rows: usize) -> String {
    let width = entity.field_count();
    (0..rows)
        .map(|row| {
            let values: Vec<String> = entity
                .all_fields()
                .enumerate()
                .map(|(column, field)| {
                    let placeholder = dialect.placeholder(row * width + column + 1);
                    match (dialect, field.ty) {
                        (Dialect::Postgres, FieldType::Json) => format!("{placeholder}::json"),
                        _ => placeholder,
                    }
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn column_list(entity: &EntityDecl) -> String {
    entity
        .all_fields()
        .map(|field| field.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT` every column of the records with these ids. Binds `ids` UUIDs;
/// returns columns in [`EntityDecl::all_fields`] order.
pub fn select_records(dialect: Dialect, entity: &'static EntityDecl, ids: usize) -> Arc<str> {
    shaped((dialect, "select_records", address(entity), ids), || {
        format!(
            "SELECT {} FROM {} WHERE id IN ({})",
            column_list(entity),
            entity.table,
            placeholders(dialect, 1, ids)
        )
    })
}

/// `SELECT` every column of up to `limit` records in id order, after a
/// bound id when `after`: how an export pages through a table.
pub fn select_records_after(
    dialect: Dialect,
    entity: &'static EntityDecl,
    after: bool,
    limit: usize,
) -> String {
    let filter = if after {
        format!(" WHERE id > {}", dialect.placeholder(1))
    } else {
        String::new()
    };
    format!(
        "SELECT {} FROM {}{filter} ORDER BY id{}",
        column_list(entity),
        entity.table,
        dialect.limit_offset(limit, 0)
    )
}

/// `SELECT` every column of the records in which each `(field, n)` of
/// `conditions` holds one of `n` bound values (binds them in order);
/// columns in [`EntityDecl::all_fields`] order.
pub fn select_matching(
    dialect: Dialect,
    entity: &'static EntityDecl,
    conditions: &[(&'static str, usize)],
) -> String {
    let mut next = 1;
    let clauses: Vec<String> = conditions
        .iter()
        .map(|(field, values)| {
            let clause = format!("{field} IN ({})", placeholders(dialect, next, *values));
            next += values;
            clause
        })
        .collect();
    format!(
        "SELECT {} FROM {} WHERE {}",
        column_list(entity),
        entity.table,
        clauses.join(" AND ")
    )
}

/// Inserts `rows` whole records, replacing those already there. Binds each
/// row's values in [`EntityDecl::all_fields`] order, row after row.
pub fn upsert_records(dialect: Dialect, entity: &'static EntityDecl, rows: usize) -> Arc<str> {
    shaped((dialect, "upsert_records", address(entity), rows), || {
        upsert_text(dialect, entity, rows)
    })
}

fn upsert_text(dialect: Dialect, entity: &EntityDecl, rows: usize) -> String {
    let columns = column_list(entity);
    let updates = |prefix: &str| {
        entity
            .all_fields()
            .filter(|field| field.name != "id")
            .map(|field| format!("{0} = {prefix}.{0}", field.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match dialect {
        // No HOLDLOCK hint: every write runs inside a push that holds the
        // head row's update lock, so no two MERGEs of a table ever race.
        Dialect::MsSql => format!(
            "MERGE INTO {table} AS target USING (VALUES {values}) AS source ({columns}) \
             ON target.id = source.id \
             WHEN MATCHED THEN UPDATE SET {updates} \
             WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({source_columns});",
            table = entity.table,
            values = record_rows(dialect, entity, rows),
            updates = updates("source"),
            source_columns = entity
                .all_fields()
                .map(|field| format!("source.{}", field.name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => format!(
            "INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT (id) DO UPDATE SET {updates}",
            table = entity.table,
            values = record_rows(dialect, entity, rows),
            updates = updates("excluded"),
        ),
    }
}

/// Reads the change log's head. Binds nothing; returns
/// `(last_seq, last_received_at)`.
pub fn read_head(_dialect: Dialect) -> String {
    "SELECT last_seq, last_received_at FROM sync_state WHERE id = 1".to_owned()
}

/// Reads the head and holds it (and so every other push) until commit.
/// On SQLite the write lock of `BEGIN IMMEDIATE` does this already.
pub fn lock_head(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => {
            "SELECT last_seq, last_received_at FROM sync_state WHERE id = 1 FOR UPDATE".to_owned()
        }
        Dialect::MsSql => "SELECT last_seq, last_received_at FROM sync_state WITH (UPDLOCK, HOLDLOCK) WHERE id = 1"
            .to_owned(),
        Dialect::Sqlite => read_head(dialect),
    }
}

/// Creates the head row (and the compaction mark, see
/// [`read_compaction_mark`]) when missing. Binds the creation time.
pub fn init_head(dialect: Dialect) -> String {
    // bound once, used twice
    let p = match dialect {
        Dialect::Sqlite => "?1".to_owned(),
        _ => dialect.placeholder(1),
    };
    match dialect {
        Dialect::MsSql => format!(
            "IF NOT EXISTS (SELECT 1 FROM sync_state WHERE id = 1) \
             INSERT INTO sync_state (id, last_seq, last_received_at) VALUES (1, 0, {p}); \
             IF NOT EXISTS (SELECT 1 FROM sync_state WHERE id = 2) \
             INSERT INTO sync_state (id, last_seq, last_received_at) VALUES (2, 0, {p})"
        ),
        _ => format!(
            "INSERT INTO sync_state (id, last_seq, last_received_at) VALUES (1, 0, {p}), (2, 0, {p}) \
             ON CONFLICT (id) DO NOTHING"
        ),
    }
}

/// The compaction mark: the log is compacted (one live entry per record
/// and scope) through this position. A push compacts as it writes; the
/// start-up compacts what lies past the mark (all of a log an earlier
/// version wrote) and moves the mark to the end.
pub fn read_compaction_mark(_dialect: Dialect) -> String {
    "SELECT last_seq FROM sync_state WHERE id = 2".to_owned()
}

/// Moves the compaction mark. Binds the position.
pub fn update_compaction_mark(dialect: Dialect) -> String {
    format!(
        "UPDATE sync_state SET last_seq = {} WHERE id = 2",
        dialect.placeholder(1)
    )
}

/// Moves the head. Binds `last_seq`, `last_received_at`.
pub fn update_head(dialect: Dialect) -> String {
    format!(
        "UPDATE sync_state SET last_seq = {}, last_received_at = {} WHERE id = 1",
        dialect.placeholder(1),
        dialect.placeholder(2)
    )
}

/// Which of these change ids were sorted before. Binds `ids` UUIDs;
/// returns `(change_id, outcome)`.
pub fn select_seen(dialect: Dialect, ids: usize) -> Arc<str> {
    shaped((dialect, "select_seen", 0, ids), || {
        format!(
            "SELECT change_id, outcome FROM sync_seen_changes WHERE change_id IN ({})",
            placeholders(dialect, 1, ids)
        )
    })
}

/// Which of these change ids a log entry (live or a stub) of one of these
/// records carries: a change that became its record's logged version is
/// not remembered apart, its entry answers a replay. Binds `records` record
/// ids, then `changes` change ids; returns `change_id`.
pub fn select_logged_changes(dialect: Dialect, records: usize, changes: usize) -> Arc<str> {
    shaped((dialect, "select_logged_changes", records, changes), || {
        format!(
            "SELECT change_id FROM sync_log WHERE entity_id IN ({}) AND change_id IN ({})",
            placeholders(dialect, 1, records),
            placeholders(dialect, records + 1, changes)
        )
    })
}

/// Remembers sorted change ids. Binds `(change_id, outcome)` per row.
pub fn insert_seen(dialect: Dialect, rows: usize) -> Arc<str> {
    shaped((dialect, "insert_seen", 0, rows), || {
        format!(
            "INSERT INTO sync_seen_changes (change_id, outcome) VALUES {}",
            value_rows(dialect, rows, 2)
        )
    })
}

/// Appends log rows. Binds [`LOG_COLUMNS`] per row.
pub fn insert_log(dialect: Dialect, rows: usize) -> Arc<str> {
    shaped((dialect, "insert_log", 0, rows), || {
        format!(
            "INSERT INTO sync_log ({LOG_COLUMNS}) VALUES {}",
            value_rows(dialect, rows, LOG_COLUMN_COUNT)
        )
    })
}

/// Rows per [`insert_log`] statement.
pub fn log_rows_per_statement(dialect: Dialect) -> usize {
    dialect.rows_per_statement(LOG_COLUMN_COUNT)
}

/// The most pens a log read gives a branch of its own (an operator's pull
/// reads each of its scopes through the `(scope_id, receive_seq)` index and
/// merges them); a principal with more falls back to one filtered range.
pub const MAX_SCOPE_BRANCHES: usize = 32;

/// One value a log read binds, in the order it binds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogBind {
    /// The `after_seq` of the query.
    After,
    /// The `up_to_seq` of the query.
    UpTo,
    /// The `n`th pen of the query's scope.
    Pen(usize),
}

fn read_merges_scopes(pens: Option<usize>) -> bool {
    matches!(pens, Some(count) if count <= MAX_SCOPE_BRANCHES)
}

/// The values [`read_log`] and [`count_log`] bind for a scope of `pens`
/// pens (`None`: every scope), in order.
pub fn log_binds(pens: Option<usize>) -> Vec<LogBind> {
    let mut binds = vec![LogBind::After, LogBind::UpTo];
    match pens {
        Some(count) if read_merges_scopes(pens) => {
            for pen in 0..count {
                binds.extend([LogBind::After, LogBind::UpTo, LogBind::Pen(pen)]);
            }
        }
        Some(count) => binds.extend((0..count).map(LogBind::Pen)),
        None => {}
    }
    binds
}

/// The range condition of a log read, with its first placeholder at `n`.
fn log_range(dialect: Dialect, n: usize) -> String {
    format!(
        "receive_seq > {} AND receive_seq <= {}",
        dialect.placeholder(n),
        dialect.placeholder(n + 1)
    )
}

/// The conditions of a log read, one per index range it reads: the global
/// rows, then one per pen (several scopes merged), or one filtered range.
/// A read of live entries only leaves out the stubs of superseded versions.
fn log_branches(dialect: Dialect, pens: Option<usize>, live_only: bool) -> Vec<String> {
    let live = if live_only { " AND data <> ''" } else { "" };
    let branches = match pens {
        None => vec![log_range(dialect, 1)],
        Some(count) if read_merges_scopes(pens) => {
            let mut branches = vec![format!("{} AND scope_id IS NULL", log_range(dialect, 1))];
            for pen in 0..count {
                let first = 3 + pen * 3;
                branches.push(format!(
                    "{} AND scope_id = {}",
                    log_range(dialect, first),
                    dialect.placeholder(first + 2)
                ));
            }
            branches
        }
        Some(count) => vec![format!(
            "{} AND (scope_id IS NULL OR scope_id IN ({}))",
            log_range(dialect, 1),
            placeholders(dialect, 3, count)
        )],
    };
    branches
        .into_iter()
        .map(|branch| format!("{branch}{live}"))
        .collect()
}

/// A page of the log in receive order, binding [`log_binds`]. An
/// operator's read takes at most `limit + offset` rows from each of its
/// scopes through the `(scope_id, receive_seq)` index and merges them, so
/// it touches its own rows, never the rest of the log. Returns
/// [`LOG_COLUMNS`]. `live_only` leaves out stubs.
pub fn read_log(
    dialect: Dialect,
    pens: Option<usize>,
    limit: usize,
    offset: u64,
    live_only: bool,
) -> String {
    let branches = log_branches(dialect, pens, live_only);
    if branches.len() == 1 {
        return format!(
            "SELECT {LOG_COLUMNS} FROM sync_log WHERE {} ORDER BY receive_seq{}",
            branches[0],
            dialect.limit_offset(limit, offset)
        );
    }
    let each = limit.saturating_add(usize::try_from(offset).unwrap_or(usize::MAX));
    let merged: Vec<String> = branches
        .iter()
        .enumerate()
        .map(|(n, condition)| match dialect {
            Dialect::MsSql => format!(
                "SELECT * FROM (SELECT TOP ({each}) {LOG_COLUMNS} FROM sync_log WHERE {condition} \
                 ORDER BY receive_seq) AS scope{n}"
            ),
            _ => format!(
                "SELECT * FROM (SELECT {LOG_COLUMNS} FROM sync_log WHERE {condition} \
                 ORDER BY receive_seq LIMIT {each}) AS scope{n}"
            ),
        })
        .collect();
    format!(
        "SELECT {LOG_COLUMNS} FROM ({}) AS page ORDER BY receive_seq{}",
        merged.join(" UNION ALL "),
        dialect.limit_offset(limit, offset)
    )
}

/// How many log rows a read would see without limit and offset, binding
/// [`log_binds`]: one index range count per scope, each stopping at `cap`.
pub fn count_log(dialect: Dialect, pens: Option<usize>, live_only: bool, cap: u64) -> String {
    let counts: Vec<String> = log_branches(dialect, pens, live_only)
        .iter()
        .enumerate()
        .map(|(n, condition)| match dialect {
            Dialect::MsSql => format!(
                "(SELECT COUNT(*) FROM (SELECT TOP ({cap}) receive_seq FROM sync_log \
                 WHERE {condition}) AS counted{n})"
            ),
            _ => format!(
                "(SELECT COUNT(*) FROM (SELECT receive_seq FROM sync_log \
                 WHERE {condition} LIMIT {cap}) AS counted{n})"
            ),
        })
        .collect();
    format!("SELECT {}", counts.join(" + "))
}

/// Turns the live entries of some records of one entity into stubs (see
/// `LogEntry` in the framework). Binds the entity's wire name, the `ids`
/// record ids, then the scope key when `scoped`.
pub fn supersede_log(dialect: Dialect, ids: usize, scoped: bool) -> String {
    let scope = if scoped {
        format!(" AND scope_id = {}", dialect.placeholder(ids + 2))
    } else {
        String::new()
    };
    format!(
        "UPDATE sync_log SET data = '' WHERE entity_type = {} AND entity_id IN ({}) \
         AND data <> ''{scope}",
        dialect.placeholder(1),
        placeholders(dialect, 2, ids)
    )
}

/// Log positions [`compact_log_range`] handles per statement.
pub const COMPACT_RANGE: i64 = 100_000;

/// The last position in the change log (0 when empty).
pub const LAST_LOGGED_SEQ: &str = "SELECT COALESCE(MAX(receive_seq), 0) FROM sync_log";

/// The position ranges `(after, up_to]` that compact a log from position
/// `mark` to `last_seq`, [`COMPACT_RANGE`] at a time.
pub fn compaction_ranges(mark: i64, last_seq: i64) -> impl Iterator<Item = (i64, i64)> {
    (mark..last_seq)
        .step_by(COMPACT_RANGE as usize)
        .map(move |after| (after, (after + COMPACT_RANGE).min(last_seq)))
}

/// Compacts an older log in place, one range of positions at a time: every
/// live entry with a later entry of the same record in the same scope
/// becomes a stub. Binds the range's first position (exclusive) and last.
/// The later entry is found by a correlated scalar subquery, which every
/// database runs as one probe of the `entity_id` index per entry (an
/// `EXISTS` lets PostgreSQL turn it into a hash join over the whole log,
/// once per range).
pub fn compact_log_range(dialect: Dialect) -> String {
    format!(
        "UPDATE sync_log SET data = '' WHERE receive_seq > {} AND receive_seq <= {} \
         AND data <> '' AND receive_seq < (SELECT MAX(later.receive_seq) FROM sync_log later \
         WHERE later.entity_id = sync_log.entity_id AND later.entity_type = sync_log.entity_type \
         AND (later.scope_id = sync_log.scope_id \
         OR (later.scope_id IS NULL AND sync_log.scope_id IS NULL)))",
        dialect.placeholder(1),
        dialect.placeholder(2)
    )
}

/// The first log row at or after a receive position. Binds the position;
/// returns `(receive_seq, received_at)`.
pub fn log_position_from(dialect: Dialect) -> String {
    format!(
        "SELECT receive_seq, received_at FROM sync_log WHERE receive_seq >= {} ORDER BY receive_seq{}",
        dialect.placeholder(1),
        dialect.limit_offset(1, 0)
    )
}

/// Inserts or replaces a log-in. Binds username, user id, password hash,
/// pens (JSON text).
pub fn upsert_login(dialect: Dialect) -> String {
    let values = placeholders(dialect, 1, 4);
    match dialect {
        Dialect::MsSql => format!(
            "MERGE INTO sync_logins AS target USING (VALUES ({values})) \
             AS source (username, user_id, password_hash, pens) ON target.username = source.username \
             WHEN MATCHED THEN UPDATE SET user_id = source.user_id, password_hash = source.password_hash, pens = source.pens \
             WHEN NOT MATCHED THEN INSERT (username, user_id, password_hash, pens) \
             VALUES (source.username, source.user_id, source.password_hash, source.pens);"
        ),
        _ => format!(
            "INSERT INTO sync_logins (username, user_id, password_hash, pens) VALUES ({values}) \
             ON CONFLICT (username) DO UPDATE SET user_id = excluded.user_id, \
             password_hash = excluded.password_hash, pens = excluded.pens"
        ),
    }
}

/// Inserts or replaces a station's latest report. Binds client id, user
/// id, time seen (Unix microseconds), report (JSON text).
pub fn upsert_station(dialect: Dialect) -> String {
    let values = placeholders(dialect, 1, 4);
    match dialect {
        Dialect::MsSql => format!(
            "MERGE INTO sync_stations AS target USING (VALUES ({values})) \
             AS source (client_id, user_id, seen_at_micros, report) ON target.client_id = source.client_id \
             WHEN MATCHED THEN UPDATE SET user_id = source.user_id, seen_at_micros = source.seen_at_micros, \
             report = source.report \
             WHEN NOT MATCHED THEN INSERT (client_id, user_id, seen_at_micros, report) \
             VALUES (source.client_id, source.user_id, source.seen_at_micros, source.report);"
        ),
        _ => format!(
            "INSERT INTO sync_stations (client_id, user_id, seen_at_micros, report) VALUES ({values}) \
             ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id, \
             seen_at_micros = excluded.seen_at_micros, report = excluded.report"
        ),
    }
}

/// Every station's latest report: client id, user id, time seen (Unix
/// microseconds), report (JSON text), by client id.
pub const SELECT_STATIONS: &str =
    "SELECT client_id, user_id, seen_at_micros, report FROM sync_stations ORDER BY client_id";

/// Keeps a refresh session. Binds token hash, user name, user id, expiry
/// (Unix microseconds).
pub fn insert_session(dialect: Dialect) -> String {
    format!(
        "INSERT INTO sync_sessions (token_hash, username, user_id, expires_at_micros) VALUES ({})",
        placeholders(dialect, 1, 4)
    )
}

/// Forgets expired refresh sessions. Binds the time now (Unix
/// microseconds).
pub fn delete_expired_sessions(dialect: Dialect) -> String {
    format!(
        "DELETE FROM sync_sessions WHERE expires_at_micros < {}",
        dialect.placeholder(1)
    )
}

/// Removes a refresh session and returns its user name, user id and expiry
/// (Unix microseconds), in one statement. Binds the token hash.
pub fn take_session(dialect: Dialect) -> String {
    match dialect {
        Dialect::MsSql => "DELETE FROM sync_sessions \
             OUTPUT deleted.username, deleted.user_id, deleted.expires_at_micros \
             WHERE token_hash = @P1"
            .to_owned(),
        _ => format!(
            "DELETE FROM sync_sessions WHERE token_hash = {} \
             RETURNING username, user_id, expires_at_micros",
            dialect.placeholder(1)
        ),
    }
}

/// Log-ins: with `by_name` the one whose user name is bound, else every
/// one. Returns user name, user id, password hash, pens.
pub fn select_logins(dialect: Dialect, by_name: bool) -> String {
    let select = "SELECT username, user_id, password_hash, pens FROM sync_logins";
    if by_name {
        format!("{select} WHERE username = {}", dialect.placeholder(1))
    } else {
        select.to_owned()
    }
}

/// Records that the schema reached a version. Binds version, time,
/// description.
pub fn insert_schema_version(dialect: Dialect) -> String {
    let values = placeholders(dialect, 1, 3);
    match dialect {
        Dialect::MsSql => format!(
            "IF NOT EXISTS (SELECT 1 FROM sync_schema_versions WHERE version = {p1}) \
             INSERT INTO sync_schema_versions (version, applied_at, description) VALUES ({values})",
            p1 = dialect.placeholder(1)
        ),
        _ => format!(
            "INSERT INTO sync_schema_versions (version, applied_at, description) VALUES ({values}) \
             ON CONFLICT (version) DO NOTHING"
        ),
    }
}

/// The columns an existing table has. Binds the table name; returns one
/// column name per row.
pub fn table_columns(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1)".to_owned(),
        Dialect::Postgres => "SELECT column_name::text FROM information_schema.columns \
                              WHERE table_schema = current_schema() AND table_name = $1"
            .to_owned(),
        Dialect::MsSql => {
            "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @P1".to_owned()
        }
    }
}

/// PostgreSQL's array statements: one parameter per column, whatever the
/// number of rows, so one prepared statement serves every batch and the
/// server plans a handful of parameters instead of thousands.
pub mod postgres {
    use std::sync::Arc;

    use jcselect_sync::{EntityDecl, FieldType};

    use super::{address, column_list, shaped, LOG_COLUMNS};
    use crate::dialect::Dialect;

    /// Replaces the data of logged records. Binds their positions and
    /// their new data, as two arrays.
    pub const UPDATE_LOGGED_RECORDS: &str = "UPDATE sync_log SET data = page.data \
         FROM UNNEST($1::bigint[], $2::text[]) AS page(receive_seq, data) \
         WHERE sync_log.receive_seq = page.receive_seq";

    /// [`super::supersede_log`] with the ids bound as one array: binds the
    /// entity's wire name, the ids, and the scope key or `NULL` for every
    /// scope.
    pub const SUPERSEDE_LOG: &str = "UPDATE sync_log SET data = '' \
         WHERE entity_type = $1 AND entity_id = ANY($2::uuid[]) AND data <> '' \
         AND ($3::uuid IS NULL OR scope_id = $3)";

    /// The array type a column's values are bound as (JSON travels as
    /// text and is cast back).
    pub fn array_type(ty: FieldType) -> &'static str {
        match ty {
            FieldType::Uuid => "uuid[]",
            FieldType::Text | FieldType::Json => "text[]",
            FieldType::Int => "bigint[]",
            FieldType::Bool => "boolean[]",
            FieldType::Timestamp => "timestamptz[]",
        }
    }

    /// `SELECT` every column of the records in which each of `fields` is
    /// in its bound array (one array per field, in order); columns in
    /// [`EntityDecl::all_fields`] order.
    pub fn select_matching(entity: &'static EntityDecl, fields: &[&'static str]) -> String {
        let clauses: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(n, field)| {
                let ty = entity
                    .all_fields()
                    .find(|declared| declared.name == *field)
                    .map_or(FieldType::Text, |declared| declared.ty);
                format!("{field} = ANY(${}::{})", n + 1, array_type(ty))
            })
            .collect();
        format!(
            "SELECT {} FROM {} WHERE {}",
            column_list(entity),
            entity.table,
            clauses.join(" AND ")
        )
    }

    /// `SELECT` every column of the records whose id is in the bound
    /// `uuid[]`; columns in [`EntityDecl::all_fields`] order.
    pub fn select_records(entity: &'static EntityDecl) -> Arc<str> {
        shaped(
            (Dialect::Postgres, "pg_select_records", address(entity), 0),
            || {
                format!(
                    "SELECT {} FROM {} WHERE id = ANY($1::uuid[])",
                    column_list(entity),
                    entity.table
                )
            },
        )
    }

    /// Inserts or replaces whole records given as one array per column, in
    /// [`EntityDecl::all_fields`] order, typed by [`array_type`].
    pub fn upsert_records(entity: &'static EntityDecl) -> Arc<str> {
        shaped(
            (Dialect::Postgres, "pg_upsert_records", address(entity), 0),
            || {
                let arrays: Vec<String> = entity
                    .all_fields()
                    .enumerate()
                    .map(|(index, field)| format!("${}::{}", index + 1, array_type(field.ty)))
                    .collect();
                let selected: Vec<String> = entity
                    .all_fields()
                    .map(|field| match field.ty {
                        FieldType::Json => format!("{0}::json", field.name),
                        _ => field.name.to_owned(),
                    })
                    .collect();
                let updates: Vec<String> = entity
                    .all_fields()
                    .filter(|field| field.name != "id")
                    .map(|field| format!("{0} = excluded.{0}", field.name))
                    .collect();
                format!(
                "INSERT INTO {table} ({columns}) SELECT {selected} FROM UNNEST({arrays}) AS u({columns}) \
                 ON CONFLICT (id) DO UPDATE SET {updates}",
                table = entity.table,
                columns = column_list(entity),
                selected = selected.join(", "),
                arrays = arrays.join(", "),
                updates = updates.join(", ")
            )
            },
        )
    }

    /// Which of the bound `uuid[]` change ids were sorted before; returns
    /// `(change_id, outcome)`.
    pub fn select_seen() -> &'static str {
        "SELECT change_id, outcome FROM sync_seen_changes WHERE change_id = ANY($1::uuid[])"
    }

    /// [`super::select_logged_changes`] with the record ids and the change
    /// ids bound as two `uuid[]`.
    pub fn select_logged_changes() -> &'static str {
        "SELECT change_id FROM sync_log WHERE entity_id = ANY($1::uuid[]) \
         AND change_id = ANY($2::uuid[])"
    }

    /// Remembers sorted change ids: binds `uuid[]` ids and `smallint[]`
    /// outcomes.
    pub fn insert_seen() -> &'static str {
        "INSERT INTO sync_seen_changes (change_id, outcome) \
         SELECT * FROM UNNEST($1::uuid[], $2::smallint[])"
    }

    /// Appends log rows: binds one array per column of
    /// [`LOG_COLUMNS`](super::LOG_COLUMNS).
    pub fn insert_log() -> String {
        format!(
            "INSERT INTO sync_log ({LOG_COLUMNS}) SELECT * FROM UNNEST($1::bigint[], \
             $2::timestamptz[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::uuid[], $8::text[])"
        )
    }
}

/// The most logged records an upgrade reads and rewrites at a time.
pub const LOG_REWRITE_PAGE: usize = 1_000;

/// A page of one entity's logged records, for an upgrade to rewrite. Binds
/// the entity's wire name and the position after which to read; returns
/// `(receive_seq, data)` in receive order.
pub fn select_logged_records(dialect: Dialect) -> String {
    format!(
        "SELECT receive_seq, data FROM sync_log WHERE entity_type = {} AND receive_seq > {} \
         AND data <> '' ORDER BY receive_seq{}",
        dialect.placeholder(1),
        dialect.placeholder(2),
        dialect.limit_offset(LOG_REWRITE_PAGE, 0)
    )
}

/// Replaces one logged record's data. Binds the data, then the position.
pub fn update_logged_record(dialect: Dialect) -> String {
    format!(
        "UPDATE sync_log SET data = {} WHERE receive_seq = {}",
        dialect.placeholder(1),
        dialect.placeholder(2)
    )
}

/// Most parents one [`count_per_parent`] statement names (bound one
/// placeholder each). Kept small so that PostgreSQL's planner reads the
/// parent index, not the whole table: on 4.2 M voters, 300 pens in one
/// list were counted by a sequential scan (0.9 s), 25 through the index
/// (9 ms), 100 still through it (84 ms).
pub const PARENTS_PER_COUNT: usize = 50;

/// The parents each [`count_per_parent`] statement names: one statement
/// for all (`None`), else the given parents [`PARENTS_PER_COUNT`] at a time
/// (none for an empty list).
pub fn parent_chunks(only: Option<&[uuid::Uuid]>) -> Vec<&[uuid::Uuid]> {
    match only {
        None => vec![&[]],
        Some(parents) => parents.chunks(PARENTS_PER_COUNT).collect(),
    }
}

/// Counts, per value of the UUID field `parent`, the live records of
/// `entity` and those whose boolean `flag` is true: parent, count,
/// flagged. With `parents` > 0, only for the parents bound to the first
/// `parents` placeholders. An error (for a person) when the fields are not
/// of those types.
pub fn count_per_parent(
    dialect: Dialect,
    entity: &'static EntityDecl,
    parent: &str,
    flag: &str,
    parents: usize,
) -> Result<String, String> {
    let typed = |name: &str, ty: FieldType| {
        entity
            .all_fields()
            .find(|field| field.name == name && field.ty == ty)
            .map(|field| field.name)
            .ok_or_else(|| format!("{} has no {} field {name:?}", entity.name, ty.describe()))
    };
    let (parent, flag) = (
        typed(parent, FieldType::Uuid)?,
        typed(flag, FieldType::Bool)?,
    );
    let (count, flagged) = match dialect {
        Dialect::MsSql => (
            "COUNT_BIG(*)".to_owned(),
            format!("CAST(SUM(CASE WHEN {flag} = 1 THEN 1 ELSE 0 END) AS BIGINT)"),
        ),
        Dialect::Postgres => (
            "COUNT(*)".to_owned(),
            format!("SUM(CASE WHEN {flag} THEN 1 ELSE 0 END)::BIGINT"),
        ),
        Dialect::Sqlite => (
            "COUNT(*)".to_owned(),
            format!("SUM(CASE WHEN {flag} = 1 THEN 1 ELSE 0 END)"),
        ),
    };
    let only = if parents == 0 {
        String::new()
    } else {
        format!(" AND {parent} IN ({})", placeholders(dialect, 1, parents))
    };
    Ok(format!(
        "SELECT {parent}, {count}, {flagged} FROM {} WHERE deleted_at IS NULL{only} GROUP BY {parent}",
        entity.table
    ))
}

#[cfg(test)]
mod tests {
    use super::{parent_chunks, PARENTS_PER_COUNT};

    #[test]
    fn parents_are_counted_a_few_at_a_time() {
        let parents: Vec<uuid::Uuid> = (0..PARENTS_PER_COUNT * 2 + 7)
            .map(|_| uuid::Uuid::new_v4())
            .collect();
        let sizes: Vec<usize> = parent_chunks(Some(&parents))
            .iter()
            .map(|chunk| chunk.len())
            .collect();
        assert_eq!(sizes, vec![PARENTS_PER_COUNT, PARENTS_PER_COUNT, 7]);
        assert_eq!(parent_chunks(None), vec![&[] as &[uuid::Uuid]]);
        assert!(parent_chunks(Some(&[])).is_empty());
    }
}
