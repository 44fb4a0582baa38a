//! The API over real HTTP on 127.0.0.1, as a desktop client drives it: every
//! status code, every bucket, auth failures, pen scoping, and pulls that
//! miss nothing — on SQLite always, on PostgreSQL when its URL is set.

#[macro_use]
mod common;

use std::collections::HashSet;

use common::{token, user, Api, InProcess, TestDatabase};
use jcselect_store_conformance::fixture::{audit_row, line, pen, session, update, voter};
use jcselect_sync::auth::Role;
use jcselect_sync::wire::FailureReason;
use serde_json::json;
use uuid::Uuid;

on_every_database!(
    status_codes_and_error_bodies,
    auth_failures_get_401,
    buckets_over_http,
    pen_scoping_of_push_and_pull,
    late_offline_writes_and_concurrent_writers_are_never_missed,
    login_issues_a_working_token,
    text_no_store_keeps_is_refused_alone,
    repeated_wrong_passwords_lock_out_for_a_while,
    a_token_outlives_no_deactivation,
    requests_cancelled_at_random_points_leave_a_healthy_server,
);

struct World {
    server: InProcess,
    admin: Api,
    operator: Api,
    admin_id: Uuid,
    operator_id: Uuid,
    pen_a: jcselect_entities::Pen,
    pen_b: jcselect_entities::Pen,
    party: jcselect_entities::Party,
}

async fn world(database: &TestDatabase) -> World {
    let url = database.url();
    let server = InProcess::start(&url).await;
    let pen_a = pen("A");
    let pen_b = pen("B");
    let admin_id = user(&url, "admin", Role::Admin, vec![], None).await;
    let operator_id = user(
        &url,
        "op",
        Role::Operator,
        vec![pen_a.id],
        Some("op-password"),
    )
    .await;
    let admin = Api::new(&server.base(), &token("admin", admin_id, Role::Admin, &[]));
    let operator = Api::new(
        &server.base(),
        &token("op", operator_id, Role::Operator, &[pen_a.id]),
    );
    let party = jcselect_store_conformance::fixture::party("حزب");
    let (status, response) = admin
        .push(vec![update(&pen_a), update(&pen_b), update(&party)])
        .await;
    assert_eq!((status, response.processed_count), (200, 3));
    World {
        server,
        admin,
        operator,
        admin_id,
        operator_id,
        pen_a,
        pen_b,
        party,
    }
}

async fn status_codes_and_error_bodies(database: TestDatabase) {
    let w = world(&database).await;
    let client = &w.admin;
    let error_of = |body: serde_json::Value| {
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
        body["error"].as_str().unwrap().to_owned()
    };

    // 409: a line before its session, then 200 once the session exists
    let operator_user =
        jcselect_store_conformance::fixture::user("x", jcselect_entities::Role::Operator);
    let mut operator_user = operator_user;
    operator_user.id = w.operator_id;
    let session = session(&w.pen_a, &operator_user);
    let tally = line(&session, &w.party, 7);
    let (status, response) = client.push(vec![update(&tally)]).await;
    assert_eq!(status, 409);
    assert_eq!(
        response.dependency_conflicts[0].missing[0].entity_id,
        session.id
    );
    let (status, _) = client.push(vec![update(&session), update(&tally)]).await;
    assert_eq!(status, 200);

    // 400: bad JSON, wrong types, too many changes; nothing applied
    for body in [
        json!("not an object"),
        json!({"client_id": "x", "changes": "nope"}),
        json!({"client_id": "x", "changes": [{"change_id": "not-a-uuid"}]}),
    ] {
        let response = client.push_raw(&body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(error_of(response.json().await.unwrap()), "bad_request");
    }
    let many: Vec<_> = (0..10_001)
        .map(|_| {
            let mut change = update(&w.pen_a);
            change.data = serde_json::value::to_raw_value(&json!({})).unwrap();
            change
        })
        .collect();
    let response = client
        .push_raw(&json!({"client_id": "x", "changes": many}))
        .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("10000"),
        "{body}"
    );
    // over the 8 MiB test limit: 413, and nothing applied
    let padding = "x".repeat(9 * 1024 * 1024);
    let mut oversized = update(&voter(&w.pen_a, "big", "big"));
    let oversized_id = oversized.entity_id;
    let mut data = oversized.data_value();
    data["father_name"] = json!(padding);
    oversized.data = serde_json::value::to_raw_value(&data).unwrap();
    let response = client
        .push_raw(&json!({"client_id": "x", "changes": [oversized]}))
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        error_of(response.json().await.unwrap()),
        "payload_too_large"
    );
    let (changes, _) = client.pull_all(None, 1000).await;
    assert!(!changes.iter().any(|c| c.entity_id == oversized_id));

    // pull: 400 for limit, offset, cursor, timestamp
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "offset=-1&last_sync=2026-01-01T00:00:00Z",
        "cursor=bogus",
        "last_sync=yesterday",
        "cursor=r1&last_sync=2026-01-01T00:00:00Z",
    ] {
        let response = client.pull_raw(query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(error_of(response.json().await.unwrap()), "bad_request");
    }

    // a cursor past the end of the log (another database, a restored
    // backup) is refused with its own code, never answered with nothing
    let response = client.pull_raw("cursor=r999999999").await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response.json().await.unwrap()), "cursor_ahead");

    // the seed's form with a Python isoformat offset, escaped or not
    for query in [
        "last_sync=2026-01-01T00:00:00%2B00:00",
        "last_sync=2026-01-01T00:00:00+00:00",
        "last_sync=2026-01-01T00:00:00.5",
    ] {
        assert_eq!(client.pull_raw(query).await.status(), 200, "{query}");
    }

    // unknown route and wrong method still answer with an error body
    let response = reqwest::get(format!("{}/nowhere", w.server.base()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    error_of(response.json().await.unwrap());
    let response = reqwest::get(format!("{}/sync/push", w.server.base()))
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    error_of(response.json().await.unwrap());

    // health, metrics, openapi
    let health = reqwest::get(format!("{}/health", w.server.base()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("{}/metrics", w.server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jcselect_http_requests_total{route=\"/sync/push\",status=\"409\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("jcselect_sync_changes_total{bucket=\"dependency_conflict\"} 1"));
    assert!(metrics.contains("jcselect_http_request_duration_seconds_bucket"));
    let openapi: serde_json::Value = reqwest::get(format!("{}/openapi.json", w.server.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/sync/push",
        "/sync/pull",
        "/auth/login",
        "/health",
        "/metrics",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path}");
    }
    assert!(openapi["components"]["schemas"]["SyncPushResponse"].is_object());
    // every entity's record, from its declaration
    let schemas = &openapi["components"]["schemas"];
    let registry = jcselect_server::registry().unwrap();
    let entities = registry.entities().count();
    assert_eq!(
        schemas["EntityChange"]["properties"]["data"]["oneOf"]
            .as_array()
            .map(Vec::len),
        Some(entities)
    );
    for entity in registry.entities() {
        let properties = &schemas[entity.name]["properties"];
        assert_eq!(
            properties.as_object().map(|p| p.len()),
            Some(entity.field_count()),
            "{}",
            entity.name
        );
    }
    let voter = &schemas["Voter"];
    assert_eq!(voter["properties"]["voter_number"]["type"], "string");
    assert_eq!(voter["properties"]["has_voted"]["type"], "boolean");
    assert_eq!(voter["properties"]["birth_year"]["nullable"], true);
    assert!(voter["properties"]["pen_id"]["description"]
        .as_str()
        .unwrap()
        .contains("Pen"));
    let required = voter["required"].as_array().unwrap();
    assert!(required.contains(&"full_name".into()) && !required.contains(&"father_name".into()));
    let line = &schemas["TallyLine"]["properties"];
    assert!(line["ballot_type"]["enum"]
        .as_array()
        .unwrap()
        .contains(&"white".into()));
    assert_eq!(line["vote_count"]["minimum"], 0);
    w.server.stop().await;
}

async fn auth_failures_get_401(database: TestDatabase) {
    let w = world(&database).await;
    let base = w.server.base();
    let expired = {
        // signed with the right key, expired an hour ago
        let claims = json!({"sub": w.admin_id, "username": "admin", "role": "admin", "pens": [],
            "iat": 1_000, "exp": 1_000 + 60, "iss": "jcselect"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(common::SECRET.as_bytes()),
        )
        .unwrap()
    };
    let wrong_key = jcselect_server::auth::Tokens::new(
        &jcselect_server::secret::JwtSecret::new(
            b"another-secret-0123456789abcdef-xyz".to_vec(),
            "t",
        )
        .unwrap(),
    )
    .mint(w.admin_id, "admin", Role::Admin, &[], 600);
    let payload = w.admin.token.split('.').nth(1).unwrap().to_owned();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let wrong_issuer = {
        let claims = json!({"sub": w.admin_id, "username": "admin", "role": "admin", "pens": [],
            "iat": 1, "exp": 4_000_000_000u64, "iss": "someone-else"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(common::SECRET.as_bytes()),
        )
        .unwrap()
    };
    let http = reqwest::Client::new();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("Bearer not.a.jwt".into())),
        ("not bearer", Some(format!("Basic {}", w.admin.token))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong key", Some(format!("Bearer {wrong_key}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("wrong issuer", Some(format!("Bearer {wrong_issuer}"))),
    ];
    for (case, header) in cases {
        for request in [
            http.get(format!("{base}/sync/pull")),
            http.post(format!("{base}/sync/push"))
                .json(&json!({"client_id": "x", "changes": []})),
        ] {
            let request = match &header {
                Some(value) => request.header("Authorization", value),
                None => request,
            };
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{case}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized", "{case}");
        }
    }
    w.server.stop().await;
}

async fn buckets_over_http(database: TestDatabase) {
    let w = world(&database).await;
    let base = voter(&w.pen_a, "1", "Nadia");
    let mut newer = base.clone();
    newer.updated_at = jcselect_store_conformance::fixture::ago(10);
    newer.full_name = "Nadia H".into();
    let (status, response) = w.admin.push(vec![update(&newer)]).await;
    assert_eq!((status, response.processed_count), (200, 1));

    let mut future = voter(&w.pen_a, "2", "later");
    future.updated_at = jcselect_store_conformance::fixture::ago(-3_600);
    let mut negative = line(
        &session(
            &w.pen_a,
            &jcselect_store_conformance::fixture::user("u", jcselect_entities::Role::Admin),
        ),
        &w.party,
        0,
    );
    negative.vote_count = -1;
    let note = audit_row(
        &jcselect_store_conformance::fixture::user("o", jcselect_entities::Role::Operator),
        Some(&w.pen_a),
        "X",
    );
    let mut note_as_operator = note.clone();
    note_as_operator.operator_id = Some(w.operator_id);
    let (status, response) = w
        .admin
        .push(vec![update(&base), update(&future), update(&negative)])
        .await;
    assert_eq!(status, 200, "{response:?}");
    assert_eq!(response.conflicts.len(), 1);
    let reasons: HashSet<FailureReason> =
        response.failed_changes.iter().map(|f| f.reason).collect();
    assert_eq!(
        reasons,
        HashSet::from([FailureReason::ClockSkew, FailureReason::Invalid])
    );

    // an operator's own audit row goes in; editing it afterwards is immutable
    let (_, response) = w.operator.push(vec![update(&note_as_operator)]).await;
    assert_eq!(response.processed_count, 1, "{response:?}");
    let mut edited = note_as_operator.clone();
    edited.action = "Y".into();
    edited.timestamp = jcselect_store_conformance::fixture::ago(0);
    let (_, response) = w.operator.push(vec![update(&edited)]).await;
    assert_eq!(response.failed_changes[0].reason, FailureReason::Immutable);

    // replaying a request answers the same
    let request = json!({"client_id": "r", "changes": [update(&voter(&w.pen_a, "3", "r"))]});
    let first: serde_json::Value = w.admin.push_raw(&request).await.json().await.unwrap();
    let second: serde_json::Value = w.admin.push_raw(&request).await.json().await.unwrap();
    assert_eq!(first["processed_count"], second["processed_count"]);
    assert_eq!(first["conflicts"], second["conflicts"]);
    w.server.stop().await;
}

async fn pen_scoping_of_push_and_pull(database: TestDatabase) {
    let w = world(&database).await;
    let mine = voter(&w.pen_a, "1", "mine");
    let theirs = voter(&w.pen_b, "2", "theirs");
    let (_, response) = w.admin.push(vec![update(&mine), update(&theirs)]).await;
    assert_eq!(response.processed_count, 2);

    // the operator pulls global records and pen A's (pen A itself
    // included), never pen B's
    let (changes, _) = w.operator.pull_all(None, 50).await;
    let seen: HashSet<Uuid> = changes.iter().map(|c| c.entity_id).collect();
    assert!(seen.contains(&mine.id) && seen.contains(&w.pen_a.id));
    assert!(!seen.contains(&theirs.id) && !seen.contains(&w.pen_b.id));
    let (changes, _) = w
        .operator
        .pull_all_since("2000-01-01T00:00:00.000000Z", 2)
        .await;
    assert!(!changes.iter().any(|c| c.entity_id == theirs.id));

    // and may not write pen B's, nor soft-delete
    let mut edited = theirs.clone();
    edited.full_name = "edited".into();
    edited.updated_at = jcselect_store_conformance::fixture::ago(1);
    let mut deleted = mine.clone();
    deleted.deleted_at = Some(jcselect_store_conformance::fixture::ago(1));
    deleted.deleted_by = Some(w.operator_id);
    deleted.updated_at = jcselect_store_conformance::fixture::ago(1);
    let (_, response) = w
        .operator
        .push(vec![update(&edited), update(&deleted)])
        .await;
    assert_eq!(response.failed_changes.len(), 2);
    assert!(response
        .failed_changes
        .iter()
        .all(|f| f.reason == FailureReason::Forbidden));
    // an admin may soft-delete; the tombstone travels in pulls
    deleted.deleted_by = Some(w.admin_id);
    let (_, response) = w.admin.push(vec![update(&deleted)]).await;
    assert_eq!(response.processed_count, 1);
    let (changes, _) = w.operator.pull_all(None, 50).await;
    let last = changes
        .iter()
        .rev()
        .find(|c| c.entity_id == mine.id)
        .unwrap();
    assert!(last.data_value()["deleted_at"].is_string());
    w.server.stop().await;
}

async fn late_offline_writes_and_concurrent_writers_are_never_missed(database: TestDatabase) {
    let w = world(&database).await;
    let (_, cursor) = w.admin.pull_all(None, 100).await;
    let since = w
        .admin
        .pull(&format!("cursor={cursor}"))
        .await
        .server_timestamp
        .to_string();

    // written offline four hours ago, pushed now
    let mut offline = voter(&w.pen_a, "900", "offline");
    offline.updated_at = jcselect_store_conformance::fixture::ago(4 * 3_600);
    offline.created_at = offline.updated_at;
    let (_, response) = w.operator.push(vec![update(&offline)]).await;
    assert_eq!(response.processed_count, 1);
    let (by_cursor, cursor) = w.admin.pull_all(Some(&cursor), 100).await;
    assert!(by_cursor.iter().any(|c| c.entity_id == offline.id));
    let (by_time, since) = w.admin.pull_all_since(&since, 100).await;
    assert!(by_time.iter().any(|c| c.entity_id == offline.id));

    // several pushers at once while a reader pages in both forms
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pushers = Vec::new();
    for writer in 0..4 {
        let api = w.admin.clone();
        let pen = w.pen_a.clone();
        pushers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for batch in 0..10 {
                let voters: Vec<_> = (0..20)
                    .map(|n| voter(&pen, &format!("{writer}-{batch}-{n}"), "c"))
                    .collect();
                ids.extend(voters.iter().map(|v| v.id));
                let (status, _) = api.push(voters.iter().map(update).collect()).await;
                assert_eq!(status, 200);
            }
            ids
        }));
    }
    let reader = {
        let (api, done) = (w.admin.clone(), done.clone());
        tokio::spawn(async move {
            let (mut seen_cursor, mut seen_time) = (HashSet::new(), HashSet::new());
            let (mut cursor, mut since) = (cursor, since);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (changes, next) = api.pull_all(Some(&cursor), 13).await;
                seen_cursor.extend(changes.iter().map(|c| c.entity_id));
                cursor = next;
                let (changes, next) = api.pull_all_since(&since, 17).await;
                seen_time.extend(changes.iter().map(|c| c.entity_id));
                since = next;
                if finished {
                    return (seen_cursor, seen_time);
                }
            }
        })
    };
    let mut written = HashSet::new();
    for pusher in pushers {
        written.extend(pusher.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (by_cursor, by_time) = reader.await.unwrap();
    assert_eq!(written.len(), 800);
    assert!(
        written.is_subset(&by_cursor),
        "cursor pulls missed {}",
        written.difference(&by_cursor).count()
    );
    assert!(
        written.is_subset(&by_time),
        "last_sync pulls missed {}",
        written.difference(&by_time).count()
    );
    w.server.stop().await;
}

async fn login_issues_a_working_token(database: TestDatabase) {
    let w = world(&database).await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/auth/login", w.server.base()))
        .json(&json!({"username": "op", "password": "op-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 43_200);
    assert_eq!(body["role"], "operator");
    assert_eq!(body["user_id"], w.operator_id.to_string());
    let api = Api::new(&w.server.base(), body["access_token"].as_str().unwrap());
    let (_, response) = api
        .push(vec![update(&voter(&w.pen_a, "1", "via login"))])
        .await;
    assert_eq!(response.processed_count, 1);
    for (name, password) in [("op", "wrong"), ("nobody", "x"), ("admin", "")] {
        let response = http
            .post(format!("{}/auth/login", w.server.base()))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
    w.server.stop().await;
}

/// A fault of the server itself (its table gone from under it) answers 5xx
/// with an error body, and nothing of the request is applied.
async fn a_server_fault_is_a_5xx_and_applies_nothing(database: TestDatabase) {
    let w = world(&database).await;
    let new_pen = pen("C");
    let voter = voter(&w.pen_a, "1", "x");
    let url = database.url();
    let sabotage = "ALTER TABLE voters RENAME TO voters_gone";
    match &database {
        TestDatabase::Sqlite { .. } => {
            let pool = sqlx_sqlite(&url).await;
            sqlx::query(sabotage).execute(&pool).await.unwrap();
        }
        TestDatabase::Postgres { .. } => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sabotage).execute(&pool).await.unwrap();
        }
    }
    let response = w
        .admin
        .push_raw(&json!({"client_id": "x", "changes": [update(&new_pen), update(&voter)]}))
        .await;
    assert!(response.status().is_server_error(), "{}", response.status());
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string() && body["message"].is_string());
    let (changes, _) = w.admin.pull_all(None, 100).await;
    assert!(
        !changes.iter().any(|c| c.entity_id == new_pen.id),
        "the pen of the failed request is not applied"
    );
    w.server.stop().await;
}

async fn sqlx_sqlite(url: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(url).await.unwrap()
}

on_every_database!(a_server_fault_is_a_5xx_and_applies_nothing);

/// A NUL character, or a name too long for a B-tree entry, makes that
/// change `invalid` with a message on every store; the rest of the batch
/// (the vote marks with it) is applied.
async fn text_no_store_keeps_is_refused_alone(database: TestDatabase) {
    let w = world(&database).await;
    let with_nul = voter(&w.pen_a, "1", "أحمد\u{0}محمد");
    let oversized = voter(&w.pen_a, "2", &"ب".repeat(1_500));
    let longest = voter(&w.pen_a, "3", &"ب".repeat(1_000));
    let mut nul_elsewhere = voter(&w.pen_a, "4", "سليم");
    nul_elsewhere.father_name = Some("\u{0}".into());
    let plain = voter(&w.pen_a, "5", "سليم");
    let (status, response) = w
        .operator
        .push(vec![
            update(&with_nul),
            update(&oversized),
            update(&longest),
            update(&nul_elsewhere),
            update(&plain),
        ])
        .await;
    assert_eq!((status, response.processed_count), (200, 2));
    let mut failed: Vec<_> = response
        .failed_changes
        .iter()
        .map(|failed| {
            (
                failed.change.entity_id,
                failed.reason,
                failed.message.clone(),
            )
        })
        .collect();
    failed.sort_by_key(|(id, _, _)| *id);
    let mut expected = [with_nul.id, oversized.id, nul_elsewhere.id];
    expected.sort();
    assert_eq!(
        failed.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
        expected
    );
    for (_, reason, message) in &failed {
        assert_eq!(*reason, FailureReason::Invalid);
        assert!(
            message.contains("NUL") || message.contains("bytes"),
            "{message}"
        );
    }
    let (changes, _) = w.admin.pull_all(None, 1000).await;
    let stored = changes
        .iter()
        .find(|change| change.entity_id == longest.id)
        .expect("the longest name is stored");
    let data: serde_json::Value = serde_json::from_str(stored.data.get()).unwrap();
    assert_eq!(data["full_name"], longest.full_name);
    // a NUL in a log-in name is an ordinary refusal
    let response = reqwest::Client::new()
        .post(format!("{}/auth/login", w.server.base()))
        .json(&json!({"username": "op\u{0}", "password": "op-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    w.server.stop().await;
}

/// Ten wrong passwords lock the name out (429 with Retry-After, even for
/// the right password); once the lock-out (2 s in these tests) is over the
/// right password works again.
async fn repeated_wrong_passwords_lock_out_for_a_while(database: TestDatabase) {
    let w = world(&database).await;
    let http = reqwest::Client::new();
    let login = |password: &'static str| {
        http.post(format!("{}/auth/login", w.server.base()))
            .json(&json!({"username": "op", "password": password}))
            .send()
    };
    for _ in 0..jcselect_server::throttle::LOCK_USER_AFTER {
        assert_eq!(login("wrong").await.unwrap().status(), 401);
    }
    let locked = login("op-password").await.unwrap();
    assert_eq!(locked.status(), 429);
    let wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(login("op-password").await.unwrap().status(), 200);
    w.server.stop().await;
}

/// A token stops working the moment its user is deactivated, and the
/// pens it names count only while the user still has them.
async fn a_token_outlives_no_deactivation(database: TestDatabase) {
    let w = world(&database).await;
    let (changes, _) = w.admin.pull_all(None, 1000).await;
    let op = changes
        .iter()
        .find(|change| change.entity_id == w.operator_id)
        .expect("the operator's record");
    let mut user: serde_json::Value = serde_json::from_str(op.data.get()).unwrap();
    user["is_active"] = json!(false);
    user["updated_at"] = json!(jcselect_sync::Timestamp::now());
    let change = json!({"change_id": Uuid::now_v7(), "entity_type": "User", "entity_id": w.operator_id,
        "operation": "UPDATE", "timestamp": user["updated_at"], "data": user});
    let response = w
        .admin
        .push_raw(&json!({"client_id": "admin", "changes": [change]}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(w.operator.pull_raw("limit=10").await.status(), 401);
    let response = w
        .operator
        .push_raw(&json!({"client_id": "op", "changes": []}))
        .await;
    assert_eq!(response.status(), 401);

    // a token naming a pen the operator does not have: nothing of it
    let admin2 = user_with_pens(&w, &database).await;
    let (status, response) = admin2.push(vec![update(&voter(&w.pen_b, "9", "x"))]).await;
    assert_eq!((status, response.failed_changes.len()), (200, 1));
    assert_eq!(response.failed_changes[0].reason, FailureReason::Forbidden);
    w.server.stop().await;
}

/// An operator of pen A holding a token that also names pen B.
async fn user_with_pens(w: &World, database: &TestDatabase) -> Api {
    let id = user(
        &database.url(),
        "op2",
        Role::Operator,
        vec![w.pen_a.id],
        None,
    )
    .await;
    Api::new(
        &w.server.base(),
        &token("op2", id, Role::Operator, &[w.pen_a.id, w.pen_b.id]),
    )
}

/// Pushes and pulls whose clients hang up at random points (the
/// connection closed mid-request) leave no connection with a transaction
/// open: afterwards every request is answered normally, and replaying
/// every cancelled push applies each change once.
async fn requests_cancelled_at_random_points_leave_a_healthy_server(database: TestDatabase) {
    let w = world(&database).await;
    let mut sent = Vec::new();
    for round in 0..40u32 {
        let random = Uuid::new_v4().as_u128();
        let delay = std::time::Duration::from_micros((random % 30_000) as u64);
        let voters: Vec<_> = (0..40)
            .map(|n| update(&voter(&w.pen_a, &format!("{round}-{n}"), "ناخب")))
            .collect();
        sent.extend(voters.clone());
        let api = Api::new(&w.server.base(), &w.operator.token);
        if random % 3 == 0 {
            let _ = tokio::time::timeout(delay, api.pull_raw("limit=1000")).await;
        } else {
            let _ = tokio::time::timeout(delay, api.push(voters)).await;
        }
    }
    for chunk in sent.chunks(400) {
        let (status, response) = w.operator.push(chunk.to_vec()).await;
        assert_eq!(status, 200);
        assert_eq!(response.processed_count as usize, chunk.len());
    }
    let (changes, _) = w.admin.pull_all(None, 1000).await;
    let voters: std::collections::HashSet<_> = changes
        .iter()
        .filter(|change| change.entity_type == "Voter")
        .map(|change| change.entity_id)
        .collect();
    assert_eq!(voters.len(), sent.len());
    w.server.stop().await;
}
