//! The conflict rule of PROTOCOL.md §3: one pure function that every
//! replica applies, so that every replica ends with the same record
//! whatever order versions arrive in.
//!
//! Versions are ranked by (is tombstone, `updated_at`, canonical JSON
//! without monotonic fields, whole canonical JSON); the greater one wins.
//! The ranking is a total order, so taking the greater of two versions is
//! commutative, associative and idempotent. Monotonic fields are then merged
//! on top: once any version sets a monotonic flag the result keeps it, with
//! the earliest mark, and "earliest of" is again commutative, associative
//! and idempotent.

use std::cmp::Ordering;

use crate::decl::MonotonicDecl;
use crate::record::{FieldValue, Record};

/// Which of the two versions given to [`merge`] won the last-write-wins
/// comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The first argument.
    First,
    /// The second argument.
    Second,
    /// Both agree on every field outside monotonic groups.
    Neither,
}

/// Two versions set the same monotonic flag with different marks: two
/// stations marked one voter.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateMark {
    /// The monotonic flag (`has_voted`).
    pub flag: &'static str,
    /// The mark fields' names.
    pub fields: &'static [&'static str],
    /// The earliest mark, which the merged record keeps.
    pub kept: Vec<FieldValue>,
    /// The later mark, which is dropped.
    pub dropped: Vec<FieldValue>,
}

/// The result of merging two versions of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The record every replica ends with.
    pub record: Record,
    /// Whose non-monotonic fields it carries.
    pub winner: Winner,
    /// Marks that met and differed.
    pub duplicate_marks: Vec<DuplicateMark>,
}

/// Merges two versions of the same record (same entity and id).
pub fn merge(first: &Record, second: &Record) -> Merged {
    debug_assert_eq!(first.entity().name, second.entity().name);
    debug_assert_eq!(first.id(), second.id());
    let (winner, mut record) = match rank(first, second) {
        Ordering::Greater => (Winner::First, first.clone()),
        Ordering::Less => (Winner::Second, second.clone()),
        Ordering::Equal => (Winner::Neither, first.clone()),
    };
    let winner = match winner {
        Winner::First | Winner::Second
            if first.canonical_json() == second.canonical_json()
                && first.is_tombstone() == second.is_tombstone()
                && first.version_time() == second.version_time() =>
        {
            Winner::Neither
        }
        other => other,
    };
    let mut duplicate_marks = Vec::new();
    for group in record.entity().monotonic {
        if let Some(duplicate) = merge_monotonic(group, first, second, &mut record) {
            duplicate_marks.push(duplicate);
        }
    }
    Merged {
        record,
        winner,
        duplicate_marks,
    }
}

/// What a replica holding `stored` does with an `incoming` version.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The same record: nothing to do.
    Identical,
    /// The incoming version wins (or only adds monotonic marks): store
    /// `merged`.
    Apply(Merged),
    /// The stored version wins: the incoming one loses its other fields.
    /// `merged` differs from `stored` only when the loser carried an earlier
    /// monotonic mark, which is still kept.
    Conflict(Merged),
}

/// Decides what to do with `incoming` given the `stored` version.
pub fn decide(stored: &Record, incoming: &Record) -> Decision {
    if stored == incoming {
        return Decision::Identical;
    }
    let merged = merge(stored, incoming);
    match merged.winner {
        Winner::First => Decision::Conflict(merged),
        Winner::Second | Winner::Neither => Decision::Apply(merged),
    }
}

/// The total order of versions: tombstone beats live, then later
/// `updated_at`, then greater canonical JSON, then greater whole JSON.
fn rank(first: &Record, second: &Record) -> Ordering {
    first
        .is_tombstone()
        .cmp(&second.is_tombstone())
        .then_with(|| first.version_time().cmp(&second.version_time()))
        .then_with(|| first.canonical_json().cmp(&second.canonical_json()))
        .then_with(|| {
            first
                .to_json()
                .to_string()
                .cmp(&second.to_json().to_string())
        })
}

/// Sets `group` in `merged` from the earliest mark among the versions that
/// set the flag; reports two different marks.
fn merge_monotonic(
    group: &MonotonicDecl,
    first: &Record,
    second: &Record,
    merged: &mut Record,
) -> Option<DuplicateMark> {
    let mark_of = |record: &Record| -> Option<Vec<FieldValue>> {
        let flagged = record.get(group.flag).and_then(FieldValue::as_bool) == Some(true);
        flagged.then(|| {
            group
                .mark
                .iter()
                .map(|field| record.get(field).cloned().unwrap_or(FieldValue::Null))
                .collect()
        })
    };
    let (kept, dropped) = match (mark_of(first), mark_of(second)) {
        (None, None) => return None,
        (Some(only), None) | (None, Some(only)) => (only, None),
        (Some(a), Some(b)) => match compare_marks(&a, &b) {
            Ordering::Greater => (b, Some(a)),
            Ordering::Less => (a, Some(b)),
            Ordering::Equal => (a, None),
        },
    };
    merged
        .set(group.flag, FieldValue::Bool(true))
        .expect("monotonic flag is a declared bool field");
    for (field, value) in group.mark.iter().zip(&kept) {
        merged
            .set(field, value.clone())
            .expect("mark values come from the same entity");
    }
    dropped.map(|dropped| DuplicateMark {
        flag: group.flag,
        fields: group.mark,
        kept,
        dropped,
    })
}

fn compare_marks(a: &[FieldValue], b: &[FieldValue]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|ordering| ordering.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A total order on values of one field: `null` last, otherwise natural.
fn compare_values(a: &FieldValue, b: &FieldValue) -> Ordering {
    use FieldValue::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Greater,
        (_, Null) => Ordering::Less,
        (Timestamp(x), Timestamp(y)) => x.cmp(y),
        (Uuid(x), Uuid(y)) => x.cmp(y),
        (Text(x), Text(y)) => x.cmp(y),
        (Int(x), Int(y)) => x.cmp(y),
        (Bool(x), Bool(y)) => x.cmp(y),
        (x, y) => x.to_json().to_string().cmp(&y.to_json().to_string()),
    }
}
