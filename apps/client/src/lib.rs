//! # jcselect-client
//!
//! A polling station's replica: the local data API the desktop UI calls
//! ([`dao`]), and the wiring of store, transport and sync engine that the
//! `jcselect-client` binary drives ([`Replica`]).

pub mod dao;
pub mod desktop;
pub mod exit;

use std::sync::Arc;

use jcselect_entities::SyncAudit;
use jcselect_store_sqlite::{SqliteStore, REPLICA_CACHE_MIB};
use jcselect_sync::engine::{SyncEngine, SyncSettings};
use jcselect_sync::store::{ClientStore, StoreError};
use jcselect_sync::transport::Transport;

/// A replica: its store, its engine, its data API.
pub struct Replica {
    /// The local store.
    pub store: Arc<dyn ClientStore>,
    /// The sync engine.
    pub engine: SyncEngine,
    /// The data API.
    pub dao: dao::Dao,
}

impl Replica {
    /// Opens (creating and migrating) the SQLite replica at `database_url`
    /// and wires it to `transport`.
    pub async fn open(
        database_url: &str,
        transport: Arc<dyn Transport>,
        settings: SyncSettings,
    ) -> Result<Self, StoreError> {
        let store = Self::open_store(database_url).await?;
        Ok(Self::over(store, transport, settings))
    }

    /// Opens (creating and migrating) the SQLite replica at
    /// `database_url`: a new file, a replica of this client, or a jcselect
    /// desktop database (set up in place); any other file is refused
    /// untouched.
    pub async fn open_store(database_url: &str) -> Result<Arc<dyn ClientStore>, StoreError> {
        let registry = jcselect_entities::registry()?;
        let path = database_url
            .strip_prefix("sqlite://")
            .or_else(|| database_url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty() && *path != ":memory:")
            .map(std::path::PathBuf::from);
        let mut found = None;
        if let Some(path) = &path {
            let inspected = desktop::inspect(path)
                .await
                .map_err(|refused| StoreError::Config {
                    store: "sqlite",
                    message: refused.to_string(),
                })?;
            tracing::info!(?inspected, path = %path.display(), "opening the station's database");
            found = Some(inspected);
        }
        let store: Arc<dyn ClientStore> =
            Arc::new(SqliteStore::open_with_cache(database_url, REPLICA_CACHE_MIB).await?);
        let entities: Vec<_> = registry.entities().collect();
        store.migrate(&entities).await?;
        if let (Some(path), Some(desktop::Found::New)) = (&path, found) {
            desktop::mark_new_file(path)
                .await
                .map_err(|error| StoreError::Config {
                    store: "sqlite",
                    message: format!("marking the new file for the desktop app: {error}"),
                })?;
        }
        Ok(store)
    }

    /// Wires an already migrated store.
    pub fn over(
        store: Arc<dyn ClientStore>,
        transport: Arc<dyn Transport>,
        settings: SyncSettings,
    ) -> Self {
        let registry = jcselect_entities::registry().expect("entity declarations are consistent");
        let engine = SyncEngine::new(
            store.clone(),
            transport,
            registry,
            Arc::new(SyncAudit),
            settings,
        )
        .with_program(concat!("jcselect-client ", env!("CARGO_PKG_VERSION")));
        let dao = dao::Dao::new(store.clone(), registry, engine.state().clone());
        Replica { store, engine, dao }
    }

    /// The same replica reading another wall clock (tests of wrong clocks).
    pub fn with_clock(self, clock: jcselect_sync::engine::LocalClock) -> Self {
        let engine = self.engine.with_clock(clock);
        let registry = jcselect_entities::registry().expect("entity declarations are consistent");
        let dao = dao::Dao::new(self.store.clone(), registry, engine.state().clone());
        Replica {
            store: self.store,
            engine,
            dao,
        }
    }

    /// Who is logged in here, as the data API needs it.
    pub async fn actor(&self) -> Result<Option<dao::Actor>, StoreError> {
        Ok(self.engine.state().login().await?.map(|login| dao::Actor {
            user_id: login.user_id,
            is_admin: login.role == "admin",
        }))
    }
}
