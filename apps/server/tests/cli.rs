//! The user commands of the real binary: `user pens` moves an operator and
//! says where, by town and label; it refuses what it cannot do with a
//! message a person can act on.

use std::process::{Command, Output};

use jcselect_store_conformance::fixture::{pen, push, update, World};
use jcselect_sync::Syncable;
use uuid::Uuid;

const BINARY: &str = env!("CARGO_BIN_EXE_jcselect-server");

fn run(args: &[&str], url: &str) -> Output {
    Command::new(BINARY)
        .args(args)
        .args(["--database", url])
        .env("JCSELECT_LOG", "warn")
        .output()
        .expect("the server binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn user_pens_moves_an_operator_and_refuses_what_it_cannot() {
    let dir = std::env::temp_dir().join(format!("jcselect-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    let (pen_a, pen_b) = (pen("قلم أ"), pen("قلم ب"));
    let response = push(
        &store,
        &World::new().admin,
        vec![update(&pen_a), update(&pen_b)],
    )
    .await;
    assert_eq!(response.processed_count, 2, "{response:?}");
    drop(store);

    let a = pen_a.id.to_string();
    let b = pen_b.id.to_string();
    for args in [
        vec!["user", "add", "--username", "chief", "--role", "admin"],
        vec![
            "user",
            "add",
            "--username",
            "clerk",
            "--role",
            "operator",
            "--pen",
            &a,
        ],
    ] {
        let output = run(&args, &url);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    let moved = run(&["user", "pens", "--username", "clerk", "--pen", &b], &url);
    assert!(moved.status.success(), "{}", text(&moved.stderr));
    let said = text(&moved.stdout);
    assert!(
        said.contains("pens added: طرابلس / قلم ب")
            && said.contains("pens removed: طرابلس / قلم أ"),
        "{said}"
    );

    let unknown = Uuid::new_v4().to_string();
    for (args, expected) in [
        (
            vec!["user", "pens", "--username", "chief", "--pen", &a],
            "is an admin",
        ),
        (
            vec!["user", "pens", "--username", "clerk", "--pen", &unknown],
            "there is no pen",
        ),
        (
            vec!["user", "pens", "--username", "nobody", "--pen", &a],
            "there is no user",
        ),
        (vec!["user", "pens", "--username", "clerk"], "--pen"),
    ] {
        let output = run(&args, &url);
        assert!(!output.status.success(), "{args:?} succeeded");
        let said = text(&output.stderr);
        assert!(said.contains(expected), "{args:?}: {said}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs the binary with `input` on its standard input.
fn run_with_input(args: &[&str], url: &str, input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BINARY)
        .args(args)
        .args(["--database", url])
        .env("JCSELECT_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the server binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_commands_add_list_disable_enable_passwd_remove() {
    use jcselect_server::users::{active_user, current_principal};
    use jcselect_sync::auth::{Principal, Role};

    let dir = std::env::temp_dir().join(format!("jcselect-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("server.db").display());
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    let pen_a = pen("قلم أ");
    let response = push(&store, &World::new().admin, vec![update(&pen_a)]).await;
    assert_eq!(response.processed_count, 1, "{response:?}");
    drop(store);
    let a = pen_a.id.to_string();
    let unknown = Uuid::new_v4().to_string();

    // user add refuses an operator without a pen or with an unknown one
    for (args, expected) in [
        (
            vec!["user", "add", "--username", "clerk", "--role", "operator"],
            "one pen at least",
        ),
        (
            vec![
                "user",
                "add",
                "--username",
                "clerk",
                "--role",
                "operator",
                "--pen",
                &unknown,
            ],
            "there is no pen",
        ),
    ] {
        let output = run(&args, &url);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
    }
    // and warns when an admin is given pens
    let chief = run(
        &[
            "user",
            "add",
            "--username",
            "chief",
            "--role",
            "admin",
            "--pen",
            &a,
        ],
        &url,
    );
    assert!(chief.status.success(), "{}", text(&chief.stderr));
    assert!(text(&chief.stderr).contains("warning: an admin reaches every pen"));
    let clerk = run_with_input(
        &[
            "user",
            "add",
            "--username",
            "clerk",
            "--role",
            "operator",
            // a pen by town and label, as people name it
            "--pen",
            "طرابلس/قلم أ",
            "--full-name",
            "سامي",
            "--password-stdin",
        ],
        &url,
        "first secret\n",
    );
    assert!(clerk.status.success(), "{}", text(&clerk.stderr));
    // the clerk's station reported itself two minutes ago; the chief never synced
    let reports = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    let clerk_id = reports.login("clerk").await.unwrap().unwrap().user_id;
    reports
        .put_station(&jcselect_sync::store::StationSeen {
            report: jcselect_sync::wire::StationReport {
                client_id: "clerk-station".into(),
                version: "jcselect-client 0.1.0".into(),
                pending: 0,
                retry: 0,
                parked: 0,
                oldest_unsent_at: None,
                clock_offset_micros: 0,
                parked_changes: vec![],
            },
            user_id: clerk_id,
            seen_at: jcselect_sync::Timestamp::now().plus_micros(-125_000_000),
        })
        .await
        .unwrap();
    drop(reports);

    let listed = run(&["user", "list"], &url);
    let said = text(&listed.stdout);
    let clerk_line = said
        .lines()
        .find(|l| l.starts_with("clerk"))
        .unwrap_or_default();
    assert!(
        clerk_line.contains("سامي")
            && clerk_line.contains("operator")
            && clerk_line.contains("active")
            && clerk_line.contains("طرابلس / قلم أ")
            && clerk_line.contains("2 min ago"),
        "{said}"
    );
    let chief_line = said
        .lines()
        .find(|l| l.starts_with("chief"))
        .unwrap_or_default();
    assert!(
        chief_line.contains("admin")
            && chief_line.contains("every pen")
            && chief_line.contains("never"),
        "{said}"
    );

    let store = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    let login = store.login("clerk").await.unwrap().unwrap();
    let claimed = Principal {
        user_id: login.user_id,
        role: Role::Operator,
        pens: vec![pen_a.id],
    };
    let allowed = || async {
        current_principal(store.as_ref(), &claimed, "clerk")
            .await
            .unwrap()
            .is_some()
    };
    assert!(allowed().await);

    // a disabled user's token is refused at its next request, enabled again
    let output = run(&["user", "disable", "--username", "clerk"], &url);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !allowed().await,
        "a disabled user's token is refused at once"
    );
    assert!(text(&run(&["user", "list"], &url).stdout)
        .lines()
        .any(|l| l.starts_with("clerk") && l.contains("disabled")));
    let again = run(&["user", "disable", "--username", "clerk"], &url);
    assert!(text(&again.stderr).contains("already disabled"));
    assert!(run(&["user", "enable", "--username", "clerk"], &url)
        .status
        .success());
    assert!(allowed().await);

    // a new password replaces the old one
    let output = run_with_input(
        &["user", "passwd", "--username", "clerk"],
        &url,
        "second secret\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hash = active_user(store.as_ref(), "clerk")
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(jcselect_server::auth::verify_password(
        "second secret",
        &hash
    ));
    assert!(!jcselect_server::auth::verify_password(
        "first secret",
        &hash
    ));

    // a removed user is refused for good; its record is a tombstone
    let output = run(&["user", "remove", "--username", "clerk"], &url);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!allowed().await);
    let record = store
        .get_record(jcselect_entities::User::DECL, login.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.is_tombstone());
    let enable = run(&["user", "enable", "--username", "clerk"], &url);
    assert!(!enable.status.success());
    assert!(text(&enable.stderr).contains("was removed"));
    assert!(text(&run(&["user", "list"], &url).stdout)
        .lines()
        .any(|l| l.starts_with("clerk") && l.contains("removed")));
    let _ = std::fs::remove_dir_all(dir);
}
