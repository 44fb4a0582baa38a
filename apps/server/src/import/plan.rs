//! What a batch of rows does to the stored records: each row becomes a
//! record (a new one, or the stored record its key matches with the row's
//! fields over it), checked as the push would check it, and sorted into
//! added, changed or unchanged.

use std::collections::{HashMap, HashSet};

use jcselect_sync::decl::{FieldDecl, FieldType};
use jcselect_sync::store::{FieldIn, ServerStore};
use jcselect_sync::wire::{EntityChange, Operation};
use jcselect_sync::{FieldValue, Record, Timestamp};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::duplicates::{Confirmation, KeysRead};
use super::kind::Kind;
use super::source::{Row, RowError};
use crate::error::ServerError;

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Adds a record.
    Added,
    /// Changes a stored record.
    Changed,
    /// Leaves a stored record as it is.
    Unchanged,
}

impl Outcome {
    /// The outcome as a word for a person.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Added => "add",
            Outcome::Changed => "change",
            Outcome::Unchanged => "leave alone",
        }
    }
}

/// What a batch does.
#[derive(Debug, Default)]
pub struct Planned {
    /// The changes to push (added and changed rows).
    pub changes: Vec<EntityChange>,
    /// Every good row's outcome, described.
    pub described: Vec<(Outcome, String)>,
    /// The bad rows.
    pub errors: Vec<RowError>,
    /// Every good row's key and record id (for the files after it).
    pub keys: Vec<(String, Uuid)>,
}

/// The ids of records by kind and key: those stored, and those a file
/// before this one adds.
#[derive(Debug, Default)]
pub struct Parents {
    ids: HashMap<(Kind, String), Result<Uuid, String>>,
}

impl Parents {
    /// Remembers what a file's rows hold, when other kinds name records of
    /// `kind` (pens, not voters: memory stays one entry per parent).
    pub fn learn(&mut self, kind: Kind, keys: &[(String, Uuid)]) {
        if !kind.is_parent() {
            return;
        }
        for (key, id) in keys {
            self.ids.insert((kind, key.clone()), Ok(*id));
        }
    }

    /// Reads from the store the `kind` records of these keys not known yet.
    async fn load(
        &mut self,
        store: &dyn ServerStore,
        kind: Kind,
        wanted: Vec<(String, Vec<FieldValue>)>,
    ) -> Result<(), ServerError> {
        let missing: Vec<_> = wanted
            .into_iter()
            .filter(|(key, _)| !self.ids.contains_key(&(kind, key.clone())))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let found = stored_by_key(store, kind, missing.iter().map(|(_, values)| values)).await?;
        for (key, _) in missing {
            let resolved = match found.get(&key) {
                Some(record) if record.is_tombstone() => Err(format!(
                    "the {} {} was deleted",
                    kind.noun(),
                    readable_key(&key)
                )),
                Some(record) => Ok(record.id()),
                None => Err(format!(
                    "no {} {} (import it first, in this run or an earlier one)",
                    kind.noun(),
                    readable_key(&key)
                )),
            };
            self.ids.insert((kind, key), resolved);
        }
        Ok(())
    }

    /// The id of the `kind` record whose key fields hold `values` — one a
    /// file before this one adds, or one the store holds — or why there is
    /// none, for a person.
    pub async fn find(
        &mut self,
        store: &dyn ServerStore,
        kind: Kind,
        values: Vec<FieldValue>,
    ) -> Result<Result<Uuid, String>, ServerError> {
        let key = key_text(&values);
        self.load(store, kind, vec![(key.clone(), values)]).await?;
        Ok(self
            .get(kind, &key)
            .cloned()
            .unwrap_or_else(|| Err(format!("no {} {}", kind.noun(), readable_key(&key)))))
    }

    fn get(&self, kind: Kind, key: &str) -> Option<&Result<Uuid, String>> {
        self.ids.get(&(kind, key.to_owned()))
    }
}

/// A key's values as one text.
fn key_text<'v>(values: impl IntoIterator<Item = &'v FieldValue>) -> String {
    values
        .into_iter()
        .map(|value| value.to_json().to_string())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// A key text as a person reads it: `"Beirut" / "Pen 1"`.
fn readable_key(key: &str) -> String {
    key.split('\u{1f}').collect::<Vec<_>>().join(" / ")
}

/// The stored records of `kind` holding these keys, by key text: a live
/// record before a tombstone.
async fn stored_by_key<'v>(
    store: &dyn ServerStore,
    kind: Kind,
    keys: impl Iterator<Item = &'v Vec<FieldValue>>,
) -> Result<HashMap<String, Record>, ServerError> {
    let fields = kind.key();
    let mut distinct: Vec<Vec<FieldValue>> = vec![Vec::new(); fields.len()];
    let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); fields.len()];
    for key in keys {
        for (n, value) in key.iter().enumerate() {
            if seen[n].insert(value.to_json().to_string()) {
                distinct[n].push(value.clone());
            }
        }
    }
    let conditions: Vec<FieldIn<'_>> = fields
        .iter()
        .zip(&distinct)
        .map(|(field, values)| FieldIn { field, values })
        .collect();
    let mut tx = store.begin_push().await?;
    let records = tx.find_matching(kind.entity(), &conditions).await?;
    drop(tx);
    let mut by_key: HashMap<String, Record> = HashMap::new();
    for record in records {
        let key = key_text(fields.iter().filter_map(|field| record.get(field)));
        let keep = match by_key.get(&key) {
            Some(held) => held.is_tombstone() && !record.is_tombstone(),
            None => true,
        };
        if keep {
            by_key.insert(key, record);
        }
    }
    Ok(by_key)
}

/// A cell as the JSON value of `field`, or why it cannot be.
fn field_value(field: &FieldDecl, cell: &Value) -> Result<Value, String> {
    let text = match cell {
        Value::Null => None,
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => Some(text.trim().to_owned()),
        other => Some(other.to_string()),
    };
    let Some(text) = text else {
        return if field.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("`{}` is empty", field.name))
        };
    };
    let wrong = |what: &str| format!("`{}` is {text:?}, not {what}", field.name);
    match field.ty {
        FieldType::Text => Ok(match cell {
            // text is kept byte for byte; only numbers written bare become text
            Value::String(original) => Value::String(original.clone()),
            _ => Value::String(text),
        }),
        FieldType::Int => jcselect_sync::text::western_digits(&text)
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("a whole number")),
        FieldType::Bool => match text.to_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(wrong("true or false")),
        },
        FieldType::Uuid => text
            .parse::<Uuid>()
            .map(|id| Value::String(id.to_string()))
            .map_err(|_| wrong("a UUID")),
        FieldType::Timestamp | FieldType::Json => {
            Err(format!("`{}` cannot be imported", field.name))
        }
    }
}

/// Sorts the rows of one file, batch by batch.
pub struct Planner {
    kind: Kind,
    /// The keys read so far in the file.
    keys_read: KeysRead,
}

/// A row read into a record (with a new id), before it meets the store.
struct Candidate {
    line: u64,
    record: Record,
    /// The fields the row gives.
    given: Vec<&'static str>,
    /// The parent keys it names, by reference field.
    parent_keys: Vec<(&'static str, Kind, String, Vec<FieldValue>)>,
}

impl Planner {
    /// A planner for a file of `kind`.
    pub fn new(kind: Kind) -> Self {
        Planner {
            kind,
            keys_read: KeysRead::default(),
        }
    }

    /// The columns a parent's key brings (`town_name`, `label` for a
    /// voter's pen).
    fn parent_columns(&self) -> impl Iterator<Item = &'static str> {
        self.kind
            .references()
            .iter()
            .flat_map(|reference| reference.parent.key().iter().copied())
    }

    /// Refuses a header with an unknown column or without a required one.
    pub fn check_columns(&self, columns: &[String]) -> Result<(), String> {
        let known: Vec<&str> = self
            .kind
            .fields()
            .iter()
            .copied()
            .chain(self.parent_columns())
            .collect();
        let unknown: Vec<&str> = columns
            .iter()
            .map(String::as_str)
            .filter(|column| !known.contains(column))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown column(s) {} for {}; the columns are: {}",
                unknown.join(", "),
                self.kind.name(),
                known.join(", ")
            ));
        }
        let missing: Vec<&str> = self
            .kind
            .required()
            .iter()
            .copied()
            .filter(|field| !columns.iter().any(|column| column == field))
            .collect();
        if !missing.is_empty() {
            return Err(format!("missing column(s) {}", missing.join(", ")));
        }
        for reference in self.kind.references() {
            let by_key = reference
                .parent
                .key()
                .iter()
                .all(|field| columns.iter().any(|column| column == field));
            if !by_key && !columns.iter().any(|column| column == reference.field) {
                return Err(format!(
                    "name each row's {} by its {} columns, or by `{}`",
                    reference.parent.noun(),
                    reference.parent.key().join(" and "),
                    reference.field
                ));
            }
        }
        Ok(())
    }

    /// A row as a record with a new id, or why it cannot be one.
    fn candidate(&self, row: &Row, now: Timestamp) -> Result<Candidate, String> {
        let entity = self.kind.entity();
        let mut data = Map::new();
        data.insert("id".into(), Value::String(Uuid::now_v7().to_string()));
        data.insert(
            "created_at".into(),
            serde_json::to_value(now).map_err(|e| e.to_string())?,
        );
        data.insert(
            "updated_at".into(),
            serde_json::to_value(now).map_err(|e| e.to_string())?,
        );
        data.insert("deleted_at".into(), Value::Null);
        data.insert("deleted_by".into(), Value::Null);
        if let Value::Object(defaults) = self.kind.defaults() {
            data.extend(defaults);
        }
        let mut given = Vec::new();
        let mut problems = Vec::new();
        for (column, cell) in &row.cells {
            let Some(field) = self
                .kind
                .fields()
                .iter()
                .find(|name| *name == column)
                .and_then(|name| entity.all_fields().find(|field| field.name == *name))
            else {
                if !self.parent_columns().any(|name| name == column) {
                    problems.push(format!("unknown column `{column}`"));
                }
                continue;
            };
            match field_value(field, cell) {
                Ok(value) => {
                    data.insert(field.name.to_owned(), value);
                    given.push(field.name);
                }
                Err(problem) => problems.push(problem),
            }
        }
        for field in self.kind.required() {
            if !row.cells.contains_key(*field) {
                problems.push(format!("`{field}` is missing"));
            }
        }
        let mut parent_keys = Vec::new();
        for reference in self.kind.references() {
            if given.contains(&reference.field) {
                continue;
            }
            let mut values = Vec::new();
            for key_field in reference.parent.key() {
                let decl = reference
                    .parent
                    .entity()
                    .all_fields()
                    .find(|field| field.name == *key_field)
                    .expect("a key field is declared");
                match field_value(decl, row.cells.get(*key_field).unwrap_or(&Value::Null)) {
                    Ok(Value::String(text)) => values.push(FieldValue::Text(text)),
                    Ok(other) => values.push(FieldValue::Json(other)),
                    Err(problem) => problems.push(problem),
                }
            }
            // the record is checked with a stand-in parent until it is found
            data.insert(
                reference.field.to_owned(),
                Value::String(Uuid::nil().to_string()),
            );
            given.push(reference.field);
            let key = key_text(&values);
            parent_keys.push((reference.field, reference.parent, key, values));
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let record =
            Record::from_json(entity, &Value::Object(data)).map_err(|error| error.to_string())?;
        Ok(Candidate {
            line: row.line,
            record,
            given,
            parent_keys,
        })
    }

    /// Sorts a batch of rows.
    pub async fn plan(
        &mut self,
        store: &dyn ServerStore,
        parents: &mut Parents,
        rows: Vec<Row>,
        now: Timestamp,
    ) -> Result<Planned, ServerError> {
        let mut planned = Planned::default();
        let resolved = self
            .resolve(store, parents, &rows, now, &mut planned)
            .await?;
        // duplicates inside the file (confirmed by a second read, see
        // `duplicates`)
        let mut unique = Vec::with_capacity(resolved.len());
        for candidate in resolved {
            let key = self.key_of(&candidate.record);
            self.keys_read.read(&key, candidate.line);
            unique.push((key, candidate));
        }
        self.sort(store, unique, now, planned).await
    }

    /// The key a record is matched by.
    fn key_of(&self, record: &Record) -> String {
        key_text(self.kind.key().iter().filter_map(|f| record.get(f)))
    }

    /// Whether a key read may repeat an earlier one: the file is read
    /// again ([`Planner::confirm`]) to know.
    pub fn has_suspects(&self) -> bool {
        self.keys_read.has_suspects()
    }

    /// What the second read looks for.
    pub fn suspects(&mut self) -> Confirmation {
        std::mem::take(&mut self.keys_read).into_suspects()
    }

    /// Notes the keys of a batch of rows in the second read (rows that are
    /// bad were reported by the first).
    pub async fn confirm(
        &self,
        store: &dyn ServerStore,
        parents: &mut Parents,
        rows: Vec<Row>,
        now: Timestamp,
        confirmation: &mut Confirmation,
    ) -> Result<(), ServerError> {
        let mut ignored = Planned::default();
        for candidate in self
            .resolve(store, parents, &rows, now, &mut ignored)
            .await?
        {
            confirmation.read(&self.key_of(&candidate.record), candidate.line);
        }
        Ok(())
    }

    /// A bad row for each line repeating an earlier line's key.
    pub fn duplicates(&self, confirmation: Confirmation) -> Vec<RowError> {
        let key = self.kind.key().join(" + ");
        confirmation.duplicates(|found, first| {
            format!("the same {key} as line {first} ({})", readable_key(found))
        })
    }

    /// Rows read into records whose parents are found, or bad rows.
    async fn resolve(
        &self,
        store: &dyn ServerStore,
        parents: &mut Parents,
        rows: &[Row],
        now: Timestamp,
        planned: &mut Planned,
    ) -> Result<Vec<Candidate>, ServerError> {
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            match self.candidate(row, now) {
                Ok(candidate) => candidates.push(candidate),
                Err(message) => planned.errors.push(RowError {
                    line: row.line,
                    message,
                }),
            }
        }
        // parents named by key
        for reference in self.kind.references() {
            let wanted: Vec<(String, Vec<FieldValue>)> = candidates
                .iter()
                .flat_map(|c| c.parent_keys.iter())
                .filter(|(field, ..)| *field == reference.field)
                .map(|(_, _, key, values)| (key.clone(), values.clone()))
                .collect();
            parents.load(store, reference.parent, wanted).await?;
        }
        let mut resolved = Vec::with_capacity(candidates.len());
        for mut candidate in candidates {
            let mut problem = None;
            for (field, parent, key, _) in &candidate.parent_keys {
                match parents.get(*parent, key) {
                    Some(Ok(id)) => {
                        candidate
                            .record
                            .set(field, FieldValue::Uuid(*id))
                            .expect("a reference is a UUID field");
                    }
                    Some(Err(message)) => problem = Some(message.clone()),
                    None => problem = Some(format!("no {} {}", parent.noun(), readable_key(key))),
                }
            }
            match problem {
                Some(message) => planned.errors.push(RowError {
                    line: candidate.line,
                    message,
                }),
                None => resolved.push(candidate),
            }
        }
        // parents named by id must exist
        for reference in self.kind.references() {
            let ids: Vec<Uuid> = resolved
                .iter()
                .filter(|c| c.parent_keys.is_empty())
                .filter_map(|c| match c.record.get(reference.field) {
                    Some(FieldValue::Uuid(id)) => Some(*id),
                    _ => None,
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if ids.is_empty() {
                continue;
            }
            let mut tx = store.begin_push().await?;
            let found: HashSet<Uuid> = tx
                .load_records(reference.parent.entity(), &ids)
                .await?
                .into_iter()
                .filter(|record| !record.is_tombstone())
                .map(|record| record.id())
                .collect();
            drop(tx);
            resolved.retain(|c| match c.record.get(reference.field) {
                Some(FieldValue::Uuid(id)) if !found.contains(id) && c.parent_keys.is_empty() => {
                    planned.errors.push(RowError {
                        line: c.line,
                        message: format!(
                            "no live {} with `{}` {id}",
                            reference.parent.noun(),
                            reference.field
                        ),
                    });
                    false
                }
                _ => true,
            });
        }
        Ok(resolved)
    }

    /// Sorts rows read, by what is stored under their keys.
    async fn sort(
        &self,
        store: &dyn ServerStore,
        unique: Vec<(String, Candidate)>,
        now: Timestamp,
        mut planned: Planned,
    ) -> Result<Planned, ServerError> {
        // what is stored under each key
        let keys: Vec<Vec<FieldValue>> = unique
            .iter()
            .map(|(_, c)| {
                self.kind
                    .key()
                    .iter()
                    .filter_map(|field| c.record.get(field).cloned())
                    .collect()
            })
            .collect();
        let stored = if keys.is_empty() {
            HashMap::new()
        } else {
            stored_by_key(store, self.kind, keys.iter()).await?
        };
        for (key, candidate) in unique {
            let described = describe(self.kind, &candidate.record);
            let stored = stored
                .get(&key)
                .filter(|record| self.kind.key_held_by_tombstones() || !record.is_tombstone());
            let (outcome, record) = match stored {
                Some(held) if held.is_tombstone() => {
                    planned.errors.push(RowError {
                        line: candidate.line,
                        message: format!(
                            "the {} {} was deleted; an import does not bring it back",
                            self.kind.noun(),
                            readable_key(&key)
                        ),
                    });
                    continue;
                }
                Some(held) => {
                    let mut record = held.clone();
                    let mut differences = Vec::new();
                    for field in &candidate.given {
                        let new = candidate
                            .record
                            .get(field)
                            .cloned()
                            .unwrap_or(FieldValue::Null);
                        let old = record.get(field).cloned().unwrap_or(FieldValue::Null);
                        if new != old {
                            differences.push(format!(
                                "{field} {} → {}",
                                old.to_json(),
                                new.to_json()
                            ));
                            record.set(field, new).expect("the field is declared");
                        }
                    }
                    if differences.is_empty() {
                        (Outcome::Unchanged, record)
                    } else {
                        let at = now.max(record.version_time().plus_micros(1));
                        record
                            .set_version_time(at)
                            .expect("records have a version time");
                        planned.described.push((
                            Outcome::Changed,
                            format!("{described}: {}", differences.join(", ")),
                        ));
                        planned.changes.push(change(&record, Operation::Update));
                        planned.keys.push((key, record.id()));
                        continue;
                    }
                }
                None => {
                    planned
                        .changes
                        .push(change(&candidate.record, Operation::Insert));
                    (Outcome::Added, candidate.record)
                }
            };
            planned.described.push((outcome, described));
            planned.keys.push((key, record.id()));
        }
        Ok(planned)
    }
}

/// A record named for a person: a pen by town and label, a party by name,
/// a voter by number and name.
fn describe(kind: Kind, record: &Record) -> String {
    let text = |field: &str| match record.get(field) {
        Some(FieldValue::Text(text)) => text.clone(),
        Some(other) => other.to_json().to_string(),
        None => String::new(),
    };
    match kind {
        Kind::Pens => format!("pen {} / {}", text("town_name"), text("label")),
        Kind::Parties => format!("party {}", text("name")),
        Kind::Voters => format!("voter {} {}", text("voter_number"), text("full_name")),
    }
}

/// The change that writes `record`.
fn change(record: &Record, operation: Operation) -> EntityChange {
    EntityChange {
        change_id: Uuid::now_v7(),
        entity_type: record.entity().name.to_owned(),
        entity_id: record.id(),
        operation,
        timestamp: record.version_time(),
        data: serde_json::value::RawValue::from_string(record.to_json_string())
            .expect("a record is JSON"),
    }
}
