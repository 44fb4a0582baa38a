//! A real server on 127.0.0.1 for the tests: in-process (the library's
//! `run`) or as the built binary, on a temporary SQLite file or, when
//! `JCSELECT_TEST_POSTGRES_URL` is set, on a PostgreSQL database of its own.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use jcselect_server::secret::JwtSecret;
use jcselect_server::settings::{FileSettings, Overrides, Settings};
use jcselect_server::users::{add_user, NewUser};
use jcselect_sync::auth::Role;
use jcselect_sync::wire::{EntityChange, SyncPullResponse, SyncPushResponse};
use serde_json::Value;
use uuid::Uuid;

pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
pub const POSTGRES: &str = "JCSELECT_TEST_POSTGRES_URL";

/// Where a test's database lives; removed when dropped.
pub enum TestDatabase {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("jcselect-server-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TestDatabase::Sqlite { dir }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when the
    /// variable is unset.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES) else {
            announce_skip();
            return None;
        };
        let name = format!("jcs_srv_{}", Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("PostgreSQL is reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        Some(TestDatabase::Postgres { admin_url, name })
    }

    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite { dir } => format!("sqlite://{}", dir.join("server.db").display()),
            TestDatabase::Postgres { admin_url, name } => {
                let (base, _) = admin_url.rsplit_once('/').unwrap();
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDatabase::Postgres { admin_url, name } => {
                let (url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let pool = sqlx::PgPool::connect(&url).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&pool)
                            .await?;
                        Ok::<_, sqlx::Error>(())
                    })
                })
                .join();
            }
        }
    }
}

pub fn announce_skip() {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the PostgreSQL server tests did not run: {POSTGRES} is not set"
        );
    });
}

pub fn settings(url: &str) -> Settings {
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(url.into()),
        max_payload_size: Some(8 * 1024 * 1024),
        login_lockout_seconds: Some(2),
        ..Overrides::default()
    };
    Settings::resolve(overrides, FileSettings::default()).unwrap()
}

pub fn secret() -> JwtSecret {
    JwtSecret::new(SECRET.as_bytes().to_vec(), "test").unwrap()
}

/// A server running in this process.
pub struct InProcess {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl InProcess {
    pub async fn start(url: &str) -> Self {
        let settings = settings(url);
        let router = jcselect_server::app(&settings, &secret())
            .await
            .expect("the server starts");
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(jcselect_server::http::run(listener, router, async {
            let _ = stopped.await;
        }));
        InProcess {
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops taking connections and waits for requests in flight.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Creates a user in the database at `url`; returns its id.
pub async fn user(
    url: &str,
    name: &str,
    role: Role,
    pens: Vec<Uuid>,
    password: Option<&str>,
) -> Uuid {
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(url, registry)
        .await
        .unwrap();
    add_user(
        store.as_ref(),
        registry,
        NewUser {
            username: name.into(),
            full_name: None,
            role,
            pens,
            password_hash: password.map(jcselect_server::auth::hash_password),
        },
    )
    .await
    .unwrap()
}

/// A token signed with the tests' secret for the user `username` (the
/// server honours it only while that user exists, is active and holds the
/// role and pens).
pub fn token(username: &str, user_id: Uuid, role: Role, pens: &[Uuid]) -> String {
    jcselect_server::auth::Tokens::new(&secret()).mint(user_id, username, role, pens, 600)
}

/// A client for one server and one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Api {
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn push_raw(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// An empty push carrying a station's report, as the client sends it.
    pub async fn push_reporting(&self, report: &jcselect_sync::wire::StationReport) {
        let answer = self
            .http
            .post(format!("{}/sync/push", self.base))
            .bearer_auth(&self.token)
            .header(jcselect_sync::wire::STATION_HEADER, report.header_value())
            .json(&serde_json::json!({"client_id": report.client_id, "changes": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    pub async fn push(&self, changes: Vec<EntityChange>) -> (u16, SyncPushResponse) {
        let body = serde_json::json!({ "client_id": "test", "changes": changes });
        let response = self.push_raw(&body).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn pull_raw(&self, query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/sync/pull?{query}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn pull(&self, query: &str) -> SyncPullResponse {
        let response = self.pull_raw(query).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Every page from `cursor` on (cursor form); the changes and the last
    /// cursor.
    pub async fn pull_all(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<EntityChange>, String) {
        let mut changes = Vec::new();
        let mut cursor = cursor.map(str::to_owned);
        loop {
            let query = match &cursor {
                Some(cursor) => format!("cursor={cursor}&limit={limit}"),
                None => format!("limit={limit}"),
            };
            let page = self.pull(&query).await;
            changes.extend(page.changes);
            cursor = page.next_cursor;
            if !page.has_more {
                return (changes, cursor.unwrap());
            }
        }
    }

    /// Every page after `last_sync` (the seed's form, paging by offset);
    /// the changes and the last `server_timestamp`.
    pub async fn pull_all_since(
        &self,
        last_sync: &str,
        limit: usize,
    ) -> (Vec<EntityChange>, String) {
        let mut changes = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .pull(&format!(
                    "last_sync={last_sync}&limit={limit}&offset={offset}"
                ))
                .await;
            changes.extend(page.changes);
            offset += limit;
            if !page.has_more {
                return (changes, page.server_timestamp.to_string());
            }
        }
    }
}

/// One test per database (the test file imports `TestDatabase`): `$name::sqlite` always, `$name::postgres` when
/// the URL is set.
#[allow(unused_macros)]
macro_rules! on_every_database {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(super::TestDatabase::sqlite()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not(postgres_tests), ignore = "JCSELECT_TEST_POSTGRES_URL is not set")]
            async fn postgres() {
                if let Some(database) = super::TestDatabase::postgres().await {
                    super::$name(database).await;
                }
            }
        }
    )+};
}
