//! The compacted change log: one live entry per record (its latest
//! version), superseded versions stepped over, and readers that page while
//! writers supersede the rows they have yet to read still receive every
//! record's latest version, in both pull forms.

use std::collections::HashMap;
use std::sync::Arc;

use jcselect_entities::Voter;
use jcselect_sync::auth::Principal;
use jcselect_sync::pull::{decode_cursor, read_pull, PullFrom};
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::EntityChange;
use jcselect_sync::{Syncable, Timestamp};
use serde_json::Value;
use uuid::Uuid;

use crate::fixture::*;

/// A voter's next version: renamed, stamped now.
fn renamed(voter: &Voter, name: &str) -> Voter {
    Voter {
        full_name: name.to_owned(),
        updated_at: Timestamp::now(),
        ..voter.clone()
    }
}

/// The stored state of a record, as the JSON a pull carries.
async fn stored_json(store: &Arc<dyn ServerStore>, id: Uuid) -> Value {
    let record = store
        .get_record(Voter::DECL, id)
        .await
        .expect("the store reads")
        .expect("the voter is stored");
    serde_json::from_str(&record.to_json_string()).expect("records serialise")
}

fn json_of(change: &EntityChange) -> Value {
    serde_json::from_str(change.data.get()).expect("pulled data is JSON")
}

/// Every version of every record pushed, edits in separate pushes, two
/// versions in one push and a tombstone among them: a fresh replica (both
/// forms, admin and operator) receives each record once, in its latest
/// version, the tombstone included; a replica that had pulled before
/// receives each changed record once more.
pub async fn a_fresh_replica_receives_each_record_once(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let (_, seeded_cursor, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    let first = voter(&world.pen_a, "1", "سلمى");
    let second = voter(&world.pen_a, "2", "جواد");
    push(&store, &world.admin, vec![update(&first), update(&second)]).await;
    let first_renamed = renamed(&first, "سلمى خليل");
    push(&store, &world.admin, vec![update(&first_renamed)]).await;
    let second_again = renamed(&second, "جواد ٢");
    let second_last = renamed(&second, "جواد ٣");
    let response = push(
        &store,
        &world.admin,
        vec![update(&second_again), update(&second_last)],
    )
    .await;
    assert_eq!(response.processed_count, 2, "{response:?}");
    let tombstone = Voter {
        deleted_at: Some(Timestamp::now()),
        deleted_by: Some(world.admin.user_id),
        updated_at: Timestamp::now(),
        ..first_renamed.clone()
    };
    push(&store, &world.admin, vec![update(&tombstone)]).await;

    let operator_sees = |principal: &Principal| principal.pens.is_empty();
    for principal in [&world.admin, &world.operator] {
        for from in [
            PullFrom::Cursor(None),
            PullFrom::LastSync {
                last_sync: Timestamp::MIN,
                offset: 0,
            },
        ] {
            let (changes, _, _) = pull_all(&store, principal, from, 2).await;
            let mut seen: HashMap<Uuid, usize> = HashMap::new();
            for change in &changes {
                *seen.entry(change.entity_id).or_default() += 1;
            }
            let repeated: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
            assert!(repeated.is_empty(), "{from:?}: repeated {repeated:?}");
            let of = |id: Uuid| {
                changes
                    .iter()
                    .find(|change| change.entity_id == id)
                    .map(json_of)
                    .unwrap_or_else(|| panic!("{from:?}: {id} is pulled"))
            };
            assert_eq!(of(first.id), stored_json(&store, first.id).await);
            assert!(!of(first.id)["deleted_at"].is_null(), "the tombstone stays");
            assert_eq!(of(second.id)["full_name"], "جواد ٣");
            assert!(operator_sees(principal) || seen.contains_key(&world.party.id));
        }
    }
    let after_seed = decode_cursor(&seeded_cursor).unwrap();
    let (since_seed, _, _) = pull_all(
        &store,
        &world.operator,
        PullFrom::Cursor(Some(after_seed)),
        100,
    )
    .await;
    let ids: Vec<Uuid> = since_seed.iter().map(|change| change.entity_id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&first.id) && ids.contains(&second.id));
}

/// A reader pages through 60 voters, 10 at a time, while after each page a
/// writer supersedes voters it has read and voters it has yet to read: in
/// both forms it receives every voter, and the last version it receives of
/// each is the stored one.
pub async fn readers_paging_while_writers_supersede_miss_nothing(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let (_, _, seeded_at) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    let (_, seeded_cursor, _) =
        pull_all(&store, &world.operator, PullFrom::Cursor(None), 1000).await;
    let mut voters: Vec<Voter> = (0..60)
        .map(|n| voter(&world.pen_a, &n.to_string(), &format!("ناخب {n}")))
        .collect();
    push(&store, &world.admin, voters.iter().map(update).collect()).await;

    let starts = [
        PullFrom::Cursor(Some(decode_cursor(&seeded_cursor).unwrap())),
        PullFrom::LastSync {
            last_sync: seeded_at,
            offset: 0,
        },
    ];
    for (round, start) in starts.into_iter().enumerate() {
        let mut latest: HashMap<Uuid, Value> = HashMap::new();
        let mut from = start;
        for page_number in 0.. {
            let page = read_pull(store.as_ref(), &pull_context(), &world.operator, from, 10)
                .await
                .expect("the store answers the pull");
            for change in &page.changes {
                latest.insert(change.entity_id, json_of(change));
            }
            if !page.has_more {
                break;
            }
            // one voter already read, two not yet read (one near the end)
            let edits: Vec<_> = [page_number * 10, page_number * 10 + 17, 59 - page_number]
                .into_iter()
                .filter(|index| *index < voters.len())
                .collect();
            for index in edits {
                let name = format!("ناخب {index}, round {round} page {page_number}");
                voters[index] = renamed(&voters[index], &name);
                push(&store, &world.admin, vec![update(&voters[index])]).await;
            }
            from = match from {
                PullFrom::Cursor(_) => PullFrom::Cursor(Some(
                    decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap(),
                )),
                PullFrom::LastSync { last_sync, offset } => PullFrom::LastSync {
                    last_sync,
                    offset: offset + 10,
                },
            };
        }
        for voter in &voters {
            let received = latest
                .get(&voter.id)
                .unwrap_or_else(|| panic!("{start:?}: voter {} is received", voter.voter_number));
            assert_eq!(
                received,
                &stored_json(&store, voter.id).await,
                "{start:?}: voter {} ends in its latest version",
                voter.voter_number
            );
        }
    }
}

/// Thirty pushes at once through one [`PushQueue`] (group commit): each is
/// answered as it would be alone — a new voter processed, an operator's
/// soft delete failed, a voter of an unknown pen waiting for it, a replay
/// of another task's change answered the same — and every voter pushed is
/// pulled once, at its own position. Through a store whose log refuses
/// every write, every push of a group gets the error and nothing lands.
pub async fn pushes_committed_in_groups_are_each_answered_as_alone(store: Arc<dyn ServerStore>) {
    use jcselect_sync::push::{PushContext, PushQueue, DEFAULT_MAX_CLOCK_SKEW_MICROS};
    use jcselect_sync::wire::SyncPushRequest;

    let world = Arc::new(World::new());
    world.seed(&store).await;
    let (_, seeded, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 1000).await;
    let shared = update(&voter(&world.pen_a, "shared", "مشترك"));
    let absent_pen = pen("not pushed");
    let apply_all = |store: Arc<dyn ServerStore>, run: &'static str| {
        let (world, shared, absent_pen) = (world.clone(), shared.clone(), absent_pen.clone());
        async move {
            let queue = Arc::new(PushQueue::default());
            let tasks: Vec<_> = (0..30)
                .map(|n| {
                    let (store, queue, world) = (store.clone(), queue.clone(), world.clone());
                    let (shared, absent_pen) = (shared.clone(), absent_pen.clone());
                    tokio::spawn(async move {
                        let mine = voter(&world.pen_a, &format!("{run}{n}"), "ناخب");
                        let mut changes = vec![update(&mine), shared];
                        if n % 3 == 1 {
                            let deleted = Voter {
                                deleted_at: Some(Timestamp::now()),
                                deleted_by: Some(world.operator.user_id),
                                ..voter(&world.pen_a, &format!("{run}d{n}"), "محذوف")
                            };
                            changes.push(update(&deleted));
                        }
                        if n % 3 == 2 {
                            changes.push(update(&voter(&absent_pen, &format!("w{n}"), "ينتظر")));
                        }
                        let context = PushContext {
                            registry: registry(),
                            audit: &jcselect_entities::SyncAudit,
                            max_clock_skew_micros: DEFAULT_MAX_CLOCK_SKEW_MICROS,
                            accept_credentials: false,
                            new_logins: &[],
                        };
                        let request = Arc::new(SyncPushRequest {
                            client_id: format!("station {n}"),
                            changes,
                        });
                        let answer = queue
                            .apply(
                                store.as_ref(),
                                &context,
                                &world.operator,
                                request,
                                Timestamp::now(),
                            )
                            .await;
                        (n, mine.id, answer)
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("the task ends"));
            }
            answers
        }
    };

    let answers = apply_all(store.clone(), "first").await;
    let mut pushed = Vec::new();
    for (n, id, answer) in answers {
        let answer = answer.expect("the store accepts the group");
        assert_eq!(answer.processed_count, 2, "push {n}: {answer:?}");
        assert_eq!(
            answer.failed_changes.len(),
            usize::from(n % 3 == 1),
            "push {n}"
        );
        assert_eq!(
            answer.dependency_conflicts.len(),
            usize::from(n % 3 == 2),
            "push {n}"
        );
        pushed.push(id);
    }
    let after = decode_cursor(&seeded).unwrap();
    let (changes, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(Some(after)), 7).await;
    for id in pushed.iter().chain([&shared.entity_id]) {
        let times = changes.iter().filter(|c| c.entity_id == *id).count();
        assert_eq!(times, 1, "voter {id} is pulled once");
    }
    assert_eq!(changes.len(), pushed.len() + 1, "nothing else: {changes:?}");

    let failing: Arc<dyn ServerStore> = Arc::new(crate::failing::FailsMidPush(store.clone()));
    let head = store.log_head().await.unwrap();
    for (n, _, answer) in apply_all(failing, "second").await {
        assert!(answer.is_err(), "push {n} of a failing group is refused");
    }
    assert_eq!(store.log_head().await.unwrap(), head, "nothing landed");
}

/// A change id is remembered by its record's log entry, even once a later
/// version has superseded that entry: replaying the superseded change (a
/// station that never heard the first answer) is answered `processed` and
/// changes nothing; of two changes to one record in one request, the one
/// not logged is remembered too.
pub async fn replays_are_answered_after_their_entries_are_superseded(store: Arc<dyn ServerStore>) {
    let world = World::new();
    world.seed(&store).await;
    let first = voter(&world.pen_a, "1", "Rami");
    let first_request = jcselect_sync::wire::SyncPushRequest {
        client_id: "station".into(),
        changes: vec![update(&first)],
    };
    let answer = push_request(&store, &world.operator, &first_request).await;
    assert_eq!(answer.processed_count, 1, "{answer:#?}");
    let second = renamed(&first, "Rami K");
    push(&store, &world.operator, vec![update(&second)]).await;
    let twice = voter(&world.pen_a, "2", "Nour");
    let twice_request = jcselect_sync::wire::SyncPushRequest {
        client_id: "station".into(),
        changes: vec![update(&twice), update(&renamed(&twice, "Nour H"))],
    };
    let answer = push_request(&store, &world.operator, &twice_request).await;
    assert_eq!(answer.processed_count, 2, "{answer:#?}");
    let head = store.log_head().await.unwrap();

    for request in [&first_request, &twice_request] {
        let replay = push_request(&store, &world.operator, request).await;
        assert_eq!(
            replay.processed_count as usize,
            request.changes.len(),
            "{replay:#?}"
        );
        assert!(replay.conflicts.is_empty(), "{replay:#?}");
    }
    assert_eq!(
        store.log_head().await.unwrap(),
        head,
        "replays log nothing (no conflict audit row either)"
    );
    assert_eq!(stored_json(&store, first.id).await["full_name"], "Rami K");
    assert_eq!(stored_json(&store, twice.id).await["full_name"], "Nour H");
}
