//! Reading a [`Record`] from JSON in one pass, guided by its declaration:
//! no intermediate map of `Value`s, each field parsed straight into its
//! declared type. Errors name the first missing or mistyped field in
//! declaration order, whatever order the keys came in.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{FieldValue, Record, MAX_INDEXED_TEXT_BYTES};
use crate::decl::{EntityDecl, FieldDecl, FieldType};
use crate::error::Error;

/// Decodes one record of `entity`; the outer error is the input's own
/// (bad JSON syntax), the inner one the record's.
pub(super) struct RecordSeed {
    pub(super) entity: &'static EntityDecl,
}

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = Result<Record, Error>;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Self::Value, D::Error> {
        input.deserialize_any(ObjectVisitor {
            entity: self.entity,
        })
    }
}

/// How a JSON value that is not the expected one is named in errors.
/// The locked credential value.
fn locked() -> FieldValue {
    FieldValue::Text(crate::decl::LOCKED_CREDENTIAL.to_owned())
}

fn describe_text(text: &str) -> String {
    if text.chars().count() > 40 {
        "a long string".to_owned()
    } else {
        format!("string {text:?}")
    }
}

fn describe_f64(number: f64) -> String {
    serde_json::Number::from_f64(number)
        .map_or_else(|| "a number".to_owned(), |n| format!("number {n}"))
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The top level: an object whose keys are field names.
struct ObjectVisitor {
    entity: &'static EntityDecl,
}

impl ObjectVisitor {
    fn not_an_object(&self, found: String) -> Result<Record, Error> {
        Err(Error::WrongType {
            entity: self.entity.name,
            field: "data",
            expected: "a JSON object",
            found,
        })
    }
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Result<Record, Error>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "a {} record as a JSON object", self.entity.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let entity = self.entity;
        let mut slots: Vec<Option<Result<FieldValue, Error>>> =
            (0..entity.field_count()).map(|_| None).collect();
        while let Some(index) = map.next_key_seed(KeySeed { entity })? {
            match index {
                Some(index) => {
                    let field = entity
                        .all_fields()
                        .nth(index)
                        .expect("field_index returns a field's position");
                    slots[index] = Some(map.next_value_seed(FieldSeed { entity, field })?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let values = entity
            .all_fields()
            .zip(slots)
            .map(|(field, slot)| match slot {
                Some(value) => value,
                None if field.nullable => Ok(FieldValue::Null),
                // a credential is never required of a sender (PROTOCOL.md
                // §2): absent, it reads as the locked value
                None if field.credential => Ok(locked()),
                None => Err(Error::MissingField {
                    entity: entity.name,
                    field: field.name,
                }),
            })
            .collect::<Result<Vec<_>, _>>();
        Ok(values.map(|values| Record { entity, values }))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.not_an_object("null".to_owned()))
    }

    fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        Ok(self.not_an_object(format!("boolean {flag}")))
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(format!("number {number}")))
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(format!("number {number}")))
    }

    fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
        Ok(self.not_an_object(describe_f64(number)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(self.not_an_object(describe_text(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(self.not_an_object("an array".to_owned()))
    }
}

/// A key: the position of the field it names, `None` for a key the entity
/// does not declare (ignored).
struct KeySeed {
    entity: &'static EntityDecl,
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Self::Value, D::Error> {
        input.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.entity.field_index(name))
    }
}

/// One field's value, read as its declared type.
struct FieldSeed {
    entity: &'static EntityDecl,
    field: &'static FieldDecl,
}

impl FieldSeed {
    /// A text value, refused when no store could hold it the same way: a
    /// NUL character (PostgreSQL and SQL Server text cannot), or more than
    /// [`MAX_INDEXED_TEXT_BYTES`] in an indexed or unique field (a B-tree
    /// entry has a size limit).
    fn text(&self, text: String) -> Result<FieldValue, Error> {
        let invalid = |message: String| Error::Invalid {
            entity: self.entity.name,
            message,
        };
        if text.contains('\0') {
            return Err(invalid(format!(
                "{} contains a NUL character (U+0000), which no store keeps",
                self.field.name
            )));
        }
        if (self.field.indexed || self.field.unique) && text.len() > MAX_INDEXED_TEXT_BYTES {
            return Err(invalid(format!(
                "{} is {} bytes long; at most {MAX_INDEXED_TEXT_BYTES} bytes are allowed in a searchable field",
                self.field.name,
                text.len()
            )));
        }
        if !self.field.one_of.is_empty() && !self.field.one_of.contains(&text.as_str()) {
            return Err(invalid(format!(
                "{} must be one of {}, got {}",
                self.field.name,
                self.field.one_of.join(", "),
                describe_text(&text)
            )));
        }
        Ok(FieldValue::Text(text))
    }

    /// An integer value, refused below the declared minimum.
    fn int(&self, number: i64) -> Result<FieldValue, Error> {
        match self.field.min {
            Some(min) if number < min => Err(Error::Invalid {
                entity: self.entity.name,
                message: format!("{} must be {min} or more, got {number}", self.field.name),
            }),
            _ => Ok(FieldValue::Int(number)),
        }
    }

    fn wrong_type(&self, found: String) -> Result<FieldValue, Error> {
        Err(Error::WrongType {
            entity: self.entity.name,
            field: self.field.name,
            expected: self.field.ty.describe(),
            found,
        })
    }
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Result<FieldValue, Error>;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Self::Value, D::Error> {
        if self.field.ty == FieldType::Json {
            let value = Value::deserialize(input)?;
            return Ok(Ok(if value.is_null() && self.field.nullable {
                FieldValue::Null
            } else {
                FieldValue::Json(value)
            }));
        }
        input.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Result<FieldValue, Error>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "{} for {}",
            self.field.ty.describe(),
            self.field.name
        )
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(if self.field.nullable {
            Ok(FieldValue::Null)
        } else if self.field.credential {
            Ok(locked())
        } else {
            self.wrong_type("null".to_owned())
        })
    }

    fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        Ok(match self.field.ty {
            FieldType::Bool => Ok(FieldValue::Bool(flag)),
            _ => self.wrong_type(format!("boolean {flag}")),
        })
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(match self.field.ty {
            FieldType::Int => self.int(number),
            _ => self.wrong_type(format!("number {number}")),
        })
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(match (self.field.ty, i64::try_from(number)) {
            (FieldType::Int, Ok(number)) => self.int(number),
            _ => self.wrong_type(format!("number {number}")),
        })
    }

    fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
        Ok(self.wrong_type(describe_f64(number)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(match self.field.ty {
            FieldType::Uuid => match Uuid::parse_str(text) {
                Ok(id) => Ok(FieldValue::Uuid(id)),
                Err(_) => self.wrong_type(describe_text(text)),
            },
            FieldType::Timestamp => match text.parse() {
                Ok(ts) => Ok(FieldValue::Timestamp(ts)),
                Err(_) => self.wrong_type(describe_text(text)),
            },
            FieldType::Text => self.text(text.to_owned()),
            _ => self.wrong_type(describe_text(text)),
        })
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
        match self.field.ty {
            FieldType::Text => Ok(self.text(text)),
            _ => self.visit_str(&text),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(self.wrong_type("an array".to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(self.wrong_type("an object".to_owned()))
    }
}
