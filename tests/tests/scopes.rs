//! Scopes follow the server (PROTOCOL.md §1): when an operator's pens
//! change (`user pens`), its station's next pull brings the records of the
//! pen it gains, whatever its cursor, and those of a pen it loses stop
//! coming.

use jcselect_e2e::{quick_settings, sync_all, Via, World, ADMIN, OPERATOR};
use jcselect_entities::Voter;
use jcselect_store_conformance::fixture;
use jcselect_sync::{Syncable, Timestamp};

jcselect_e2e::over_both_transports!(a_station_follows_its_operators_pens);

async fn held(replica: &jcselect_client::Replica, voter: &Voter) -> Option<Voter> {
    replica
        .store
        .get_record(Voter::DECL, voter.id)
        .await
        .unwrap()
        .map(|record| Voter::from_record(&record).unwrap())
}

async fn a_station_follows_its_operators_pens(via: Via) {
    let (pen_a, pen_b) = (fixture::pen("A"), fixture::pen("B"));
    let world = World::start(via, vec![pen_a.id]).await;
    let (admin, _) = world.replica("admin", ADMIN, quick_settings()).await;
    let at_a = fixture::voter(&pen_a, "1", "ليلى");
    let at_b: Vec<Voter> = (0..20)
        .map(|n| fixture::voter(&pen_b, &n.to_string(), "ناخب"))
        .collect();
    admin
        .dao
        .save(&[pen_a.clone(), pen_b.clone()])
        .await
        .unwrap();
    admin.dao.save(std::slice::from_ref(&at_a)).await.unwrap();
    admin.dao.save(&at_b).await.unwrap();
    sync_all(&admin).await;
    let (station, _) = world.replica("station", OPERATOR, quick_settings()).await;
    sync_all(&station).await;
    assert!(held(&station, &at_a).await.is_some());
    assert!(
        held(&station, &at_b[0]).await.is_none(),
        "pen B is not its business yet"
    );

    // the centre moves the operator from pen A to pen B
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&world.server_url, registry)
        .await
        .unwrap();
    let changed =
        jcselect_server::users::set_pens(store.as_ref(), registry, OPERATOR.0, vec![pen_b.id])
            .await
            .unwrap();
    assert_eq!(changed.added, [pen_b.id]);
    assert_eq!(changed.removed, [pen_a.id]);
    assert_eq!(
        changed.relogged,
        2 + at_b.len(),
        "pen B, its voters and the operator itself (now placed at pen B)"
    );
    // a later edit at pen A
    let renamed = Voter {
        full_name: "Layla".into(),
        updated_at: Timestamp::now(),
        ..at_a.clone()
    };
    admin
        .dao
        .save(std::slice::from_ref(&renamed))
        .await
        .unwrap();
    sync_all(&admin).await;

    sync_all(&station).await;
    for voter in &at_b {
        let expected = held(&admin, voter).await;
        assert!(expected.is_some());
        assert_eq!(
            held(&station, voter).await,
            expected,
            "pen B's records arrive"
        );
    }
    assert_eq!(
        held(&station, &at_a).await.unwrap().full_name,
        "ليلى",
        "pen A's records stop coming"
    );

    // the refusals a person can act on
    for (who, pens, expected) in [
        (OPERATOR.0, vec![], "one pen at least"),
        (OPERATOR.0, vec![uuid::Uuid::new_v4()], "no pen"),
        (ADMIN.0, vec![pen_a.id], "admin"),
        ("nobody", vec![pen_a.id], "no user"),
    ] {
        let error = jcselect_server::users::set_pens(store.as_ref(), registry, who, pens)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{who}: {error}");
    }
}
