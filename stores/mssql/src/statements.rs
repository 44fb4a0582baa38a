//! Every T-SQL statement the SQL Server store sends, built here and
//! nowhere else, so that one test can parse them all.

use std::collections::HashSet;

use jcselect_store_sql::{self as sql, Dialect};
use jcselect_sync::{EntityDecl, FieldType};

/// The dialect of every statement here.
pub const DIALECT: Dialect = Dialect::MsSql;

/// Run on every new connection: an error inside a transaction aborts it
/// whole, so nothing half-applied can be committed.
pub const SESSION_SETUP: &str = "SET XACT_ABORT ON";
/// Starts a transaction.
pub const BEGIN: &str = "BEGIN TRANSACTION";
/// Commits it.
pub const COMMIT: &str = "COMMIT TRANSACTION";
/// Rolls back whatever a connection left open (run when a transaction is
/// dropped uncommitted, and when the pool hands a connection out).
pub const ROLLBACK_IF_OPEN: &str = "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION";

/// Rows per `MERGE` of one entity's records.
pub fn record_rows_per_statement(entity: &EntityDecl) -> usize {
    DIALECT.rows_per_statement(entity.field_count())
}

/// Every statement this store can send for these entities, with each
/// variable part (row counts, scope filters, log starts) in its shapes.
pub fn all_statements(entities: &[&'static EntityDecl]) -> Vec<String> {
    let mut all: Vec<String> = vec![
        SESSION_SETUP.into(),
        BEGIN.into(),
        COMMIT.into(),
        ROLLBACK_IF_OPEN.into(),
        sql::read_head(DIALECT),
        sql::lock_head(DIALECT),
        sql::init_head(DIALECT),
        sql::update_head(DIALECT),
        sql::insert_schema_version(DIALECT),
        sql::table_columns(DIALECT),
        sql::upsert_login(DIALECT),
        sql::select_logins(DIALECT, true),
        sql::select_logins(DIALECT, false),
        sql::upsert_station(DIALECT),
        sql::SELECT_STATIONS.into(),
        sql::insert_session(DIALECT),
        sql::delete_expired_sessions(DIALECT),
        sql::take_session(DIALECT),
    ];
    all.extend(sql::create_support_tables(DIALECT));
    for rows in [1, 3] {
        all.push(sql::select_seen(DIALECT, rows).to_string());
        all.push(sql::select_logged_changes(DIALECT, rows, rows + 1).to_string());
        all.push(sql::insert_seen(DIALECT, rows).to_string());
        all.push(sql::insert_log(DIALECT, rows).to_string());
    }
    for entity in entities {
        let parent = entity
            .all_fields()
            .find(|f| f.ty == FieldType::Uuid && f.name != "id");
        let flag = entity.all_fields().find(|f| f.ty == FieldType::Bool);
        if let (Some(parent), Some(flag)) = (parent, flag) {
            for parents in [0, 3] {
                all.push(
                    sql::count_per_parent(DIALECT, entity, parent.name, flag.name, parents)
                        .expect("fields of the right types"),
                );
            }
        }
    }
    all.push(sql::log_position_from(DIALECT));
    all.push(sql::select_logged_records(DIALECT));
    all.push(sql::update_logged_record(DIALECT));
    all.push(sql::read_compaction_mark(DIALECT));
    all.push(sql::update_compaction_mark(DIALECT));
    all.push(sql::LAST_LOGGED_SEQ.into());
    all.push(sql::compact_log_range(DIALECT));
    for scoped in [false, true] {
        all.push(sql::supersede_log(DIALECT, 3, scoped));
    }
    for pens in [None, Some(0), Some(2)] {
        for live_only in [true, false] {
            all.push(sql::read_log(DIALECT, pens, 101, 0, live_only));
            all.push(sql::read_log(DIALECT, pens, 100, 200, live_only));
            all.push(sql::count_log(DIALECT, pens, live_only, 1000));
        }
    }
    for entity in entities {
        all.push(sql::create_entity_table(DIALECT, entity));
        all.extend(sql::create_indexes(DIALECT, entity));
        all.extend(upgrade_statements(entity));
        for key in entity.natural_keys {
            let shape: Vec<(&'static str, usize)> =
                key.fields.iter().map(|field| (*field, 2)).collect();
            all.push(sql::select_matching(DIALECT, entity, &shape));
        }
        for rows in [1, 3] {
            all.push(sql::select_records(DIALECT, entity, rows).to_string());
            all.push(sql::select_records_after(DIALECT, entity, rows > 1, rows));
            all.push(sql::upsert_records(DIALECT, entity, rows).to_string());
        }
    }
    all
}

/// What upgrading `entity` from an earlier shape sends: its table holding
/// each renamed column under its former name and none of the columns an
/// upgrade may add; its former table (when it has one) copied.
fn upgrade_statements(entity: &'static EntityDecl) -> Vec<String> {
    let earlier: HashSet<String> = entity
        .all_fields()
        .filter(|field| !field.nullable && !field.credential && field.upgrade_default.is_none())
        .map(|field| field.formerly.unwrap_or(field.name).to_owned())
        .chain(
            entity
                .all_fields()
                .filter_map(|field| field.formerly.map(str::to_owned)),
        )
        .collect();
    let in_place = sql::ExistingTables {
        table: earlier.clone(),
        former: HashSet::new(),
    };
    let moved = sql::ExistingTables {
        table: HashSet::new(),
        former: earlier,
    };
    let mut all = Vec::new();
    let shapes = match entity.formerly {
        Some(_) => vec![in_place, moved],
        None => vec![in_place],
    };
    for existing in shapes {
        let plan = sql::plan_entity_migration(DIALECT, entity, &existing)
            .expect("an earlier shape with every required column upgrades");
        all.extend(plan.upgrade);
        all.extend(plan.copy);
    }
    all
}
