//! The conformance suite on SQLite (always runs): a fresh database file per
//! test in a temporary directory, removed when the test ends.

use std::path::PathBuf;
use std::sync::Arc;

use jcselect_store_sqlite::SqliteStore;
use jcselect_sync::store::{ClientStore, ServerStore};

/// Removes the test's directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh() -> (SqliteStore, TempDir) {
    let dir = std::env::temp_dir().join(format!("jcselect-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.join("store.db").display()))
        .await
        .unwrap();
    (store, TempDir(dir))
}

fn entities() -> Vec<&'static jcselect_sync::EntityDecl> {
    jcselect_entities::registry().unwrap().entities().collect()
}

async fn server() -> Option<(Arc<dyn ServerStore>, TempDir)> {
    let (store, dir) = fresh().await;
    ServerStore::migrate(&store, &entities()).await.unwrap();
    Some((Arc::new(store), dir))
}

/// A store of no version yet, for the upgrade test to build.
async fn unmigrated() -> Option<(Arc<dyn ServerStore>, TempDir)> {
    let (store, dir) = fresh().await;
    Some((Arc::new(store), dir))
}

/// A replica: migrated as a client (capture triggers and all).
async fn client() -> Option<(Arc<dyn ClientStore>, TempDir)> {
    let (store, dir) = fresh().await;
    ClientStore::migrate(&store, &entities()).await.unwrap();
    Some((Arc::new(store), dir))
}

mod server_side {
    jcselect_store_conformance::server_suite!(super::server());
}

mod upgrade {
    jcselect_store_conformance::upgrade_suite!(super::unmigrated());
}

mod client_side {
    jcselect_store_conformance::client_suite!(super::client());
}
