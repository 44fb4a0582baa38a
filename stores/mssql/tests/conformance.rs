//! The conformance suite on SQL Server, when `JCSELECT_TEST_MSSQL_URL` is
//! set (`mssql://user:password@host:port/master?trust_server_certificate=true`).
//! Each test creates a database of its own and drops it when it ends.

use std::sync::Arc;

use jcselect_store_mssql::{MssqlConfig, MssqlStore};
use jcselect_sync::store::ServerStore;

const URL_VARIABLE: &str = "JCSELECT_TEST_MSSQL_URL";

/// Drops the test's database when the test ends.
struct TempDatabase {
    admin_url: String,
    name: String,
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Runs one statement on the server the URL names (test set-up only).
async fn admin_exec(url: &str, statement: String) {
    use tokio_util::compat::TokioAsyncWriteCompatExt;
    let config = MssqlConfig::from_url(url)
        .expect("a valid mssql:// URL")
        .tiberius();
    let tcp = tokio::net::TcpStream::connect(config.get_addr())
        .await
        .expect("SQL Server is reachable");
    let mut client = tiberius::Client::connect(config, tcp.compat_write())
        .await
        .expect("log-in succeeds");
    client
        .execute(statement, &[])
        .await
        .expect("the statement runs");
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(admin_exec(&url, format!("DROP DATABASE {name}")));
        })
        .join();
    }
}

async fn server() -> Option<(Arc<dyn ServerStore>, TempDatabase)> {
    let (store, guard) = unmigrated().await?;
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    store.migrate(&entities).await.unwrap();
    Some((store, guard))
}

/// A store of no version yet, for the upgrade test to build.
async fn unmigrated() -> Option<(Arc<dyn ServerStore>, TempDatabase)> {
    let Ok(url) = std::env::var(URL_VARIABLE) else {
        jcselect_store_conformance::announce_skip(URL_VARIABLE, "SQL Server");
        return None;
    };
    let name = format!("jcs_test_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&url, format!("CREATE DATABASE {name}")).await;
    let guard = TempDatabase {
        admin_url: url.clone(),
        name: name.clone(),
    };
    let store = MssqlStore::open(&with_database(&url, &name))
        .await
        .expect("SQL Server is reachable");
    Some((Arc::new(store), guard))
}

jcselect_store_conformance::server_suite!(
    server(),
    unless mssql_tests => "JCSELECT_TEST_MSSQL_URL is not set"
);

jcselect_store_conformance::upgrade_suite!(
    unmigrated(),
    unless mssql_tests => "JCSELECT_TEST_MSSQL_URL is not set"
);
