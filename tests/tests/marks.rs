//! Every double vote leaves one trace: whoever first sees two different
//! marks of one voter — the server, or a station whose own mark the server
//! has not seen yet — writes one `DUPLICATE_VOTE_MARK` audit row.

use std::sync::Arc;

use jcselect_client::Replica;
use jcselect_e2e::{quick_settings, sync, Faulty, Via, World, ADMIN, OPERATOR};
use jcselect_entities::{AuditLog, Voter};
use jcselect_store_conformance::fixture;
use jcselect_sync::Syncable;
use uuid::Uuid;

jcselect_e2e::over_both_transports!(
    a_mark_made_between_push_and_pull_is_traced_once,
    a_mark_the_server_saw_twice_is_traced_once,
);

/// A centre, two stations of one pen, and the voter `1` on all three.
struct Pen {
    _world: World,
    admin: Replica,
    first: Replica,
    second: Replica,
    second_link: Arc<Faulty>,
    voter: Voter,
}

async fn two_stations(via: Via) -> Pen {
    let pen = fixture::pen("Pen A");
    let world = World::start(via, vec![pen.id]).await;
    let (admin, _) = world.replica("admin", ADMIN, quick_settings()).await;
    let voter = fixture::voter(&pen, "1", "ناخب");
    admin.dao.save(std::slice::from_ref(&pen)).await.unwrap();
    admin.dao.save(std::slice::from_ref(&voter)).await.unwrap();
    sync(&admin).await;
    let (first, _) = world.replica("first", OPERATOR, quick_settings()).await;
    let (second, second_link) = world.replica("second", OPERATOR, quick_settings()).await;
    sync(&first).await;
    sync(&second).await;
    Pen {
        _world: world,
        admin,
        first,
        second,
        second_link,
        voter,
    }
}

async fn mark(replica: &Replica, voter: Uuid) -> Voter {
    let actor = replica.actor().await.unwrap().expect("logged in");
    replica.dao.mark_voted(voter, actor).await.unwrap()
}

/// The duplicate-mark rows the centre holds for `voter`.
async fn duplicate_rows(admin: &Replica, voter: Uuid) -> Vec<AuditLog> {
    sync(admin).await;
    admin
        .store
        .find_records(AuditLog::DECL, &[], false)
        .await
        .unwrap()
        .into_iter()
        .map(|record| AuditLog::from_record(&record).unwrap())
        .filter(|row| row.action == "DUPLICATE_VOTE_MARK" && row.entity_id == voter)
        .collect()
}

/// The second station marks the voter after its push and before its pull,
/// which brings the first station's earlier mark: the station merges the
/// two (the earliest mark stays), pushes the merged voter, and records the
/// duplicate itself, once.
async fn a_mark_made_between_push_and_pull_is_traced_once(via: Via) {
    let pen = two_stations(via).await;
    let first_mark = mark(&pen.first, pen.voter.id).await;
    sync(&pen.first).await;

    let second = pen.second.dao.clone();
    let actor = pen.second.actor().await.unwrap().unwrap();
    let voter_id = pen.voter.id;
    *pen.second_link.before_next_pull.lock().unwrap() = Some(Box::pin(async move {
        second.mark_voted(voter_id, actor).await.unwrap();
    }));
    sync(&pen.second).await;
    let merged = pen.second.dao.voter(pen.voter.id).await.unwrap();
    assert_eq!(
        merged.voted_at, first_mark.voted_at,
        "the earliest mark stays"
    );
    sync(&pen.second).await;
    sync(&pen.first).await;

    let rows = duplicate_rows(&pen.admin, pen.voter.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let kept = rows[0].new_values.as_ref().unwrap();
    assert_eq!(kept["voted_at"], serde_json::json!(first_mark.voted_at));
    let centre = pen.admin.dao.voter(pen.voter.id).await.unwrap();
    assert_eq!(
        (centre.has_voted, centre.voted_at),
        (true, first_mark.voted_at)
    );
    assert_eq!(pen.first.dao.voter(pen.voter.id).await.unwrap(), centre);
    assert_eq!(pen.second.dao.voter(pen.voter.id).await.unwrap(), centre);
}

/// Both marks reach the server: the server records the duplicate, and the
/// station that pulls the merged voter afterwards does not record it again.
async fn a_mark_the_server_saw_twice_is_traced_once(via: Via) {
    let pen = two_stations(via).await;
    let first_mark = mark(&pen.first, pen.voter.id).await;
    let second_mark = mark(&pen.second, pen.voter.id).await;
    sync(&pen.first).await;
    sync(&pen.second).await;
    sync(&pen.second).await;
    sync(&pen.first).await;
    let rows = duplicate_rows(&pen.admin, pen.voter.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let centre = pen.admin.dao.voter(pen.voter.id).await.unwrap();
    // the earliest stamp stays, which is not always the first mark made:
    // each station's hybrid clock corrects its wall clock by its own
    // estimate of the server's offset, so two marks made a millisecond
    // apart may be stamped in either order
    let earliest = first_mark.voted_at.min(second_mark.voted_at);
    assert_eq!(centre.voted_at, earliest);
    assert_eq!(pen.first.dao.voter(pen.voter.id).await.unwrap(), centre);
    assert_eq!(pen.second.dao.voter(pen.voter.id).await.unwrap(), centre);
}
