//! Connecting to PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use jcselect_sync::store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::codec::backend;

/// A PostgreSQL database (optionally one schema of it) used as a
/// jcselect-sync store.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the URL may hold a password: never print it
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect(url, None).await
    }

    /// Connects to `url` and keeps every table in `schema`, creating the
    /// schema when missing.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Config {
                store: "postgres",
                message: format!("schema name {schema:?} must be letters, digits and underscores"),
            });
        }
        Self::connect(url, Some(schema)).await
    }

    async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url).map_err(|error| StoreError::Config {
            store: "postgres",
            message: format!("bad database URL: {error}"),
        })?;
        // Plans for this batch's ids, not a generic plan: after five runs
        // PostgreSQL may switch a prepared `id = ANY($1)` to one plan for
        // any array, which can scan the table (seen: 10x slower pushes)
        options = options.options([("plan_cache_mode", "force_custom_plan")]);
        // No JIT: every statement here is short, and a log PostgreSQL has
        // not analysed yet (just imported or upgraded) makes it guess a
        // lookup of a push's ids costly enough to compile one, a second
        // each time (seen: election-day pushes 100x slower at 4.2M rows)
        options = options.options([("jit", "off")]);
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(backend)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await
                .map_err(backend)?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|error| StoreError::Config {
                store: "postgres",
                message: format!("cannot connect: {error}"),
            })?;
        tracing::info!(schema, "postgres store connected");
        Ok(PgStore { pool })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
