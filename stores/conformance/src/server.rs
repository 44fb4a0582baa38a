//! The server-side suite: push buckets, idempotency, scopes, and pulls that
//! miss nothing, against any [`ServerStore`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jcselect_entities::{AuditLog, Role as UserRole, TallyLine, Voter};
use jcselect_sync::pull::PullFrom;
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::{EntityChange, FailureReason};
use jcselect_sync::{Syncable, Timestamp};
use serde_json::json;
use uuid::Uuid;

use crate::fixture::*;

pub use crate::compaction::{
    a_fresh_replica_receives_each_record_once,
    pushes_committed_in_groups_are_each_answered_as_alone,
    readers_paging_while_writers_supersede_miss_nothing,
    replays_are_answered_after_their_entries_are_superseded,
};

async fn stored<T: Syncable>(store: &Arc<dyn ServerStore>, id: Uuid) -> Option<T> {
    store
        .get_record(T::DECL, id)
        .await
        .expect("the store reads")
        .map(|record| T::from_record(&record).expect("stored records decode"))
}

async fn audit_rows(store: &Arc<dyn ServerStore>, action: &str) -> Vec<AuditLog> {
    let (changes, _, _) = pull_all(store, &World::new().admin, PullFrom::Cursor(None), 1000).await;
    changes
        .into_iter()
        .filter(|change| change.entity_type == "AuditLog")
        .map(|change| serde_json::from_str::<AuditLog>(change.data.get()).unwrap())
        .filter(|row| row.action == action)
        .collect()
}

/// Parents listed after their children in one request are applied first.
pub async fn push_applies_a_batch_in_dependency_order(store: Arc<dyn ServerStore>) {
    let world = World::new();
    let session = session(&world.pen_a, &world.operator_user);
    let line = line(&session, &world.party, 12);
    let response = push(
        &store,
        &world.admin,
        vec![
            update(&line),
            update(&session),
            update(&world.party),
            update(&world.pen_a),
            update(&world.operator_user),
            update(&world.admin_user),
        ],
    )
    .await;
    assert_eq!(response.processed_count, 6, "{response:?}");
    assert!(response.dependency_conflicts.is_empty() && response.failed_changes.is_empty());
    let stored_line: TallyLine = stored(&store, line.id).await.expect("the line is stored");
    assert_eq!(stored_line, line);
}

/// Every bucket of PROTOCOL.md §3, each change in exactly one.
pub async fn every_bucket_of_the_protocol(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;

    let fresh = voter(&world.pen_a, "1", "ليلى");
    let mut newer = fresh.clone();
    newer.full_name = "Layla".into();
    newer.updated_at = ago(100);
    push(&store, &world.admin, vec![update(&newer)]).await;
    // an older version of a record the server has newer: conflict
    let mut stale = fresh.clone();
    stale.full_name = "stale".into();

    let orphan_session = session(&world.pen_a, &world.operator_user);
    let orphan = line(&orphan_session, &world.party, 3);

    let mut negative = line(&orphan_session, &world.party, 0);
    negative.vote_count = -4;
    let mut mismatched = update(&voter(&world.pen_a, "2", "x"));
    mismatched.timestamp = ago(7);
    let mut future = voter(&world.pen_a, "3", "from the future");
    future.updated_at = ago(-3_600);
    let unknown = EntityChange {
        entity_type: "Ballot".into(),
        ..update(&world.party)
    };
    let mut missing_field = update(&voter(&world.pen_a, "4", "y"));
    let mut data = missing_field.data_value();
    data.as_object_mut().unwrap().remove("full_name");
    missing_field.data = serde_json::value::to_raw_value(&data).unwrap();

    let ok = voter(&world.pen_a, "5", "أحمد");
    let changes = vec![
        update(&ok),
        update(&stale),
        update(&orphan),
        update(&negative),
        mismatched,
        update(&future),
        unknown,
        missing_field,
    ];
    let response = push(&store, &world.admin, changes.clone()).await;
    assert_eq!(response.processed_count, 1, "{response:#?}");
    assert_eq!(response.conflicts.len(), 1);
    assert_eq!(response.conflicts[0].entity_id, stale.id);
    assert_eq!(response.dependency_conflicts.len(), 1);
    assert_eq!(
        response.dependency_conflicts[0].missing[0].entity_type,
        "TallySession"
    );
    assert_eq!(
        response.dependency_conflicts[0].missing[0].entity_id,
        orphan_session.id
    );
    let failed: HashMap<Uuid, FailureReason> = response
        .failed_changes
        .iter()
        .map(|failed| (failed.change.change_id, failed.reason))
        .collect();
    assert_eq!(failed.len(), 5, "{:#?}", response.failed_changes);
    assert_eq!(failed[&changes[3].change_id], FailureReason::Invalid);
    assert_eq!(failed[&changes[4].change_id], FailureReason::Invalid);
    assert_eq!(failed[&changes[5].change_id], FailureReason::ClockSkew);
    assert_eq!(failed[&changes[6].change_id], FailureReason::Invalid);
    assert_eq!(failed[&changes[7].change_id], FailureReason::Invalid);
    assert!(response
        .failed_changes
        .iter()
        .any(|f| f.message.contains("full_name")));
    // the server kept its newer version, and applied the good one
    assert_eq!(
        stored::<Voter>(&store, fresh.id).await.unwrap().full_name,
        "Layla"
    );
    assert!(stored::<Voter>(&store, ok.id).await.is_some());
    assert!(stored::<TallyLine>(&store, orphan.id).await.is_none());

    // forbidden: an operator outside its pen (another pen's voter, another
    // pen itself), or tombstoning; immutable: editing an audit row
    let outside = voter(&world.pen_b, "6", "z");
    let mut renamed_pen = world.pen_b.clone();
    renamed_pen.label = "mine now".into();
    renamed_pen.updated_at = ago(1);
    let mut deleted = ok.clone();
    deleted.deleted_at = Some(ago(1));
    deleted.deleted_by = Some(world.operator_user.id);
    deleted.updated_at = ago(1);
    let own_note = audit_row(&world.operator_user, None, "LOGIN");
    let inside = voter(&world.pen_a, "7", "w");
    let changes = vec![
        update(&outside),
        update(&renamed_pen),
        update(&deleted),
        update(&own_note),
        update(&inside),
    ];
    let response = push(&store, &world.operator, changes).await;
    assert_eq!(response.processed_count, 2, "{response:#?}");
    assert_eq!(response.failed_changes.len(), 3);
    assert!(response
        .failed_changes
        .iter()
        .all(|failed| failed.reason == FailureReason::Forbidden));

    let mut edited_note = own_note.clone();
    edited_note.action = "LOGOUT".into();
    let response = push(&store, &world.operator, vec![update(&edited_note)]).await;
    assert_eq!(response.failed_changes[0].reason, FailureReason::Immutable);
    let mut tombstoned_note = own_note.clone();
    tombstoned_note.deleted_at = Some(ago(0));
    tombstoned_note.deleted_by = Some(world.admin_user.id);
    let response = push(&store, &world.admin, vec![update(&tombstoned_note)]).await;
    assert_eq!(response.processed_count, 1, "{response:#?}");
}

/// The same request twice: the same answer, and nothing new in the log.
pub async fn replaying_a_request_changes_nothing_and_answers_the_same(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let original = voter(&world.pen_a, "10", "Rami");
    let mut newer = original.clone();
    newer.updated_at = ago(10);
    newer.full_name = "Rami K".into();
    push(&store, &world.admin, vec![update(&newer)]).await;

    let request = jcselect_sync::wire::SyncPushRequest {
        client_id: "replayer".into(),
        changes: vec![
            update(&voter(&world.pen_a, "11", "Nour")),
            update(&original),
        ],
    };
    let first = push_request(&store, &world.admin, &request).await;
    let head = store.log_head().await.unwrap();
    let conflicts_before = audit_rows(&store, "SYNC_CONFLICT").await.len();
    let second = push_request(&store, &world.admin, &request).await;
    assert_eq!(first.processed_count, second.processed_count);
    assert_eq!(first.conflicts, second.conflicts);
    assert_eq!(first.failed_changes, second.failed_changes);
    assert_eq!(
        store.log_head().await.unwrap(),
        head,
        "a replay appends nothing"
    );
    assert_eq!(
        audit_rows(&store, "SYNC_CONFLICT").await.len(),
        conflicts_before
    );

    // an identical record under a new change id is processed, not logged
    let again = push(&store, &world.admin, vec![update(&newer)]).await;
    assert_eq!(again.processed_count, 1);
    assert_eq!(store.log_head().await.unwrap(), head);
}

/// A tombstone beats a later live edit, is stored and pulled, and still
/// counts as a parent.
pub async fn tombstones_win_and_still_count_as_parents(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let original = session(&world.pen_a, &world.operator_user);
    push(&store, &world.admin, vec![update(&original)]).await;
    let mut deleted = original.clone();
    deleted.deleted_at = Some(ago(50));
    deleted.deleted_by = Some(world.admin_user.id);
    deleted.updated_at = ago(50);
    let response = push(&store, &world.admin, vec![update(&deleted)]).await;
    assert_eq!(response.processed_count, 1);

    let mut late_edit = original.clone();
    late_edit.session_name = "edited offline, after the delete".into();
    late_edit.updated_at = ago(5);
    let response = push(&store, &world.admin, vec![update(&late_edit)]).await;
    assert_eq!(response.conflicts.len(), 1, "{response:#?}");
    let kept = stored::<jcselect_entities::TallySession>(&store, original.id)
        .await
        .unwrap();
    assert_eq!(kept.deleted_at, deleted.deleted_at);

    let child = line(&original, &world.party, 4);
    let response = push(&store, &world.admin, vec![update(&child)]).await;
    assert_eq!(
        response.processed_count, 1,
        "a tombstoned parent is still a parent"
    );

    let (changes, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 100).await;
    let last = changes
        .iter()
        .rev()
        .find(|change| change.entity_id == original.id)
        .unwrap();
    assert!(
        last.data_value()["deleted_at"].is_string(),
        "the tombstone is pulled"
    );
}

/// Time stamps keep their microseconds and Arabic text its bytes, in the
/// store and through a pull.
pub async fn microsecond_timestamps_and_arabic_text_survive(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let mut record = voter(&world.pen_a, "١٢٣", "مُحَمَّد بن عبدالله الحسيني ـ");
    record.father_name = Some("عبد الله".into());
    record.updated_at =
        Timestamp::from_unix_micros(ago(30).unix_micros() / 1_000_000 * 1_000_000 + 123_457);
    record.created_at = Timestamp::from_unix_micros(-1);
    push(&store, &world.admin, vec![update(&record)]).await;
    let back: Voter = stored(&store, record.id).await.unwrap();
    assert_eq!(back, record);
    let (changes, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 100).await;
    let pulled = changes.iter().find(|c| c.entity_id == record.id).unwrap();
    assert_eq!(pulled.timestamp, record.updated_at);
    assert_eq!(pulled.data_value(), serde_json::to_value(&record).unwrap());
    assert!(pulled.data_value()["updated_at"]
        .as_str()
        .unwrap()
        .ends_with(".123457Z"));
}

/// An operator pulls global records and its pens', nothing else; a tally
/// line has the pen of its session.
pub async fn pulls_are_filtered_by_scope(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let mine = voter(&world.pen_a, "1", "mine");
    let theirs = voter(&world.pen_b, "2", "theirs");
    let session_a = session(&world.pen_a, &world.operator_user);
    let session_b = session(&world.pen_b, &world.operator_user);
    let line_a = line(&session_a, &world.party, 1);
    let line_b = line(&session_b, &world.party, 2);
    let global_note = audit_row(&world.admin_user, None, "EXPORT");
    let note_b = audit_row(&world.admin_user, Some(&world.pen_b), "NOTE");
    push(
        &store,
        &world.admin,
        vec![
            update(&mine),
            update(&theirs),
            update(&session_a),
            update(&session_b),
            update(&line_a),
            update(&line_b),
            update(&global_note),
            update(&note_b),
        ],
    )
    .await;
    for from in [
        PullFrom::Cursor(None),
        PullFrom::LastSync {
            last_sync: Timestamp::MIN,
            offset: 0,
        },
    ] {
        let (changes, _, _) = pull_all(&store, &world.operator, from, 3).await;
        let seen: HashSet<Uuid> = changes.iter().map(|c| c.entity_id).collect();
        for visible in [
            mine.id,
            session_a.id,
            line_a.id,
            global_note.id,
            world.pen_a.id,
            world.party.id,
        ] {
            assert!(seen.contains(&visible), "{visible} should be pulled");
        }
        // a pen is in its own scope: another pen is not a station's business
        for hidden in [
            theirs.id,
            session_b.id,
            line_b.id,
            note_b.id,
            world.pen_b.id,
        ] {
            assert!(!seen.contains(&hidden), "{hidden} should not be pulled");
        }
    }
    let (everything, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    assert!(everything.iter().any(|c| c.entity_id == line_b.id));
}

/// An operator of several pens receives, in receive order and in both
/// forms, exactly its pens' records and the global ones, however the
/// writes interleave; `total_available` counts what is left of exactly
/// those. Holds for a handful of pens (each read through the scope index)
/// and for more pens than the store gives branches of their own.
pub async fn an_operators_pull_merges_its_scopes_in_receive_order(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let pen_c = pen("Pen C");
    push(&store, &world.admin, vec![update(&pen_c)]).await;
    let pens = [&world.pen_a, &world.pen_b, &pen_c];
    for round in 0..4 {
        let mut changes = Vec::new();
        for (n, pen) in pens.iter().enumerate() {
            for k in 0..(n + round) {
                changes.push(update(&voter(pen, &format!("{round}-{k}"), "ناخب")));
            }
        }
        changes.push(update(&party(&format!("party {round}"))));
        push(&store, &world.admin, changes).await;
    }
    let everything = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000)
        .await
        .0;
    let pen_of = |change: &EntityChange| -> Option<Uuid> {
        let data: serde_json::Value = serde_json::from_str(change.data.get()).unwrap();
        match change.entity_type.as_str() {
            "Pen" => Some(change.entity_id),
            "Voter" => data["pen_id"].as_str().map(|id| id.parse().unwrap()),
            _ => None,
        }
    };
    let many: Vec<Uuid> = [world.pen_a.id, pen_c.id]
        .into_iter()
        .chain((0..40).map(|_| Uuid::new_v4()))
        .collect();
    for operator_pens in [vec![world.pen_a.id, pen_c.id], many] {
        let operator = jcselect_sync::auth::Principal {
            pens: operator_pens.clone(),
            ..world.operator.clone()
        };
        let expected: Vec<Uuid> = everything
            .iter()
            .filter(|change| pen_of(change).map_or(true, |pen| operator_pens.contains(&pen)))
            .map(|change| change.change_id)
            .collect();
        assert!(expected.len() > 10 && expected.len() < everything.len());
        for from in [
            PullFrom::Cursor(None),
            PullFrom::LastSync {
                last_sync: Timestamp::MIN,
                offset: 0,
            },
        ] {
            let first =
                jcselect_sync::pull::read_pull(store.as_ref(), &pull_context(), &operator, from, 3)
                    .await
                    .unwrap();
            assert_eq!(first.total_available, Some(expected.len() as u64));
            let received: Vec<Uuid> = pull_all(&store, &operator, from, 3)
                .await
                .0
                .iter()
                .map(|change| change.change_id)
                .collect();
            assert_eq!(received, expected, "{} pens, {from:?}", operator_pens.len());
        }
    }
}

/// A user is placed by its log-in (PROTOCOL.md §1): an operator in each of
/// its pens, an admin everywhere, a user with no log-in with admins only;
/// an audit row naming a user takes that user's pens; no operator writes a
/// user record, not even its own.
pub async fn users_are_placed_by_their_log_ins(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let at_b = user("at-b", UserRole::Operator);
    let at_both = user("at-both", UserRole::Operator);
    let unknown = user("no-log-in", UserRole::Operator);
    for (who, pens) in [
        (&at_b, vec![world.pen_b.id]),
        (&at_both, vec![world.pen_a.id, world.pen_b.id]),
    ] {
        store
            .put_login(&jcselect_sync::store::Login {
                username: who.username.clone(),
                user_id: who.id,
                password_hash: None,
                pens,
            })
            .await
            .unwrap();
    }
    let about_b = audit_row(&world.admin_user, None, "USER_EDITED");
    let about_b = AuditLog {
        entity_type: "User".into(),
        entity_id: at_b.id,
        ..about_b
    };
    let response = push(
        &store,
        &world.admin,
        vec![
            update(&at_b),
            update(&at_both),
            update(&unknown),
            update(&about_b),
        ],
    )
    .await;
    assert_eq!(response.processed_count, 4, "{response:?}");

    let seen_by = |pens: Vec<Uuid>| {
        let principal = jcselect_sync::auth::Principal {
            pens,
            ..world.operator.clone()
        };
        let store = store.clone();
        async move {
            pull_all(&store, &principal, PullFrom::Cursor(None), 7)
                .await
                .0
                .iter()
                .map(|change| change.entity_id)
                .collect::<HashSet<Uuid>>()
        }
    };
    let at_a = seen_by(vec![world.pen_a.id]).await;
    for visible in [world.admin_user.id, world.operator_user.id, at_both.id] {
        assert!(at_a.contains(&visible), "{visible} is pen A's business");
    }
    for hidden in [at_b.id, unknown.id, about_b.id] {
        assert!(!at_a.contains(&hidden), "{hidden} is not pen A's business");
    }
    let at_pen_b = seen_by(vec![world.pen_b.id]).await;
    for visible in [world.admin_user.id, at_b.id, at_both.id, about_b.id] {
        assert!(at_pen_b.contains(&visible), "{visible} is pen B's business");
    }
    assert!(!at_pen_b.contains(&world.operator_user.id));
    let everything = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000)
        .await
        .0;
    assert!(everything
        .iter()
        .any(|change| change.entity_id == unknown.id));

    // an operator may not promote itself
    let mut promoted = world.operator_user.clone();
    promoted.role = UserRole::Admin;
    promoted.updated_at = ago(1);
    let response = push(&store, &world.operator, vec![update(&promoted)]).await;
    assert_eq!(response.failed_changes.len(), 1, "{response:?}");
    assert_eq!(response.failed_changes[0].reason, FailureReason::Forbidden);
    let kept: jcselect_entities::User = stored(&store, promoted.id).await.unwrap();
    assert_eq!(kept.role, UserRole::Operator);
}

/// A conflict leaves a `SYNC_CONFLICT` row with both versions; two marks
/// of one voter leave a `DUPLICATE_VOTE_MARK` row and the earliest mark.
pub async fn conflicts_and_duplicate_vote_marks_are_audited(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let base = voter(&world.pen_a, "77", "Hiba");
    push(&store, &world.admin, vec![update(&base)]).await;

    let mut here = base.clone();
    here.has_voted = true;
    here.voted_at = Some(ago(200));
    here.voted_by_operator_id = Some(world.operator_user.id);
    here.updated_at = ago(200);
    let mut there = base.clone();
    there.has_voted = true;
    there.voted_at = Some(ago(150));
    there.voted_by_operator_id = Some(world.admin_user.id);
    there.updated_at = ago(150);
    push(&store, &world.operator, vec![update(&here)]).await;
    let response = push(&store, &world.admin, vec![update(&there)]).await;
    assert_eq!(response.processed_count, 1, "{response:#?}");
    let kept: Voter = stored(&store, base.id).await.unwrap();
    assert!(kept.has_voted);
    assert_eq!(kept.voted_at, here.voted_at, "the earliest mark stays");
    assert_eq!(kept.voted_by_operator_id, here.voted_by_operator_id);
    let duplicates = audit_rows(&store, "DUPLICATE_VOTE_MARK").await;
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].entity_id, base.id);
    let (seen, _, _) = pull_all(&store, &world.operator, PullFrom::Cursor(None), 1000).await;
    assert!(
        seen.iter()
            .any(|change| change.entity_id == duplicates[0].id),
        "the row takes the voter's pen as its scope"
    );

    // a stale unvoted copy loses and cannot un-vote
    let mut stale = base.clone();
    stale.full_name = "stale copy".into();
    let response = push(&store, &world.admin, vec![update(&stale)]).await;
    assert_eq!(response.conflicts.len(), 1);
    let conflicts = audit_rows(&store, "SYNC_CONFLICT").await;
    let row = conflicts
        .iter()
        .find(|row| row.entity_id == base.id)
        .unwrap();
    assert_eq!(
        row.old_values.as_ref().unwrap()["full_name"],
        json!("stale copy")
    );
    assert_eq!(row.new_values.as_ref().unwrap()["has_voted"], json!(true));
    assert!(stored::<Voter>(&store, base.id).await.unwrap().has_voted);
}

/// 500 changes pulled in pages of 100 in both forms: all of them, each
/// once, with `has_more` and `total_available` right.
pub async fn pulls_page_through_everything_in_both_forms(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let (_, cursor, since) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    let voters: Vec<Voter> = (0..500)
        .map(|n| voter(&world.pen_a, &n.to_string(), &format!("ناخب {n}")))
        .collect();
    let response = push(&store, &world.admin, voters.iter().map(update).collect()).await;
    assert_eq!(response.processed_count, 500);
    let expected: HashSet<Uuid> = voters.iter().map(|v| v.id).collect();

    let after = jcselect_sync::pull::decode_cursor(&cursor).unwrap();
    let first = jcselect_sync::pull::read_pull(
        store.as_ref(),
        &crate::fixture::pull_context(),
        &world.admin,
        PullFrom::Cursor(Some(after)),
        100,
    )
    .await
    .unwrap();
    assert_eq!(first.total_available, Some(500));
    assert!(first.has_more);
    for from in [
        PullFrom::Cursor(Some(after)),
        PullFrom::LastSync {
            last_sync: since,
            offset: 0,
        },
    ] {
        let (changes, _, _) = pull_all(&store, &world.admin, from, 100).await;
        assert_eq!(changes.len(), 500, "{from:?}");
        let got: HashSet<Uuid> = changes.iter().map(|c| c.entity_id).collect();
        assert_eq!(got, expected, "{from:?}");
    }
}

/// A record written offline hours ago and pushed now is pulled by a client
/// that pulled after it was written, in both forms.
pub async fn a_late_offline_write_is_still_pulled(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let (_, cursor, since) = pull_all(&store, &world.operator, PullFrom::Cursor(None), 100).await;
    let mut offline = voter(&world.pen_a, "900", "written offline");
    offline.updated_at = ago(4 * 3_600);
    offline.created_at = ago(4 * 3_600);
    push(&store, &world.operator, vec![update(&offline)]).await;
    let after = jcselect_sync::pull::decode_cursor(&cursor).unwrap();
    for from in [
        PullFrom::Cursor(Some(after)),
        PullFrom::LastSync {
            last_sync: since,
            offset: 0,
        },
    ] {
        let (changes, _, _) = pull_all(&store, &world.operator, from, 100).await;
        assert!(
            changes.iter().any(|c| c.entity_id == offline.id),
            "{from:?}"
        );
    }
}

/// Several writers push at once while a reader pages with a cursor and
/// another with `last_sync`: when the writers are done and the readers
/// have caught up, each has seen every record.
pub async fn readers_miss_nothing_under_concurrent_writers(store: Arc<dyn ServerStore>) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 12;
    const PER_BATCH: usize = 15;
    let world = Arc::new(World::new());
    world.seed(&store).await;
    let (_, start_cursor, start_time) =
        pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (store, world) = (store.clone(), world.clone());
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for batch in 0..BATCHES {
                let voters: Vec<Voter> = (0..PER_BATCH)
                    .map(|n| voter(&world.pen_a, &format!("{writer}-{batch}-{n}"), "concurrent"))
                    .collect();
                ids.extend(voters.iter().map(|v| v.id));
                let response =
                    push(&store, &world.admin, voters.iter().map(update).collect()).await;
                assert_eq!(response.processed_count as usize, PER_BATCH);
                tokio::task::yield_now().await;
            }
            ids
        }));
    }
    let cursor_reader = {
        let (store, world, done) = (store.clone(), world.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut cursor = jcselect_sync::pull::decode_cursor(&start_cursor).unwrap();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (changes, next, _) =
                    pull_all(&store, &world.admin, PullFrom::Cursor(Some(cursor)), 7).await;
                seen.extend(changes.iter().map(|c| c.entity_id));
                cursor = jcselect_sync::pull::decode_cursor(&next).unwrap();
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let time_reader = {
        let (store, world, done) = (store.clone(), world.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut since = start_time;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let from = PullFrom::LastSync {
                    last_sync: since,
                    offset: 0,
                };
                let (changes, _, server_timestamp) = pull_all(&store, &world.admin, from, 9).await;
                seen.extend(changes.iter().map(|c| c.entity_id));
                since = server_timestamp;
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.expect("writer finished"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let by_cursor = cursor_reader.await.unwrap();
    let by_time = time_reader.await.unwrap();
    assert_eq!(written.len(), WRITERS * BATCHES * PER_BATCH);
    assert!(
        written.is_subset(&by_cursor),
        "cursor reader missed {}",
        written.difference(&by_cursor).count()
    );
    assert!(
        written.is_subset(&by_time),
        "last_sync reader missed {}",
        written.difference(&by_time).count()
    );
}

/// A batch whose write fails in the database (two users with one unique
/// user name) leaves nothing of the batch behind.
pub async fn a_batch_that_fails_midway_leaves_nothing_behind(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let head = store.log_head().await.unwrap();
    let first = user("same-name", UserRole::Operator);
    let pen = pen("new pen");
    let request = jcselect_sync::wire::SyncPushRequest {
        client_id: "x".into(),
        changes: vec![update(&pen), update(&first)],
    };
    let context = jcselect_sync::push::PushContext {
        registry: registry(),
        audit: &jcselect_entities::SyncAudit,
        max_clock_skew_micros: jcselect_sync::push::DEFAULT_MAX_CLOCK_SKEW_MICROS,
        accept_credentials: false,
        new_logins: &[],
    };
    // the records are written, then the change log cannot be
    let failing = crate::failing::FailsMidPush(store.clone());
    let result = jcselect_sync::push::apply_push(
        &failing,
        &context,
        &world.admin,
        &request,
        Timestamp::now(),
    )
    .await;
    assert!(result.is_err(), "the push must fail");
    assert_eq!(store.log_head().await.unwrap(), head);
    assert!(stored::<jcselect_entities::Pen>(&store, pen.id)
        .await
        .is_none());
    assert!(stored::<jcselect_entities::User>(&store, first.id)
        .await
        .is_none());
    // and the store still works
    let response = push(&store, &world.admin, vec![update(&pen)]).await;
    assert_eq!(response.processed_count, 1);
}

/// Log-ins are stored, found by user name, replaced, and never pulled.
pub async fn logins_are_kept_replaced_and_never_pulled(store: Arc<dyn ServerStore>) {
    use jcselect_sync::store::Login;
    let world = World::new();
    world.seed(&store).await;
    let mut login = Login {
        username: "سامي".into(),
        user_id: world.operator_user.id,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        pens: vec![world.pen_a.id, world.pen_b.id],
    };
    store.put_login(&login).await.unwrap();
    assert_eq!(store.login("سامي").await.unwrap(), Some(login.clone()));
    login.pens = vec![];
    login.password_hash = None;
    store.put_login(&login).await.unwrap();
    assert_eq!(store.login("سامي").await.unwrap(), Some(login.clone()));
    assert_eq!(store.login("nobody").await.unwrap(), None);
    let other = Login {
        username: "rania".into(),
        user_id: Uuid::now_v7(),
        password_hash: None,
        pens: vec![Uuid::now_v7(), Uuid::now_v7()],
    };
    store.put_login(&other).await.unwrap();
    let mut all = store.logins().await.unwrap();
    all.retain(|kept| kept.username == other.username || kept.username == login.username);
    all.sort_by(|a, b| a.username.cmp(&b.username));
    assert_eq!(all, vec![other, login], "every log-in in one read");
    let (changes, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    assert!(changes
        .iter()
        .all(|change| !change.data.get().contains("argon2")));
}

/// A refresh session is taken once: the second taker (a replayed or
/// stolen token after rotation) gets nothing; expired sessions are
/// forgotten when a new one is kept.
pub async fn refresh_sessions_are_taken_once(store: Arc<dyn ServerStore>) {
    use jcselect_sync::store::RefreshSession;
    let now = jcselect_sync::Timestamp::now();
    let session = |hash: &str, expires_at| RefreshSession {
        token_hash: hash.to_owned(),
        username: "سامي".into(),
        user_id: uuid::Uuid::new_v4(),
        expires_at,
    };
    let live = session("aa11", now.plus_micros(3_600_000_000));
    let expired = session("bb22", now.plus_micros(-1));
    store
        .put_session(&expired, now.plus_micros(-10))
        .await
        .unwrap();
    store.put_session(&live, now).await.unwrap();
    assert_eq!(store.take_session("bb22").await.unwrap(), None);
    let (first, second) = tokio::join!(store.take_session("aa11"), store.take_session("aa11"));
    let taken: Vec<_> = [first.unwrap(), second.unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(taken, vec![live]);
    assert_eq!(store.take_session("cc33").await.unwrap(), None);
}

/// Natural keys (PROTOCOL.md §1): a user name and a party name are unique
/// among all records, tombstones included; a pen's voter number among its
/// live voters. A breach is `invalid` naming the holder, never a 5xx, and
/// the rest of the batch is applied.
pub async fn natural_keys_are_refused_naming_the_holder(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let invalid_naming = |response: &jcselect_sync::wire::SyncPushResponse, holder: Uuid| {
        assert_eq!(response.failed_changes.len(), 1, "{response:#?}");
        let failed = &response.failed_changes[0];
        assert_eq!(failed.reason, FailureReason::Invalid);
        assert!(
            failed.message.contains(&holder.to_string()),
            "{}",
            failed.message
        );
    };

    // users: a second "سامي" is refused, even once the first is deleted
    let first = user("سامي", UserRole::Operator);
    assert_eq!(
        push(&store, &world.admin, vec![update(&first)])
            .await
            .processed_count,
        1
    );
    let second = user("سامي", UserRole::Operator);
    invalid_naming(
        &push(&store, &world.admin, vec![update(&second)]).await,
        first.id,
    );
    let mut gone = first.clone();
    gone.deleted_at = Some(ago(5));
    gone.deleted_by = Some(world.admin_user.id);
    gone.updated_at = ago(5);
    assert_eq!(
        push(&store, &world.admin, vec![update(&gone)])
            .await
            .processed_count,
        1
    );
    invalid_naming(
        &push(&store, &world.admin, vec![update(&second)]).await,
        first.id,
    );

    // parties
    let twin = party(&world.party.name);
    invalid_naming(
        &push(&store, &world.admin, vec![update(&twin)]).await,
        world.party.id,
    );

    // voters: one number per pen among live voters; another pen may reuse it
    let held = voter(&world.pen_a, "1001", "أ");
    let elsewhere = voter(&world.pen_b, "1001", "ب");
    let response = push(
        &store,
        &world.admin,
        vec![update(&held), update(&elsewhere)],
    )
    .await;
    assert_eq!(response.processed_count, 2, "{response:#?}");
    let again = voter(&world.pen_a, "1001", "ج");
    let unrelated = voter(&world.pen_a, "1002", "د");
    let response = push(
        &store,
        &world.admin,
        vec![update(&again), update(&unrelated)],
    )
    .await;
    assert_eq!(
        response.processed_count, 1,
        "the rest of the batch is applied"
    );
    invalid_naming(&response, held.id);
    // two new voters with one number in one batch: the first takes it
    let one = voter(&world.pen_a, "2002", "هـ");
    let other = voter(&world.pen_a, "2002", "و");
    let response = push(&store, &world.admin, vec![update(&one), update(&other)]).await;
    assert_eq!(response.processed_count, 1);
    invalid_naming(&response, one.id);
    // a deleted voter frees the number
    let mut deleted = held.clone();
    deleted.deleted_at = Some(ago(5));
    deleted.deleted_by = Some(world.admin_user.id);
    deleted.updated_at = ago(5);
    assert_eq!(
        push(&store, &world.admin, vec![update(&deleted)])
            .await
            .processed_count,
        1
    );
    let response = push(&store, &world.admin, vec![update(&again)]).await;
    assert_eq!(response.processed_count, 1, "{response:#?}");
}

/// `records_after` pages through a table in id order, tombstones included,
/// each record once, and an empty page ends it.
pub async fn records_are_paged_in_id_order(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let mut voters: Vec<Voter> = (0..7)
        .map(|n| voter(&world.pen_a, &n.to_string(), &format!("ناخب {n}")))
        .collect();
    voters[3].deleted_at = Some(ago(1));
    voters[3].deleted_by = Some(world.admin_user.id);
    let response = push(&store, &world.admin, voters.iter().map(update).collect()).await;
    assert_eq!(response.processed_count, 7, "{response:#?}");
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.records_after(Voter::DECL, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id());
        paged.extend(page);
    }
    let ids: Vec<Uuid> = paged.iter().map(|record| record.id()).collect();
    let distinct: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "each record once");
    let expected: HashSet<Uuid> = voters.iter().map(|v| v.id).collect();
    assert!(expected.is_subset(&distinct), "every voter pushed is paged");
    assert!(paged.iter().any(|record| record.is_tombstone()));
    let again: Vec<Uuid> = store
        .records_after(Voter::DECL, Some(ids[1]), 100)
        .await
        .unwrap()
        .iter()
        .map(|record| record.id())
        .collect();
    assert_eq!(
        again,
        ids[2..].to_vec(),
        "after a record: the ones after it, in order"
    );
}

/// A station's report replaces its earlier one; each station keeps its
/// own, read back whole.
pub async fn stations_keep_their_latest_report(store: Arc<dyn ServerStore>) {
    use jcselect_sync::store::StationSeen;
    use jcselect_sync::wire::StationReport;
    let report = |client: &str, pending: u64| StationReport {
        client_id: client.into(),
        version: "jcselect-client 0.1.0".into(),
        pending,
        retry: 1,
        parked: 2,
        oldest_unsent_at: Some(ago(600)),
        clock_offset_micros: -1_500_000,
        parked_changes: vec![jcselect_sync::wire::ParkedChange {
            entity_type: "Voter".into(),
            entity_id: Uuid::new_v4(),
            reason: Some("القلم غير موجود".into()),
            attempts: 5,
        }],
    };
    let user = Uuid::new_v4();
    let first = StationSeen {
        report: report("b-station", 5),
        user_id: user,
        seen_at: ago(60),
    };
    store.put_station(&first).await.unwrap();
    let latest = StationSeen {
        report: report("b-station", 0),
        user_id: user,
        seen_at: ago(1),
    };
    store.put_station(&latest).await.unwrap();
    let other = StationSeen {
        report: StationReport {
            oldest_unsent_at: None,
            ..report("a-station", 3)
        },
        user_id: Uuid::new_v4(),
        seen_at: ago(30),
    };
    store.put_station(&other).await.unwrap();
    assert_eq!(store.stations().await.unwrap(), vec![other, latest]);
}

/// Live records are counted per parent, with those whose flag is true;
/// tombstones are not counted, and fields of the wrong type are refused.
pub async fn records_are_counted_per_parent(store: Arc<dyn ServerStore>) {
    let world = World::new();
    let mut voters = [
        voter(&world.pen_a, "1", "a"),
        voter(&world.pen_a, "2", "b"),
        voter(&world.pen_a, "3", "c"),
        voter(&world.pen_b, "1", "d"),
    ];
    voters[0].has_voted = true;
    voters[0].voted_at = Some(ago(100));
    voters[3].has_voted = true;
    voters[3].voted_at = Some(ago(100));
    voters[2].deleted_at = Some(ago(50));
    let mut changes = vec![update(&world.pen_a), update(&world.pen_b)];
    changes.extend(voters.iter().map(update));
    let answer = push(&store, &world.admin, changes).await;
    assert_eq!(answer.processed_count, 6, "{answer:?}");
    let mut counts = store
        .count_per_parent(Voter::DECL, "pen_id", "has_voted", None)
        .await
        .unwrap();
    counts.sort_by_key(|count| if count.parent == world.pen_a.id { 0 } else { 1 });
    let seen: Vec<(Uuid, u64, u64)> = counts
        .iter()
        .map(|count| (count.parent, count.records, count.flagged))
        .collect();
    assert_eq!(seen, vec![(world.pen_a.id, 2, 1), (world.pen_b.id, 1, 1)]);
    let only_b = store
        .count_per_parent(
            Voter::DECL,
            "pen_id",
            "has_voted",
            Some(&[world.pen_b.id, Uuid::now_v7()]),
        )
        .await
        .unwrap();
    assert_eq!(
        only_b
            .iter()
            .map(|count| (count.parent, count.records, count.flagged))
            .collect::<Vec<_>>(),
        vec![(world.pen_b.id, 1, 1)],
        "only the parents asked for; one without records is left out"
    );
    let none = store
        .count_per_parent(Voter::DECL, "pen_id", "has_voted", Some(&[]))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(store
        .count_per_parent(Voter::DECL, "full_name", "has_voted", None)
        .await
        .is_err());
}
