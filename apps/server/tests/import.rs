//! `import` of pens, parties and voters from CSV and JSON lines: Arabic
//! text, a byte order mark, bad rows reported with their line and nothing
//! of their file applied, re-runs that change only what changed, dry runs
//! that write nothing — on SQLite always, on PostgreSQL when its URL is
//! set; and the real binary's messages and exit status.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestDatabase;
use jcselect_server::import::{
    import, import_with_users, FileReport, ImportFile, Kind, UsersFile, UsersReport,
};
use jcselect_store_conformance::fixture::pull_context;
use jcselect_sync::auth::{Principal, Role};
use jcselect_sync::pull::{read_pull, PullFrom};
use jcselect_sync::store::ServerStore;
use jcselect_sync::wire::EntityChange;
use uuid::Uuid;

on_every_database!(
    a_list_with_arabic_names_and_a_bom_is_imported_once,
    a_bad_row_is_reported_and_nothing_of_its_file_applied,
    a_dry_run_reports_and_writes_nothing,
    operators_are_imported_by_user_name,
);

/// A directory for the test's files.
fn files_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jcselect-import-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const PENS: &str = "\u{feff}town_name,label\nبيروت,قلم 1\nصيدا,قلم 2\n";
const PARTIES: &str = "{\"name\": \"حزب الأرز\", \"display_order\": \"١\"}\n\n{\"name\": \"Green\", \"short_code\": \"GR\", \"is_active\": \"no\"}\n";
const VOTERS: &str = "\u{feff}town_name,label,voter_number,full_name,father_name,birth_year\n\
بيروت,قلم 1,1001,رامي خليل,خليل,١٩٧٥\n\
بيروت,قلم 1,1002,نور حداد,,1980\n\
صيدا,قلم 2,1001,\"سامي, الابن\",,\n";

async fn open(database: &TestDatabase) -> std::sync::Arc<dyn ServerStore> {
    let registry = jcselect_server::registry().unwrap();
    jcselect_server::database::open_store(&database.url(), registry)
        .await
        .unwrap()
}

async fn run(store: &dyn ServerStore, files: &[(Kind, &Path)], dry_run: bool) -> Vec<FileReport> {
    let files = files
        .iter()
        .map(|(kind, path)| ImportFile {
            kind: *kind,
            path: path.to_path_buf(),
        })
        .collect();
    let registry = jcselect_server::registry().unwrap();
    import(store, registry, files, dry_run, &mut |_| {})
        .await
        .unwrap()
}

/// Everything an admin's replica pulls after `cursor`.
async fn pulled_after(store: &dyn ServerStore, cursor: Option<i64>) -> Vec<EntityChange> {
    let admin = Principal {
        user_id: Uuid::nil(),
        role: Role::Admin,
        pens: vec![],
    };
    let mut from = PullFrom::Cursor(cursor);
    let mut changes = Vec::new();
    loop {
        let page = read_pull(store, &pull_context(), &admin, from, 1000)
            .await
            .unwrap();
        changes.extend(page.changes);
        if !page.has_more {
            return changes;
        }
        let next =
            jcselect_sync::pull::decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap();
        from = PullFrom::Cursor(Some(next));
    }
}

fn data(change: &EntityChange) -> serde_json::Value {
    serde_json::from_str(change.data.get()).unwrap()
}

fn counts(report: &FileReport) -> (u64, u64, u64, u64) {
    (
        report.added,
        report.changed,
        report.unchanged,
        report.error_count,
    )
}

async fn a_list_with_arabic_names_and_a_bom_is_imported_once(database: TestDatabase) {
    let store = open(&database).await;
    let dir = files_dir();
    let pens = write(&dir, "pens.csv", PENS);
    let parties = write(&dir, "parties.jsonl", PARTIES);
    let voters = write(&dir, "voters.csv", VOTERS);
    // voters first on the command line: pens are still applied before them
    let files = [
        (Kind::Voters, voters.as_path()),
        (Kind::Pens, &pens),
        (Kind::Parties, &parties),
    ];
    let reports = run(store.as_ref(), &files, false).await;
    let summary: Vec<_> = reports.iter().map(counts).collect();
    assert_eq!(
        summary,
        vec![(2, 0, 0, 0), (2, 0, 0, 0), (3, 0, 0, 0)],
        "{reports:#?}"
    );
    assert!(reports.iter().all(|report| report.applied));

    let everything = pulled_after(store.as_ref(), None).await;
    let pens_pulled: Vec<_> = everything
        .iter()
        .filter(|c| c.entity_type == "Pen")
        .map(data)
        .collect();
    let beirut = pens_pulled
        .iter()
        .find(|pen| pen["town_name"] == "بيروت")
        .expect("the BOM is not part of the first column's name");
    assert_eq!(beirut["label"], "قلم 1");
    let voters_pulled: Vec<_> = everything
        .iter()
        .filter(|c| c.entity_type == "Voter")
        .map(data)
        .collect();
    assert_eq!(voters_pulled.len(), 3);
    let rami = voters_pulled
        .iter()
        .find(|v| v["voter_number"] == "1001" && v["pen_id"] == beirut["id"])
        .unwrap();
    assert_eq!(rami["full_name"], "رامي خليل");
    assert_eq!(rami["father_name"], "خليل");
    assert_eq!(
        rami["birth_year"], 1975,
        "Arabic-Indic digits read as a number"
    );
    assert_eq!(rami["has_voted"], false);
    assert!(voters_pulled
        .iter()
        .any(|v| v["full_name"] == "سامي, الابن" && v["father_name"].is_null()));
    let parties_pulled: Vec<_> = everything
        .iter()
        .filter(|c| c.entity_type == "Party")
        .map(data)
        .collect();
    let green = parties_pulled
        .iter()
        .find(|p| p["name"] == "Green")
        .unwrap();
    assert_eq!(
        (green["is_active"].clone(), green["display_order"].clone()),
        (false.into(), 0.into())
    );

    // the same files again: nothing added, nothing changed, nothing logged
    let head = store.log_head().await.unwrap().receive_seq;
    let reports = run(store.as_ref(), &files, false).await;
    let summary: Vec<_> = reports.iter().map(counts).collect();
    assert_eq!(summary, vec![(0, 0, 2, 0), (0, 0, 2, 0), (0, 0, 3, 0)]);
    assert_eq!(store.log_head().await.unwrap().receive_seq, head);

    // one voter renamed, one added: exactly those two reach a replica
    let changed = write(
        &dir,
        "voters-2.csv",
        &format!("{VOTERS}صيدا,قلم 2,1002,ليلى,,\n").replace("نور حداد", "نور حداد الحلبي"),
    );
    let reports = run(store.as_ref(), &[(Kind::Voters, &changed)], false).await;
    assert_eq!(counts(&reports[0]), (1, 1, 2, 0), "{reports:#?}");
    let after = pulled_after(store.as_ref(), Some(head)).await;
    let names: Vec<_> = after.iter().map(|c| data(c)["full_name"].clone()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"نور حداد الحلبي".into()) && names.contains(&"ليلى".into()));
    let renamed = after
        .iter()
        .find(|c| data(c)["full_name"] == "نور حداد الحلبي")
        .unwrap();
    let earlier = voters_pulled
        .iter()
        .find(|v| v["voter_number"] == "1002")
        .unwrap();
    assert_eq!(
        data(renamed)["id"],
        earlier["id"],
        "ids are stable across runs"
    );
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_bad_row_is_reported_and_nothing_of_its_file_applied(database: TestDatabase) {
    let store = open(&database).await;
    let dir = files_dir();
    let pens = write(&dir, "pens.csv", PENS);
    run(store.as_ref(), &[(Kind::Pens, &pens)], false).await;
    let head = store.log_head().await.unwrap().receive_seq;
    let bad = write(
        &dir,
        "voters.csv",
        "town_name,label,voter_number,full_name,birth_year\n\
         بيروت,قلم 1,2001,صالح,1990\n\
         بيروت,قلم 1,2002,خطأ,abc\n\
         طرابلس,قلم 9,1,مجهول,\n\
         بيروت,قلم 1,2001,مكرر,\n\
         بيروت,قلم 1,,بلا رقم,\n",
    );
    let reports = run(store.as_ref(), &[(Kind::Voters, &bad)], false).await;
    let report = &reports[0];
    assert!(!report.applied);
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6], "{report:#?}");
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages[0].contains("birth_year") && messages[0].contains("abc"),
        "{messages:?}"
    );
    assert!(messages[1].contains("طرابلس"), "{messages:?}");
    assert!(messages[2].contains("line 2"), "{messages:?}");
    assert!(messages[3].contains("voter_number"), "{messages:?}");
    assert_eq!(
        store.log_head().await.unwrap().receive_seq,
        head,
        "nothing of the file applied"
    );
    let rendered = report.render();
    assert!(rendered.contains("voters.csv:3:"), "{rendered}");

    // a header naming no such field refuses the file before any row
    let unknown = write(
        &dir,
        "odd.csv",
        "town_name,label,voter_number,full_name,colour\n",
    );
    let reports = run(store.as_ref(), &[(Kind::Voters, &unknown)], false).await;
    assert!(
        reports[0].errors[0].message.contains("colour"),
        "{reports:#?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_dry_run_reports_and_writes_nothing(database: TestDatabase) {
    let store = open(&database).await;
    let dir = files_dir();
    let pens = write(&dir, "pens.csv", PENS);
    let voters = write(&dir, "voters.csv", VOTERS);
    let head = store.log_head().await.unwrap().receive_seq;
    // the voters' pens are only in the pens file: a dry run counts them
    let reports = run(
        store.as_ref(),
        &[(Kind::Pens, &pens), (Kind::Voters, &voters)],
        true,
    )
    .await;
    let summary: Vec<_> = reports.iter().map(counts).collect();
    assert_eq!(summary, vec![(2, 0, 0, 0), (3, 0, 0, 0)], "{reports:#?}");
    assert!(reports.iter().all(|report| !report.applied));
    assert!(reports[1].render().contains("would add 3"));
    assert_eq!(store.log_head().await.unwrap().receive_seq, head);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_lists_bad_rows_and_fails() {
    let dir = files_dir();
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let pens = write(&dir, "pens.csv", "town_name,label\nبيروت,\n");
    let output = Command::new(env!("CARGO_BIN_EXE_jcselect-server"))
        .args(["import", "--database", &url, "--pens"])
        .arg(&pens)
        .env("JCSELECT_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stdout.contains("pens.csv:2: `label` is empty"), "{stdout}");
    assert!(stderr.contains("1 bad row(s)"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

on_every_database!(export_round_trips_and_reports_turnout_and_audit);

async fn exported(store: &dyn ServerStore, what: jcselect_server::export::Export) -> String {
    let mut out = Vec::new();
    jcselect_server::export::export(store, what, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

async fn export_round_trips_and_reports_turnout_and_audit(database: TestDatabase) {
    use jcselect_server::export::{find_pen, Export};
    use jcselect_store_conformance::fixture::{audit_row, push, update};
    use jcselect_sync::Syncable;

    let store = open(&database).await;
    let dir = files_dir();
    let pens = write(&dir, "pens.csv", PENS);
    let parties = write(&dir, "parties.jsonl", PARTIES);
    let voters = write(&dir, "voters.csv", VOTERS);
    let files = [
        (Kind::Pens, pens.as_path()),
        (Kind::Parties, &parties),
        (Kind::Voters, &voters),
    ];
    run(store.as_ref(), &files, false).await;

    let first: Vec<String> = vec![
        exported(store.as_ref(), Export::Pens).await,
        exported(store.as_ref(), Export::Parties).await,
        exported(store.as_ref(), Export::Voters).await,
    ];
    assert!(
        first[2].starts_with("town_name,label,voter_number,full_name"),
        "{}",
        first[2]
    );
    assert!(first[2].contains("\"سامي, الابن\""), "{}", first[2]);
    // what was exported imports into another server and exports the same
    let other = TestDatabase::sqlite();
    let other_store = open(&other).await;
    let exported_files = [
        (Kind::Pens, write(&dir, "pens-out.csv", &first[0])),
        (Kind::Parties, write(&dir, "parties-out.csv", &first[1])),
        (Kind::Voters, write(&dir, "voters-out.csv", &first[2])),
    ];
    let borrowed: Vec<(Kind, &Path)> = exported_files
        .iter()
        .map(|(k, p)| (*k, p.as_path()))
        .collect();
    let reports = run(other_store.as_ref(), &borrowed, false).await;
    assert!(reports.iter().all(|r| r.error_count == 0), "{reports:#?}");
    let second = vec![
        exported(other_store.as_ref(), Export::Pens).await,
        exported(other_store.as_ref(), Export::Parties).await,
        exported(other_store.as_ref(), Export::Voters).await,
    ];
    assert_eq!(first, second);
    // and into the first server again it changes nothing
    let reports = run(store.as_ref(), &borrowed, false).await;
    assert!(
        reports.iter().all(|r| r.added == 0 && r.changed == 0),
        "{reports:#?}"
    );

    // turnout: one of Beirut's two voters marked
    let beirut = find_pen(store.as_ref(), "بيروت", "قلم 1").await.unwrap();
    let admin = jcselect_sync::auth::Principal {
        user_id: Uuid::nil(),
        role: Role::Admin,
        pens: vec![],
    };
    let everything = pulled_after(store.as_ref(), None).await;
    let rami = everything
        .iter()
        .find(|c| data(c)["full_name"] == "رامي خليل")
        .unwrap();
    let mut marked: jcselect_entities::Voter = serde_json::from_str(rami.data.get()).unwrap();
    let clerk = jcselect_server::users::add_user(
        store.as_ref(),
        jcselect_server::registry().unwrap(),
        jcselect_server::users::NewUser {
            username: "clerk".into(),
            full_name: None,
            role: Role::Operator,
            pens: vec![beirut],
            password_hash: None,
        },
    )
    .await
    .unwrap();
    marked.has_voted = true;
    marked.voted_at = Some(jcselect_sync::Timestamp::now());
    marked.voted_by_operator_id = Some(clerk);
    marked.updated_at = jcselect_sync::Timestamp::now();
    let clerk_user = jcselect_entities::User::from_record(
        &store
            .get_record(jcselect_entities::User::DECL, clerk)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let beirut_pen = jcselect_entities::Pen::from_record(
        &store
            .get_record(jcselect_entities::Pen::DECL, beirut)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let response = push(
        &store,
        &admin,
        vec![
            update(&marked),
            update(&audit_row(&clerk_user, Some(&beirut_pen), "PEN_OPENED")),
        ],
    )
    .await;
    assert_eq!(response.processed_count, 2, "{response:#?}");
    let turnout = exported(store.as_ref(), Export::Turnout).await;
    assert!(turnout.contains("بيروت,قلم 1,2,1,50.0"), "{turnout}");
    assert!(turnout.contains("صيدا,قلم 2,1,0,0.0"), "{turnout}");
    let audit = exported(store.as_ref(), Export::Audit { pen: beirut }).await;
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(
        lines[1].contains("PEN_OPENED") && lines[1].contains(",clerk,"),
        "{audit}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Imports `pens` (if any) then the users file at `users`.
async fn run_users(
    store: &dyn ServerStore,
    pens: Option<&Path>,
    users: &Path,
    passwords: Option<PathBuf>,
    dry_run: bool,
) -> UsersReport {
    let files = pens
        .map(|path| ImportFile {
            kind: Kind::Pens,
            path: path.to_path_buf(),
        })
        .into_iter()
        .collect();
    let users = UsersFile {
        path: users.to_path_buf(),
        passwords,
    };
    let registry = jcselect_server::registry().unwrap();
    import_with_users(store, registry, files, Some(&users), dry_run, &mut |_| {})
        .await
        .unwrap()
        .1
        .expect("the users file is read")
}

/// The (line, message) of each bad row.
fn bad_rows(report: &UsersReport) -> Vec<(u64, String)> {
    report
        .errors
        .iter()
        .map(|error| (error.line, error.message.clone()))
        .collect()
}

async fn operators_are_imported_by_user_name(database: TestDatabase) {
    use jcselect_server::users::{active_user, check_password};
    let store = open(&database).await;
    let dir = files_dir();
    let pens = write(&dir, "pens.csv", PENS);
    let users = write(
        &dir,
        "users.csv",
        "\u{feff}username,full_name,role,pens\n\
         rami,رامي خليل,operator,بيروت/قلم 1\n\
         centre,مركز,admin,\n",
    );

    // a dry run knows the pens of the same run, and writes nothing
    let dry = run_users(store.as_ref(), Some(&pens), &users, None, true).await;
    assert_eq!(bad_rows(&dry), vec![]);
    assert_eq!((dry.added.len(), dry.applied), (2, false));
    assert!(store.login("rami").await.unwrap().is_none());

    // new users need somewhere to put their passwords
    let refused = run_users(store.as_ref(), Some(&pens), &users, None, false).await;
    assert!(
        bad_rows(&refused)[0].1.contains("--passwords"),
        "{refused:?}"
    );
    assert!(store.login("rami").await.unwrap().is_none());

    let passwords = dir.join("passwords.csv");
    let added = run_users(store.as_ref(), None, &users, Some(passwords.clone()), false).await;
    assert_eq!(bad_rows(&added), vec![]);
    assert_eq!(added.added, vec!["rami", "centre"]);
    let written = std::fs::read_to_string(&passwords).unwrap();
    let rami_password = written
        .lines()
        .find_map(|line| line.strip_prefix("rami,"))
        .unwrap()
        .to_owned();
    assert_eq!(written.lines().count(), 3, "{written}");
    assert!(check_password(store.as_ref(), "rami", &rami_password)
        .await
        .unwrap()
        .is_some());
    let rami = store.login("rami").await.unwrap().unwrap();
    let beirut = rami.pens.clone();
    assert_eq!(beirut.len(), 1);

    // the same file again: nothing changes, the password stays
    let again = run_users(store.as_ref(), None, &users, None, false).await;
    assert_eq!(
        (again.added.len(), again.changed.len(), again.unchanged),
        (0, 0, 2)
    );
    assert!(check_password(store.as_ref(), "rami", &rami_password)
        .await
        .unwrap()
        .is_some());

    // bad rows, each with its line; nothing of the file applied
    let bad = write(
        &dir,
        "bad.csv",
        "username,full_name,role,pens,is_active\n\
         rami,رامي,operator,صيدا/قلم 2,false\n\
         boss,,chief,,\n\
         lonely,,operator,,\n\
         centre,,admin,صيدا/قلم 2,\n\
         rami,,operator,صيدا/قلم 2,\n\
         lost,,operator,طرابلس/قلم 9,\n",
    );
    let report = run_users(store.as_ref(), None, &bad, Some(dir.join("p2.csv")), false).await;
    let lines: Vec<u64> = bad_rows(&report).iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7], "{report:?}");
    let messages = bad_rows(&report);
    assert!(messages[0].1.contains("neither admin nor operator"));
    assert!(messages[1].1.contains("no pen"));
    assert!(messages[2].1.contains("admin reaches every pen"));
    assert!(messages[3].1.contains("already on line 2"));
    assert!(
        messages[4].1.contains("no pen") && messages[4].1.contains("قلم 9"),
        "{}",
        messages[4].1
    );
    assert_eq!(store.login("rami").await.unwrap().unwrap().pens, beirut);
    assert!(!dir.join("p2.csv").exists());

    // moved to another pen and disabled
    let moved = write(
        &dir,
        "moved.csv",
        "username,full_name,role,pens,is_active\nrami,رامي,operator,صيدا/قلم 2; بيروت/قلم 1,no\n",
    );
    let report = run_users(store.as_ref(), None, &moved, None, false).await;
    assert_eq!(bad_rows(&report), vec![]);
    assert_eq!(report.changed.len(), 1, "{report:?}");
    assert_eq!(store.login("rami").await.unwrap().unwrap().pens.len(), 2);
    assert!(active_user(store.as_ref(), "rami").await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}
