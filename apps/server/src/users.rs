//! Users: creating one (its `User` record syncs, its log-in does not), and
//! the token a user gets.

use jcselect_entities::{Role as UserRole, SyncAudit, User};
use jcselect_sync::auth::{Principal, Role};
use jcselect_sync::push::{apply_push, PushContext};
use jcselect_sync::store::{Login, ServerStore};
use jcselect_sync::wire::{EntityChange, Operation, SyncPushRequest};
use jcselect_sync::{Registry, Syncable, Timestamp};
use uuid::Uuid;

use crate::auth::{verify_password, Tokens};
use crate::error::ServerError;

/// What `user add` is given.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Log-in name, unique.
    pub username: String,
    /// Display name (the user name when not given).
    pub full_name: Option<String>,
    /// Admin or operator.
    pub role: Role,
    /// The pens an operator may touch.
    pub pens: Vec<Uuid>,
    /// A bcrypt hash of the password, if the user logs in with one.
    pub password_hash: Option<String>,
}

/// Creates a user: its `User` record through a push (so it is logged and
/// every replica pulls it) and its server-only log-in. Returns its id.
pub async fn add_user(
    store: &dyn ServerStore,
    registry: &Registry,
    new: NewUser,
) -> Result<Uuid, ServerError> {
    if new.username.trim().is_empty() {
        return Err(ServerError::User("the user name must not be empty".into()));
    }
    if store.login(&new.username).await?.is_some() {
        return Err(ServerError::User(format!(
            "user {:?} already exists",
            new.username
        )));
    }
    let now = Timestamp::now();
    let user = User {
        id: Uuid::now_v7(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        deleted_by: None,
        username: new.username.clone(),
        password_hash: new
            .password_hash
            .clone()
            .unwrap_or_else(|| jcselect_sync::LOCKED_CREDENTIAL.to_owned()),
        full_name: new.full_name.unwrap_or_else(|| new.username.clone()),
        role: match new.role {
            Role::Admin => UserRole::Admin,
            Role::Operator => UserRole::Operator,
        },
        is_active: true,
    };
    // the hash lives in the User record (the server's is the real one);
    // the log-in keeps the pens, which place the record (PROTOCOL.md §1)
    let login = Login {
        username: new.username,
        user_id: user.id,
        password_hash: None,
        pens: new.pens,
    };
    push_user(
        store,
        registry,
        &user,
        &login,
        Operation::Insert,
        "jcselect-server user add",
        now,
    )
    .await?;
    store.put_login(&login).await?;
    Ok(user.id)
}

/// Pushes a version of a user record as the server itself (credentials
/// taken from the record), placed by `login` (the log-in being written with
/// it); an error unless it is applied.
async fn push_user(
    store: &dyn ServerStore,
    registry: &Registry,
    user: &User,
    login: &Login,
    operation: Operation,
    client_id: &str,
    now: Timestamp,
) -> Result<(), ServerError> {
    let request = SyncPushRequest {
        client_id: client_id.into(),
        changes: vec![EntityChange {
            change_id: Uuid::now_v7(),
            entity_type: User::DECL.name.into(),
            entity_id: user.id,
            operation,
            timestamp: user.updated_at,
            data: serde_json::value::to_raw_value(user).expect("a user serialises"),
        }],
    };
    let context = PushContext {
        registry,
        audit: &SyncAudit,
        max_clock_skew_micros: 0,
        accept_credentials: true,
        new_logins: std::slice::from_ref(login),
    };
    let system = Principal {
        user_id: user.id,
        role: Role::Admin,
        pens: vec![],
    };
    let response = apply_push(store, &context, &system, &request, now).await?;
    if response.processed_count != 1 {
        return Err(ServerError::User(format!(
            "the user record was refused: {response:?}"
        )));
    }
    Ok(())
}

/// A user who may be given a token: known, active, not deleted.
#[derive(Clone)]
pub struct ActiveUser {
    /// The log-in.
    pub login: Login,
    /// The role its `User` record holds now.
    pub role: Role,
    /// Its password hash: the `User` record's, or for a user made before
    /// hashes lived in the record, the log-in's; `None` when neither holds
    /// one (only minted tokens).
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for ActiveUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveUser")
            .field("login", &self.login)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Finds an active user by name.
pub async fn active_user(
    store: &dyn ServerStore,
    username: &str,
) -> Result<Option<ActiveUser>, ServerError> {
    // no store keeps a NUL in a name, so no user has one
    if username.contains('\0') {
        return Ok(None);
    }
    let Some(login) = store.login(username).await? else {
        return Ok(None);
    };
    let Some(record) = store.get_record(User::DECL, login.user_id).await? else {
        return Ok(None);
    };
    let user = User::from_record(&record).map_err(jcselect_sync::store::StoreError::from)?;
    if !user.is_active || user.deleted_at.is_some() {
        return Ok(None);
    }
    let role = match user.role {
        UserRole::Admin => Role::Admin,
        UserRole::Operator => Role::Operator,
    };
    let password_hash = Some(user.password_hash)
        .filter(|hash| hash != jcselect_sync::LOCKED_CREDENTIAL)
        .or_else(|| login.password_hash.clone());
    Ok(Some(ActiveUser {
        login,
        role,
        password_hash,
    }))
}

/// What a token's holder may do now: `None` when the user no longer
/// exists, is inactive or deleted, or is no longer the user the token was
/// given to; else the token's role narrowed to the user's role now, and the
/// pens its log-in lists now (an admin changing an operator's pens takes
/// effect at its next request, so the records `user pens` logs again for a
/// pen it gains reach it after its cursor).
pub async fn current_principal(
    store: &dyn ServerStore,
    claimed: &Principal,
    username: &str,
) -> Result<Option<Principal>, ServerError> {
    let Some(user) = active_user(store, username).await? else {
        return Ok(None);
    };
    if user.login.user_id != claimed.user_id {
        return Ok(None);
    }
    let role = match (claimed.role, user.role) {
        (Role::Admin, Role::Admin) => Role::Admin,
        _ => Role::Operator,
    };
    let pens = user.login.pens;
    Ok(Some(Principal {
        user_id: claimed.user_id,
        role,
        pens,
    }))
}

/// What `user pens` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PensChanged {
    /// Pens the operator gained.
    pub added: Vec<Uuid>,
    /// Pens it lost.
    pub removed: Vec<Uuid>,
    /// Records of the gained pens logged again, for its stations to pull.
    pub relogged: usize,
}

/// Sets the pens an operator works at: its log-in's pens, its `User` record
/// logged again in its new scopes, and the records of each pen it gains
/// logged again, so that its stations' next pull brings them whatever
/// their cursors (records of pens it lost stop coming). Refuses an admin
/// (who reaches every pen), an empty list and a pen the server does not
/// hold.
pub async fn set_pens(
    store: &dyn ServerStore,
    registry: &Registry,
    username: &str,
    pens: Vec<Uuid>,
) -> Result<PensChanged, ServerError> {
    let login = store
        .login(username)
        .await?
        .ok_or_else(|| ServerError::User(format!("there is no user {username:?}")))?;
    let record = store
        .get_record(User::DECL, login.user_id)
        .await?
        .ok_or_else(|| ServerError::User(format!("user {username:?} has no User record")))?;
    let user = User::from_record(&record).map_err(jcselect_sync::store::StoreError::from)?;
    if user.role == UserRole::Admin {
        return Err(ServerError::User(format!(
            "{username:?} is an admin and reaches every pen; pens are for operators"
        )));
    }
    if pens.is_empty() {
        return Err(ServerError::User(
            "an operator works at one pen at least: give --pen".into(),
        ));
    }
    for pen in &pens {
        if store
            .get_record(jcselect_entities::Pen::DECL, *pen)
            .await?
            .is_none()
        {
            return Err(ServerError::User(format!(
                "there is no pen {pen} on this server"
            )));
        }
    }
    let added: Vec<Uuid> = pens
        .iter()
        .copied()
        .filter(|p| !login.pens.contains(p))
        .collect();
    let removed: Vec<Uuid> = login
        .pens
        .iter()
        .copied()
        .filter(|p| !pens.contains(p))
        .collect();
    let login = Login { pens, ..login };
    let now = Timestamp::now();
    // a new version of the record, placed by the new log-in
    let relogged_user = User {
        updated_at: now.max(user.updated_at.plus_micros(1)),
        ..user
    };
    push_user(
        store,
        registry,
        &relogged_user,
        &login,
        Operation::Update,
        "jcselect-server user pens",
        now,
    )
    .await?;
    store.put_login(&login).await?;
    let mut relogged = 0;
    for pen in &added {
        relogged +=
            jcselect_sync::relog::relog_scope(store, registry, *pen, Timestamp::now()).await?;
    }
    Ok(PensChanged {
        added,
        removed,
        relogged,
    })
}

/// The token `mint-token` prints.
pub async fn mint_for(
    store: &dyn ServerStore,
    tokens: &Tokens,
    username: &str,
    ttl_seconds: u64,
) -> Result<String, ServerError> {
    let user = active_user(store, username)
        .await?
        .ok_or_else(|| ServerError::User(format!("no active user {username:?}")))?;
    Ok(tokens.mint(
        user.login.user_id,
        username,
        user.role,
        &user.login.pens,
        ttl_seconds,
    ))
}

/// A hash no password is ever checked against for real: what an unknown
/// user name is compared with.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| crate::auth::hash_password(&uuid::Uuid::new_v4().to_string()))
}

/// Checks a password log-in; `None` for any failure (unknown user, no
/// password, wrong password, inactive), so callers cannot tell which.
pub async fn check_password(
    store: &dyn ServerStore,
    username: &str,
    password: &str,
) -> Result<Option<ActiveUser>, ServerError> {
    let user = active_user(store, username).await?;
    // an unknown name, an inactive user or one without a password costs
    // one full hash check too, so the time taken tells nothing
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
    let password = password.to_owned();
    // the hash is slow on purpose: keep it off the request threads
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    Ok(user.filter(|_| matches && known))
}

/// Who receives a user's password hash in a pull (PROTOCOL.md §2): an
/// admin's replica, every live and active user's; an operator's replica,
/// the live and active operators who work at one of its pens; every other
/// replica, and every replica for an inactive or deleted user, `"!"`.
#[derive(Clone)]
pub struct Entitlement {
    /// Where the users' pens are kept.
    pub store: std::sync::Arc<dyn ServerStore>,
}

#[async_trait::async_trait]
impl jcselect_sync::pull::CredentialPolicy for Entitlement {
    async fn may_read(
        &self,
        principal: &Principal,
        _entity: &'static jcselect_sync::EntityDecl,
        record: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool, jcselect_sync::store::StoreError> {
        let live_and_active = record.get("is_active") == Some(&serde_json::Value::Bool(true))
            && record
                .get("deleted_at")
                .map_or(true, serde_json::Value::is_null);
        if !live_and_active {
            return Ok(false);
        }
        if principal.role == Role::Admin {
            return Ok(true);
        }
        if record.get("role").and_then(serde_json::Value::as_str) != Some("operator") {
            return Ok(false);
        }
        let Some(username) = record.get("username").and_then(serde_json::Value::as_str) else {
            return Ok(false);
        };
        Ok(self
            .store
            .login(username)
            .await?
            .is_some_and(|login| login.pens.iter().any(|pen| principal.pens.contains(pen))))
    }
}

/// A user by log-in name: its log-in and its `User` record.
pub(crate) async fn find_user(
    store: &dyn ServerStore,
    username: &str,
) -> Result<(Login, User), ServerError> {
    let login = store
        .login(username)
        .await?
        .ok_or_else(|| ServerError::User(format!("there is no user {username:?}")))?;
    let record = store
        .get_record(User::DECL, login.user_id)
        .await?
        .ok_or_else(|| ServerError::User(format!("user {username:?} has no User record")))?;
    let user = User::from_record(&record).map_err(jcselect_sync::store::StoreError::from)?;
    Ok((login, user))
}

/// Writes the version of a user's record that `edit` makes of the stored
/// one (stamped now), through a push as `user add` does; the user's tokens
/// meet it at their next request.
pub(crate) async fn edit_user(
    store: &dyn ServerStore,
    registry: &Registry,
    username: &str,
    command: &str,
    edit: impl FnOnce(&mut User) -> Result<(), ServerError>,
) -> Result<User, ServerError> {
    let (login, mut user) = find_user(store, username).await?;
    if user.deleted_at.is_some() {
        return Err(ServerError::User(format!(
            "user {username:?} was removed; a removed user stays removed"
        )));
    }
    edit(&mut user)?;
    let now = Timestamp::now();
    user.updated_at = now.max(user.updated_at.plus_micros(1));
    push_user(
        store,
        registry,
        &user,
        &login,
        Operation::Update,
        command,
        now,
    )
    .await?;
    Ok(user)
}

/// Enables or disables a user: a disabled user's tokens are refused at
/// their next request and it cannot log in, until enabled again.
pub async fn set_active(
    store: &dyn ServerStore,
    registry: &Registry,
    username: &str,
    active: bool,
) -> Result<(), ServerError> {
    let command = if active {
        "user enable"
    } else {
        "user disable"
    };
    edit_user(
        store,
        registry,
        username,
        &format!("jcselect-server {command}"),
        |user| {
            if user.is_active == active {
                return Err(ServerError::User(format!(
                    "user {username:?} is already {}",
                    if active { "enabled" } else { "disabled" }
                )));
            }
            user.is_active = active;
            Ok(())
        },
    )
    .await
    .map(|_| ())
}

/// Sets a user's password (its bcrypt hash, which the desktop app checks
/// offline, syncs to the replicas entitled to it).
pub async fn set_password(
    store: &dyn ServerStore,
    registry: &Registry,
    username: &str,
    password_hash: String,
) -> Result<(), ServerError> {
    edit_user(
        store,
        registry,
        username,
        "jcselect-server user passwd",
        |user| {
            user.password_hash = password_hash;
            Ok(())
        },
    )
    .await
    .map(|_| ())
}

/// Removes a user: its record becomes a tombstone (deleted by itself, as
/// the server's own command), every token of it is refused at its next
/// request, and its name is never given again.
pub async fn remove_user(
    store: &dyn ServerStore,
    registry: &Registry,
    username: &str,
) -> Result<(), ServerError> {
    edit_user(
        store,
        registry,
        username,
        "jcselect-server user remove",
        |user| {
            user.deleted_at = Some(Timestamp::now());
            user.deleted_by = Some(user.id);
            Ok(())
        },
    )
    .await
    .map(|_| ())
}

/// One user as `user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// Log-in name.
    pub username: String,
    /// Display name.
    pub full_name: String,
    /// Admin or operator.
    pub role: Role,
    /// Whether it may log in.
    pub active: bool,
    /// Whether it was removed.
    pub removed: bool,
    /// The pens its log-in lists.
    pub pens: Vec<Uuid>,
    /// When a station of this user last reported to the server (a push
    /// or pull carrying a station report), if ever.
    pub last_seen: Option<Timestamp>,
}

/// Every user, removed ones included, by user name.
pub async fn list_users(store: &dyn ServerStore) -> Result<Vec<UserSummary>, ServerError> {
    let roles = [
        jcselect_sync::FieldValue::Text("admin".into()),
        jcselect_sync::FieldValue::Text("operator".into()),
    ];
    let mut tx = store.begin_push().await?;
    let records = tx
        .find_matching(
            User::DECL,
            &[jcselect_sync::store::FieldIn {
                field: "role",
                values: &roles,
            }],
        )
        .await?;
    drop(tx);
    let mut last_seen: std::collections::HashMap<Uuid, Timestamp> = Default::default();
    for station in store.stations().await? {
        let seen = last_seen.entry(station.user_id).or_insert(station.seen_at);
        *seen = (*seen).max(station.seen_at);
    }
    let mut users = Vec::with_capacity(records.len());
    for record in records {
        let user = User::from_record(&record).map_err(jcselect_sync::store::StoreError::from)?;
        let pens = store
            .login(&user.username)
            .await?
            .map(|login| login.pens)
            .unwrap_or_default();
        users.push(UserSummary {
            role: match user.role {
                UserRole::Admin => Role::Admin,
                UserRole::Operator => Role::Operator,
            },
            active: user.is_active,
            removed: user.deleted_at.is_some(),
            last_seen: last_seen.get(&user.id).copied(),
            username: user.username,
            full_name: user.full_name,
            pens,
        });
    }
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(users)
}

/// What `user add` checks of the pens it is given before it creates the
/// user: an operator needs one pen at least, each held by the server; an
/// admin reaches every pen, so pens given for it are ignored — returned as
/// a warning.
pub async fn check_new_user_pens(
    store: &dyn ServerStore,
    role: Role,
    pens: &[Uuid],
) -> Result<Option<String>, ServerError> {
    if role == Role::Admin {
        return Ok((!pens.is_empty())
            .then(|| "an admin reaches every pen: the --pen given are ignored".to_owned()));
    }
    if pens.is_empty() {
        return Err(ServerError::User(
            "an operator works at one pen at least: give --pen UUID".into(),
        ));
    }
    for pen in pens {
        if store
            .get_record(jcselect_entities::Pen::DECL, *pen)
            .await?
            .is_none()
        {
            return Err(ServerError::User(format!(
                "there is no pen {pen} on this server (import the pens first)"
            )));
        }
    }
    Ok(None)
}
