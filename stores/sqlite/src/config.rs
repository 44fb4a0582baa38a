//! Opening a SQLite database.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jcselect_sync::store::StoreError;
use jcselect_sync::EntityDecl;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::codec::backend;

/// Page cache per connection for a server, MiB (SQLite's default is 2).
pub const SERVER_CACHE_MIB: u32 = 64;
/// Page cache per connection for a desktop replica, MiB.
pub const REPLICA_CACHE_MIB: u32 = 8;

/// Rows SQLite's worker thread may hand over before the reader takes them.
const ROW_BUFFER: usize = 1024;

/// Pages of write-ahead log after which a commit copies them back.
const WAL_CHECKPOINT_PAGES: u32 = 8192;

/// A SQLite database used as a jcselect-sync store.
#[derive(Clone)]
pub struct SqliteStore {
    /// Readers.
    pub(crate) pool: SqlitePool,
    /// The one connection every write transaction runs on. SQLite writes
    /// one at a time anyway; on one connection its page cache stays warm,
    /// where a pool handing out connections in turn would find each one's
    /// cache stale (another connection wrote since) and read the B-trees
    /// back from the OS.
    pub(crate) writer: SqlitePool,
    /// The entities given to `migrate`, parents first.
    pub(crate) entities: Arc<RwLock<Vec<&'static EntityDecl>>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url`:
    /// `sqlite://PATH` (relative or absolute), `sqlite:PATH`, or a plain
    /// path, with [`SERVER_CACHE_MIB`] of page cache per connection.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with_cache(url, SERVER_CACHE_MIB).await
    }

    /// [`open`](Self::open) with `cache_mib` MiB of page cache per
    /// connection: a server wants room (random UUID keys touch pages all
    /// over the B-trees), a desktop replica a small, flat footprint.
    pub async fn open_with_cache(url: &str, cache_mib: u32) -> Result<Self, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(StoreError::Config {
                store: "sqlite",
                message: format!("{url:?} names no database file"),
            });
        }
        create_private(path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(backend)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // an acknowledged push must survive a power cut, not only a kill
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", format!("-{}", u64::from(cache_mib) * 1024))
            // checkpoint every 32 MiB of log rather than SQLite's 4 MiB:
            // index pages written by consecutive pushes are copied back
            // once, not once per push (about 10 % more pushes per second)
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
            // a page of 1000 log rows crosses from SQLite's thread without
            // the reader waking up every 50
            .row_buffer_size(ROW_BUFFER)
            .foreign_keys(false);
        let cannot_open = |error: sqlx::Error| StoreError::Config {
            store: "sqlite",
            message: format!("cannot open {path:?}: {error}"),
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(cannot_open)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(cannot_open)?;
        tracing::info!(path, "sqlite store open");
        Ok(SqliteStore {
            pool,
            writer,
            entities: Arc::default(),
        })
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    pub(crate) fn entity(&self, name: &str) -> Result<&'static EntityDecl, StoreError> {
        self.entities
            .read()
            .expect("entity list lock")
            .iter()
            .copied()
            .find(|decl| decl.name == name)
            .ok_or_else(|| StoreError::Corrupt {
                store: "sqlite",
                table: "sync_outbox",
                message: format!("entity type {name:?} is not one this store was migrated for"),
            })
    }
}

/// Creates a missing database file readable and writable by its owner only
/// (it holds password hashes and tokens); SQLite gives its `-wal` and
/// `-shm` files the same mode. An existing file is left as it is.
fn create_private(path: &str) -> Result<(), StoreError> {
    if path == ":memory:" || path.starts_with("file:") || std::path::Path::new(path).exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Config {
            store: "sqlite",
            message: format!("cannot create {path:?}: {error}"),
        }),
    }
}
