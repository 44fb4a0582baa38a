//! The conformance suite on PostgreSQL, when `JCSELECT_TEST_POSTGRES_URL`
//! is set (CI sets it to postgres://root@127.0.0.1:5432/test). Each test
//! works in a schema of its own, dropped when the test ends.

use std::sync::Arc;

use jcselect_store_postgres::PgStore;
use jcselect_sync::store::ServerStore;

const URL_VARIABLE: &str = "JCSELECT_TEST_POSTGRES_URL";

/// Drops the test's schema when the test ends (from a thread of its own,
/// since a destructor cannot await).
struct TempSchema {
    url: String,
    schema: String,
}

impl Drop for TempSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let pool = sqlx::PgPool::connect(&url).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}

async fn server() -> Option<(Arc<dyn ServerStore>, TempSchema)> {
    let (store, guard) = unmigrated().await?;
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    Some((store, guard))
}

/// A store of no version yet, for the upgrade test to build.
async fn unmigrated() -> Option<(Arc<dyn ServerStore>, TempSchema)> {
    let Ok(url) = std::env::var(URL_VARIABLE) else {
        eprintln!(
            "skipped: {URL_VARIABLE} is not set, so the PostgreSQL conformance suite did not run"
        );
        return None;
    };
    let schema = format!("jcs_test_{}", uuid::Uuid::new_v4().simple());
    let guard = TempSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PgStore::open_in_schema(&url, &schema)
        .await
        .expect("PostgreSQL is reachable");
    Some((Arc::new(store), guard))
}

jcselect_store_conformance::server_suite!(
    server(),
    unless postgres_tests => "JCSELECT_TEST_POSTGRES_URL is not set"
);

jcselect_store_conformance::upgrade_suite!(
    unmigrated(),
    unless postgres_tests => "JCSELECT_TEST_POSTGRES_URL is not set"
);
