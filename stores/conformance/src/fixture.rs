//! Records, principals and helpers the suite builds on.

use std::sync::Arc;

use jcselect_entities::{
    AuditLog, Party, Pen, Role as UserRole, SyncAudit, TallyLine, TallySession, User, Voter,
};
use jcselect_sync::auth::{Principal, Role};
use jcselect_sync::pull::{read_pull, PullFrom};
use jcselect_sync::push::{apply_push, PushContext, DEFAULT_MAX_CLOCK_SKEW_MICROS};
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::{EntityChange, Operation, SyncPushRequest, SyncPushResponse};
use jcselect_sync::{Registry, Syncable, Timestamp};
use uuid::Uuid;

/// What the suite's pulls use: jcselect's entities, credentials to admins
/// only.
pub fn pull_context() -> jcselect_sync::pull::PullContext<'static> {
    jcselect_sync::pull::PullContext {
        registry: registry(),
        credentials: &jcselect_sync::pull::AdminsOnly,
    }
}

/// The registry of jcselect's entities.
pub fn registry() -> &'static Registry {
    jcselect_entities::registry().expect("entity declarations are consistent")
}

/// A time `seconds` before now (negative: after), so stamps stay within
/// the server's clock-skew window.
pub fn ago(seconds: i64) -> Timestamp {
    Timestamp::now().plus_micros(-seconds * 1_000_000)
}

/// A user.
pub fn user(name: &str, role: UserRole) -> User {
    let at = ago(3_600);
    User {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        username: name.to_owned(),
        password_hash: jcselect_sync::LOCKED_CREDENTIAL.to_owned(),
        full_name: format!("{name} (test)"),
        role,
        is_active: true,
    }
}

/// A pen.
pub fn pen(label: &str) -> Pen {
    let at = ago(3_600);
    Pen {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        town_name: "طرابلس".to_owned(),
        label: label.to_owned(),
    }
}

/// A party.
pub fn party(name: &str) -> Party {
    let at = ago(3_600);
    Party {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        name: name.to_owned(),
        short_code: None,
        display_order: 1,
        is_active: true,
    }
}

/// An unvoted voter of `pen`.
pub fn voter(pen: &Pen, number: &str, name: &str) -> Voter {
    let at = ago(600);
    Voter {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        pen_id: pen.id,
        voter_number: number.to_owned(),
        full_name: name.to_owned(),
        father_name: Some("خليل".to_owned()),
        mother_name: None,
        birth_year: Some(1975),
        gender: None,
        has_voted: false,
        voted_at: None,
        voted_by_operator_id: None,
    }
}

/// A tally session at `pen` run by `operator`.
pub fn session(pen: &Pen, operator: &User) -> TallySession {
    let at = ago(500);
    TallySession {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        pen_id: pen.id,
        operator_id: operator.id,
        session_name: "evening count".to_owned(),
        started_at: at,
        completed_at: None,
        total_votes_counted: 0,
        notes: None,
        ballot_number: 0,
        recounted_at: None,
        recount_operator_id: None,
    }
}

/// A tally line of `session` for `party`.
pub fn line(session: &TallySession, party: &Party, votes: i64) -> TallyLine {
    let at = ago(400);
    TallyLine {
        id: Uuid::new_v4(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
        tally_session_id: session.id,
        party_id: party.id,
        candidate_id: None,
        vote_count: votes,
        ballot_type: "normal".to_owned(),
        ballot_number: None,
    }
}

/// An audit row written by `operator` about `pen` (in the pen's scope),
/// or about the operator itself (global).
pub fn audit_row(operator: &User, pen: Option<&Pen>, action: &str) -> AuditLog {
    let (entity_type, entity_id) = match pen {
        Some(pen) => ("Pen", pen.id),
        None => ("User", operator.id),
    };
    AuditLog {
        id: Uuid::new_v4(),
        deleted_at: None,
        deleted_by: None,
        operator_id: Some(operator.id),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id,
        old_values: None,
        new_values: None,
        timestamp: ago(300),
        ip_address: None,
        user_agent: None,
    }
}

/// The change carrying `record`'s whole state.
pub fn change<T: Syncable>(record: &T, operation: Operation) -> EntityChange {
    // read from the JSON, not a checked record: fixtures may be invalid
    let json = serde_json::to_value(record).expect("entities serialise");
    EntityChange {
        change_id: Uuid::now_v7(),
        entity_type: T::DECL.name.to_owned(),
        entity_id: serde_json::from_value(json["id"].clone()).expect("an id"),
        operation,
        timestamp: serde_json::from_value(json[T::DECL.version_field()].clone())
            .expect("a version time"),
        data: serde_json::value::to_raw_value(record).expect("entities serialise"),
    }
}

/// An upsert change (`UPDATE`).
pub fn update<T: Syncable>(record: &T) -> EntityChange {
    change(record, Operation::Update)
}

/// An admin and an operator of pen A, with the reference data they use.
pub struct World {
    /// Admin user record.
    pub admin_user: User,
    /// Operator user record.
    pub operator_user: User,
    /// The admin's principal.
    pub admin: Principal,
    /// The operator's principal (pen A only).
    pub operator: Principal,
    /// The operator's pen.
    pub pen_a: Pen,
    /// Another pen.
    pub pen_b: Pen,
    /// A party.
    pub party: Party,
}

impl World {
    /// New records (not stored yet).
    pub fn new() -> Self {
        let admin_user = user(&format!("admin-{}", Uuid::new_v4()), UserRole::Admin);
        let operator_user = user(&format!("op-{}", Uuid::new_v4()), UserRole::Operator);
        let pen_a = pen("Pen A");
        let pen_b = pen("Pen B");
        World {
            admin: Principal {
                user_id: admin_user.id,
                role: Role::Admin,
                pens: vec![],
            },
            operator: Principal {
                user_id: operator_user.id,
                role: Role::Operator,
                pens: vec![pen_a.id],
            },
            admin_user,
            operator_user,
            pen_a,
            pen_b,
            party: party("حزب الغد"),
        }
    }

    /// Stores the world's records through an admin push.
    pub async fn seed(&self, store: &Arc<dyn ServerStore>) {
        // the operator logs in at pen A, which places its user record there
        store
            .put_login(&jcselect_sync::store::Login {
                username: self.operator_user.username.clone(),
                user_id: self.operator_user.id,
                password_hash: None,
                pens: vec![self.pen_a.id],
            })
            .await
            .expect("the store keeps log-ins");
        let response = push(
            store,
            &self.admin,
            vec![
                update(&self.admin_user),
                update(&self.operator_user),
                update(&self.pen_a),
                update(&self.pen_b),
                update(&self.party),
            ],
        )
        .await;
        assert_eq!(response.processed_count, 5, "{response:?}");
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// Pushes `changes` as `principal`, now.
pub async fn push(
    store: &Arc<dyn ServerStore>,
    principal: &Principal,
    changes: Vec<EntityChange>,
) -> SyncPushResponse {
    let request = SyncPushRequest {
        client_id: "conformance".to_owned(),
        changes,
    };
    push_request(store, principal, &request).await
}

/// Pushes a whole request as `principal`, now.
pub async fn push_request(
    store: &Arc<dyn ServerStore>,
    principal: &Principal,
    request: &SyncPushRequest,
) -> SyncPushResponse {
    let context = PushContext {
        registry: registry(),
        audit: &SyncAudit,
        max_clock_skew_micros: DEFAULT_MAX_CLOCK_SKEW_MICROS,
        accept_credentials: false,
        new_logins: &[],
    };
    apply_push(
        store.as_ref(),
        &context,
        principal,
        request,
        Timestamp::now(),
    )
    .await
    .expect("the store accepts the push")
}

/// Pulls every page from `from` on; returns the changes and the last
/// page's cursor and server time stamp.
pub async fn pull_all(
    store: &Arc<dyn ServerStore>,
    principal: &Principal,
    from: PullFrom,
    limit: usize,
) -> (Vec<EntityChange>, String, Timestamp) {
    let mut changes = Vec::new();
    let mut from = from;
    loop {
        let page = read_pull(store.as_ref(), &pull_context(), principal, from, limit)
            .await
            .expect("the store answers the pull");
        assert!(page.changes.len() <= limit);
        changes.extend(page.changes);
        let cursor = page.next_cursor.expect("every page has a cursor");
        if !page.has_more {
            return (changes, cursor, page.server_timestamp);
        }
        from = match from {
            PullFrom::Cursor(_) => PullFrom::Cursor(Some(
                jcselect_sync::pull::decode_cursor(&cursor).expect("the cursor decodes"),
            )),
            PullFrom::LastSync { last_sync, offset } => PullFrom::LastSync {
                last_sync,
                offset: offset + limit as u64,
            },
        };
    }
}
