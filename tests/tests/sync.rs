//! End to end: real server stack, real client replicas on SQLite, every
//! scenario over the in-process transport and over HTTP.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jcselect_client::Replica;
use jcselect_e2e::{quick_settings, sync, Via, World, ADMIN, OPERATOR};
use jcselect_entities::{Pen, TallyLine, TallySession, Voter};
use jcselect_store_conformance::fixture;
use jcselect_sync::engine::{LocalClock, SyncReport, SyncSettings};
use jcselect_sync::pull::PullFrom;
use jcselect_sync::store::OutboxState;
use jcselect_sync::transport::Transport;
use jcselect_sync::Syncable;
use uuid::Uuid;

jcselect_e2e::over_both_transports!(
    five_hundred_changes_are_pulled_in_pages_of_a_hundred,
    a_tally_line_before_its_session_waits_then_succeeds,
    soft_deletes_travel_both_ways,
    two_clients_editing_one_voter_offline_converge_in_either_order,
    a_client_with_a_wrong_clock_still_converges,
    the_server_down_backs_off_then_catches_up,
    a_client_killed_mid_sync_finishes_without_duplicates,
    a_parked_change_shows_in_status_and_succeeds_after_requeue,
    expired_and_refused_tokens_are_renewed,
    a_replica_ahead_of_a_restored_server_starts_over,
);

async fn local<T: Syncable>(replica: &Replica, id: Uuid) -> Option<T> {
    replica
        .store
        .get_record(T::DECL, id)
        .await
        .unwrap()
        .map(|record| T::from_record(&record).unwrap())
}

/// A world whose operator has `pen`, with an admin replica that pushed it.
async fn world_with_pen(via: Via) -> (World, Pen, Replica) {
    let pen = fixture::pen("Pen A");
    let world = World::start(via, vec![pen.id]).await;
    let (admin, _) = world.replica("admin", ADMIN, quick_settings()).await;
    admin.dao.save(std::slice::from_ref(&pen)).await.unwrap();
    sync(&admin).await;
    (world, pen, admin)
}

async fn five_hundred_changes_are_pulled_in_pages_of_a_hundred(via: Via) {
    let (world, pen, admin) = world_with_pen(via).await;
    let voters: Vec<Voter> = (0..500)
        .map(|n| fixture::voter(&pen, &n.to_string(), &format!("ناخب {n}")))
        .collect();
    admin.dao.save(&voters).await.unwrap();
    let report = sync(&admin).await;
    assert_eq!(report.pushed, 500);

    // 2 users + 1 pen + 500 voters, in pages of 100
    let (operator, _) = world.replica("operator", OPERATOR, quick_settings()).await;
    let report = sync(&operator).await;
    assert_eq!(
        (report.pulled, report.pages, report.more_to_pull),
        (503, 6, false)
    );
    assert_eq!(operator.dao.active_voters(pen.id).await.unwrap().len(), 500);

    // at most two pages a cycle: the rest on the next cycles, nothing twice
    let limited = SyncSettings {
        sync_max_pull_pages: 2,
        ..quick_settings()
    };
    let (slow, _) = world.replica("slow", OPERATOR, limited).await;
    let mut pulled = 0;
    let mut cycles = 0;
    loop {
        let report = sync(&slow).await;
        pulled += report.pulled;
        cycles += 1;
        if !report.more_to_pull {
            break;
        }
        assert_eq!(report.pulled, 200);
    }
    assert_eq!((pulled, cycles), (503, 3));
    assert_eq!(slow.dao.active_voters(pen.id).await.unwrap().len(), 500);
}

async fn a_tally_line_before_its_session_waits_then_succeeds(via: Via) {
    let (world, pen, admin) = world_with_pen(via).await;
    let party = fixture::party("حزب");
    admin.dao.save(std::slice::from_ref(&party)).await.unwrap();
    sync(&admin).await;

    // the session exists only on another desktop that has not synced yet
    let (counting, _) = world.replica("counting", OPERATOR, quick_settings()).await;
    let (entering, _) = world.replica("entering", OPERATOR, quick_settings()).await;
    sync(&entering).await;
    let operator = counting
        .engine
        .state()
        .login()
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let mut operator_user = fixture::user("op", jcselect_entities::Role::Operator);
    operator_user.id = operator;
    let session = fixture::session(&pen, &operator_user);
    counting
        .dao
        .save(std::slice::from_ref(&session))
        .await
        .unwrap();
    let line = fixture::line(&session, &party, 42);
    entering
        .dao
        .save(std::slice::from_ref(&line))
        .await
        .unwrap();

    let report = sync(&entering).await;
    assert_eq!(
        (report.pushed, report.waiting),
        (0, 1),
        "the line waits for its session (409)"
    );
    sync(&counting).await;
    // the retry waits its delay (1 s with sync_backoff_base 1.0)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = sync(&entering).await;
    assert_eq!(report.pushed, 1);
    assert_eq!(entering.store.outbox_summary().await.unwrap().retry, 0);
    let report = sync(&admin).await;
    assert!(report.pulled >= 2);
    assert_eq!(
        local::<TallyLine>(&admin, line.id)
            .await
            .unwrap()
            .vote_count,
        42
    );
    assert!(local::<TallySession>(&admin, session.id).await.is_some());
}

async fn soft_deletes_travel_both_ways(via: Via) {
    let (world, pen, admin) = world_with_pen(via).await;
    let first = fixture::voter(&pen, "1", "سمير");
    let second = fixture::voter(&pen, "2", "سميرة");
    admin
        .dao
        .save(&[first.clone(), second.clone()])
        .await
        .unwrap();
    sync(&admin).await;
    let (operator, _) = world.replica("operator", OPERATOR, quick_settings()).await;
    sync(&operator).await;
    assert_eq!(operator.dao.search_voters("سمير").await.unwrap().len(), 2);

    // an operator may not delete; an admin may, and the tombstone comes down
    let actor = operator.actor().await.unwrap().unwrap();
    assert!(operator
        .dao
        .soft_delete_voter(first.id, actor)
        .await
        .is_err());
    let admin_actor = admin.actor().await.unwrap().unwrap();
    admin
        .dao
        .soft_delete_voter(first.id, admin_actor)
        .await
        .unwrap();
    sync(&admin).await;
    sync(&operator).await;
    let found = operator.dao.search_voters("سمير").await.unwrap();
    assert_eq!(
        found.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    assert!(local::<Voter>(&operator, first.id)
        .await
        .unwrap()
        .deleted_at
        .is_some());

    // and up: a second admin desktop deletes, the first one hears of it
    let (other_admin, _) = world.replica("admin2", ADMIN, quick_settings()).await;
    sync(&other_admin).await;
    let actor = other_admin.actor().await.unwrap().unwrap();
    other_admin
        .dao
        .soft_delete_voter(second.id, actor)
        .await
        .unwrap();
    sync(&other_admin).await;
    sync(&admin).await;
    assert!(admin.dao.active_voters(pen.id).await.unwrap().is_empty());
    assert!(admin.dao.search_voters("سمير").await.unwrap().is_empty());
}

async fn two_clients_editing_one_voter_offline_converge_in_either_order(via: Via) {
    for operator_first in [true, false] {
        let (world, pen, admin) = world_with_pen(via).await;
        let voter = fixture::voter(&pen, "7", "Walid");
        admin.dao.save(std::slice::from_ref(&voter)).await.unwrap();
        sync(&admin).await;
        let (operator, _) = world.replica("operator", OPERATOR, quick_settings()).await;
        sync(&operator).await;

        // offline: the operator marks the voter, the admin corrects the name
        let actor = operator.actor().await.unwrap().unwrap();
        operator.dao.mark_voted(voter.id, actor).await.unwrap();
        // the rename comes clearly later: edits microseconds apart on two
        // replicas are concurrent, and either may win by its clock's error
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut renamed = local::<Voter>(&admin, voter.id).await.unwrap();
        renamed.full_name = "Walid K.".into();
        admin.dao.save(&[renamed]).await.unwrap();

        let order: [&Replica; 2] = if operator_first {
            [&operator, &admin]
        } else {
            [&admin, &operator]
        };
        for replica in order {
            sync(replica).await;
        }
        for replica in order {
            sync(replica).await;
        }
        let at_operator: Voter = local(&operator, voter.id).await.unwrap();
        let at_admin: Voter = local(&admin, voter.id).await.unwrap();
        assert_eq!(at_operator, at_admin, "operator first: {operator_first}");
        assert!(at_admin.has_voted, "the vote mark is never lost");
        assert_eq!(at_admin.full_name, "Walid K.");
    }
}

async fn a_client_with_a_wrong_clock_still_converges(via: Via) {
    for skew_hours in [2_i64, -2] {
        let (world, pen, admin) = world_with_pen(via).await;
        let voter = fixture::voter(&pen, "9", "Rana");
        admin.dao.save(std::slice::from_ref(&voter)).await.unwrap();
        sync(&admin).await;
        let skew = LocalClock::skewed(skew_hours * 3_600 * 1_000_000);

        // a fast clock writing before it ever synced: refused for clock
        // skew, stamped again with the corrected clock, accepted
        let (wrong, _) = world
            .replica(&format!("wrong{skew_hours}"), ADMIN, quick_settings())
            .await;
        let wrong = wrong.with_clock(skew.clone());
        let note = fixture::pen("written offline");
        wrong.dao.save(std::slice::from_ref(&note)).await.unwrap();
        let report = sync(&wrong).await;
        if skew_hours > 0 {
            assert_eq!(report.restamped, 1, "{report:?}");
        }
        assert_eq!(report.parked, 0, "{report:?}");
        assert_eq!(wrong.store.outbox_summary().await.unwrap().pending, 0);

        // after a sync its edits win over what it has seen, and lose to
        // what others do later
        let mut edited = local::<Voter>(&wrong, voter.id).await.unwrap();
        edited.full_name = "Rana (fixed by the wrong clock)".into();
        wrong.dao.save(&[edited]).await.unwrap();
        sync(&wrong).await;
        sync(&admin).await;
        assert_eq!(
            local::<Voter>(&admin, voter.id).await.unwrap().full_name,
            "Rana (fixed by the wrong clock)"
        );
        let mut later = local::<Voter>(&admin, voter.id).await.unwrap();
        later.full_name = "Rana (later, right clock)".into();
        admin.dao.save(&[later]).await.unwrap();
        sync(&admin).await;
        sync(&wrong).await;
        let at_wrong: Voter = local(&wrong, voter.id).await.unwrap();
        assert_eq!(
            at_wrong,
            local::<Voter>(&admin, voter.id).await.unwrap(),
            "skew {skew_hours} h"
        );
        assert_eq!(at_wrong.full_name, "Rana (later, right clock)");
    }
}

async fn the_server_down_backs_off_then_catches_up(via: Via) {
    let (world, pen, _) = world_with_pen(via).await;
    let (operator, network) = world.replica("operator", OPERATOR, quick_settings()).await;
    sync(&operator).await;
    network.online.store(false, Ordering::SeqCst);
    let voters: Vec<Voter> = (0..20)
        .map(|n| fixture::voter(&pen, &format!("d{n}"), "offline"))
        .collect();
    operator.dao.save(&voters).await.unwrap();
    let error = operator.engine.sync_once(&|_| {}).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(
        operator.store.outbox_summary().await.unwrap().pending,
        20,
        "nothing lost while down"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let loop_task = {
        let engine_replica = operator;
        tokio::spawn(async move {
            engine_replica
                .engine
                .run(None, &|_| {}, async {
                    let _ = stopped.await;
                })
                .await;
            engine_replica
        })
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    network.online.store(true, Ordering::SeqCst);
    let (admin, _) = world.replica("admin2", ADMIN, quick_settings()).await;
    let mut caught_up = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        sync(&admin).await;
        if admin.dao.active_voters(pen.id).await.unwrap().len() == 20 {
            caught_up = true;
            break;
        }
    }
    let _ = stop.send(());
    let operator = loop_task.await.unwrap();
    assert!(caught_up, "the client caught up once the server was back");
    assert_eq!(operator.store.outbox_summary().await.unwrap().pending, 0);
}

async fn a_client_killed_mid_sync_finishes_without_duplicates(via: Via) {
    let (world, pen, _) = world_with_pen(via).await;
    let (operator, network) = world.replica("operator", OPERATOR, quick_settings()).await;
    sync(&operator).await;
    let voters: Vec<Voter> = (0..50)
        .map(|n| fixture::voter(&pen, &format!("k{n}"), "killed"))
        .collect();
    operator.dao.save(&voters).await.unwrap();
    // the server applies the push, the answer never arrives, the process dies
    network.lose_next_push_answer.store(true, Ordering::SeqCst);
    assert!(operator.engine.sync_once(&|_| {}).await.is_err());
    drop(operator);

    let (restarted, transport) = world.replica("operator", OPERATOR, quick_settings()).await;
    assert_eq!(
        restarted.store.outbox_summary().await.unwrap().pending,
        50,
        "the outbox survived"
    );
    let report = sync(&restarted).await;
    assert_eq!(report.pushed, 50, "a replay is answered as processed");
    assert_eq!(restarted.store.outbox_summary().await.unwrap().pending, 0);

    // the server holds each record once: one log entry per voter
    let token = restarted
        .engine
        .state()
        .login()
        .await
        .unwrap()
        .unwrap()
        .token;
    let page = transport
        .pull(&token, PullFrom::Cursor(None), 1000, None)
        .await
        .unwrap();
    let mut entries: HashMap<Uuid, usize> = HashMap::new();
    for change in &page.changes {
        *entries.entry(change.entity_id).or_default() += 1;
    }
    for voter in &voters {
        assert_eq!(
            entries.get(&voter.id),
            Some(&1),
            "voter {} logged once",
            voter.voter_number
        );
    }
}

async fn a_parked_change_shows_in_status_and_succeeds_after_requeue(via: Via) {
    let (world, pen, admin) = world_with_pen(via).await;
    let party = fixture::party("p");
    admin.dao.save(std::slice::from_ref(&party)).await.unwrap();
    sync(&admin).await;
    let one_try = SyncSettings {
        sync_max_retries: 1,
        ..quick_settings()
    };
    let (entering, _) = world.replica("entering", OPERATOR, one_try).await;
    let mut operator_user = fixture::user("op", jcselect_entities::Role::Operator);
    operator_user.id = entering
        .engine
        .state()
        .login()
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let session = fixture::session(&pen, &operator_user);
    let line = fixture::line(&session, &party, 3);
    entering
        .dao
        .save(std::slice::from_ref(&line))
        .await
        .unwrap();
    let report = sync(&entering).await;
    assert_eq!(report.parked, 1);

    let summary = entering.store.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.parked), (0, 1));
    let parked = entering.store.outbox_entries().await.unwrap();
    assert_eq!(parked[0].state, OutboxState::Parked);
    let reason = parked[0].last_error.clone().unwrap();
    assert!(
        reason.contains("TallySession") && reason.contains(&session.id.to_string()),
        "{reason}"
    );
    // parked changes are not retried on their own
    assert_eq!(sync(&entering).await.pushed, 0);

    admin.dao.save(&[session]).await.unwrap();
    sync(&admin).await;
    assert_eq!(entering.engine.requeue(None).await.unwrap(), 1);
    let report = sync(&entering).await;
    assert_eq!(report.pushed, 1);
    let summary = entering.store.outbox_summary().await.unwrap();
    assert_eq!((summary.pending, summary.retry, summary.parked), (0, 0, 0));
}

/// Saves one new voter on `operator` and syncs, giving the password for a
/// new log-in should the engine need one.
async fn save_and_sync_with_password(
    operator: &Replica,
    pen: &Pen,
    number: &str,
    name: &str,
) -> SyncReport {
    operator
        .dao
        .save(&[fixture::voter(pen, number, name)])
        .await
        .unwrap();
    operator
        .engine
        .sync_once_with(Some(OPERATOR.1), &|_| {})
        .await
        .unwrap()
}

/// An expired or refused token is renewed with the session's refresh
/// token (rotated: the old one stops working), or by logging in again when
/// the password is at hand; with neither the cycle says to log in.
async fn expired_and_refused_tokens_are_renewed(via: Via) {
    let (world, pen, _) = world_with_pen(via).await;
    let (operator, transport) = world.replica("operator", OPERATOR, quick_settings()).await;
    let state = operator.engine.state();
    let login = state.login().await.unwrap().unwrap();
    let first_refresh = state
        .refresh_token()
        .await
        .unwrap()
        .expect("a refresh token");
    let ends = state.session_ends_at().await.unwrap().unwrap();
    assert!(
        ends > login.expires_at,
        "the session outlives the access token"
    );
    let expire = |token: &'static str| {
        state.save_login(
            &login.username,
            token,
            jcselect_sync::Timestamp::now().plus_micros(-1_000_000),
            login.user_id,
            &login.role,
        )
    };

    // expired: renewed without the password
    state
        .save_login(
            &login.username,
            &login.token,
            jcselect_sync::Timestamp::now().plus_micros(-1_000_000),
            login.user_id,
            &login.role,
        )
        .await
        .unwrap();
    operator
        .dao
        .save(&[fixture::voter(&pen, "1", "after refresh")])
        .await
        .unwrap();
    assert_eq!(sync(&operator).await.pushed, 1);
    let renewed = state.login().await.unwrap().unwrap();
    assert!(renewed.expires_at > jcselect_sync::Timestamp::now());
    assert_ne!(state.refresh_token().await.unwrap().unwrap(), first_refresh);
    // the used refresh token is spent
    assert!(matches!(
        transport.refresh(&first_refresh).await,
        Err(jcselect_sync::transport::TransportError::Unauthorized(_))
    ));

    // a token the server refuses (not expired by our clock): renewed too
    state
        .save_login(
            &login.username,
            "not.a.token",
            jcselect_sync::Timestamp::now().plus_micros(3_600_000_000),
            login.user_id,
            &login.role,
        )
        .await
        .unwrap();
    let report = save_and_sync_with_password(&operator, &pen, "2", "refused token").await;
    assert_eq!(report.pushed, 1);

    // no session left: the password, or a clear "log in"
    state.save_session(None).await.unwrap();
    expire("expired").await.unwrap();
    let error = operator.engine.sync_once(&|_| {}).await.unwrap_err();
    assert!(
        matches!(error, jcselect_sync::engine::SyncError::NeedLogin(_)),
        "{error}"
    );
    let report = save_and_sync_with_password(&operator, &pen, "3", "after re-login").await;
    assert_eq!(report.pushed, 1);
}

/// A replica whose cursor is past the server's log (the server was
/// restored from an older backup) pulls from the beginning instead of
/// skipping what was written since.
async fn a_replica_ahead_of_a_restored_server_starts_over(via: Via) {
    let (world, pen, admin) = world_with_pen(via).await;
    let (operator, _) = world.replica("operator", OPERATOR, quick_settings()).await;
    let mut tx = operator.store.begin().await.unwrap();
    tx.set_setting("pull_cursor", "r999999999").await.unwrap();
    tx.commit().await.unwrap();
    let after_restore = fixture::voter(&pen, "77", "written after the restore");
    admin
        .dao
        .save(std::slice::from_ref(&after_restore))
        .await
        .unwrap();
    sync(&admin).await;
    let report = sync(&operator).await;
    assert!(report.pulled >= 4, "{report:?}");
    assert!(local::<Voter>(&operator, after_restore.id).await.is_some());
    let cursor = operator.engine.state().cursor().await.unwrap().unwrap();
    assert_ne!(cursor, "r999999999");
}
