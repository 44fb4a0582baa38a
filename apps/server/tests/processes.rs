//! The real binary as separate processes: killed with SIGKILL in the middle
//! of pushes and restarted on the same database (everything acknowledged is
//! there, nothing is half-applied), and two processes sharing one
//! PostgreSQL database (nothing lost, every replica converges).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{token, Api, TestDatabase, SECRET};
use jcselect_store_conformance::fixture::{pen, update, voter};
use jcselect_sync::auth::Role;
use uuid::Uuid;

const BINARY: &str = env!("CARGO_BIN_EXE_jcselect-server");

/// A `jcselect-server serve` process.
struct ServerProcess {
    child: Child,
    base: String,
}

impl ServerProcess {
    fn start(url: &str) -> Self {
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .env("JCSELECT_JWT_SECRET", SECRET)
            .env("JCSELECT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ServerProcess { child, base }
    }

    /// SIGKILL: no chance to finish anything.
    fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn add_admin(url: &str) -> Uuid {
    let output = Command::new(BINARY)
        .args([
            "user",
            "add",
            "--username",
            "admin",
            "--role",
            "admin",
            "--database",
            url,
        ])
        .env("JCSELECT_JWT_SECRET", SECRET)
        .env("JCSELECT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

async fn killed_mid_push_and_restarted(database: TestDatabase) {
    let url = database.url();
    let admin = add_admin(&url);
    let server = ServerProcess::start(&url);
    let api = Api::new(&server.base, &token("admin", admin, Role::Admin, &[]));
    let pen = pen("A");
    assert_eq!(api.push(vec![update(&pen)]).await.0, 200);

    // push batches without pause; kill the server after a few were
    // acknowledged, while others are in flight
    let pusher = {
        let api = api.clone();
        let pen = pen.clone();
        tokio::spawn(async move {
            let mut batches: Vec<(Vec<Uuid>, bool)> = Vec::new();
            for batch in 0..400 {
                let voters: Vec<_> = (0..40)
                    .map(|n| voter(&pen, &format!("{batch}-{n}"), "k"))
                    .collect();
                let ids = voters.iter().map(|v| v.id).collect();
                let body = serde_json::json!({"client_id": "k", "changes": voters.iter().map(update).collect::<Vec<_>>()});
                let acknowledged = match api
                    .http
                    .post(format!("{}/sync/push", api.base))
                    .bearer_auth(&api.token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        response.status() == 200
                            && response.json::<serde_json::Value>().await.is_ok()
                    }
                    Err(_) => false,
                };
                batches.push((ids, acknowledged));
                if !acknowledged {
                    break;
                }
            }
            batches
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    server.kill_hard();
    let batches = pusher.await.unwrap();
    let acknowledged = batches.iter().filter(|(_, ok)| *ok).count();
    assert!(acknowledged > 0, "some pushes finished before the kill");
    assert!(
        acknowledged < 400,
        "the kill came while pushes were still going"
    );

    let server = ServerProcess::start(&url);
    let api = Api::new(&server.base, &api.token);
    let (changes, _) = api.pull_all(None, 1000).await;
    let present: HashSet<Uuid> = changes.iter().map(|c| c.entity_id).collect();
    for (index, (ids, ok)) in batches.iter().enumerate() {
        let stored = ids.iter().filter(|id| present.contains(id)).count();
        if *ok {
            assert_eq!(stored, ids.len(), "acknowledged batch {index} lost records");
        } else {
            assert!(
                stored == 0 || stored == ids.len(),
                "batch {index} half-applied: {stored} of {}",
                ids.len()
            );
        }
    }
    // the restarted server goes on accepting pushes
    let after = voter(&pen, "after", "restart");
    assert_eq!(api.push(vec![update(&after)]).await.0, 200);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_push_and_restarted_on_sqlite() {
    killed_mid_push_and_restarted(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(postgres_tests), ignore = "JCSELECT_TEST_POSTGRES_URL is not set")]
async fn killed_mid_push_and_restarted_on_postgres() {
    if let Some(database) = TestDatabase::postgres().await {
        killed_mid_push_and_restarted(database).await;
    }
}

/// Two processes, one PostgreSQL database: pushers spread over both, a
/// puller on each; nothing is lost and both pullers end with the same
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(postgres_tests), ignore = "JCSELECT_TEST_POSTGRES_URL is not set")]
async fn two_server_processes_share_one_postgres_database() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let url = database.url();
    let admin = add_admin(&url);
    let servers = [ServerProcess::start(&url), ServerProcess::start(&url)];
    let token = token("admin", admin, Role::Admin, &[]);
    let apis: Vec<Api> = servers
        .iter()
        .map(|server| Api::new(&server.base, &token))
        .collect();
    let pen = pen("shared");
    assert_eq!(apis[0].push(vec![update(&pen)]).await.0, 200);

    let mut pushers = Vec::new();
    for writer in 0..6 {
        let api = apis[writer % 2].clone();
        let pen = pen.clone();
        pushers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for batch in 0..10 {
                let mut voters: Vec<_> = (0..15)
                    .map(|n| voter(&pen, &format!("{writer}-{batch}-{n}"), "w"))
                    .collect();
                // every writer also edits one record all writers share
                let mut shared = voter(&pen, "shared", &format!("edit {writer}-{batch}"));
                shared.id = Uuid::from_u128(42);
                shared.updated_at = jcselect_store_conformance::fixture::ago(0);
                voters.push(shared);
                written.extend(voters.iter().map(|v| v.id));
                let (status, response) = api.push(voters.iter().map(update).collect()).await;
                assert_eq!(status, 200, "{response:?}");
            }
            written
        }));
    }
    let mut written = HashSet::new();
    for pusher in pushers {
        written.extend(pusher.await.unwrap());
    }
    let mut replicas = Vec::new();
    for api in &apis {
        let (changes, _) = api.pull_all(None, 97).await;
        let mut state: HashMap<Uuid, serde_json::Value> = HashMap::new();
        for change in changes {
            state.insert(change.entity_id, change.data_value());
        }
        assert!(
            written.iter().all(|id| state.contains_key(id)),
            "a replica missed records"
        );
        replicas.push(state);
    }
    assert_eq!(
        replicas[0], replicas[1],
        "both replicas converge to the same records"
    );
    drop(servers);
}

/// SIGTERM while a large push is in flight: the push completes and is
/// acknowledged, then the process exits cleanly; the data is there after a
/// restart.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_push_in_flight() {
    let database = TestDatabase::sqlite();
    let url = database.url();
    let admin = add_admin(&url);
    let mut server = ServerProcess::start(&url);
    let api = Api::new(&server.base, &token("admin", admin, Role::Admin, &[]));
    let pen = pen("A");
    assert_eq!(api.push(vec![update(&pen)]).await.0, 200);
    let voters: Vec<_> = (0..2_000)
        .map(|n| voter(&pen, &n.to_string(), "term"))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "client_id": "term",
        "changes": voters.iter().map(update).collect::<Vec<_>>(),
    }))
    .unwrap();
    // the request is on the wire, half its body sent, when SIGTERM comes
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /sync/push HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        api.token,
        body.len()
    );
    connection.write_all(head.as_bytes()).await.unwrap();
    connection.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    connection.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.contains("\"processed_count\":2000"));
    assert!(
        server.child.wait().unwrap().success(),
        "a clean exit after SIGTERM"
    );

    let server = ServerProcess::start(&url);
    let api = Api::new(&server.base, &api.token);
    let (changes, _) = api.pull_all(None, 1000).await;
    let present: HashSet<Uuid> = changes.iter().map(|c| c.entity_id).collect();
    assert!(voters.iter().all(|v| present.contains(&v.id)));
}
