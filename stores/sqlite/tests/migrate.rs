//! Schema creation is idempotent, and a jcselect desktop database at the
//! app's initial revision (`52569a9164c7`: tables without
//! `deleted_at`/`deleted_by`, UUIDs as 32 hex digits, time stamps with a
//! space) is upgraded in place without losing a row.

use jcselect_entities::{Pen, Voter};
use jcselect_store_sqlite::SqliteStore;
use jcselect_sync::store::{ClientStore, ServerStore};
use jcselect_sync::Syncable;
use sqlx::Row;
use uuid::Uuid;

fn temp_db() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("jcselect-migrate-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("jcselect.db").display());
    (dir, url)
}

#[tokio::test]
async fn a_pre_sync_database_is_upgraded_without_losing_a_row() {
    let (dir, url) = temp_db();
    let pen_id = Uuid::new_v4();
    let voter_ids: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    {
        // the app's initial revision: no tombstone columns
        let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE pens (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, \
             id CHAR(32) NOT NULL, town_name VARCHAR NOT NULL, label VARCHAR NOT NULL, PRIMARY KEY (id))",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "CREATE TABLE voters (created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, \
             id CHAR(32) NOT NULL, pen_id CHAR(32) NOT NULL, voted_by_operator_id CHAR(32), \
             voter_number VARCHAR NOT NULL, full_name VARCHAR NOT NULL, father_name VARCHAR, \
             mother_name VARCHAR, birth_year INTEGER, gender VARCHAR, has_voted BOOLEAN NOT NULL, \
             voted_at DATETIME, PRIMARY KEY (id))",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO pens VALUES ('2024-05-01 08:00:00.000000', '2024-05-01 08:00:00.000000', ?1, 'طرابلس', 'قلم ١')")
            .bind(pen_id.simple().to_string())
            .execute(&pool)
            .await
            .unwrap();
        for (n, id) in voter_ids.iter().enumerate() {
            sqlx::query(
                "INSERT INTO voters VALUES ('2024-05-01 08:00:00.000000', '2024-05-01 09:30:00.250000', \
                 ?1, ?2, NULL, ?3, 'فاطمة الزهراء', NULL, NULL, 1990, 'F', ?4, NULL)",
            )
            .bind(id.simple().to_string())
            .bind(pen_id.simple().to_string())
            .bind(n.to_string())
            .bind(n % 2 == 0)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }

    let store = SqliteStore::open(&url).await.unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    ServerStore::migrate(&store, &entities).await.unwrap();
    // a second start changes nothing
    ClientStore::migrate(&store, &entities).await.unwrap();

    let pen = ServerStore::get_record(&store, Pen::DECL, pen_id)
        .await
        .unwrap()
        .expect("the pen is kept");
    let pen = Pen::from_record(&pen).unwrap();
    assert_eq!(pen.label, "قلم ١");
    assert_eq!(pen.deleted_at, None);
    assert_eq!(pen.updated_at.to_string(), "2024-05-01T08:00:00.000000Z");
    for (n, id) in voter_ids.iter().enumerate() {
        let voter = ServerStore::get_record(&store, Voter::DECL, *id)
            .await
            .unwrap()
            .expect("every voter is kept");
        let voter = Voter::from_record(&voter).unwrap();
        assert_eq!(voter.voter_number, n.to_string());
        assert_eq!(voter.has_voted, n % 2 == 0);
        assert_eq!(voter.updated_at.to_string(), "2024-05-01T09:30:00.250000Z");
    }

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('voters')")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        columns.contains(&"deleted_at".to_owned()) && columns.contains(&"deleted_by".to_owned())
    );
    // the app's own values are kept byte for byte: its ids, its times
    let raw: Vec<(String, String, String)> =
        sqlx::query("SELECT id, pen_id, updated_at FROM voters ORDER BY voter_number")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
    for (id, pen, updated_at) in &raw {
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(pen, &pen_id.simple().to_string());
        assert_eq!(updated_at, "2024-05-01 09:30:00.250000");
    }
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM voters")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 50);
    let versions: i64 = sqlx::query("SELECT COUNT(*) FROM sync_schema_versions")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
    let indexes: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'ix_voters_deleted_at'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(indexes, 1);
    pool.close().await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_table_missing_a_required_column_is_refused_by_name() {
    let (dir, url) = temp_db();
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE parties (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = SqliteStore::open(&url).await.unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    let error = ServerStore::migrate(&store, &entities)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("parties") && error.contains("name"),
        "{error}"
    );
    // nothing of the failed migration stays
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'sync_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(tables, 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A database an earlier version of this store wrote (hyphenated UUIDs,
/// `…T…Z` times) is brought into the desktop app's format at start-up, and
/// every record is still found by id.
#[tokio::test]
async fn an_earlier_versions_values_take_the_apps_format() {
    let (dir, url) = temp_db();
    let store = SqliteStore::open(&url).await.unwrap();
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    ServerStore::migrate(&store, &entities).await.unwrap();
    store.close().await;
    let pen_id = Uuid::new_v4();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO pens (id, deleted_at, deleted_by, created_at, updated_at, town_name, label) \
         VALUES (?1, NULL, NULL, '2024-05-01T08:00:00.000000Z', '2024-05-01T08:00:00.125000Z', 'صور', 'قلم')",
    )
    .bind(pen_id.to_string())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = SqliteStore::open(&url).await.unwrap();
    ServerStore::migrate(&store, &entities).await.unwrap();
    let pen = ServerStore::get_record(&store, Pen::DECL, pen_id)
        .await
        .unwrap()
        .expect("found by id after the upgrade");
    assert_eq!(
        pen.version_time().to_string(),
        "2024-05-01T08:00:00.125000Z"
    );
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row = sqlx::query("SELECT id, updated_at FROM pens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), pen_id.simple().to_string());
    assert_eq!(row.get::<String, _>(1), "2024-05-01 08:00:00.125000");
    pool.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}
