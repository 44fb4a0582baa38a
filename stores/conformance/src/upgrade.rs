//! A server database made by the previous version of jcselect-sync (its
//! entities under their earlier names: `pens.town`, `parties.abbreviation`,
//! `voters.voted_by`, the table `audit_log`) is upgraded in place at start-up
//! without losing a record, and every record it logged still pulls.
//!
//! The earlier entities are declared here as that version declared them,
//! so the store builds their tables and the real push path logs their
//! records, exactly as a database of that version holds them.

use std::sync::Arc;

use jcselect_entities::{AuditLog, Party, Pen, TallySession, User, Voter};
use jcselect_sync::pull::PullFrom;
use jcselect_sync::push::{apply_push, PushContext, DEFAULT_MAX_CLOCK_SKEW_MICROS};
use jcselect_sync::store::{LogEntry, ServerStore};
use jcselect_sync::wire::{EntityChange, Operation, SyncPushRequest};
use jcselect_sync::{EntityDecl, EntityRegistration, Registry, Syncable, Timestamp};
use uuid::Uuid;

use crate::fixture::{ago, pull_all, update, World};

/// The previous version's entities.
mod earlier {
    use jcselect_sync::{Syncable, Timestamp};
    use serde::{Deserialize, Serialize};
    use serde_json::Value;
    use uuid::Uuid;

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(table = "users", deleted_by = User)]
    pub struct User {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        #[sync(unique)]
        pub username: String,
        pub full_name: String,
        pub role: String,
        pub is_active: bool,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(table = "parties", deleted_by = User)]
    pub struct Party {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        #[sync(unique)]
        pub name: String,
        pub abbreviation: Option<String>,
        pub display_order: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(table = "pens", deleted_by = User)]
    pub struct Pen {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        pub label: String,
        pub town: Option<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(table = "tally_sessions", deleted_by = User, scope_field = pen_id)]
    pub struct TallySession {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        #[sync(references = Pen, indexed)]
        pub pen_id: Uuid,
        #[sync(references = User)]
        pub operator_id: Uuid,
        pub session_name: String,
        pub started_at: Timestamp,
        pub completed_at: Option<Timestamp>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(
        table = "voters",
        deleted_by = User,
        scope_field = pen_id,
        monotonic(has_voted, voted_at, voted_by)
    )]
    pub struct Voter {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        #[sync(references = Pen, indexed)]
        pub pen_id: Uuid,
        #[sync(indexed)]
        pub voter_number: String,
        #[sync(indexed)]
        pub full_name: String,
        pub father_name: Option<String>,
        pub mother_name: Option<String>,
        pub birth_year: Option<i64>,
        pub has_voted: bool,
        pub voted_at: Option<Timestamp>,
        #[sync(references = User)]
        pub voted_by: Option<Uuid>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
    #[sync(table = "audit_log", entity = "AuditLog", deleted_by = User, scope_field = pen_id, placement_last)]
    pub struct Audit {
        pub id: Uuid,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        pub deleted_at: Option<Timestamp>,
        pub deleted_by: Option<Uuid>,
        #[sync(references = User)]
        pub operator_id: Option<Uuid>,
        pub action: String,
        pub entity_type: Option<String>,
        pub entity_id: Option<Uuid>,
        pub old_values: Option<Value>,
        pub new_values: Option<Value>,
        #[sync(references = Pen)]
        pub pen_id: Option<Uuid>,
    }
}

fn earlier_registry() -> Registry {
    Registry::new([
        EntityRegistration::of::<earlier::User>(),
        EntityRegistration::of::<earlier::Party>(),
        EntityRegistration::of::<earlier::Pen>(),
        EntityRegistration::of::<earlier::TallySession>(),
        EntityRegistration::of::<earlier::Voter>(),
        EntityRegistration::of::<earlier::Audit>(),
    ])
    .expect("the earlier declarations are consistent")
}

/// Writes one record the way the earlier version's push did: stored and
/// logged at the next position in `scope`, its earlier entries left as
/// they were (that version kept every version in the log, and logged every
/// pen and user globally).
async fn write_as_earlier_version(
    store: &Arc<dyn ServerStore>,
    registry: &Registry,
    change: &EntityChange,
    scope: Option<Uuid>,
) {
    let record = registry
        .decode(&change.entity_type, change.data.get())
        .expect("an earlier record decodes");
    let mut tx = store.begin_push().await.expect("a push begins");
    let head = tx.head();
    tx.upsert_records(record.entity(), std::slice::from_ref(&record))
        .await
        .expect("the earlier record is stored");
    tx.append_log(&[LogEntry {
        receive_seq: head.receive_seq + 1,
        received_at: Timestamp::now().max(head.received_at.plus_micros(1)),
        change_id: change.change_id,
        entity_type: change.entity_type.clone(),
        entity_id: change.entity_id,
        operation: Operation::Update,
        scope,
        data: record.to_json_string(),
    }])
    .await
    .expect("the earlier record is logged");
    tx.commit().await.expect("the earlier push commits");
}

fn stamps() -> (Timestamp, Timestamp) {
    let at = ago(3_000);
    (at, at)
}

async fn stored<T: Syncable>(store: &Arc<dyn ServerStore>, id: Uuid) -> T {
    let record = store
        .get_record(T::DECL, id)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("{} {id} is kept", T::DECL.name));
    T::from_record(&record).expect("an upgraded record decodes")
}

/// The upgrade: `store` has not been migrated yet.
pub async fn an_earlier_version_is_upgraded_in_place(store: Arc<dyn ServerStore>) {
    let earlier_registry = earlier_registry();
    let earlier_entities: Vec<&'static EntityDecl> = earlier_registry.entities().collect();
    store
        .migrate(&earlier_entities)
        .await
        .expect("the earlier schema is created");

    let world = World::new();
    let (created_at, updated_at) = stamps();
    let user = |id, name: &str, role: &str| earlier::User {
        id,
        created_at,
        updated_at,
        deleted_at: None,
        deleted_by: None,
        username: name.to_owned(),
        full_name: format!("{name} (earlier)"),
        role: role.to_owned(),
        is_active: true,
    };
    let admin = user(world.admin.user_id, "chief", "admin");
    let operator = user(world.operator.user_id, "clerk", "operator");
    let party = earlier::Party {
        id: Uuid::new_v4(),
        created_at,
        updated_at,
        deleted_at: None,
        deleted_by: None,
        name: "حزب الغد".to_owned(),
        abbreviation: Some("HG".to_owned()),
        display_order: 2,
    };
    let pen = |id, town: Option<&str>| earlier::Pen {
        id,
        created_at,
        updated_at,
        deleted_at: None,
        deleted_by: None,
        label: "قلم ١".to_owned(),
        town: town.map(str::to_owned),
    };
    let pen_a = pen(world.pen_a.id, Some("طرابلس"));
    let pen_without_town = pen(Uuid::new_v4(), None);
    let session = earlier::TallySession {
        id: Uuid::new_v4(),
        created_at,
        updated_at,
        deleted_at: None,
        deleted_by: None,
        pen_id: pen_a.id,
        operator_id: operator.id,
        session_name: "evening".to_owned(),
        started_at: created_at,
        completed_at: None,
    };
    let unmarked = earlier::Voter {
        id: Uuid::new_v4(),
        created_at,
        updated_at,
        deleted_at: None,
        deleted_by: None,
        pen_id: pen_a.id,
        voter_number: "17".to_owned(),
        full_name: "فاطمة".to_owned(),
        father_name: Some("علي".to_owned()),
        mother_name: None,
        birth_year: Some(1980),
        has_voted: false,
        voted_at: None,
        voted_by: None,
    };
    let marked_at = ago(2_000);
    let marked = earlier::Voter {
        updated_at: marked_at,
        has_voted: true,
        voted_at: Some(marked_at),
        voted_by: Some(operator.id),
        ..unmarked.clone()
    };
    let audit = |pen_id, entity: Option<(&str, Uuid)>| earlier::Audit {
        id: Uuid::new_v4(),
        created_at: marked_at,
        updated_at: marked_at,
        deleted_at: None,
        deleted_by: None,
        operator_id: Some(operator.id),
        action: "VOTER_MARKED".to_owned(),
        entity_type: entity.map(|(name, _)| name.to_owned()),
        entity_id: entity.map(|(_, id)| id),
        old_values: None,
        new_values: Some(serde_json::json!({"has_voted": true})),
        pen_id,
    };
    let audited = audit(Some(pen_a.id), Some(("Voter", marked.id)));
    let unplaced = audit(None, None);

    let context = PushContext {
        registry: &earlier_registry,
        audit: &jcselect_entities::SyncAudit,
        max_clock_skew_micros: DEFAULT_MAX_CLOCK_SKEW_MICROS,
        accept_credentials: false,
        new_logins: &[],
    };
    // the earlier version logged its pens globally
    write_as_earlier_version(&store, &earlier_registry, &update(&pen_a), None).await;
    for changes in [
        vec![
            update(&admin),
            update(&operator),
            update(&party),
            update(&pen_without_town),
            update(&session),
            update(&unmarked),
        ],
        vec![update(&audited), update(&unplaced)],
    ] {
        let request = SyncPushRequest {
            client_id: "earlier".to_owned(),
            changes,
        };
        let response = apply_push(
            store.as_ref(),
            &context,
            &world.admin,
            &request,
            Timestamp::now(),
        )
        .await
        .expect("the earlier version pushes");
        assert!(
            response.failed_changes.is_empty() && response.dependency_conflicts.is_empty(),
            "{response:?}"
        );
    }
    // a second version of the voter: the earlier log holds both
    write_as_earlier_version(&store, &earlier_registry, &update(&marked), Some(pen_a.id)).await;

    let entities: Vec<&'static EntityDecl> = crate::fixture::registry().entities().collect();
    let registry = crate::fixture::registry();
    for start in [
        "the earlier database is upgraded",
        "a second start changes nothing",
    ] {
        store.migrate(&entities).await.expect(start);
        jcselect_sync::relog::place_global_entries(store.as_ref(), registry, Timestamp::now())
            .await
            .expect(start);
    }

    let pen_now: Pen = stored(&store, pen_a.id).await;
    assert_eq!(
        (pen_now.town_name.as_str(), pen_now.label.as_str()),
        ("طرابلس", "قلم ١")
    );
    let no_town: Pen = stored(&store, pen_without_town.id).await;
    assert_eq!(
        no_town.town_name, "",
        "a pen stored without a town takes an empty one"
    );
    let party_now: Party = stored(&store, party.id).await;
    assert_eq!(party_now.short_code.as_deref(), Some("HG"));
    assert!(
        party_now.is_active,
        "parties of the earlier version are on the ballot"
    );
    let voter_now: Voter = stored(&store, marked.id).await;
    assert_eq!(voter_now.voted_by_operator_id, Some(operator.id));
    assert_eq!(voter_now.voted_at, Some(marked_at));
    assert_eq!(voter_now.full_name, "فاطمة");
    let session_now: TallySession = stored(&store, session.id).await;
    assert_eq!(
        (session_now.total_votes_counted, session_now.ballot_number),
        (0, 0)
    );
    let operator_now: User = stored(&store, operator.id).await;
    assert_eq!(operator_now.password_hash, jcselect_sync::LOCKED_CREDENTIAL);
    let audit_now: AuditLog = stored(&store, audited.id).await;
    assert_eq!(
        audit_now.timestamp, marked_at,
        "created_at became the row's timestamp"
    );
    assert_eq!(
        (audit_now.entity_type.as_str(), audit_now.entity_id),
        ("Voter", marked.id)
    );
    let unplaced_now: AuditLog = stored(&store, unplaced.id).await;
    assert_eq!(
        (unplaced_now.entity_type.as_str(), unplaced_now.entity_id),
        ("", Uuid::nil())
    );

    // the log is compacted: each record pulls once, in its current shape
    // and latest version, in both forms
    let records = 9;
    let (changes, _, _) = pull_all(&store, &world.admin, PullFrom::Cursor(None), 4).await;
    let (paged, _, _) = pull_all(
        &store,
        &world.admin,
        PullFrom::LastSync {
            last_sync: Timestamp::MIN,
            offset: 0,
        },
        4,
    )
    .await;
    for pulled in [&changes, &paged] {
        let ids: std::collections::HashSet<Uuid> =
            pulled.iter().map(|change| change.entity_id).collect();
        assert_eq!(
            (pulled.len(), ids.len()),
            (records, records),
            "every record once: {pulled:?}"
        );
    }
    for change in &changes {
        registry
            .decode(&change.entity_type, change.data.get())
            .unwrap_or_else(|e| panic!("{} {}: {e}", change.entity_type, change.data.get()));
    }
    let last_voter = changes
        .iter()
        .find(|change| change.entity_id == marked.id)
        .expect("the voter is logged");
    let last_voter: Voter = serde_json::from_str(last_voter.data.get()).unwrap();
    assert_eq!(last_voter, voter_now);
    // the pen logged globally is now in its own scope: pen A's operator
    // receives it with pen A's records, an operator of pen B does not
    let received = |principal| {
        let store = store.clone();
        async move {
            pull_all(&store, &principal, PullFrom::Cursor(None), 100)
                .await
                .0
                .iter()
                .map(|change| change.entity_id)
                .collect::<Vec<Uuid>>()
        }
    };
    let seen = received(world.operator.clone()).await;
    assert!(
        seen.contains(&audited.id) && seen.contains(&marked.id) && seen.contains(&pen_a.id),
        "pen A's records"
    );
    let pen_b_operator = jcselect_sync::auth::Principal {
        pens: vec![world.pen_b.id],
        ..world.operator.clone()
    };
    let seen_from_b = received(pen_b_operator).await;
    assert!(
        !seen_from_b.contains(&pen_a.id) && !seen_from_b.contains(&marked.id),
        "nothing of pen A reaches pen B: {seen_from_b:?}"
    );

    // and the upgraded tables take new writes
    let renamed = Pen {
        town_name: "صيدا".to_owned(),
        updated_at: ago(10),
        ..pen_now
    };
    let row = crate::fixture::audit_row(&world.operator_user, Some(&world.pen_a), "PEN_RENAMED");
    let response =
        crate::fixture::push(&store, &world.admin, vec![update(&renamed), update(&row)]).await;
    assert_eq!(response.processed_count, 2, "{response:?}");
    let pen_after: Pen = stored(&store, pen_a.id).await;
    assert_eq!(pen_after.town_name, "صيدا");
    let row_after: AuditLog = stored(&store, row.id).await;
    assert_eq!(row_after, row);
}
