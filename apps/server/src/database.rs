//! Opening the store a database URL names.

use std::path::PathBuf;
use std::sync::Arc;

use jcselect_sync::store::ServerStore;
use jcselect_sync::{Registry, Timestamp};

use crate::error::ServerError;

/// The SQLite file a URL names, if it names one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens the store `url` names and brings its schema up to date for the
/// registry's entities.
pub async fn open_store(
    url: &str,
    registry: &Registry,
) -> Result<Arc<dyn ServerStore>, ServerError> {
    let unsupported = |message: &str| ServerError::Database {
        url: redact(url),
        message: message.to_owned(),
    };
    let store: Arc<dyn ServerStore> = if sqlite_file(url).is_some() {
        #[cfg(feature = "sqlite")]
        {
            Arc::new(jcselect_store_sqlite::SqliteStore::open(url).await?)
        }
        #[cfg(not(feature = "sqlite"))]
        return Err(unsupported(
            "this build has no SQLite store (feature `sqlite`)",
        ));
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            Arc::new(jcselect_store_postgres::PgStore::open(url).await?)
        }
        #[cfg(not(feature = "postgres"))]
        return Err(unsupported(
            "this build has no PostgreSQL store (feature `postgres`)",
        ));
    } else if url.starts_with("mssql://") {
        #[cfg(feature = "mssql")]
        {
            Arc::new(jcselect_store_mssql::MssqlStore::open(url).await?)
        }
        #[cfg(not(feature = "mssql"))]
        return Err(unsupported(
            "this build has no SQL Server store (feature `mssql`)",
        ));
    } else {
        return Err(unsupported("use sqlite://PATH, postgres://… or mssql://…"));
    };
    let entities: Vec<_> = registry.entities().collect();
    store.migrate(&entities).await?;
    jcselect_sync::relog::place_global_entries(store.as_ref(), registry, Timestamp::now()).await?;
    tracing::info!(database = %redact(url), "store ready");
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://data.db"), "sqlite://data.db");
        assert_eq!(
            sqlite_file("sqlite://./a/b.db"),
            Some(PathBuf::from("./a/b.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///abs.db"),
            Some(PathBuf::from("/abs.db"))
        );
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}
