//! The end-to-end harness: a real server (the server's own router on a
//! temporary SQLite file) reached in-process or over HTTP on 127.0.0.1, and
//! client replicas on their own temporary SQLite files.

pub mod desktop;
pub mod middlebox;
pub mod webdriver;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use jcselect_client::Replica;
use jcselect_server::settings::{FileSettings, Overrides, Settings};
use jcselect_server::users::{add_user, NewUser};
use jcselect_sync::auth::Role;
use jcselect_sync::engine::SyncSettings;
use jcselect_sync::transport::{
    Exchange, ExchangeRequest, ExchangeResponse, NetworkError, Transport,
};
use jcselect_transport_http::{HttpTransport, Timeouts};
use jcselect_transport_inproc::InProcessTransport;
use uuid::Uuid;

/// One test module per scenario `async fn name(via: Via)`, with a test
/// over the in-process transport and one over HTTP.
#[macro_export]
macro_rules! over_both_transports {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn in_process() {
                super::$name($crate::Via::InProcess).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn http() {
                super::$name($crate::Via::Http).await;
            }
        }
    )+};
}

/// How clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The server's router called directly.
    InProcess,
    /// Real HTTP on 127.0.0.1.
    Http,
}

/// A transport wrapper that can cut the network and lose answers.
pub struct Faulty {
    inner: Arc<dyn Exchange>,
    /// While false, every exchange fails as if the server were down.
    pub online: AtomicBool,
    /// When set, the next push reaches the server but its answer is lost.
    pub lose_next_push_answer: AtomicBool,
    /// Work done just before the next pull goes out (a local write made
    /// while a cycle is between its push and its pull).
    pub before_next_pull: std::sync::Mutex<Option<BeforePull>>,
}

/// See [`Faulty::before_next_pull`].
pub type BeforePull = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

#[async_trait]
impl Exchange for Faulty {
    async fn exchange(&self, request: ExchangeRequest) -> Result<ExchangeResponse, NetworkError> {
        if !self.online.load(Ordering::SeqCst) {
            return Err(NetworkError(
                "connection refused (test: server down)".into(),
            ));
        }
        let is_push =
            request.path == "/sync/push" && request.body.as_ref().is_some_and(|b| b.len() > 40);
        if request.path.starts_with("/sync/pull") {
            let work = self.before_next_pull.lock().unwrap().take();
            if let Some(work) = work {
                work.await;
            }
        }
        let response = self.inner.exchange(request).await?;
        if is_push && self.lose_next_push_answer.swap(false, Ordering::SeqCst) {
            return Err(NetworkError("connection reset (test: answer lost)".into()));
        }
        Ok(response)
    }
}

/// A running server and its users.
pub struct World {
    dir: PathBuf,
    via: Via,
    router: axum::Router,
    http_base: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server's store, to inspect what it holds.
    pub server_url: String,
    /// The fault answered in the server's place while set.
    pub fault: middlebox::FaultSlot,
    /// The address the server listens on (HTTP worlds).
    pub http_address: Option<std::net::SocketAddr>,
}

/// Passwords of the users every world has.
pub const ADMIN: (&str, &str) = ("admin", "admin-password");
/// The operator of pen A.
pub const OPERATOR: (&str, &str) = ("operator", "operator-password");

impl World {
    /// A fresh server; `pens` are given to the operator.
    pub async fn start(via: Via, operator_pens: Vec<Uuid>) -> Self {
        Self::start_with(via, operator_pens, Overrides::default()).await
    }

    /// A fresh server with some settings given; `pens` are given to the
    /// operator.
    pub async fn start_with(via: Via, operator_pens: Vec<Uuid>, overrides: Overrides) -> Self {
        let dir = std::env::temp_dir().join(format!("jcselect-e2e-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let server_url = format!("sqlite://{}", dir.join("server.db").display());
        let settings = Settings::resolve(
            Overrides {
                listen: Some("127.0.0.1:0".into()),
                database_url: Some(server_url.clone()),
                ..overrides
            },
            FileSettings::default(),
        )
        .unwrap();
        let secret = jcselect_server::secret::JwtSecret::new(
            b"e2e-secret-0123456789abcdef-0123456789".to_vec(),
            "e2e",
        )
        .unwrap();
        let fault = middlebox::FaultSlot::default();
        let router = jcselect_server::app(&settings, &secret)
            .await
            .unwrap()
            .layer(axum::middleware::from_fn_with_state(
                fault.clone(),
                middlebox::answer_with_fault,
            ));
        for (name, password, role, pens) in [
            (ADMIN.0, ADMIN.1, Role::Admin, vec![]),
            (OPERATOR.0, OPERATOR.1, Role::Operator, operator_pens),
        ] {
            add_server_user(&server_url, name, password, role, pens).await;
        }
        let (http_base, stop, http_address) = if via == Via::Http {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let base = format!("http://{address}");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(jcselect_server::http::run(
                listener,
                router.clone(),
                async {
                    let _ = stopped.await;
                },
            ));
            (Some(base), Some(stop), Some(address))
        } else {
            (None, None, None)
        };
        World {
            dir,
            via,
            router,
            http_base,
            stop,
            server_url,
            fault,
            http_address,
        }
    }

    /// A transport to this world's server, with its fault switches.
    pub fn transport(&self) -> Arc<Faulty> {
        let inner: Arc<dyn Exchange> = match self.via {
            Via::InProcess => Arc::new(InProcessTransport::new(self.router.clone())),
            Via::Http => Arc::new(
                HttpTransport::new(self.http_base.as_deref().unwrap(), Timeouts::default())
                    .unwrap(),
            ),
        };
        Arc::new(Faulty {
            inner,
            online: AtomicBool::new(true),
            lose_next_push_answer: AtomicBool::new(false),
            before_next_pull: std::sync::Mutex::new(None),
        })
    }

    /// A replica's database URL under this world's directory.
    pub fn replica_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.join(format!("{name}.db")).display())
    }

    /// Opens (or reopens) a replica named `name` with its own transport,
    /// logged in as `user`.
    pub async fn replica(
        &self,
        name: &str,
        user: (&str, &str),
        settings: SyncSettings,
    ) -> (Replica, Arc<Faulty>) {
        let transport = self.transport();
        let replica = self
            .replica_over(name, user, settings, transport.clone())
            .await;
        (replica, transport)
    }

    /// Opens (or reopens) a replica named `name` over `transport`, logged
    /// in as `user`.
    pub async fn replica_over(
        &self,
        name: &str,
        user: (&str, &str),
        settings: SyncSettings,
        transport: Arc<dyn Transport>,
    ) -> Replica {
        let replica = Replica::open(&self.replica_url(name), transport, settings)
            .await
            .unwrap();
        replica.engine.login(user.0, user.1).await.unwrap();
        replica
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Settings for tests: small pages, short retry delays.
pub fn quick_settings() -> SyncSettings {
    SyncSettings {
        sync_pull_page_size: 100,
        sync_backoff_base: 1.0,
        ..SyncSettings::default()
    }
}

/// Creates a user with a password on the server whose database is at
/// `server_url`.
pub async fn add_server_user(
    server_url: &str,
    name: &str,
    password: &str,
    role: Role,
    pens: Vec<Uuid>,
) {
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(server_url, registry)
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
            password_hash: Some(jcselect_server::auth::hash_password(password)),
        },
    )
    .await
    .unwrap();
}

/// One sync cycle of `replica`, which must succeed.
pub async fn sync(replica: &Replica) -> jcselect_sync::engine::SyncReport {
    replica
        .engine
        .sync_once(&|_| {})
        .await
        .expect("the cycle succeeds")
}

/// Cycles until nothing more waits to be pulled; the last cycle's report.
pub async fn sync_all(replica: &Replica) -> jcselect_sync::engine::SyncReport {
    loop {
        let report = sync(replica).await;
        if !report.more_to_pull {
            return report;
        }
    }
}

/// The user `username` as `replica` holds it (tombstoned or not).
pub async fn local_user(replica: &Replica, username: &str) -> jcselect_entities::User {
    use jcselect_sync::Syncable;
    let records = replica
        .store
        .find_records(
            jcselect_entities::User::DECL,
            &[(
                "username",
                jcselect_sync::record::FieldValue::Text(username.to_owned()),
            )],
            true,
        )
        .await
        .unwrap();
    jcselect_entities::User::from_record(records.first().expect("the user is on the replica"))
        .unwrap()
}
