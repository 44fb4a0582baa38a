//! Credentials (PROTOCOL.md §2): the server keeps bcrypt hashes in the
//! `User` records; a pulled `User` carries the real hash only to a replica
//! entitled to it (an admin's; an operator's for the operators of its own
//! pens), `"!"` to every other and for inactive users; a pushed hash is
//! never stored; hashes never reach an audit row.

use jcselect_e2e::{local_user, quick_settings, sync_all, Via, World, ADMIN, OPERATOR};
use jcselect_entities::AuditLog;
use jcselect_store_conformance::fixture;
use jcselect_sync::transport::Transport;
use jcselect_sync::Syncable;

jcselect_e2e::over_both_transports!(
    hashes_reach_only_entitled_replicas,
    a_pushed_hash_is_never_stored_nor_audited,
);

/// `pens` → the world's server gets an operator `name` of those pens with
/// password `name`-password.
async fn add_operator(world: &World, name: &str, pens: Vec<uuid::Uuid>) {
    let password = format!("{name}-password");
    let role = jcselect_sync::auth::Role::Operator;
    jcselect_e2e::add_server_user(&world.server_url, name, &password, role, pens).await;
}

async fn hashes_reach_only_entitled_replicas(via: Via) {
    let (pen_a, pen_b) = (fixture::pen("A"), fixture::pen("B"));
    let world = World::start(via, vec![pen_a.id]).await;
    add_operator(&world, "colleague", vec![pen_a.id]).await;
    add_operator(&world, "elsewhere", vec![pen_b.id]).await;
    let (admin, _) = world.replica("admin", ADMIN, quick_settings()).await;
    admin
        .dao
        .save(&[pen_a.clone(), pen_b.clone()])
        .await
        .unwrap();
    sync_all(&admin).await;
    let (station, _) = world.replica("station-a", OPERATOR, quick_settings()).await;
    sync_all(&station).await;

    // the station checks its own operators' passwords offline, with bcrypt
    for (name, password) in [
        (OPERATOR.0, OPERATOR.1.to_owned()),
        ("colleague", "colleague-password".to_owned()),
    ] {
        let hash = local_user(&station, name).await.password_hash;
        assert!(hash.starts_with("$2b$12$"), "{name}: {hash}");
        assert!(bcrypt::verify(&password, &hash).unwrap(), "{name}");
    }
    // and holds no one else's: the admin's is locked, another pen's
    // operator is not on the station at all (PROTOCOL.md §1 scopes)
    assert_eq!(local_user(&station, ADMIN.0).await.password_hash, "!");
    let elsewhere = station
        .store
        .find_records(
            jcselect_entities::User::DECL,
            &[(
                "username",
                jcselect_sync::record::FieldValue::Text("elsewhere".into()),
            )],
            true,
        )
        .await
        .unwrap();
    assert!(
        elsewhere.is_empty(),
        "another pen's operator: {elsewhere:?}"
    );
    // the admin's replica holds every active user's
    for name in [ADMIN.0, OPERATOR.0, "colleague", "elsewhere"] {
        assert!(bcrypt::verify(
            format!("{name}-password")
                .replace("admin-password", ADMIN.1)
                .replace("operator-password", OPERATOR.1),
            &local_user(&admin, name).await.password_hash
        )
        .unwrap());
    }

    // a deactivated user's hash reaches no replica
    let mut colleague = local_user(&admin, "colleague").await;
    colleague.is_active = false;
    admin
        .dao
        .save(std::slice::from_ref(&colleague))
        .await
        .unwrap();
    sync_all(&admin).await;
    let (fresh, _) = world
        .replica("station-a2", OPERATOR, quick_settings())
        .await;
    sync_all(&fresh).await;
    assert_eq!(local_user(&fresh, "colleague").await.password_hash, "!");
    let (fresh_admin, _) = world.replica("admin2", ADMIN, quick_settings()).await;
    sync_all(&fresh_admin).await;
    assert_eq!(
        local_user(&fresh_admin, "colleague").await.password_hash,
        "!"
    );
}

async fn a_pushed_hash_is_never_stored_nor_audited(via: Via) {
    let pen = fixture::pen("A");
    let world = World::start(via, vec![pen.id]).await;
    let (admin, _) = world.replica("admin", ADMIN, quick_settings()).await;
    sync_all(&admin).await;
    let real = local_user(&admin, OPERATOR.0).await;

    // an admin's edit carrying another hash: the edit is kept, the hash not
    let mut edited = real.clone();
    edited.full_name = "renamed".into();
    edited.password_hash = jcselect_server::auth::hash_password("planted");
    admin.dao.save(std::slice::from_ref(&edited)).await.unwrap();
    sync_all(&admin).await;
    let (other, _) = world.replica("admin2", ADMIN, quick_settings()).await;
    sync_all(&other).await;
    let stored = local_user(&other, OPERATOR.0).await;
    assert_eq!(stored.full_name, "renamed");
    assert!(bcrypt::verify(OPERATOR.1, &stored.password_hash).unwrap());
    assert!(!bcrypt::verify("planted", &stored.password_hash).unwrap());

    // a stale copy loses: its SYNC_CONFLICT row holds no hash
    let (third, link) = world.replica("admin3", ADMIN, quick_settings()).await;
    let token = third.engine.state().login().await.unwrap().unwrap().token;
    let mut stale = real.clone();
    stale.full_name = "stale".into();
    stale.updated_at = fixture::ago(7_200);
    let answer = link
        .push(
            &token,
            &jcselect_sync::wire::SyncPushRequest {
                client_id: "stale".into(),
                changes: vec![fixture::update(&stale)],
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.conflicts.len(), 1);
    sync_all(&other).await;
    let rows: Vec<AuditLog> = other
        .store
        .find_records(AuditLog::DECL, &[], true)
        .await
        .unwrap()
        .iter()
        .map(|record| AuditLog::from_record(record).unwrap())
        .filter(|row| row.entity_type == "User" && row.action == "SYNC_CONFLICT")
        .collect();
    assert_eq!(rows.len(), 1);
    for values in [&rows[0].old_values, &rows[0].new_values] {
        let values = values.as_ref().expect("both versions are kept");
        assert_eq!(values["password_hash"], "!", "{values}");
        assert!(!values.to_string().contains("$2b$"));
    }
}
