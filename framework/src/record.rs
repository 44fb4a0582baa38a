//! [`Record`]: one version of one record of any entity, held type-erased as
//! typed field values in declaration order. Stores bind it column by column,
//! the conflict rule compares it, the wire carries it as a JSON object.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::decl::{EntityDecl, FieldDecl, FieldType};
use crate::error::Error;
use crate::timestamp::Timestamp;

mod decode;
mod typed;

pub(crate) use typed::RecordDeserializer;

/// The longest text, in UTF-8 bytes, an indexed or unique field holds: a
/// B-tree entry must fit a page on every store (PostgreSQL refuses entries
/// over about 2,700 bytes), so every store refuses the same values.
pub const MAX_INDEXED_TEXT_BYTES: usize = 2_000;

fn syntax_error(entity: &'static EntityDecl, error: &serde_json::Error) -> Error {
    Error::Invalid {
        entity: entity.name,
        message: format!("not JSON: {error}"),
    }
}

/// Positions of the common fields inside [`Record::values`].
mod slot {
    pub const ID: usize = 0;
    pub const DELETED_AT: usize = 1;
    pub const DELETED_BY: usize = 2;
    /// Of a stamped entity.
    pub const CREATED_AT: usize = 3;
}

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `null` (only in nullable fields).
    Null,
    /// A UUID.
    Uuid(Uuid),
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A timestamp.
    Timestamp(Timestamp),
    /// Any JSON value.
    Json(Value),
}

impl FieldValue {
    /// The value as JSON, in the one form every replica prints.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Uuid(id) => Value::String(id.to_string()),
            FieldValue::Text(text) => Value::String(text.clone()),
            FieldValue::Int(number) => Value::from(*number),
            FieldValue::Bool(flag) => Value::Bool(*flag),
            FieldValue::Timestamp(ts) => Value::String(ts.to_string()),
            FieldValue::Json(value) => value.clone(),
        }
    }

    /// The UUID held, if this is one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            FieldValue::Uuid(id) => Some(*id),
            _ => None,
        }
    }

    /// The timestamp held, if this is one.
    pub fn as_timestamp(&self) -> Option<Timestamp> {
        match self {
            FieldValue::Timestamp(ts) => Some(*ts),
            _ => None,
        }
    }

    /// The boolean held, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(flag) => Some(*flag),
            _ => None,
        }
    }
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing JSON to memory cannot fail");
}

/// One version of one record: its entity's declaration and a value for each
/// of [`EntityDecl::all_fields`], in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    entity: &'static EntityDecl,
    values: Vec<FieldValue>,
}

impl Record {
    /// Builds a record from values in [`EntityDecl::all_fields`] order,
    /// checking each against its declaration.
    pub fn from_values(
        entity: &'static EntityDecl,
        values: Vec<FieldValue>,
    ) -> Result<Self, Error> {
        if values.len() != entity.field_count() {
            return Err(Error::Invalid {
                entity: entity.name,
                message: format!(
                    "expected {} field values, got {}",
                    entity.field_count(),
                    values.len()
                ),
            });
        }
        for (field, value) in entity.all_fields().zip(&values) {
            let fits = match (field.ty, value) {
                (_, FieldValue::Null) => field.nullable,
                (FieldType::Uuid, FieldValue::Uuid(_))
                | (FieldType::Text, FieldValue::Text(_))
                | (FieldType::Int, FieldValue::Int(_))
                | (FieldType::Bool, FieldValue::Bool(_))
                | (FieldType::Timestamp, FieldValue::Timestamp(_))
                | (FieldType::Json, FieldValue::Json(_)) => true,
                _ => false,
            };
            if !fits {
                return Err(Error::WrongType {
                    entity: entity.name,
                    field: field.name,
                    expected: field.ty.describe(),
                    found: format!("{value:?}"),
                });
            }
        }
        Ok(Record { entity, values })
    }

    /// Reads a record from a JSON object, field by field as declared.
    /// Fields the entity does not declare are ignored; a missing nullable
    /// field reads as `null`.
    pub fn from_json(entity: &'static EntityDecl, data: &Value) -> Result<Self, Error> {
        use serde::de::DeserializeSeed;
        decode::RecordSeed { entity }
            .deserialize(data)
            .unwrap_or_else(|error| Err(syntax_error(entity, &error)))
    }

    /// [`from_json`](Self::from_json) from JSON text, in one pass: the
    /// server's and the replica's decoding of every change they receive.
    pub fn from_json_str(entity: &'static EntityDecl, text: &str) -> Result<Self, Error> {
        use serde::de::DeserializeSeed;
        let mut input = serde_json::Deserializer::from_str(text);
        let record = decode::RecordSeed { entity }
            .deserialize(&mut input)
            .and_then(|record| input.end().map(|()| record));
        record.unwrap_or_else(|error| Err(syntax_error(entity, &error)))
    }

    /// The record as JSON text, keys sorted, no spaces: the same bytes as
    /// `to_json().to_string()`, written without building a map.
    pub fn to_json_string(&self) -> String {
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        let fields: Vec<&FieldDecl> = self.entity.all_fields().collect();
        order.sort_unstable_by_key(|index| fields[*index].name);
        let mut out = Vec::with_capacity(64 * order.len());
        out.push(b'{');
        for (position, index) in order.into_iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            write_json_str(&mut out, fields[index].name);
            out.push(b':');
            match &self.values[index] {
                FieldValue::Null => out.extend_from_slice(b"null"),
                FieldValue::Uuid(id) => {
                    out.push(b'"');
                    out.extend_from_slice(
                        id.hyphenated()
                            .encode_lower(&mut Uuid::encode_buffer())
                            .as_bytes(),
                    );
                    out.push(b'"');
                }
                FieldValue::Text(text) => write_json_str(&mut out, text),
                FieldValue::Int(number) => out.extend_from_slice(number.to_string().as_bytes()),
                FieldValue::Bool(flag) => {
                    out.extend_from_slice(if *flag { b"true" } else { b"false" })
                }
                FieldValue::Timestamp(ts) => {
                    out.push(b'"');
                    out.extend_from_slice(ts.to_string().as_bytes());
                    out.push(b'"');
                }
                FieldValue::Json(value) => serde_json::to_writer(&mut out, value)
                    .expect("writing JSON to memory cannot fail"),
            }
        }
        out.push(b'}');
        String::from_utf8(out).expect("JSON text is UTF-8")
    }

    /// The record as a JSON object (keys sorted).
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .entity
            .all_fields()
            .zip(&self.values)
            .map(|(field, value)| (field.name.to_owned(), value.to_json()))
            .collect();
        Value::Object(map)
    }

    /// The record as a JSON object with every credential field replaced by
    /// [`LOCKED_CREDENTIAL`](crate::decl::LOCKED_CREDENTIAL): what an audit
    /// row or a log line may hold.
    pub fn to_json_without_credentials(&self) -> Value {
        let mut json = self.to_json();
        for field in self.entity.credential_fields() {
            json[field.name] = Value::String(crate::decl::LOCKED_CREDENTIAL.to_owned());
        }
        json
    }

    /// The canonical JSON text that breaks `updated_at` ties: keys sorted,
    /// no spaces, monotonic fields left out.
    pub fn canonical_json(&self) -> String {
        let map: Map<String, Value> = self
            .entity
            .all_fields()
            .zip(&self.values)
            .filter(|(field, _)| !self.entity.is_monotonic_field(field.name))
            .map(|(field, value)| (field.name.to_owned(), value.to_json()))
            .collect();
        Value::Object(map).to_string()
    }

    /// The entity's declaration.
    pub fn entity(&self) -> &'static EntityDecl {
        self.entity
    }

    /// Every value, in [`EntityDecl::all_fields`] order.
    pub fn values(&self) -> &[FieldValue] {
        &self.values
    }

    /// The value of a field by wire name.
    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.entity
            .field_index(field)
            .map(|index| &self.values[index])
    }

    /// Replaces the value of a field by wire name, checking its type.
    pub fn set(&mut self, field: &str, value: FieldValue) -> Result<(), Error> {
        let index = self
            .entity
            .field_index(field)
            .ok_or_else(|| Error::BadDeclaration {
                entity: self.entity.name,
                problem: format!("no field `{field}`"),
            })?;
        let mut values = self.values.clone();
        values[index] = value;
        *self = Record::from_values(self.entity, values)?;
        Ok(())
    }

    /// The record's id.
    pub fn id(&self) -> Uuid {
        self.values[slot::ID].as_uuid().expect("id is a UUID")
    }

    /// When the record was created (stamped entities only).
    pub fn created_at(&self) -> Option<Timestamp> {
        if !self.entity.is_stamped() {
            return None;
        }
        self.values[slot::CREATED_AT].as_timestamp()
    }

    /// The version time, the last-write-wins key: `updated_at`, or the
    /// entity's own version field.
    pub fn version_time(&self) -> Timestamp {
        let index = match self.entity.versioning {
            crate::decl::Versioning::Stamped => slot::CREATED_AT + 1,
            crate::decl::Versioning::OwnField(field) => self
                .entity
                .field_index(field)
                .expect("the registry checked the version field"),
        };
        self.values[index]
            .as_timestamp()
            .expect("the version field is a non-null timestamp")
    }

    /// Sets the version time (see [`version_time`](Self::version_time)).
    pub fn set_version_time(&mut self, at: Timestamp) -> Result<(), Error> {
        self.set(self.entity.version_field(), FieldValue::Timestamp(at))
    }

    /// When it was soft-deleted, if it is a tombstone.
    pub fn deleted_at(&self) -> Option<Timestamp> {
        self.values[slot::DELETED_AT].as_timestamp()
    }

    /// Who soft-deleted it.
    pub fn deleted_by(&self) -> Option<Uuid> {
        self.values[slot::DELETED_BY].as_uuid()
    }

    /// Whether the record is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.deleted_at().is_some()
    }

    /// Every non-null reference as (field, parent entity, parent id).
    pub fn references(&self) -> impl Iterator<Item = (&'static str, &'static str, Uuid)> + '_ {
        self.entity.all_references().filter_map(|reference| {
            self.get(reference.field)
                .and_then(FieldValue::as_uuid)
                .map(|id| (reference.field, reference.parent, id))
        })
    }
}
