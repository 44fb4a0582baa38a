//! Bringing a table (and the records logged under it) made by an earlier
//! version of the schema up to the entity's declaration, in place, without
//! losing a row: the renames an entity declares (`formerly`), the columns an
//! older table lacks, a table moved to a new name.

use std::collections::HashSet;

use jcselect_sync::{EntityDecl, FieldDecl, FieldType, LOCKED_CREDENTIAL};
use serde_json::{Map, Value};

use crate::dialect::Dialect;
use crate::schema::{column, create_entity_table, create_indexes};

/// What bringing one entity's table up to date takes, in order: `upgrade`,
/// then `create`, then `copy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMigration {
    /// Renames, added columns and the values older rows take, for a table
    /// that exists.
    pub upgrade: Vec<String>,
    /// `CREATE TABLE` (a no-op when it exists) and its indexes.
    pub create: Vec<String>,
    /// The rows of the entity's former table copied into its new one (the
    /// former table is left as it was).
    pub copy: Vec<String>,
    /// Records logged under the earlier shape must be rewritten (with
    /// [`upgrade_logged_record`]) before anyone pulls them.
    pub rewrite_log: bool,
}

/// The columns the entity's tables have now: its own table's (empty: none
/// yet) and, when that table does not exist, its former table's.
#[derive(Debug, Clone, Default)]
pub struct ExistingTables {
    /// Columns of [`EntityDecl::table`].
    pub table: HashSet<String>,
    /// Columns of [`EntityDecl::formerly`], when it exists.
    pub former: HashSet<String>,
}

/// Plans an entity's migration. A table without one of the entity's
/// required columns, with no declared value for older rows, cannot be
/// upgraded in place: the error names both.
pub fn plan_entity_migration(
    dialect: Dialect,
    entity: &EntityDecl,
    existing: &ExistingTables,
) -> Result<EntityMigration, String> {
    let mut create = vec![create_entity_table(dialect, entity)];
    create.extend(create_indexes(dialect, entity));
    let mut plan = EntityMigration {
        upgrade: Vec::new(),
        create,
        copy: Vec::new(),
        rewrite_log: false,
    };
    if !existing.table.is_empty() {
        upgrade_in_place(dialect, entity, &existing.table, &mut plan)?;
    } else if !existing.former.is_empty() {
        let former = entity
            .formerly
            .expect("a former table is only read when declared");
        plan.copy
            .push(copy_rows(dialect, entity, former, &existing.former)?);
        plan.rewrite_log = true;
    }
    Ok(plan)
}

fn upgrade_in_place(
    dialect: Dialect,
    entity: &EntityDecl,
    columns: &HashSet<String>,
    plan: &mut EntityMigration,
) -> Result<(), String> {
    let table = entity.table;
    let mut renamed = Vec::new();
    for field in entity.all_fields().filter(|f| !columns.contains(f.name)) {
        match field.formerly.filter(|old| columns.contains(*old)) {
            Some(old) => {
                plan.upgrade
                    .push(rename_column(dialect, table, old, field.name));
                for prefix in ["ix", "ux"] {
                    plan.upgrade.push(drop_index(
                        dialect,
                        table,
                        &format!("{prefix}_{table}_{old}"),
                    ));
                }
                renamed.push(field);
            }
            None => {
                if !field.nullable && !field.credential && field.upgrade_default.is_none() {
                    return Err(format!(
                        "table {table} exists without required column {}; it cannot be upgraded in place",
                        field.name
                    ));
                }
                plan.upgrade.push(add_column(dialect, table, field));
                plan.rewrite_log |= !field.nullable;
            }
        }
    }
    for field in renamed.iter().filter(|field| !field.nullable) {
        if let Some(value) = default_literal(dialect, field) {
            plan.upgrade.push(format!(
                "UPDATE {table} SET {0} = {value} WHERE {0} IS NULL",
                field.name
            ));
        }
        plan.upgrade.extend(require_value(dialect, table, field));
    }
    plan.rewrite_log |= !renamed.is_empty();
    if dialect == Dialect::MsSql {
        // a text column that became keyed must leave NVARCHAR(MAX), which
        // no index can hold
        for field in entity
            .all_fields()
            .filter(|f| f.ty == FieldType::Text && (f.indexed || f.unique))
            .filter(|f| columns.contains(f.name) || renamed.contains(f))
        {
            plan.upgrade.push(format!(
                "IF COL_LENGTH(N'{table}', N'{name}') = -1 ALTER TABLE {table} ALTER COLUMN {column}",
                name = field.name,
                column = column(dialect, field)
            ));
        }
    }
    Ok(())
}

/// `ALTER TABLE … ADD` for a declared column an older table lacks (a
/// required column arrives holding its upgrade value, a credential the
/// locked value, in every row).
pub fn add_column(dialect: Dialect, table: &str, field: &FieldDecl) -> String {
    let keyword = match dialect {
        Dialect::MsSql => "ADD",
        _ => "ADD COLUMN",
    };
    let default = match default_literal(dialect, field) {
        Some(value) if !field.nullable => format!(" DEFAULT {value}"),
        _ => String::new(),
    };
    format!(
        "ALTER TABLE {table} {keyword} {}{default}",
        column(dialect, field)
    )
}

fn rename_column(dialect: Dialect, table: &str, old: &str, new: &str) -> String {
    match dialect {
        Dialect::MsSql => format!("EXEC sp_rename N'{table}.{old}', N'{new}', N'COLUMN'"),
        _ => format!("ALTER TABLE {table} RENAME COLUMN {old} TO {new}"),
    }
}

fn drop_index(dialect: Dialect, table: &str, index: &str) -> String {
    match dialect {
        Dialect::MsSql => format!(
            "IF EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{index}') DROP INDEX {index} ON {table}"
        ),
        _ => format!("DROP INDEX IF EXISTS {index}"),
    }
}

/// Makes a renamed column that was nullable refuse `NULL`, as its
/// declaration does (SQLite cannot alter a column: its rows were filled).
fn require_value(dialect: Dialect, table: &str, field: &FieldDecl) -> Option<String> {
    match dialect {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some(format!(
            "ALTER TABLE {table} ALTER COLUMN {} SET NOT NULL",
            field.name
        )),
        Dialect::MsSql => Some(format!(
            "IF EXISTS (SELECT 1 FROM sys.columns WHERE object_id = OBJECT_ID(N'{table}') \
             AND name = N'{name}' AND is_nullable = 1) ALTER TABLE {table} ALTER COLUMN {column}",
            name = field.name,
            column = column(dialect, field)
        )),
    }
}

/// `INSERT … SELECT` of every row of the former table into the new one:
/// each column from its own or its former name, a required column the
/// former table lacks (or holds `NULL` in) from its upgrade value.
fn copy_rows(
    dialect: Dialect,
    entity: &EntityDecl,
    former: &str,
    columns: &HashSet<String>,
) -> Result<String, String> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for field in entity.all_fields() {
        let source = [Some(field.name), field.formerly]
            .into_iter()
            .flatten()
            .find(|name| columns.contains(*name));
        let value = match (source, default_literal(dialect, field)) {
            (Some(source), Some(value)) if !field.nullable => format!("COALESCE({source}, {value})"),
            (Some(source), _) => source.to_owned(),
            (None, _) if field.nullable => "NULL".to_owned(),
            (None, Some(value)) => value,
            (None, None) => {
                return Err(format!(
                    "table {former} has no column for {}.{} and no value is declared for its rows; it cannot be upgraded in place",
                    entity.table, field.name
                ))
            }
        };
        names.push(field.name);
        values.push(value);
    }
    Ok(format!(
        "INSERT INTO {table} ({names}) SELECT {values} FROM {former}",
        table = entity.table,
        names = names.join(", "),
        values = values.join(", ")
    ))
}

/// The SQL value rows of an older table take for a field: its declared
/// upgrade value (a boolean spelt as the dialect spells it), the locked
/// value for a credential.
fn default_literal(dialect: Dialect, field: &FieldDecl) -> Option<String> {
    if field.credential && field.upgrade_default.is_none() {
        return Some(format!("'{LOCKED_CREDENTIAL}'"));
    }
    let literal = field.upgrade_default?;
    Some(match (field.ty, dialect) {
        (FieldType::Bool, Dialect::Postgres) if is_true(literal) => "TRUE".to_owned(),
        (FieldType::Bool, Dialect::Postgres) => "FALSE".to_owned(),
        (FieldType::Bool, _) => if is_true(literal) { "1" } else { "0" }.to_owned(),
        _ => literal.to_owned(),
    })
}

fn is_true(literal: &str) -> bool {
    matches!(literal.to_ascii_lowercase().as_str(), "1" | "true")
}

/// The wire value of a field's upgrade value.
fn default_value(field: &FieldDecl) -> Option<Value> {
    if field.credential && field.upgrade_default.is_none() {
        return Some(Value::String(LOCKED_CREDENTIAL.to_owned()));
    }
    let literal = field.upgrade_default?;
    let text = literal.trim_matches('\'');
    Some(match field.ty {
        FieldType::Int => Value::from(text.parse::<i64>().ok()?),
        FieldType::Bool => Value::Bool(is_true(text)),
        FieldType::Uuid => Value::String(uuid::Uuid::parse_str(text).ok()?.to_string()),
        FieldType::Text => Value::String(field.from_stored(text.to_owned())),
        FieldType::Timestamp | FieldType::Json => Value::String(text.to_owned()),
    })
}

/// A record logged under an earlier shape of its entity, in the current
/// one: fields under their former names renamed, fields the entity no
/// longer declares dropped, required fields it lacks (or holds `null` in)
/// given their upgrade value. A record already in shape comes back equal.
pub fn upgrade_logged_record(entity: &EntityDecl, data: &str) -> Result<String, String> {
    let Value::Object(mut old) = serde_json::from_str(data).map_err(|e| e.to_string())? else {
        return Err(format!("a logged {} is not a JSON object", entity.name));
    };
    let mut record = Map::with_capacity(entity.field_count());
    for field in entity.all_fields() {
        let value = old
            .remove(field.name)
            .or_else(|| field.formerly.and_then(|former| old.remove(former)))
            .filter(|value| !value.is_null() || field.nullable)
            .or_else(|| default_value(field));
        match value {
            Some(value) => {
                record.insert(field.name.to_owned(), value);
            }
            None if field.nullable => {}
            None => {
                return Err(format!(
                    "a logged {} has no {} and no value is declared for it",
                    entity.name, field.name
                ))
            }
        }
    }
    serde_json::to_string(&record).map_err(|e| e.to_string())
}

/// A page of `(receive_seq, data)` logged for `entity`, upgraded with
/// [`upgrade_logged_record`]: only the rows that changed come back. The
/// error names the log position that cannot be upgraded.
pub fn upgrade_logged_page(
    entity: &EntityDecl,
    page: Vec<(i64, String)>,
) -> Result<Vec<(i64, String)>, String> {
    let mut changed = Vec::new();
    for (receive_seq, data) in page {
        let upgraded = upgrade_logged_record(entity, &data)
            .map_err(|message| format!("change log position {receive_seq}: {message}"))?;
        if upgraded != data {
            changed.push((receive_seq, upgraded));
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENAMED: &[FieldDecl] = &[
        FieldDecl::new("town_name", FieldType::Text)
            .indexed()
            .formerly("town")
            .upgrade_default("''"),
        FieldDecl::new("active", FieldType::Bool).upgrade_default("1"),
        FieldDecl::new("note", FieldType::Text).nullable(),
    ];
    const PLACE: EntityDecl = EntityDecl {
        fields: RENAMED,
        ..EntityDecl::new("Place", "places")
    };

    fn columns(names: &[&str]) -> HashSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_renamed_column_is_renamed_filled_and_required() {
        let existing = ExistingTables {
            table: columns(&[
                "id",
                "created_at",
                "updated_at",
                "deleted_at",
                "deleted_by",
                "town",
            ]),
            former: HashSet::new(),
        };
        let plan = plan_entity_migration(Dialect::Postgres, &PLACE, &existing).unwrap();
        assert_eq!(
            plan.upgrade,
            [
                "ALTER TABLE places RENAME COLUMN town TO town_name",
                "DROP INDEX IF EXISTS ix_places_town",
                "DROP INDEX IF EXISTS ux_places_town",
                "ALTER TABLE places ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE",
                "ALTER TABLE places ADD COLUMN note TEXT NULL",
                "UPDATE places SET town_name = '' WHERE town_name IS NULL",
                "ALTER TABLE places ALTER COLUMN town_name SET NOT NULL",
            ]
        );
        assert!(plan.rewrite_log);
        assert!(plan.copy.is_empty());
    }

    #[test]
    fn a_table_in_shape_needs_nothing_and_its_log_is_left_alone() {
        let existing = ExistingTables {
            table: PLACE.all_fields().map(|f| f.name.to_owned()).collect(),
            former: HashSet::new(),
        };
        let plan = plan_entity_migration(Dialect::Sqlite, &PLACE, &existing).unwrap();
        assert!(plan.upgrade.is_empty());
        assert!(!plan.rewrite_log);
    }

    #[test]
    fn a_missing_required_column_without_a_value_is_refused_by_name() {
        const STRICT: EntityDecl = EntityDecl {
            fields: &[FieldDecl::new("code", FieldType::Text)],
            ..EntityDecl::new("Strict", "stricts")
        };
        let existing = ExistingTables {
            table: columns(&["id", "created_at", "updated_at"]),
            former: HashSet::new(),
        };
        let error = plan_entity_migration(Dialect::Sqlite, &STRICT, &existing).unwrap_err();
        assert!(
            error.contains("stricts") && error.contains("code"),
            "{error}"
        );
    }

    #[test]
    fn a_former_table_is_copied_with_values_for_what_it_lacks() {
        const MOVED: EntityDecl = EntityDecl {
            formerly: Some("place"),
            ..PLACE
        };
        let existing = ExistingTables {
            table: HashSet::new(),
            former: columns(&[
                "id",
                "created_at",
                "updated_at",
                "deleted_at",
                "deleted_by",
                "town",
                "extra",
            ]),
        };
        let plan = plan_entity_migration(Dialect::MsSql, &MOVED, &existing).unwrap();
        assert_eq!(
            plan.copy,
            ["INSERT INTO places (id, deleted_at, deleted_by, created_at, updated_at, town_name, active, note) \
              SELECT id, deleted_at, deleted_by, created_at, updated_at, COALESCE(town, ''), 1, NULL FROM place"]
        );
        assert!(plan.rewrite_log);
    }

    #[test]
    fn a_logged_record_takes_the_current_shape() {
        let old = r#"{"id":"x","created_at":"t","updated_at":"t","town":null,"gone":5,"note":"n"}"#;
        let new: Value =
            serde_json::from_str(&upgrade_logged_record(&PLACE, old).unwrap()).unwrap();
        assert_eq!(new["town_name"], "");
        assert_eq!(new["active"], true);
        assert_eq!(new["note"], "n");
        assert_eq!(new.get("town"), None);
        assert_eq!(new.get("gone"), None);
        let again = upgrade_logged_record(&PLACE, &new.to_string()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), new);
    }
}
