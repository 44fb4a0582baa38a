//! Natural keys (PROTOCOL.md §1): which record holds each declared key,
//! as stored and as a push writes, so that a record taking a key another
//! record holds is refused as `invalid` naming the holder.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::decl::NaturalKey;
use crate::record::{FieldValue, Record};
use crate::store::{FieldIn, RecordTransaction, StoreError};

/// (entity, key position, the key's values as text) → holder.
type Claim = (&'static str, usize, String);

/// The holders of the natural keys a push touches.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    held: HashMap<Claim, Uuid>,
}

/// The key's values as one text, or `None` when one of them is null (a
/// null never collides).
fn key_text(record: &Record, key: &NaturalKey) -> Option<String> {
    let mut text = String::new();
    for field in key.fields {
        match record.get(field)? {
            FieldValue::Null => return None,
            value => {
                text.push_str(&value.to_json().to_string());
                text.push('\u{1f}');
            }
        }
    }
    Some(text)
}

/// The keys `record` claims: none of a tombstone for keys among live
/// records only.
fn claims_of(record: &Record) -> impl Iterator<Item = (usize, &'static NaturalKey, Claim)> + '_ {
    let entity = record.entity();
    entity
        .natural_keys
        .iter()
        .enumerate()
        .filter(move |(_, key)| !(key.live_only && record.is_tombstone()))
        .filter_map(move |(position, key)| {
            key_text(record, key).map(|text| (position, key, (entity.name, position, text)))
        })
}

impl Claims {
    /// The stored holders of every key `records` claim, read with one
    /// query per entity and key.
    pub(crate) async fn load<'r>(
        source: &mut dyn RecordTransaction,
        records: impl Iterator<Item = &'r Record>,
    ) -> Result<Self, StoreError> {
        /// Per key field, its distinct values among the records.
        type Wanted<'r> = (&'r Record, Vec<(Vec<FieldValue>, HashSet<String>)>);
        let mut wanted: HashMap<(&'static str, usize), Wanted<'r>> = HashMap::new();
        for record in records {
            let entity = record.entity();
            for (position, key) in entity.natural_keys.iter().enumerate() {
                let values: Option<Vec<&FieldValue>> = key
                    .fields
                    .iter()
                    .map(|field| record.get(field).filter(|v| **v != FieldValue::Null))
                    .collect();
                let Some(values) = values else { continue };
                let entry = wanted.entry((entity.name, position)).or_insert_with(|| {
                    (record, vec![(Vec::new(), HashSet::new()); key.fields.len()])
                });
                for (value, (list, seen)) in values.into_iter().zip(entry.1.iter_mut()) {
                    if seen.insert(value.to_json().to_string()) {
                        list.push(value.clone());
                    }
                }
            }
        }
        let mut claims = Claims::default();
        for ((_, position), (example, mut values)) in wanted {
            let entity = example.entity();
            let key = &entity.natural_keys[position];
            // the most varied field last: the store reads it in chunks
            let mut order: Vec<usize> = (0..key.fields.len()).collect();
            order.sort_by_key(|n| values[*n].0.len());
            let columns: Vec<(&'static str, Vec<FieldValue>)> = order
                .iter()
                .map(|n| (key.fields[*n], std::mem::take(&mut values[*n].0)))
                .collect();
            let conditions: Vec<FieldIn<'_>> = columns
                .iter()
                .map(|(field, values)| FieldIn { field, values })
                .collect();
            for holder in source.find_matching(entity, &conditions).await? {
                claims.update(None, &holder);
            }
        }
        Ok(claims)
    }

    /// The first key of `record` that another record holds, with its
    /// holder.
    pub(crate) fn holder(&self, record: &Record) -> Option<(&'static NaturalKey, Uuid)> {
        claims_of(record).find_map(|(_, key, claim)| {
            self.held
                .get(&claim)
                .filter(|holder| **holder != record.id())
                .map(|holder| (key, *holder))
        })
    }

    /// `record` now holds its keys; those only `previous` (its earlier
    /// version) held are free again.
    pub(crate) fn update(&mut self, previous: Option<&Record>, record: &Record) {
        if record.entity().natural_keys.is_empty() {
            return;
        }
        if let Some(previous) = previous {
            for (_, _, claim) in claims_of(previous) {
                if self.held.get(&claim) == Some(&previous.id()) {
                    self.held.remove(&claim);
                }
            }
        }
        for (_, _, claim) in claims_of(record) {
            self.held.entry(claim).or_insert(record.id());
        }
    }
}

/// What a refusal says: the key and the record that holds it.
pub(crate) fn breach_message(record: &Record, key: &NaturalKey, holder: Uuid) -> String {
    let values: Vec<String> = key
        .fields
        .iter()
        .map(|field| {
            format!(
                "{field} {}",
                record
                    .get(field)
                    .map_or_else(String::new, |v| v.to_json().to_string())
            )
        })
        .collect();
    format!(
        "{} {} takes {}, which {} {holder} already holds{}",
        record.entity().name,
        record.id(),
        values.join(", "),
        record.entity().name,
        if key.live_only {
            " (among live records)"
        } else {
            ""
        }
    )
}
