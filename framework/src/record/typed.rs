//! A record read as its entity's typed struct without going through JSON:
//! a serde `Deserializer` over the field values. The registry checks every
//! received record this way (its enums, its `validate` rules), and
//! [`Syncable::from_record`](crate::Syncable::from_record) reads with it.

use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;
use uuid::Uuid;

use super::{FieldValue, Record};
use crate::decl::FieldDecl;

/// Reads `record` as a map from wire names to values.
pub(crate) struct RecordDeserializer<'a> {
    pub(crate) record: &'a Record,
}

impl<'de> Deserializer<'de> for RecordDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            fields: self.record.entity().all_fields(),
            values: self.record.values().iter(),
            next: None,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Fields<'de, I> {
    fields: I,
    values: std::slice::Iter<'de, FieldValue>,
    next: Option<&'de FieldValue>,
}

impl<'de, I: Iterator<Item = &'static FieldDecl>> MapAccess<'de> for Fields<'de, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match (self.fields.next(), self.values.next()) {
            (Some(field), Some(value)) => {
                self.next = Some(value);
                seed.deserialize(BorrowedStrDeserializer::new(field.name))
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .next
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(ValueDeserializer(value))
    }
}

/// One field value, offered to the typed struct as JSON would offer it.
struct ValueDeserializer<'de>(&'de FieldValue);

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            FieldValue::Null => visitor.visit_unit(),
            FieldValue::Uuid(id) => {
                visitor.visit_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
            }
            FieldValue::Text(text) => visitor.visit_borrowed_str(text),
            FieldValue::Int(number) => visitor.visit_i64(*number),
            FieldValue::Bool(flag) => visitor.visit_bool(*flag),
            FieldValue::Timestamp(ts) => visitor.visit_str(&ts.to_string()),
            FieldValue::Json(value) => value.deserialize_any(visitor).map_err(de::Error::custom),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            FieldValue::Null => visitor.visit_none(),
            FieldValue::Json(value) => value.deserialize_option(visitor).map_err(de::Error::custom),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            FieldValue::Text(text) => {
                visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(text))
            }
            FieldValue::Json(value) => value
                .deserialize_enum(name, variants, visitor)
                .map_err(de::Error::custom),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
