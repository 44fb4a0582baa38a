//! The conflict rule of PROTOCOL.md §3, checked on real `Voter` records:
//! whatever order and grouping versions meet in, every replica ends with the
//! same record; a voted voter never comes out unvoted; a tombstone never
//! comes out live.

mod common;

use common::{at, voter};
use jcselect_entities::Voter;
use jcselect_sync::conflict::{decide, merge, Decision, Winner};
use jcselect_sync::{Record, Syncable};
use proptest::prelude::*;
use uuid::Uuid;

const RECORD_ID: Uuid = Uuid::from_u128(0x0d9a_0000_0000_4000_8000_0000_0000_0001);
const PEN: Uuid = Uuid::from_u128(0x7e11_0000_0000_4000_8000_0000_0000_0001);
const STATIONS: [Uuid; 2] = [
    Uuid::from_u128(0x5717_0000_0000_4000_8000_0000_0000_0001),
    Uuid::from_u128(0x5717_0000_0000_4000_8000_0000_0000_0002),
];

/// Versions drawn from small value sets, so that equal time stamps,
/// identical records and competing vote marks are common.
fn version() -> impl Strategy<Value = Record> {
    (
        0i64..4,
        prop::option::of(0i64..3),
        prop::sample::select(vec!["سارة", "Sara", "Sarah"]),
        prop::option::of((0i64..3, prop::option::of(0usize..2))),
    )
        .prop_map(|(updated, deleted, name, vote)| {
            let mut record = voter(RECORD_ID, PEN, at(updated));
            record.full_name = name.to_owned();
            if let Some(deleted) = deleted {
                record.deleted_at = Some(at(deleted));
                record.deleted_by = Some(STATIONS[0]);
            }
            if let Some((voted_at, voted_by_operator_id)) = vote {
                record.has_voted = true;
                record.voted_at = Some(at(voted_at));
                record.voted_by_operator_id = voted_by_operator_id.map(|station| STATIONS[station]);
            }
            record.to_record().unwrap()
        })
}

fn voted(record: &Record) -> bool {
    Voter::from_record(record).unwrap().has_voted
}

proptest! {
    #[test]
    fn commutative(a in version(), b in version()) {
        prop_assert_eq!(merge(&a, &b).record, merge(&b, &a).record);
    }

    #[test]
    fn associative(a in version(), b in version(), c in version()) {
        let left = merge(&merge(&a, &b).record, &c).record;
        let right = merge(&a, &merge(&b, &c).record).record;
        prop_assert_eq!(left, right);
    }

    #[test]
    fn idempotent(a in version(), b in version()) {
        prop_assert_eq!(&merge(&a, &a).record, &a);
        let once = merge(&a, &b).record;
        prop_assert_eq!(&merge(&once, &b).record, &once);
    }

    #[test]
    fn any_order_and_grouping_of_a_set_ends_at_the_same_record(
        versions in prop::collection::vec(version(), 1..7),
        seed in any::<u64>(),
    ) {
        let fold = |records: &[Record]| {
            records[1..].iter().fold(records[0].clone(), |acc, next| merge(&acc, next).record)
        };
        let expected = fold(&versions);
        // a deterministic shuffle from the seed
        let mut shuffled = versions.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(&fold(&shuffled), &expected);
        // grouped: merge each half, then the halves (a replica that saw only
        // half the versions meeting one that saw the other half)
        let middle = shuffled.len() / 2;
        if middle > 0 {
            let grouped = merge(&fold(&shuffled[..middle]), &fold(&shuffled[middle..])).record;
            prop_assert_eq!(&grouped, &expected);
        }
        prop_assert_eq!(voted(&expected), versions.iter().any(voted));
        prop_assert_eq!(expected.is_tombstone(), versions.iter().any(Record::is_tombstone));
    }

    #[test]
    fn a_voted_voter_never_comes_out_unvoted_and_keeps_the_earliest_mark(
        a in version(), b in version()
    ) {
        let merged = merge(&a, &b).record;
        if voted(&a) || voted(&b) {
            prop_assert!(voted(&merged));
            let marks: Vec<_> = [&a, &b].into_iter().filter(|r| voted(r))
                .map(|r| Voter::from_record(r).unwrap().voted_at).collect();
            let earliest = marks.iter().flatten().min().copied();
            prop_assert_eq!(Voter::from_record(&merged).unwrap().voted_at, earliest);
        }
    }

    #[test]
    fn a_tombstone_never_comes_out_live(a in version(), b in version()) {
        let merged = merge(&a, &b).record;
        prop_assert_eq!(merged.is_tombstone(), a.is_tombstone() || b.is_tombstone());
    }

    #[test]
    fn decide_agrees_with_merge(stored in version(), incoming in version()) {
        match decide(&stored, &incoming) {
            Decision::Identical => prop_assert_eq!(&stored, &incoming),
            Decision::Apply(merged) | Decision::Conflict(merged) => {
                prop_assert_eq!(merged.record, merge(&incoming, &stored).record);
            }
        }
    }
}

#[test]
fn a_tombstone_beats_a_later_edit() {
    let mut deleted = voter(RECORD_ID, PEN, at(10));
    deleted.deleted_at = Some(at(10));
    deleted.deleted_by = Some(STATIONS[0]);
    let mut edited = voter(RECORD_ID, PEN, at(99));
    edited.full_name = "edited offline".into();
    let (deleted, edited) = (deleted.to_record().unwrap(), edited.to_record().unwrap());
    assert!(matches!(decide(&deleted, &edited), Decision::Conflict(m) if m.record == deleted));
    assert!(matches!(decide(&edited, &deleted), Decision::Apply(m) if m.record == deleted));
}

#[test]
fn later_updated_at_wins_and_equal_stamps_are_broken_by_canonical_json() {
    let mut older = voter(RECORD_ID, PEN, at(1));
    older.full_name = "Zeinab".into();
    let mut newer = voter(RECORD_ID, PEN, at(2));
    newer.full_name = "Amal".into();
    let merged = merge(&older.to_record().unwrap(), &newer.to_record().unwrap());
    assert_eq!(merged.winner, Winner::Second);
    assert_eq!(
        Voter::from_record(&merged.record).unwrap().full_name,
        "Amal"
    );

    // same stamp, different data: the greater canonical JSON ("Zeinab") wins
    newer.updated_at = at(1);
    let merged = merge(&older.to_record().unwrap(), &newer.to_record().unwrap());
    assert_eq!(
        Voter::from_record(&merged.record).unwrap().full_name,
        "Zeinab"
    );
}

#[test]
fn identical_versions_do_nothing() {
    let record = voter(RECORD_ID, PEN, at(3)).to_record().unwrap();
    assert_eq!(decide(&record, &record.clone()), Decision::Identical);
}

#[test]
fn an_admins_later_edit_of_a_stale_copy_does_not_unvote_and_two_marks_are_reported() {
    let mut marked_here = voter(RECORD_ID, PEN, at(5));
    marked_here.has_voted = true;
    marked_here.voted_at = Some(at(5));
    marked_here.voted_by_operator_id = Some(STATIONS[0]);
    let mut marked_there = voter(RECORD_ID, PEN, at(7));
    marked_there.has_voted = true;
    marked_there.voted_at = Some(at(7));
    marked_there.voted_by_operator_id = Some(STATIONS[1]);
    let mut stale_edit = voter(RECORD_ID, PEN, at(9));
    stale_edit.full_name = "corrected name".into();

    let stored = marked_here.to_record().unwrap();
    let Decision::Apply(applied) = decide(&stored, &stale_edit.to_record().unwrap()) else {
        panic!("the later edit wins");
    };
    let result = Voter::from_record(&applied.record).unwrap();
    assert_eq!(result.full_name, "corrected name");
    assert!(result.has_voted);
    assert_eq!(
        (result.voted_at, result.voted_by_operator_id),
        (Some(at(5)), Some(STATIONS[0]))
    );
    assert!(applied.duplicate_marks.is_empty());

    let merged = merge(&stored, &marked_there.to_record().unwrap());
    assert_eq!(merged.duplicate_marks.len(), 1);
    let duplicate = &merged.duplicate_marks[0];
    assert_eq!(duplicate.flag, "has_voted");
    let result = Voter::from_record(&merged.record).unwrap();
    assert_eq!(
        (result.voted_at, result.voted_by_operator_id),
        (Some(at(5)), Some(STATIONS[0]))
    );
}

proptest! {
    #[test]
    fn the_log_text_of_a_record_is_its_canonical_json(a in version()) {
        let text = a.to_json_string();
        prop_assert_eq!(&text, &a.to_json().to_string());
        let back = jcselect_entities::registry().unwrap().decode("Voter", &text).unwrap();
        prop_assert_eq!(back, a);
    }
}
