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
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// A server on 127.0.0.1 over a SQLite file in `dir`, with an admin
/// whose password is `password`; its URL, store and token signer.
async fn start_server(
    dir: &std::path::Path,
    password: &str,
) -> (
    String,
    std::sync::Arc<dyn jcselect_sync::store::ServerStore>,
    jcselect_server::auth::Tokens,
) {
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
            password_hash: Some(jcselect_server::auth::hash_password(password)),
        },
    )
    .await
    .unwrap();
    (base, store, jcselect_server::auth::Tokens::new(&secret))
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jcselect-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_commands_drive_a_replica_end_to_end() {
    let dir = temp_dir();
    let (base, store, admin) = start_server(&dir, "pw").await;
    let pen = fixture::pen("P");
    let voter = fixture::voter(&pen, "1234", "أحمد الخطيب");
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

    // by the number on the voter's card, in Arabic-Indic digits too
    let unknown = cli.run(&["mark-voted", "--number", "9999"], "");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no voter number 9999"));
    let marked = cli.json(&["mark-voted", "--number", "١٢٣٤"]);
    assert_eq!(marked["has_voted"], true);
    assert_eq!(marked["id"], voter.id.to_string());
    let again = cli.run(&["mark-voted", "--voter", &voter.id.to_string()], "");
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("already voted") && said.contains("marked by admin"),
        "{said}"
    );

    // delete asks first; "n" keeps the voter
    let refused = cli.run(&["delete", "--number", "1234"], "n\n");
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
            None,
        )
        .await
        .unwrap();
    serde_json::to_value(answer).unwrap()
}

/// Exit statuses a script can act on, with `--json` errors on standard
/// output: 5 before any log-in, 4 when the server cannot be reached
/// (nothing lost), 3 while a change is parked (listed by `status` with its
/// reason and age), 0 once nothing is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exit_statuses_and_json_errors_tell_what_happened() {
    let dir = temp_dir();
    let (base, _store, _) = start_server(&dir, "pw").await;
    let cli = Cli {
        database: format!("sqlite://{}", dir.join("pen.db").display()),
        server: base.clone(),
    };
    let not_logged_in = cli.run(&["--json", "sync"], "");
    assert_eq!(not_logged_in.status.code(), Some(5));
    let error: Value = serde_json::from_slice(&not_logged_in.stdout).unwrap();
    assert_eq!(error["error"], "not_logged_in");
    assert!(error["message"].as_str().unwrap().contains("login"));

    assert!(cli
        .run(&["login", "--username", "admin"], "pw\n")
        .status
        .success());
    // a tally line whose session the server has never seen: it waits, then
    // (one retry allowed) is parked by the server's verdict
    let pen = fixture::pen("P");
    let operator = fixture::user("op", jcselect_entities::Role::Operator);
    let party = fixture::party("حزب");
    let session = fixture::session(&pen, &operator);
    let line = fixture::line(&session, &party, 3);
    seed_replica(&cli.database, &[&line]).await;
    let parked = Command::new(CLIENT)
        .args([
            "--database",
            &cli.database,
            "--server",
            &base,
            "--json",
            "sync",
        ])
        .env("JCSELECT_SYNC_MAX_RETRIES", "1")
        .output()
        .unwrap();
    assert_eq!(parked.status.code(), Some(3), "{parked:?}");
    let report: Value = serde_json::from_slice(&parked.stdout).unwrap();
    assert_eq!(report["parked"], 1);
    let text = cli.run(&["sync"], "");
    assert_eq!(text.status.code(), Some(3));
    let line_out = String::from_utf8_lossy(&text.stdout);
    assert!(line_out.contains("parked 1"), "{line_out}");
    let status = cli.run(&["status"], "");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("parked TallyLine")
            && status.contains("queued")
            && status.contains("missing parent")
            && status.contains(&session.id.to_string()),
        "{status}"
    );
    let listed = cli.json(&["status"]);
    assert_eq!(listed["parked_changes"][0]["entity_type"], "TallyLine");
    assert!(listed["parked_changes"][0]["queued_at"].is_string());

    // the server gone: exit 4, and the change is still there
    let gone = Command::new(CLIENT)
        .args([
            "--database",
            &cli.database,
            "--server",
            "http://127.0.0.1:9",
            "--json",
            "sync",
        ])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(4));
    let error: Value = serde_json::from_slice(&gone.stdout).unwrap();
    assert_eq!(error["error"], "unreachable");
    assert_eq!(cli.json(&["status"])["parked"], 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// Queues records on a replica file as the data API would.
async fn seed_replica(database: &str, records: &[&jcselect_entities::TallyLine]) {
    let transport = std::sync::Arc::new(
        jcselect_transport_http::HttpTransport::new("http://127.0.0.1:9", Default::default())
            .unwrap(),
    );
    let replica = jcselect_client::Replica::open(database, transport, Default::default())
        .await
        .unwrap();
    let lines: Vec<_> = records.iter().map(|line| (*line).clone()).collect();
    replica.dao.save(&lines).await.unwrap();
}

/// The client remembers the server it logged in to; a reader that goes
/// away (`| head`) ends it quietly, never with a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_server_is_remembered_and_a_closed_pipe_is_no_panic() {
    let dir = temp_dir();
    let (base, _store, _) = start_server(&dir, "pw").await;
    let database = format!("sqlite://{}", dir.join("pen.db").display());
    let cli = Cli {
        database: database.clone(),
        server: base.clone(),
    };
    assert!(cli
        .run(&["login", "--username", "admin"], "pw\n")
        .status
        .success());
    let without_server = Command::new(CLIENT)
        .args(["--database", &database, "--json", "status"])
        .env_remove("JCSELECT_SYNC_API_URL")
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&without_server.stdout).unwrap();
    assert_eq!(status["server"], base);
    assert!(status["session_ends_at"].is_string());

    for _ in 0..5 {
        let mut child = Command::new(CLIENT)
            .args(["--database", &database, "--server", &base, "status"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A relative database path is resolved once and shown by `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relative_database_path_is_shown_absolute() {
    let dir = temp_dir();
    let output = Command::new(CLIENT)
        .current_dir(&dir)
        .args(["--database", "sqlite://station.db", "--json", "status"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    let shown = status["database"].as_str().unwrap();
    assert_eq!(
        shown,
        format!("sqlite://{}", dir.join("station.db").display())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("station.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the station file is its owner's only");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// At a terminal, `login` asks for the password without echoing it and
/// finishes on Enter (standard input stays open). Uses `script` from
/// util-linux (part of every Debian system) for a pseudo-terminal; other
/// systems' `script` takes other flags, so there the test is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "needs util-linux `script` for a pseudo-terminal"
)]
async fn login_at_a_terminal_does_not_echo_the_password() {
    use std::io::{Read, Write};
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "`script` (util-linux) is needed for a pseudo-terminal"
    );
    let dir = temp_dir();
    let secret = "s3cret-كلمة";
    let (base, _store, _) = start_server(&dir, secret).await;
    let database = format!("sqlite://{}", dir.join("pen.db").display());
    let command = format!("{CLIENT} --database {database} --server {base} login --username admin");
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_remove("JCSELECT_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(read) = stdout.read(&mut buffer) {
            if read == 0 || seen_tx.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut stdin = child.stdin.take().unwrap();
    let mut typed = false;
    while std::time::Instant::now() < deadline {
        if let Ok(piece) = seen_rx.recv_timeout(std::time::Duration::from_millis(100)) {
            seen.extend(piece);
        }
        let text = String::from_utf8_lossy(&seen).to_string();
        if !typed && text.contains("password:") {
            // as a person would: a moment after the prompt shows (the
            // prompt is printed just before echo is switched off)
            std::thread::sleep(std::time::Duration::from_millis(500));
            stdin.write_all(format!("{secret}\r").as_bytes()).unwrap();
            stdin.flush().unwrap();
            typed = true;
        }
        if text.contains("logged in") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&seen).to_string();
    assert!(
        text.contains("logged in"),
        "login did not finish on Enter: {text:?}"
    );
    assert!(!text.contains(secret), "the password was echoed: {text:?}");
    drop(stdin);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// `run` says one line per cycle — as one JSON object with `--json` — and
/// stops on Ctrl-C, exiting 3 while something is parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_reports_every_cycle_and_stops_on_interrupt() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir();
    let (base, _store, _) = start_server(&dir, "pw").await;
    let cli = Cli {
        database: format!("sqlite://{}", dir.join("pen.db").display()),
        server: base.clone(),
    };
    assert!(cli
        .run(&["login", "--username", "admin"], "pw\n")
        .status
        .success());
    for (json, check) in [(true, "{"), (false, "next cycle in 300 s")] {
        let mut args = vec!["--database", &cli.database, "--server", &base];
        if json {
            args.push("--json");
        }
        args.push("run");
        let mut child = Command::new(CLIENT)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains(check), "{first}");
        if json {
            let cycle: Value = serde_json::from_str(&first).unwrap();
            assert_eq!(cycle["parked"], 0);
            assert_eq!(cycle["next_in_seconds"], 300.0);
            assert!(cycle["at"].is_string());
        } else {
            assert!(
                first.contains("pushed 0") && first.contains("parked 0"),
                "{first}"
            );
        }
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    let _ = std::fs::remove_dir_all(dir);
}
