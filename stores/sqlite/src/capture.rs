//! Every write the jcselect desktop app makes to its own file is captured
//! (PROTOCOL.md §7): triggers on each entity table queue the record in the
//! outbox in the app's own transaction; a physical `DELETE` becomes a
//! tombstone. The client's own writes (local edits through the store, and
//! pulled records) pause the triggers for their transaction, so a pulled
//! record is never queued back.

use jcselect_sync::EntityDecl;

/// The one-row switch the triggers read.
pub(crate) const CREATE_SWITCH: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS sync_capture (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), \
     paused INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO sync_capture (id, paused) VALUES (1, 0)",
];
/// Pauses capture inside the client's own transaction.
pub(crate) const PAUSE: &str = "UPDATE sync_capture SET paused = 1 WHERE id = 1";
/// Resumes it before that transaction commits.
pub(crate) const RESUME: &str = "UPDATE sync_capture SET paused = 0 WHERE id = 1";
/// How many capture triggers exist (none before the first set-up).
pub(crate) const COUNT_TRIGGERS: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync_capture_%'";

const CAPTURING: &str = "(SELECT paused FROM sync_capture WHERE id = 1) = 0";
/// A new change id: a random UUID in the hyphenated text form the store
/// keeps change ids in. `row` ties the subquery to each row (SQLite runs an
/// uncorrelated subquery once per statement).
fn new_change_id(row: &str) -> String {
    format!(
        "(SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || \
         substr(h, 17, 4) || '-' || substr(h, 21, 12)) FROM (SELECT hex(randomblob(16)) AS h, {row} AS row))"
    )
}

/// The time now in the app's storage form.
const NOW: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Queues `NEW.id` (an insert or update of the app).
fn enqueue(entity: &EntityDecl, operation: &str) -> String {
    format!(
        "INSERT INTO sync_outbox (entity_type, entity_id, change_id, operation, queued_seq, state, attempts) \
         VALUES ({name}, NEW.id, {change_id}, '{operation}', \
         (SELECT COALESCE(MAX(queued_seq), 0) + 1 FROM sync_outbox), 'pending', 0) \
         ON CONFLICT (entity_type, entity_id) DO UPDATE SET change_id = excluded.change_id, \
         operation = CASE WHEN sync_outbox.operation = 'INSERT' THEN 'INSERT' ELSE excluded.operation END, \
         state = 'pending', attempts = 0, next_attempt_at = NULL, last_error = NULL;",
        name = quote(entity.name),
        change_id = new_change_id("NEW.id")
    )
}

/// The triggers of one entity's table.
pub(crate) fn triggers(entity: &EntityDecl) -> Vec<String> {
    let table = entity.table;
    let deleted_by =
        "(SELECT lower(replace(value, '-', '')) FROM sync_settings WHERE name = 'login_user_id')";
    let version = if entity.is_stamped() {
        format!(", updated_at = {NOW}")
    } else {
        String::new()
    };
    vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS sync_capture_{table}_insert AFTER INSERT ON {table} \
             WHEN {CAPTURING} BEGIN {} END",
            enqueue(entity, "INSERT")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS sync_capture_{table}_update AFTER UPDATE ON {table} \
             WHEN {CAPTURING} BEGIN {} END",
            enqueue(entity, "UPDATE")
        ),
        // a physical delete becomes a tombstone (whose update is captured)
        format!(
            "CREATE TRIGGER IF NOT EXISTS sync_capture_{table}_delete BEFORE DELETE ON {table} \
             WHEN {CAPTURING} BEGIN \
             UPDATE {table} SET deleted_at = COALESCE(deleted_at, {NOW}), \
             deleted_by = COALESCE(deleted_by, {deleted_by}){version} WHERE id = OLD.id; \
             SELECT RAISE(IGNORE); END"
        ),
    ]
}

/// Queues every row of the table that is not queued yet: the rows a
/// desktop held before its first set-up go up on the first push.
pub(crate) fn queue_existing(entity: &EntityDecl) -> String {
    format!(
        "INSERT INTO sync_outbox (entity_type, entity_id, change_id, operation, queued_seq, state, attempts) \
         SELECT {name}, id, {change_id}, 'INSERT', \
         (SELECT COALESCE(MAX(queued_seq), 0) FROM sync_outbox) + rowid, 'pending', 0 \
         FROM {table} WHERE true \
         ON CONFLICT (entity_type, entity_id) DO NOTHING",
        name = quote(entity.name),
        table = entity.table,
        change_id = new_change_id(&format!("{}.id", entity.table))
    )
}
