//! The client on the jcselect desktop app's own file (PROTOCOL.md §7): the
//! app's format kept, every app write captured (a vote mark written with
//! plain SQL the way the app writes it, a physical `DELETE`), pulled
//! records stored in the app's format, and the app and the client writing
//! the file at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use jcselect_client::Replica;
use jcselect_e2e::desktop::{self, DesktopRows};
use jcselect_e2e::{local_user, quick_settings, sync_all as sync, Via, World, ADMIN, OPERATOR};
use jcselect_sync::transport::Transport;
use jcselect_sync::Syncable;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

jcselect_e2e::over_both_transports!(
    a_desktop_file_syncs_in_its_own_format,
    the_desktops_own_users_yield_their_names_to_the_servers,
    the_app_and_the_client_write_at_once,
    the_apps_own_writes_are_found_by_search,
    a_desktop_at_the_initial_revision_is_set_up_in_place,
);

const TABLES: [&str; 7] = [
    "users",
    "parties",
    "pens",
    "tally_sessions",
    "voters",
    "tally_lines",
    "audit_logs",
];

/// Every row of the app's tables, every original column quoted by SQLite
/// itself (so a changed type or form shows).
async fn snapshot(pool: &SqlitePool) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for table in TABLES {
        let columns: Vec<String> = sqlx::query(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .filter(|name: &String| name != "deleted_at" && name != "deleted_by")
        .collect();
        let quoted: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {table} ORDER BY id",
            quoted.join(" || '|' || ")
        ))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
        all.insert(table.to_owned(), rows);
    }
    all
}

async fn foreign_key_problems(pool: &SqlitePool) -> usize {
    sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(pool)
        .await
        .unwrap()
        .len()
}

/// A world whose operator works at the desktop's pen, the server's users
/// as the desktop knows them, and the desktop file itself.
async fn desktop_world(via: Via, voters: usize) -> (World, DesktopRows, std::path::PathBuf) {
    desktop_world_at(via, voters, false).await
}

/// [`desktop_world`], the file at the app's newest or initial revision.
async fn desktop_world_at(
    via: Via,
    voters: usize,
    initial: bool,
) -> (World, DesktopRows, std::path::PathBuf) {
    let pen = Uuid::new_v4();
    let world = World::start(via, vec![pen]).await;
    let (admin, _) = world.replica("centre", ADMIN, quick_settings()).await;
    sync(&admin).await;
    let (admin_id, operator_id) = (
        local_user(&admin, ADMIN.0).await.id,
        local_user(&admin, OPERATOR.0).await.id,
    );
    let path = std::path::PathBuf::from(
        world
            .replica_url("desktop")
            .strip_prefix("sqlite://")
            .unwrap(),
    );
    let mut rows = if initial {
        desktop::create_initial(&path, voters).await
    } else {
        desktop::create_newest(&path, "!", "!", voters).await
    };
    // the desktop's users are the server's (same ids), its pen the operator's
    let pool = desktop::open(&path).await;
    for (from, to) in [(rows.admin, admin_id), (rows.operator, operator_id)] {
        for statement in [
            "UPDATE users SET id = ?2 WHERE id = ?1",
            "UPDATE voters SET voted_by_operator_id = ?2 WHERE voted_by_operator_id = ?1",
        ] {
            sqlx::query(statement)
                .bind(from.simple().to_string())
                .bind(to.simple().to_string())
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    sqlx::query("UPDATE pens SET id = ?2 WHERE id = ?1")
        .bind(rows.pen.simple().to_string())
        .bind(pen.simple().to_string())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE voters SET pen_id = ?1")
        .bind(pen.simple().to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    (rows.admin, rows.operator, rows.pen) = (admin_id, operator_id, pen);
    (world, rows, path)
}

async fn a_desktop_file_syncs_in_its_own_format(via: Via) {
    let (world, rows, path) = desktop_world(via, 30).await;
    let app = desktop::open(&path).await;
    let before = snapshot(&app).await;

    // set-up keeps every row and value in the app's form
    let transport: Arc<dyn Transport> = world.transport();
    let desktop = world
        .replica_over("desktop", ADMIN, quick_settings(), transport)
        .await;
    assert_eq!(
        snapshot(&app).await,
        before,
        "set-up changed the app's rows"
    );
    assert_eq!(foreign_key_problems(&app).await, 0);
    // the rows that were there are queued for the first push
    let queued = desktop.store.outbox_summary().await.unwrap().pending;
    assert_eq!(queued, 2 + 1 + 1 + 30);

    let report = sync(&desktop).await;
    assert_eq!(report.parked_total, 0, "{report:?}");
    assert_eq!(report.unsent, 0);

    // the app marks a voter with plain SQL, as its data layer does
    let marked = rows.voters[1];
    desktop::app_marks_voter(&app, marked, rows.operator).await;
    // and deletes another physically
    let deleted = rows.voters[2];
    sqlx::query("DELETE FROM voters WHERE id = ?1")
        .bind(deleted.simple().to_string())
        .execute(&app)
        .await
        .unwrap();
    let tombstone: Option<String> = sqlx::query("SELECT deleted_at FROM voters WHERE id = ?1")
        .bind(deleted.simple().to_string())
        .fetch_one(&app)
        .await
        .unwrap()
        .get(0);
    assert!(tombstone.is_some(), "a physical DELETE becomes a tombstone");
    let report = sync(&desktop).await;
    assert_eq!(
        (report.pushed, report.parked_total),
        (3, 0),
        "the mark, its audit row, the tombstone"
    );

    // a second station receives them in the app's format
    let (station, _) = world.replica("station", OPERATOR, quick_settings()).await;
    sync(&station).await;
    let second = desktop::open(std::path::Path::new(
        world
            .replica_url("station")
            .strip_prefix("sqlite://")
            .unwrap(),
    ))
    .await;
    let row = sqlx::query(
        "SELECT has_voted, voted_at, voted_by_operator_id, typeof(has_voted) FROM voters WHERE id = ?1",
    )
    .bind(marked.simple().to_string())
    .fetch_one(&second)
    .await
    .expect("found by the app's id form");
    assert_eq!(row.get::<i64, _>(0), 1);
    let voted_at: String = row.get(1);
    assert!(
        voted_at.len() == 26 && voted_at.as_bytes()[10] == b' ',
        "{voted_at}"
    );
    assert_eq!(row.get::<String, _>(2), rows.operator.simple().to_string());
    assert_eq!(row.get::<String, _>(3), "integer");
    let gone: Option<String> = sqlx::query("SELECT deleted_at FROM voters WHERE id = ?1")
        .bind(deleted.simple().to_string())
        .fetch_one(&second)
        .await
        .unwrap()
        .get(0);
    assert!(gone.is_some());
    let audit: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_logs WHERE action = 'VOTER_MARKED' AND entity_id = ?1",
    )
    .bind(marked.simple().to_string())
    .fetch_one(&second)
    .await
    .unwrap()
    .get(0);
    assert_eq!(audit, 1);
    assert_eq!(foreign_key_problems(&second).await, 0);
    assert_eq!(foreign_key_problems(&app).await, 0);
    // the station's new file is one the app opens as its own: its
    // revision marker, its tables, its declared types
    let revision: String = sqlx::query("SELECT version_num FROM alembic_version")
        .fetch_one(&second)
        .await
        .unwrap()
        .get(0);
    assert_eq!(revision, desktop::NEWEST_REVISION);
    for (table, column, declared) in [
        ("voters", "id", "CHAR(32)"),
        ("voters", "voted_at", "DATETIME"),
        ("voters", "has_voted", "BOOLEAN"),
        ("voters", "full_name", "VARCHAR"),
        ("audit_logs", "new_values", "JSON"),
    ] {
        let ty: String = sqlx::query(&format!(
            "SELECT type FROM pragma_table_info('{table}') WHERE name = '{column}'"
        ))
        .fetch_one(&second)
        .await
        .unwrap()
        .get(0);
        assert_eq!(ty, declared, "{table}.{column}");
    }
    // pulled rows are not queued back
    sync(&desktop).await;
    assert_eq!(desktop.store.outbox_summary().await.unwrap().pending, 0);

    // ballots counted at the other station, two for one party in one
    // session: the desktop holds both (set-up removed the app's
    // uq_tally_session_party), with the app's enum names
    let operator = station.actor().await.unwrap().unwrap();
    let mut operator_user =
        jcselect_store_conformance::fixture::user("x", jcselect_entities::Role::Operator);
    operator_user.id = operator.user_id;
    let pen: jcselect_entities::Pen = station
        .store
        .get_record(jcselect_entities::Pen::DECL, rows.pen)
        .await
        .unwrap()
        .map(|record| jcselect_entities::Pen::from_record(&record).unwrap())
        .expect("the station holds its pen");
    let party: jcselect_entities::Party = station
        .store
        .get_record(jcselect_entities::Party::DECL, rows.party)
        .await
        .unwrap()
        .map(|record| jcselect_entities::Party::from_record(&record).unwrap())
        .expect("the station holds the party");
    let session = jcselect_store_conformance::fixture::session(&pen, &operator_user);
    let mut first = jcselect_store_conformance::fixture::line(&session, &party, 1);
    first.ballot_number = Some(1);
    let mut second_ballot = jcselect_store_conformance::fixture::line(&session, &party, 1);
    second_ballot.ballot_number = Some(2);
    second_ballot.ballot_type = "white".into();
    station
        .dao
        .save(std::slice::from_ref(&session))
        .await
        .unwrap();
    station.dao.save(&[first, second_ballot]).await.unwrap();
    assert_eq!(sync(&station).await.parked_total, 0);
    let report = sync(&desktop).await;
    assert_eq!(report.parked_total, 0);
    let types: Vec<String> = sqlx::query(
        "SELECT ballot_type FROM tally_lines WHERE tally_session_id = ?1 ORDER BY ballot_number",
    )
    .bind(session.id.simple().to_string())
    .fetch_all(&app)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(types, ["NORMAL", "WHITE"]);
    // the station's new file has the app's results view, which its
    // results screen reads
    let results: Vec<(String, i64, i64)> = sqlx::query(
        "SELECT ballot_type, votes, ballot_count FROM v_results_aggregate \
         WHERE pen_id = ?1 AND party_id = ?2 ORDER BY ballot_type",
    )
    .bind(rows.pen.simple().to_string())
    .bind(rows.party.simple().to_string())
    .fetch_all(&second)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2)))
    .collect();
    assert_eq!(results, [("NORMAL".into(), 1, 1), ("WHITE".into(), 1, 1)]);
}

/// A desktop file at the app's initial revision is set up in place: the
/// columns later revisions add are added (required ones with the app's
/// own defaults), every row kept, and it syncs.
async fn a_desktop_at_the_initial_revision_is_set_up_in_place(via: Via) {
    assert!(desktop::initial_ddl()
        .iter()
        .all(|statement| !statement.contains("deleted_at") && !statement.contains("ballot_type")));
    let (world, rows, path) = desktop_world_at(via, 12, true).await;
    let app = desktop::open(&path).await;
    let before = snapshot(&app).await;
    let transport: Arc<dyn Transport> = world.transport();
    let desktop = world
        .replica_over("desktop", ADMIN, quick_settings(), transport)
        .await;
    let after = snapshot(&app).await;
    for table in TABLES {
        let kept: Vec<&String> = after[table].iter().collect();
        assert_eq!(kept.len(), before[table].len(), "{table}");
        for (old, new) in before[table].iter().zip(&after[table]) {
            assert!(new.starts_with(old.as_str()), "{table}: {old} became {new}");
        }
    }
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('tally_lines')")
        .fetch_all(&app)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for added in [
        "deleted_at",
        "deleted_by",
        "ballot_type",
        "ballot_number",
        "candidate_id",
    ] {
        assert!(columns.iter().any(|c| c == added), "{added}: {columns:?}");
    }
    let report = sync(&desktop).await;
    assert_eq!(report.parked_total, 0, "{report:?}");
    let voter = desktop.dao.voter(rows.voters[3]).await.unwrap();
    assert_eq!(voter.voter_number, "4");
    assert_eq!(foreign_key_problems(&app).await, 0);
}

/// A desktop made its own `admin` and `operator` before it ever synced
/// (other ids than the server's users of those names): the server keeps
/// the names for its users, the desktop's own users are kept under
/// `"<name> (<id prefix>)"` on both sides, with every row that names them.
async fn the_desktops_own_users_yield_their_names_to_the_servers(via: Via) {
    let pen = Uuid::new_v4();
    let world = World::start(via, vec![pen]).await;
    let path = std::path::PathBuf::from(
        world
            .replica_url("desktop")
            .strip_prefix("sqlite://")
            .unwrap(),
    );
    let rows = desktop::create_newest(&path, "!", "!", 10).await;
    let app = desktop::open(&path).await;
    for statement in ["UPDATE pens SET id = ?1", "UPDATE voters SET pen_id = ?1"] {
        sqlx::query(statement)
            .bind(pen.simple().to_string())
            .execute(&app)
            .await
            .unwrap();
    }
    let transport: Arc<dyn Transport> = world.transport();
    let desktop = world
        .replica_over("desktop", ADMIN, quick_settings(), transport)
        .await;
    let mut report = sync(&desktop).await;
    for _ in 0..20 {
        if report.unsent == 0 && report.parked_total == 0 && !report.more_to_pull {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        report = sync(&desktop).await;
    }
    assert_eq!((report.unsent, report.parked_total), (0, 0), "{report:?}");

    let users: Vec<(String, String)> =
        sqlx::query("SELECT id, username FROM users ORDER BY username")
            .fetch_all(&app)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
    let hex = |id: Uuid| id.simple().to_string();
    let renamed = |id: Uuid, name: &str| (hex(id), format!("{name} ({})", &hex(id)[..8]));
    let (centre, _) = world.replica("centre", ADMIN, quick_settings()).await;
    sync(&centre).await;
    for (name, own) in [(ADMIN.0, rows.admin), (OPERATOR.0, rows.operator)] {
        let server_user = local_user(&centre, name).await;
        assert_ne!(server_user.id, own);
        assert!(
            users.contains(&(hex(server_user.id), name.to_owned())),
            "{users:?}"
        );
        let kept = renamed(own, name);
        assert!(users.contains(&kept), "{users:?}");
        assert_eq!(
            local_user(&centre, &kept.1).await.id,
            own,
            "the server has it too"
        );
    }
    assert_eq!(users.len(), 4);
    let marked_by_own_operator: i64 =
        sqlx::query("SELECT COUNT(*) FROM voters WHERE voted_by_operator_id = ?1")
            .bind(hex(rows.operator))
            .fetch_one(&app)
            .await
            .unwrap()
            .get(0);
    assert!(marked_by_own_operator > 0);
    assert_eq!(foreign_key_problems(&app).await, 0);
}

/// The app marks voters in its own transactions while the client syncs the
/// same file: neither sees "database is locked", and every mark arrives.
async fn the_app_and_the_client_write_at_once(via: Via) {
    let (world, rows, path) = desktop_world(via, 60).await;
    let transport: Arc<dyn Transport> = world.transport();
    let desktop = world
        .replica_over("desktop", ADMIN, quick_settings(), transport)
        .await;
    sync(&desktop).await;
    let app = desktop::open(&path).await;
    let voters = rows.voters.clone();
    let operator = rows.operator;
    let marking = tokio::spawn(async move {
        for voter in voters.iter().skip(1).step_by(2) {
            desktop::app_marks_voter(&app, *voter, operator).await;
        }
    });
    let mut cycles = 0;
    while !marking.is_finished() || cycles == 0 {
        sync(&desktop).await;
        cycles += 1;
    }
    marking
        .await
        .expect("the app never saw 'database is locked'");
    sync(&desktop).await;
    let (station, _) = world.replica("station", OPERATOR, quick_settings()).await;
    sync(&station).await;
    let marked = station
        .dao
        .active_voters(rows.pen)
        .await
        .unwrap()
        .iter()
        .filter(|voter| voter.has_voted)
        .count();
    // every voter the app marked, and those the file held marked already
    let expected = (0..60).filter(|n| n % 2 == 1 || n % 5 == 0).count();
    assert_eq!(marked, expected);
}

/// The numbers of the voters a station's search finds.
async fn found(replica: &Replica, query: &str) -> Vec<String> {
    replica
        .dao
        .search_voters(query)
        .await
        .unwrap()
        .into_iter()
        .map(|voter| voter.voter_number)
        .collect()
}

/// What the app writes with plain SQL (a new voter, a renamed one, a
/// physical delete) is what the station's search finds next, and the rows
/// the file held before set-up are found at once.
async fn the_apps_own_writes_are_found_by_search(via: Via) {
    let (world, rows, path) = desktop_world(via, 30).await;
    let transport: Arc<dyn Transport> = world.transport();
    let desktop = world
        .replica_over("desktop", ADMIN, quick_settings(), transport)
        .await;
    assert_eq!(found(&desktop, "ناخب ١٢").await, vec!["12"]);
    assert_eq!(found(&desktop, "3").await, vec!["3", "30"]);

    let app = desktop::open(&path).await;
    sqlx::query(
        "UPDATE voters SET full_name = 'زينب حداد', updated_at = CURRENT_TIMESTAMP WHERE id = ?1",
    )
    .bind(rows.voters[3].simple().to_string())
    .execute(&app)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO voters (created_at, updated_at, id, pen_id, voter_number, full_name, father_name, has_voted) \
         VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ?1, ?2, '31', 'مُحَمَّد الأمين', 'علي', 0)",
    )
    .bind(Uuid::new_v4().simple().to_string())
    .bind(rows.pen.simple().to_string())
    .execute(&app)
    .await
    .unwrap();
    sqlx::query("DELETE FROM voters WHERE id = ?1")
        .bind(rows.voters[5].simple().to_string())
        .execute(&app)
        .await
        .unwrap();

    assert_eq!(found(&desktop, "زينب").await, vec!["4"]);
    assert_eq!(found(&desktop, "ناخب 4").await, Vec::<String>::new());
    assert_eq!(found(&desktop, "محمد الامين").await, vec!["31"]);
    assert_eq!(found(&desktop, "6").await, Vec::<String>::new());
    assert_eq!(found(&desktop, "ناخب").await.len(), 28);
}

/// A file the client does not recognise is refused with a message naming
/// what is unexpected, and left byte for byte as it was.
#[tokio::test]
async fn an_unrecognised_file_is_refused_untouched() {
    let dir = std::env::temp_dir().join(format!("jcselect-unknown-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let transport: Arc<dyn Transport> = Arc::new(
        jcselect_transport_http::HttpTransport::new("http://127.0.0.1:9", Default::default())
            .unwrap(),
    );

    // a desktop file at a revision the client does not know
    let future = dir.join("future.db");
    desktop::create_newest(&future, "!", "!", 3).await;
    let pool = desktop::open(&future).await;
    sqlx::query("UPDATE alembic_version SET version_num = 'ffff00001111'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // another program's database, and a file that is not a database
    let foreign = dir.join("shop.db");
    let pool = desktop::open(&foreign).await;
    sqlx::query("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let text = dir.join("notes.db");
    std::fs::write(&text, "these are not the tables you are looking for\n").unwrap();

    for (path, expected) in [
        (&future, "ffff00001111"),
        (&foreign, "customers"),
        (&text, "SQLite"),
    ] {
        let before = std::fs::read(path).unwrap();
        let files_before = std::fs::read_dir(&dir).unwrap().count();
        let url = format!("sqlite://{}", path.display());
        let error = match Replica::open(&url, transport.clone(), quick_settings()).await {
            Ok(_) => panic!("{} was opened", path.display()),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(expected) && error.contains("untouched"),
            "{error}"
        );
        assert_eq!(std::fs::read(path).unwrap(), before, "{}", path.display());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            files_before,
            "no journal or WAL file was left beside {}",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
