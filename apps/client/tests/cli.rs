//! The `jcselect-client` binary driven as a script would drive it, with
//! `--json`, against a real server on 127.0.0.1.

use std::process::{Command, Output, Stdio};

use jcselect_server::settings::{FileSettings, Overrides, Settings};
use jcselect_server::users::{add_user, NewUser};
use jcselect_store_conformance::fixture;
use jcselect_sync::auth::Role;
use serde_json::Value;
use uuid::Uuid;

const CLIENT: &str = env!("CARGO_BIN_EXE_jcselect-client");

struct Cli {
    database: String,
    server: String,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(CLIENT)
            .args(["--database", &self.database, "--server", &self.server])
            .args(args)
            .env_remove("JCSELECT_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all, "");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_commands_drive_a_replica_end_to_end() {
    let dir = std::env::temp_dir().join(format!("jcselect-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let server_url = format!("sqlite://{}", dir.join("server.db").display());
    let settings = Settings::resolve(
        Overrides {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some(server_url.clone()),
            ..Overrides::default()
        },
        FileSettings::default(),
    )
    .unwrap();
    let secret = jcselect_server::secret::JwtSecret::new(
        b"cli-secret-0123456789abcdef-0123456789".to_vec(),
        "t",
    )
    .unwrap();
    let router = jcselect_server::app(&settings, &secret).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(jcselect_server::http::run(
        listener,
        router,
        std::future::pending(),
    ));

    // the server side: an admin, a pen and a voter
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&server_url, registry)
        .await
        .unwrap();
    add_user(
        store.as_ref(),
        registry,
        NewUser {
            username: "admin".into(),
            full_name: None,
            role: Role::Admin,
            pens: vec![],
            password_hash: Some(jcselect_server::auth::hash_password("pw")),
        },
    )
    .await
    .unwrap();
    let pen = fixture::pen("P");
    let voter = fixture::voter(&pen, "1234", "أحمد الخطيب");
    let admin = jcselect_server::auth::Tokens::new(&secret);
    let login = store.login("admin").await.unwrap().unwrap();
    let token = admin.mint(login.user_id, "admin", Role::Admin, &[], 600);
    let response = reqwest_push(
        &base,
        &token,
        vec![fixture::update(&pen), fixture::update(&voter)],
    )
    .await;
    assert_eq!(response["processed_count"], 2);

    let cli = Cli {
        database: format!("sqlite://{}", dir.join("pen.db").display()),
        server: base,
    };
    let login = cli.run(&["--json", "login", "--username", "admin"], "pw\n");
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let synced = cli.json(&["sync"]);
    assert_eq!(synced["pulled"], 3);

    // search folds Arabic spellings; number first
    let found = cli.json(&["search", "احمد"]);
    assert_eq!(found[0]["id"], voter.id.to_string());
    let found = cli.json(&["search", "12"]);
    assert_eq!(found[0]["voter_number"], "1234");

    let marked = cli.json(&["mark-voted", "--voter", &voter.id.to_string()]);
    assert_eq!(marked["has_voted"], true);
    let again = cli.run(&["mark-voted", "--voter", &voter.id.to_string()], "");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already voted"));

    // delete asks first; "n" keeps the voter
    let refused = cli.run(&["delete", "--voter", &voter.id.to_string()], "n\n");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("delete voter 1234"));
    let status = cli.json(&["status"]);
    assert_eq!(status["pending"], 1);
    let deleted = cli.json(&["delete", "--voter", &voter.id.to_string(), "--yes"]);
    assert!(deleted["deleted_at"].is_string());
    assert_eq!(cli.json(&["search", "احمد"]), Value::Array(vec![]));

    let status = cli.json(&["status"]);
    assert_eq!(
        status["pending"], 2,
        "the tombstone and its audit row wait for the push"
    );
    let synced = cli.json(&["sync"]);
    assert_eq!(synced["pushed"], 2);
    let status = cli.json(&["status"]);
    assert_eq!(
        (status["pending"].as_u64(), status["parked"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(status["last_sync"].is_string());
    assert_eq!(cli.json(&["requeue"])["requeued"], 0);

    // a bad setting stops the program with its name and bounds
    let bad = Command::new(CLIENT)
        .args(["--database", &cli.database, "status"])
        .env("JCSELECT_SYNC_PULL_PAGE_SIZE", "5")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("sync_pull_page_size") && message.contains("10 and 1000"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

async fn reqwest_push(
    base: &str,
    token: &str,
    changes: Vec<jcselect_sync::wire::EntityChange>,
) -> Value {
    use jcselect_sync::transport::Transport;
    let transport = jcselect_transport_http::HttpTransport::new(base, Default::default()).unwrap();
    let answer = transport
        .push(
            token,
            &jcselect_sync::wire::SyncPushRequest {
                client_id: "setup".into(),
                changes,
            },
        )
        .await
        .unwrap();
    serde_json::to_value(answer).unwrap()
}
