//! The client-side suite: local writes with their outbox, the outbox life
//! cycle, and pulled pages merged under the conflict rule, against any
//! [`ClientStore`].

use std::sync::Arc;

use jcselect_entities::{AuditLog, Role as UserRole, SyncAudit, Voter};
use jcselect_sync::replica::{
    apply_pulled_page, plan_settlement, settle_outbox, write_local, PulledPage, ReplicaContext,
    RetryPolicy,
};
use jcselect_sync::store::{ClientStore, OutboxState};
use jcselect_sync::wire::{
    DependencyConflict, EntityRef, FailedChange, FailureReason, Operation, SyncPushResponse,
};
use jcselect_sync::{Record, Syncable, Timestamp};
use uuid::Uuid;

use crate::fixture::*;

const POLICY: RetryPolicy = RetryPolicy {
    max_retries: 2,
    backoff_base: 2.0,
    max_delay_seconds: 300,
};

fn record<T: Syncable>(value: &T) -> Record {
    value.to_record().expect("entities convert")
}

async fn local<T: Syncable>(store: &Arc<dyn ClientStore>, id: Uuid) -> Option<T> {
    store
        .get_record(T::DECL, id)
        .await
        .unwrap()
        .map(|record| T::from_record(&record).unwrap())
}

fn response(now: Timestamp) -> SyncPushResponse {
    SyncPushResponse {
        processed_count: 0,
        conflicts: vec![],
        dependency_conflicts: vec![],
        failed_changes: vec![],
        server_timestamp: now,
    }
}

/// Several writes to one record before a push are one entry holding the
/// latest version; the first write's `INSERT` is kept.
pub async fn local_writes_coalesce_in_the_outbox(store: Arc<dyn ClientStore>) {
    let world = World::new();
    let mut record_v = voter(&world.pen_a, "1", "first");
    write_local(store.as_ref(), registry(), &[record(&record_v)])
        .await
        .unwrap();
    record_v.full_name = "second".into();
    record_v.updated_at = ago(1);
    write_local(store.as_ref(), registry(), &[record(&record_v)])
        .await
        .unwrap();
    record_v.full_name = "third".into();
    record_v.updated_at = ago(0);
    let ids = write_local(store.as_ref(), registry(), &[record(&record_v)])
        .await
        .unwrap();

    let entries = store.outbox_entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].change_id, ids[0]);
    assert_eq!(entries[0].operation, Operation::Insert);
    let ready = store.outbox_ready(Timestamp::now(), 100).await.unwrap();
    assert_eq!(Voter::from_record(&ready[0].1).unwrap().full_name, "third");
    assert_eq!(local::<Voter>(&store, record_v.id).await.unwrap(), record_v);
}

/// Entries come out parents first whatever order they were written in,
/// and no more than asked for.
pub async fn the_outbox_is_read_in_dependency_order(store: Arc<dyn ClientStore>) {
    let world = World::new();
    let session = session(&world.pen_a, &world.operator_user);
    let line = line(&session, &world.party, 5);
    let note = audit_row(&world.operator_user, Some(&world.pen_a), "COUNTED");
    let written = [
        record(&note),
        record(&line),
        record(&session),
        record(&world.party),
        record(&world.pen_a),
        record(&world.operator_user),
    ];
    for one in &written {
        write_local(store.as_ref(), registry(), std::slice::from_ref(one))
            .await
            .unwrap();
    }
    let ready = store.outbox_ready(Timestamp::now(), 100).await.unwrap();
    let order: Vec<&str> = ready.iter().map(|(entry, _)| entry.entity_type).collect();
    assert_eq!(
        order,
        [
            "User",
            "Party",
            "Pen",
            "TallySession",
            "TallyLine",
            "AuditLog"
        ]
    );
    assert_eq!(
        store.outbox_ready(Timestamp::now(), 2).await.unwrap().len(),
        2
    );
}

/// Processed and conflicting changes leave; a dependency conflict waits a
/// growing delay and is parked after the retries; a failed change is
/// parked with its reason; parked entries can be re-queued; a record
/// rewritten since its push keeps its entry.
pub async fn the_outbox_life_cycle_follows_push_responses(store: Arc<dyn ClientStore>) {
    let world = World::new();
    let done = voter(&world.pen_a, "1", "done");
    let waiting = voter(&world.pen_a, "2", "waiting");
    let refused = voter(&world.pen_a, "3", "refused");
    let mut rewritten = voter(&world.pen_a, "4", "rewritten");
    write_local(
        store.as_ref(),
        registry(),
        &[
            record(&done),
            record(&waiting),
            record(&refused),
            record(&rewritten),
        ],
    )
    .await
    .unwrap();
    let now = Timestamp::now();
    let sent = store.outbox_ready(now, 100).await.unwrap();
    let entry_of = |id: Uuid| {
        sent.iter()
            .find(|(e, _)| e.entity_id == id)
            .unwrap()
            .0
            .clone()
    };
    let change_of = |id: Uuid, record: &Voter| {
        let mut change = update(record);
        change.change_id = entry_of(id).change_id;
        change
    };
    rewritten.full_name = "rewritten after the push was sent".into();
    rewritten.updated_at = ago(0);
    write_local(store.as_ref(), registry(), &[record(&rewritten)])
        .await
        .unwrap();

    let mut answer = response(now);
    answer.processed_count = 2;
    answer.dependency_conflicts.push(DependencyConflict {
        change: change_of(waiting.id, &waiting),
        missing: vec![EntityRef {
            entity_type: "Pen".into(),
            entity_id: world.pen_a.id,
        }],
    });
    answer.failed_changes.push(FailedChange {
        change: change_of(refused.id, &refused),
        reason: FailureReason::Forbidden,
        message: "not your pen".into(),
    });
    let sent_entries: Vec<_> = sent.iter().map(|(e, _)| e.clone()).collect();
    settle_outbox(
        store.as_ref(),
        &plan_settlement(&sent_entries, &answer, now, &POLICY),
    )
    .await
    .unwrap();

    let entries = store.outbox_entries().await.unwrap();
    let state_of = |id: Uuid| entries.iter().find(|e| e.entity_id == id).cloned();
    assert!(
        state_of(done.id).is_none(),
        "processed changes leave the outbox"
    );
    let retry = state_of(waiting.id).unwrap();
    assert_eq!((retry.state, retry.attempts), (OutboxState::Retry, 1));
    assert!(retry.last_error.as_deref().unwrap().contains("Pen"));
    let parked = state_of(refused.id).unwrap();
    assert_eq!(parked.state, OutboxState::Parked);
    assert!(parked
        .last_error
        .as_deref()
        .unwrap()
        .contains("not your pen"));
    let renewed = state_of(rewritten.id).expect("a record rewritten since keeps its entry");
    assert_eq!(renewed.state, OutboxState::Pending);

    let ready_now: Vec<Uuid> = store
        .outbox_ready(now, 100)
        .await
        .unwrap()
        .iter()
        .map(|(e, _)| e.entity_id)
        .collect();
    assert_eq!(
        ready_now,
        vec![rewritten.id],
        "retries wait, parked entries stay"
    );
    let later = retry.next_attempt_at.unwrap().plus_micros(1);
    let ready_later = store.outbox_ready(later, 100).await.unwrap();
    assert!(ready_later.iter().any(|(e, _)| e.entity_id == waiting.id));

    // the second dependency conflict reaches max_retries: parked
    let mut again = response(later);
    again.dependency_conflicts.push(DependencyConflict {
        change: change_of(waiting.id, &waiting),
        missing: vec![],
    });
    let retry_sent = vec![retry.clone()];
    settle_outbox(
        store.as_ref(),
        &plan_settlement(&retry_sent, &again, later, &POLICY),
    )
    .await
    .unwrap();
    let summary = store.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.retry, summary.parked), (1, 0, 2));

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.requeue_parked(Some(&[retry.change_id])).await.unwrap(),
        1
    );
    tx.commit().await.unwrap();
    let summary = store.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.parked), (2, 1));
}

/// A pulled version that beats a pending local change replaces it, drops
/// its entry and leaves a queued `SYNC_CONFLICT` row; one that loses
/// leaves the local change queued; the cursor is stored with the page.
pub async fn a_pulled_page_merges_under_the_conflict_rule(store: Arc<dyn ClientStore>) {
    let world = World::new();
    let mut mine = voter(&world.pen_a, "1", "local edit");
    mine.updated_at = ago(100);
    let mut kept = voter(&world.pen_a, "2", "local, newer");
    kept.updated_at = ago(10);
    write_local(store.as_ref(), registry(), &[record(&mine), record(&kept)])
        .await
        .unwrap();

    let mut server_mine = mine.clone();
    server_mine.full_name = "server edit".into();
    server_mine.updated_at = ago(50);
    let mut server_kept = kept.clone();
    server_kept.full_name = "server, older".into();
    server_kept.updated_at = ago(60);
    let fresh = voter(&world.pen_a, "3", "only on the server");
    let page = vec![update(&server_mine), update(&server_kept), update(&fresh)];
    let replica = ReplicaContext {
        registry: registry(),
        audit: &SyncAudit,
        actor: Some(world.operator_user.id),
    };
    let pulled = PulledPage {
        changes: &page,
        cursor_key: "pull_cursor",
        cursor: "r42",
    };
    let applied = apply_pulled_page(store.as_ref(), &replica, &pulled, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(applied.conflicts, 1);
    assert_eq!(
        store.get_setting("pull_cursor").await.unwrap().as_deref(),
        Some("r42")
    );
    assert_eq!(local::<Voter>(&store, mine.id).await.unwrap(), server_mine);
    assert_eq!(local::<Voter>(&store, kept.id).await.unwrap(), kept);
    assert_eq!(local::<Voter>(&store, fresh.id).await.unwrap(), fresh);

    let entries = store.outbox_entries().await.unwrap();
    assert!(
        !entries.iter().any(|e| e.entity_id == mine.id),
        "the lost change is dropped"
    );
    assert!(
        entries.iter().any(|e| e.entity_id == kept.id),
        "the winning change stays"
    );
    assert!(
        !entries.iter().any(|e| e.entity_id == fresh.id),
        "pulled records are not pushed back"
    );
    let audit = entries
        .iter()
        .find(|e| e.entity_type == "AuditLog")
        .expect("conflict row queued");
    let row: AuditLog = local(&store, audit.entity_id).await.unwrap();
    assert_eq!(row.action, "SYNC_CONFLICT");
    assert_eq!(
        (row.entity_type.as_str(), row.entity_id),
        ("Voter", mine.id)
    );
    assert_eq!(row.old_values.unwrap()["full_name"], "local edit");
}

/// A write that fails in the database leaves neither records nor outbox
/// entries behind.
pub async fn a_failed_write_leaves_nothing_behind(store: Arc<dyn ClientStore>) {
    let first = user("twin", UserRole::Operator);
    let second = user("twin", UserRole::Operator);
    let result = write_local(
        store.as_ref(),
        registry(),
        &[record(&first), record(&second)],
    )
    .await;
    assert!(result.is_err());
    assert!(local::<jcselect_entities::User>(&store, first.id)
        .await
        .is_none());
    assert!(store.outbox_entries().await.unwrap().is_empty());
}

/// The numbers of what a search finds, in its order.
async fn found(store: &Arc<dyn ClientStore>, query: &str, limit: usize) -> Vec<String> {
    store
        .search(Voter::DECL, query, limit)
        .await
        .unwrap()
        .iter()
        .map(|record| Voter::from_record(record).unwrap().voter_number)
        .collect()
}

/// A search finds live records by the folded words of their searchable
/// fields (Arabic spellings, diacritics, tatweel, Arabic-Indic digits,
/// runs of spaces), each query word beginning a word; whole matches first,
/// then in the natural order of the first searchable field; and it follows
/// every write: local edits, tombstones, pulled records.
pub async fn a_search_finds_records_by_folded_words(store: Arc<dyn ClientStore>) {
    let world = World::new();
    let mut ahmad = voter(&world.pen_a, "1", "أحمد حداد");
    let mut fatima = voter(&world.pen_a, "2", "فاطمة عليّ");
    let mustafa = voter(&world.pen_a, "10", "مصطفى محمـــد");
    let mohammad = voter(&world.pen_a, "12", "مُحَمَّد   سمير");
    let samir = voter(&world.pen_a, "120", "سمير");
    let sara = voter(&world.pen_b, "٩", "Sara Haddad");
    let mut gone = voter(&world.pen_a, "3", "أحمد غائب");
    gone.deleted_at = Some(ago(60));
    let all = [&ahmad, &fatima, &mustafa, &mohammad, &samir, &sara, &gone];
    let records: Vec<Record> = all.iter().map(|voter| record(*voter)).collect();
    write_local(store.as_ref(), registry(), &records)
        .await
        .unwrap();

    for (query, expected) in [
        ("احمد", vec!["1"]),
        ("إحمد", vec!["1"]),
        ("أَحْمَد", vec!["1"]),
        ("فاطمه", vec!["2"]),
        ("علي", vec!["2"]),
        ("مصطفي", vec!["10"]),
        ("محمد", vec!["10", "12"]),
        ("  محمد    سمير ", vec!["12"]),
        ("سمير محمد", vec!["12"]),
        ("سمير", vec!["12", "120"]),
        ("12", vec!["12", "120"]),
        ("1", vec!["1", "10", "12", "120"]),
        ("١٢", vec!["12", "120"]),
        ("9", vec!["٩"]),
        ("SARA had", vec!["٩"]),
        ("خليل", vec!["1", "2", "٩", "10", "12", "120"]),
        ("حمد", vec![]),
        ("   ", vec![]),
    ] {
        assert_eq!(
            found(&store, query, 100).await,
            expected,
            "searching {query:?}"
        );
    }
    assert_eq!(
        found(&store, "1", 2).await,
        vec!["1", "10"],
        "at most the limit"
    );

    // a local edit and a tombstone
    fatima.full_name = "زينب".into();
    fatima.updated_at = ago(30);
    ahmad.deleted_at = Some(ago(30));
    ahmad.updated_at = ago(30);
    write_local(
        store.as_ref(),
        registry(),
        &[record(&fatima), record(&ahmad)],
    )
    .await
    .unwrap();
    assert_eq!(found(&store, "فاطمه", 100).await, Vec::<String>::new());
    assert_eq!(found(&store, "زينب", 100).await, vec!["2"]);
    assert_eq!(found(&store, "احمد", 100).await, Vec::<String>::new());

    // a pulled record
    let pulled = voter(&world.pen_a, "7", "هدى");
    let page = vec![update(&pulled)];
    let replica = ReplicaContext {
        registry: registry(),
        audit: &SyncAudit,
        actor: Some(world.operator_user.id),
    };
    let page = PulledPage {
        changes: &page,
        cursor_key: "pull_cursor",
        cursor: "r1",
    };
    apply_pulled_page(store.as_ref(), &replica, &page, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(found(&store, "هدي", 100).await, vec!["7"]);
}
