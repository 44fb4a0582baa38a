//! The control room at `/admin`, over real HTTP: who may open it, the
//! session cookie's flags, forms from other sites refused, and what the
//! overview and `/metrics` say of each pen's stations (on SQLite always,
//! on PostgreSQL when its URL is set), the rows changed since a version,
//! and the turnout kept from the change log. The page in a real browser,
//! with real stations, is `tests/tests/control_room.rs`.

#[macro_use]
mod common;

use common::{token, user, Api, InProcess, TestDatabase};
use jcselect_store_conformance::fixture::{pen, update, voter};
use jcselect_sync::auth::Role;
use jcselect_sync::wire::StationReport;
use jcselect_sync::Timestamp;
use serde_json::Value;
use uuid::Uuid;

on_every_database!(
    the_control_room_is_for_admins_behind_a_safe_cookie,
    the_overview_shows_each_pen_s_stations_and_turnout,
    the_turnout_follows_every_change_between_full_counts,
);

/// A client that does not follow redirects (to see the cookie being set).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the log-in form as a page of `origin` would.
async fn log_in(base: &str, origin: &str, username: &str, password: &str) -> reqwest::Response {
    browser()
        .post(format!("{base}/admin/login"))
        .header("origin", origin)
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The session cookie a successful log-in set (`name=value`), and the
/// whole `Set-Cookie` header.
fn session_cookie(response: &reqwest::Response) -> (String, String) {
    let set = response
        .headers()
        .get("set-cookie")
        .expect("a cookie is set")
        .to_str()
        .unwrap()
        .to_owned();
    (set.split(';').next().unwrap().to_owned(), set)
}

async fn overview(base: &str, cookie: &str) -> reqwest::Response {
    overview_since(base, cookie, &[]).await
}

/// The overview with this query (`since`).
async fn overview_since(base: &str, cookie: &str, query: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .get(format!("{base}/admin/api/overview"))
        .query(query)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn the_control_room_is_for_admins_behind_a_safe_cookie(database: TestDatabase) {
    let url = database.url();
    let server = InProcess::start(&url).await;
    let base = server.base();
    let pen_a = pen("A");
    user(&url, "chief", Role::Admin, vec![], Some("chief-password")).await;
    user(
        &url,
        "op",
        Role::Operator,
        vec![pen_a.id],
        Some("op-password"),
    )
    .await;

    let page = browser().get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"password\"") && html.contains("Control room"),
        "{html}"
    );

    let wrong = log_in(&base, &base, "chief", "wrong").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("wrong password"));

    let operator = log_in(&base, &base, "op", "op-password").await;
    assert_eq!(operator.status(), 403);
    assert!(operator.text().await.unwrap().contains("Only an admin"));

    let forged = log_in(&base, "http://evil.example", "chief", "chief-password").await;
    assert_eq!(forged.status(), 403, "a form from another site");
    assert!(forged.headers().get("set-cookie").is_none());

    let admitted = log_in(&base, &base, "chief", "chief-password").await;
    assert_eq!(admitted.status(), 303);
    let (cookie, set) = session_cookie(&admitted);
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(flag), "{set}");
    }

    assert_eq!(overview(&base, "").await.status(), 401);
    assert_eq!(overview(&base, "jcselect_admin=forged").await.status(), 401);
    let answer = overview(&base, &cookie).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let dashboard = browser()
        .get(format!("{base}/admin?lang=ar"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains("dir=\"rtl\"") && dashboard.contains("/admin/assets/admin.js"),
        "{dashboard}"
    );
    let script = browser()
        .get(format!("{base}/admin/assets/admin.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));

    // a disabled admin's session ends at its next request
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    jcselect_server::users::set_active(store.as_ref(), registry, "chief", false)
        .await
        .unwrap();
    assert_eq!(overview(&base, &cookie).await.status(), 401);

    let out = browser()
        .post(format!("{base}/admin/logout"))
        .header("origin", &base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(session_cookie(&out).1.contains("Max-Age=0"));
    server.stop().await;
}

/// The overview's row of the pen labelled `label`.
fn pen_row(overview: &Value, label: &str) -> Value {
    overview["pens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pen| pen["label"] == label)
        .cloned()
        .unwrap()
}

async fn the_overview_shows_each_pen_s_stations_and_turnout(database: TestDatabase) {
    let url = database.url();
    let server = InProcess::start(&url).await;
    let base = server.base();
    let (pen_a, pen_b) = (pen("A"), pen("B"));
    let admin_id = user(&url, "chief", Role::Admin, vec![], Some("chief-password")).await;
    let operator_id = user(&url, "op", Role::Operator, vec![pen_a.id], None).await;
    let admin = Api::new(&base, &token("chief", admin_id, Role::Admin, &[]));
    let operator = Api::new(
        &base,
        &token("op", operator_id, Role::Operator, &[pen_a.id]),
    );
    let mut voters = [
        voter(&pen_a, "1", "أحمد"),
        voter(&pen_a, "2", "سمير"),
        voter(&pen_a, "3", "هدى"),
    ];
    voters[0].has_voted = true;
    voters[0].voted_at = Some(Timestamp::now().plus_micros(-60_000_000));
    let mut changes = vec![update(&pen_a), update(&pen_b)];
    changes.extend(voters.iter().map(update));
    assert_eq!(admin.push(changes).await.0, 200);
    // one voter marked at the centre and, later, at the station: a
    // duplicate mark the server records
    let now = Timestamp::now();
    let mut at_centre = voters[1].clone();
    (at_centre.has_voted, at_centre.voted_at) = (true, Some(now.plus_micros(-120_000_000)));
    at_centre.voted_by_operator_id = Some(admin_id);
    at_centre.updated_at = now.plus_micros(-120_000_000);
    assert_eq!(admin.push(vec![update(&at_centre)]).await.0, 200);
    let mut at_station = voters[1].clone();
    (at_station.has_voted, at_station.voted_at) = (true, Some(now.plus_micros(-60_000_000)));
    at_station.voted_by_operator_id = Some(operator_id);
    at_station.updated_at = now.plus_micros(-60_000_000);
    assert_eq!(operator.push(vec![update(&at_station)]).await.0, 200);

    let station = StationReport {
        client_id: Uuid::new_v4().to_string(),
        version: "jcselect-client 0.1.0".into(),
        pending: 2,
        retry: 0,
        parked: 1,
        oldest_unsent_at: Some(Timestamp::now().plus_micros(-1_200_000_000)),
        clock_offset_micros: 2_500_000,
        parked_changes: vec![],
    };
    operator.push_reporting(&station).await;

    let cookie = session_cookie(&log_in(&base, &base, "chief", "chief-password").await).0;
    let seen: Value = overview(&base, &cookie).await.json().await.unwrap();
    let a = pen_row(&seen, "A");
    assert_eq!(
        (
            &a["health"],
            &a["unsent"],
            &a["parked"],
            &a["voters"],
            &a["voted"]
        ),
        (
            &Value::from("red"),
            &Value::from(3),
            &Value::from(1),
            &Value::from(3),
            &Value::from(2)
        ),
        "{a}"
    );
    assert_eq!(a["stations"][0]["username"], "op");
    assert_eq!(
        (&a["duplicates_today"], &a["conflicts_today"]),
        (&Value::from(1), &Value::from(0)),
        "{a}"
    );
    let duplicate = &a["incidents"][0];
    assert_eq!(duplicate["action"], "DUPLICATE_VOTE_MARK");
    assert_eq!(duplicate["entity_id"], voters[1].id.to_string());
    assert_eq!(duplicate["what"], "2 سمير");
    assert_eq!(duplicate["kept"]["voted_by_operator_id"], "chief");
    assert_eq!(duplicate["dropped"]["voted_by_operator_id"], "op");
    assert_eq!(a["stations"][0]["client_id"], station.client_id.as_str());
    assert_eq!(a["stations"][0]["clock_offset_seconds"], 2.5);
    let b = pen_row(&seen, "B");
    assert_eq!(
        (&b["health"], &b["stations"]),
        (&Value::from("none"), &Value::Array(vec![]))
    );

    let votes: Value = browser()
        .get(format!("{base}/admin/api/pens/{}/votes", pen_a.id))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(votes["voters"], 3);
    assert_eq!(
        votes["voted_at"],
        serde_json::json!([
            at_centre.voted_at.unwrap().to_string(),
            voters[0].voted_at.unwrap().to_string()
        ]),
        "{votes}"
    );
    let refused = browser()
        .get(format!("{base}/admin/api/pens/{}/votes", pen_a.id))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let metrics = browser()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jcselect_pen_parked_changes{town=\"طرابلس\",label=\"A\"} 1")
            && metrics.contains("jcselect_pen_stations_behind{town=\"طرابلس\",label=\"A\"} 1")
            && metrics.contains("jcselect_pen_voted{town=\"طرابلس\",label=\"A\"} 2")
            && metrics
                .contains("jcselect_pen_duplicate_marks_today{town=\"طرابلس\",label=\"A\"} 1"),
        "{metrics}"
    );

    assert_eq!(seen["full"], true, "a first poll gets every pen");
    assert_eq!(seen["pens"].as_array().unwrap().len(), 2);

    // the station sends its changes: green again, and a page that holds
    // the last version gets only that pen's row
    operator
        .push_reporting(&StationReport {
            pending: 0,
            parked: 0,
            oldest_unsent_at: None,
            ..station.clone()
        })
        .await;
    tokio::time::sleep(jcselect_server::admin::SNAPSHOT_KEPT).await;
    let since = seen["version"].as_str().unwrap();
    let changed: Value = overview_since(&base, &cookie, &[("since", since)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["full"], false, "{changed}");
    let rows = changed["pens"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        1,
        "only the pen whose station reported: {changed}"
    );
    assert_eq!(
        (&rows[0]["label"], &rows[0]["health"], &rows[0]["unsent"]),
        (&Value::from("A"), &Value::from("green"), &Value::from(0))
    );
    assert_ne!(changed["version"], seen["version"]);
    server.stop().await;
}

/// The turnout kept from the change log (a full count only at the start
/// here) follows marks, soft deletes and new voters of each pen.
async fn the_turnout_follows_every_change_between_full_counts(database: TestDatabase) {
    use jcselect_server::admin::{Cadence, TurnoutCounter};
    use jcselect_sync::Syncable;
    let url = database.url();
    let server = InProcess::start(&url).await;
    let base = server.base();
    let admin_id = user(&url, "chief", Role::Admin, vec![], None).await;
    let admin = Api::new(&base, &token("chief", admin_id, Role::Admin, &[]));
    let store = jcselect_server::database::open_store(&url, jcselect_server::registry().unwrap())
        .await
        .unwrap();
    let counter = TurnoutCounter::new(
        jcselect_entities::Voter::DECL,
        "pen_id",
        "has_voted",
        Cadence {
            kept: std::time::Duration::ZERO,
            full_every: std::time::Duration::from_secs(3_600),
        },
    );
    let (pen_a, pen_b) = (pen("A"), pen("B"));
    let mut voters = [
        voter(&pen_a, "1", "أحمد"),
        voter(&pen_a, "2", "سمير"),
        voter(&pen_b, "1", "هدى"),
    ];
    let mut changes = vec![update(&pen_a), update(&pen_b)];
    changes.extend(voters.iter().map(update));
    assert_eq!(admin.push(changes).await.0, 200);
    let counts = |turnout: &jcselect_server::admin::Turnout| {
        (
            turnout.get(&pen_a.id).copied(),
            turnout.get(&pen_b.id).copied(),
        )
    };
    let first = counter.current(store.as_ref()).await.unwrap();
    assert_eq!(counts(&first), (Some((2, 0)), Some((1, 0))));

    let now = Timestamp::now();
    (voters[0].has_voted, voters[0].voted_at) = (true, Some(now));
    voters[0].voted_by_operator_id = Some(admin_id);
    voters[0].updated_at = now;
    voters[2].deleted_at = Some(now);
    voters[2].updated_at = now;
    assert_eq!(
        admin
            .push(vec![update(&voters[0]), update(&voters[2])])
            .await
            .0,
        200
    );
    let second = counter.current(store.as_ref()).await.unwrap();
    assert_eq!(
        counts(&second),
        (Some((2, 1)), None),
        "a mark counted; a pen whose last voter was deleted has none"
    );

    let newcomer = voter(&pen_b, "2", "ريم");
    assert_eq!(admin.push(vec![update(&newcomer)]).await.0, 200);
    let third = counter.current(store.as_ref()).await.unwrap();
    assert_eq!(counts(&third), (Some((2, 1)), Some((1, 0))));
    drop(store);
    server.stop().await;
}
