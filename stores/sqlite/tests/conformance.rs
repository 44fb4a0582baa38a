//! The conformance suite on SQLite (always runs): a fresh database file per
//! test in a temporary directory.

use std::sync::Arc;

use jcselect_store_sqlite::SqliteStore;
use jcselect_sync::store::{ClientStore, ServerStore};

async fn fresh() -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("jcselect-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.join("store.db").display()))
        .await
        .unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    ServerStore::migrate(&store, &entities).await.unwrap();
    store
}

async fn server() -> Option<Arc<dyn ServerStore>> {
    Some(Arc::new(fresh().await))
}

async fn client() -> Option<Arc<dyn ClientStore>> {
    Some(Arc::new(fresh().await))
}

mod server_side {
    jcselect_store_conformance::server_suite!(super::server());
}

mod client_side {
    jcselect_store_conformance::client_suite!(super::client());
}
