//! The user commands of the real binary: `user pens` moves an operator and
//! says where, by town and label; it refuses what it cannot do with a
//! message a person can act on.

use std::process::{Command, Output};

use jcselect_store_conformance::fixture::{pen, push, update, World};
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
