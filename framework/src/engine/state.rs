//! What a replica keeps between cycles, in its store's settings: the token,
//! the pull cursor, its client id, the hybrid clock, the last sync.

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::HybridClock;
use crate::store::{ClientStore, StoreError};
use crate::timestamp::Timestamp;

/// The setting holding the pull cursor.
pub const CURSOR: &str = "pull_cursor";
const CLIENT_ID: &str = "client_id";
const CLOCK_LAST: &str = "clock_last";
const CLOCK_OFFSET: &str = "clock_offset_micros";
const CLOCK_SEEN: &str = "clock_seen";
const LAST_SYNC: &str = "last_sync_at";
const LOGIN_USERNAME: &str = "login_username";
const LOGIN_TOKEN: &str = "login_token";
const LOGIN_EXPIRES: &str = "login_expires_at";
const LOGIN_USER_ID: &str = "login_user_id";
const LOGIN_ROLE: &str = "login_role";
const SERVER_URL: &str = "server_url";
const SESSION_REFRESH: &str = "session_refresh_token";
const SESSION_ENDS: &str = "session_ends_at";

/// The local wall clock (a function, so tests can make it wrong).
#[derive(Clone)]
pub struct LocalClock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl LocalClock {
    /// The machine's clock.
    pub fn system() -> Self {
        LocalClock(Arc::new(Timestamp::now))
    }

    /// The machine's clock moved by `offset_micros` (a wrong clock).
    pub fn skewed(offset_micros: i64) -> Self {
        LocalClock(Arc::new(move || {
            Timestamp::now().plus_micros(offset_micros)
        }))
    }

    /// What the local clock reads now.
    pub fn wall(&self) -> Timestamp {
        (self.0)()
    }
}

/// The stored log-in.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredLogin {
    /// Who logged in.
    pub username: String,
    /// The bearer token.
    pub token: String,
    /// When it expires, by the local clock.
    pub expires_at: Timestamp,
    /// The user's id.
    pub user_id: Uuid,
    /// `admin` or `operator`.
    pub role: String,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("username", &self.username)
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .finish()
    }
}

/// A replica's stored state.
#[derive(Clone)]
pub struct ClientState {
    store: Arc<dyn ClientStore>,
    clock: LocalClock,
    /// Serialises read-modify-write of the hybrid clock in this process.
    clock_lock: Arc<tokio::sync::Mutex<()>>,
}

impl ClientState {
    /// The state kept in `store`, with the machine's clock.
    pub fn new(store: Arc<dyn ClientStore>) -> Self {
        ClientState {
            store,
            clock: LocalClock::system(),
            clock_lock: Arc::default(),
        }
    }

    /// The same state read with another wall clock.
    pub fn with_clock(mut self, clock: LocalClock) -> Self {
        self.clock = clock;
        self
    }

    /// The wall clock.
    pub fn clock(&self) -> &LocalClock {
        &self.clock
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store.get_setting(key).await
    }

    async fn set(&self, pairs: &[(&str, String)]) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        for (key, value) in pairs {
            tx.set_setting(key, value).await?;
        }
        tx.commit().await
    }

    /// This replica's id, made on first use.
    pub async fn client_id(&self) -> Result<Uuid, StoreError> {
        if let Some(id) = self
            .get(CLIENT_ID)
            .await?
            .and_then(|text| text.parse().ok())
        {
            return Ok(id);
        }
        let id = Uuid::new_v4();
        self.set(&[(CLIENT_ID, id.to_string())]).await?;
        Ok(id)
    }

    /// The stored log-in, if any.
    pub async fn login(&self) -> Result<Option<StoredLogin>, StoreError> {
        let (Some(username), Some(token), Some(expires), Some(user_id), Some(role)) = (
            self.get(LOGIN_USERNAME).await?,
            self.get(LOGIN_TOKEN).await?,
            self.get(LOGIN_EXPIRES).await?,
            self.get(LOGIN_USER_ID).await?,
            self.get(LOGIN_ROLE).await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(StoredLogin {
            username,
            token,
            expires_at: expires.parse().unwrap_or(Timestamp::MIN),
            user_id: user_id.parse().unwrap_or_default(),
            role,
        }))
    }

    /// Keeps a log-in.
    pub async fn save_login(
        &self,
        username: &str,
        token: &str,
        expires_at: Timestamp,
        user_id: Uuid,
        role: &str,
    ) -> Result<(), StoreError> {
        self.set(&[
            (LOGIN_USERNAME, username.to_owned()),
            (LOGIN_TOKEN, token.to_owned()),
            (LOGIN_EXPIRES, expires_at.to_string()),
            (LOGIN_USER_ID, user_id.to_string()),
            (LOGIN_ROLE, role.to_owned()),
        ])
        .await
    }

    /// The refresh token of the session, if the server gave one.
    pub async fn refresh_token(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(SESSION_REFRESH)
            .await?
            .filter(|token| !token.is_empty()))
    }

    /// When the session ends without the password: the refresh token's
    /// expiry, else the access token's.
    pub async fn session_ends_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let refresh_ends = self
            .get(SESSION_ENDS)
            .await?
            .and_then(|text| text.parse().ok());
        Ok(match (refresh_ends, self.refresh_token().await?) {
            (Some(ends), Some(_)) => Some(ends),
            _ => self.login().await?.map(|login| login.expires_at),
        })
    }

    /// Keeps the session's refresh token and when it ends (`None` forgets
    /// it).
    pub async fn save_session(&self, refresh: Option<(&str, Timestamp)>) -> Result<(), StoreError> {
        match refresh {
            Some((token, ends)) => {
                self.set(&[
                    (SESSION_REFRESH, token.to_owned()),
                    (SESSION_ENDS, ends.to_string()),
                ])
                .await
            }
            None => self.set(&[(SESSION_REFRESH, String::new())]).await,
        }
    }

    /// The server this replica last logged in to.
    pub async fn server_url(&self) -> Result<Option<String>, StoreError> {
        self.get(SERVER_URL).await
    }

    /// Remembers the server this replica logged in to.
    pub async fn save_server_url(&self, url: &str) -> Result<(), StoreError> {
        self.set(&[(SERVER_URL, url.to_owned())]).await
    }

    /// The pull cursor, if any page was applied yet.
    pub async fn cursor(&self) -> Result<Option<String>, StoreError> {
        self.get(CURSOR).await
    }

    /// Forgets the pull cursor: the next pull starts from the beginning.
    pub async fn reset_cursor(&self) -> Result<(), StoreError> {
        self.set(&[(CURSOR, crate::pull::encode_cursor(0))]).await
    }

    /// When the last cycle finished.
    pub async fn last_sync(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .get(LAST_SYNC)
            .await?
            .and_then(|text| text.parse().ok()))
    }

    /// Records the end of a cycle.
    pub async fn save_last_sync(&self, at: Timestamp) -> Result<(), StoreError> {
        self.set(&[(LAST_SYNC, at.to_string())]).await
    }

    /// The hybrid clock as stored.
    pub async fn hybrid_clock(&self) -> Result<HybridClock, StoreError> {
        let last = self
            .get(CLOCK_LAST)
            .await?
            .and_then(|text| text.parse().ok())
            .unwrap_or(Timestamp::MIN);
        let seen = self
            .get(CLOCK_SEEN)
            .await?
            .and_then(|text| text.parse().ok())
            .unwrap_or(Timestamp::MIN);
        let offset = self
            .get(CLOCK_OFFSET)
            .await?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        Ok(HybridClock::new(last, seen, offset))
    }

    async fn update_clock(
        &self,
        change: impl FnOnce(&mut HybridClock, Timestamp) -> Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let _guard = self.clock_lock.lock().await;
        let mut clock = self.hybrid_clock().await?;
        let stamp = change(&mut clock, self.clock.wall());
        self.set(&[
            (CLOCK_LAST, clock.last().to_string()),
            (CLOCK_SEEN, clock.seen().to_string()),
            (CLOCK_OFFSET, clock.offset_micros().to_string()),
        ])
        .await?;
        Ok(stamp)
    }

    /// The stamp for a local write: after everything seen, corrected by
    /// the server's clock offset.
    pub async fn next_stamp(&self) -> Result<Timestamp, StoreError> {
        self.update_clock(|clock, wall| clock.stamp(wall)).await
    }

    /// Records a time stamp seen on a pulled record.
    pub async fn observe(&self, seen: Timestamp) -> Result<(), StoreError> {
        self.update_clock(|clock, wall| {
            clock.observe(seen);
            wall
        })
        .await
        .map(|_| ())
    }

    /// Records the server's clock from an answer.
    pub async fn observe_server(
        &self,
        server: Timestamp,
        sent: Timestamp,
        received: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_clock(|clock, wall| {
            clock.observe_server(server, sent, received);
            wall
        })
        .await
        .map(|_| ())
    }
}
