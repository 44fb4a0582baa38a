//! The control room in a real browser (headless Chromium driven through
//! ChromeDriver) against a running server with a station syncing over
//! HTTP: log in, see the station's pen green, see it turn red when the
//! station goes silent and green again when it syncs, open the pen and
//! see the station's parked change and a voter marked at two places with
//! both marks side by side, read the page in Arabic. Reported as
//! ignored (`SKIPPED: …`) where Chromium or ChromeDriver is not installed;
//! `.ci/run` installs them. With `JCSELECT_SCREENSHOT=FILE` it keeps a
//! picture of the dashboard.

mod common;
mod webdriver;

use common::{token, user, Api, InProcess, TestDatabase};
use jcselect_store_conformance::fixture::{pen, update, voter};
use jcselect_sync::auth::Role;
use jcselect_sync::store::StationSeen;
use jcselect_sync::wire::StationReport;
use jcselect_sync::Timestamp;
use uuid::Uuid;

/// A script that is true once the row of `pen` has the class `health`.
fn pen_is(pen: Uuid, health: &str) -> String {
    format!(
        "const row = document.querySelector('tr.pen[data-pen=\"{pen}\"]'); \
         return !!row && row.classList.contains('{health}');"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(browser_tests),
    ignore = "SKIPPED: Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver)"
)]
async fn a_person_at_the_centre_sees_stations_fall_behind_and_catch_up() {
    let Some((chromium, driver)) = webdriver::installed() else {
        eprintln!("SKIPPED: Chromium or ChromeDriver is not installed");
        return;
    };
    let database = TestDatabase::sqlite();
    let url = database.url();
    let server = InProcess::start(&url).await;
    let base = server.base();
    let (beirut, saida) = (pen("قلم ١"), pen("قلم ٢"));
    let admin_id = user(&url, "chief", Role::Admin, vec![], Some("chief-password")).await;
    let operator_id = user(&url, "rami", Role::Operator, vec![beirut.id], None).await;
    let admin = Api::new(&base, &token("chief", admin_id, Role::Admin, &[]));
    let operator = Api::new(
        &base,
        &token("rami", operator_id, Role::Operator, &[beirut.id]),
    );
    let mut changes = vec![update(&beirut), update(&saida)];
    let mut marked = voter(&beirut, "1", "أحمد خليل");
    marked.has_voted = true;
    marked.voted_at = Some(Timestamp::now().plus_micros(-600_000_000));
    let huda = voter(&beirut, "2", "هدى حداد");
    changes.extend([update(&marked), update(&huda)]);
    assert_eq!(admin.push(changes).await.0, 200);
    // Huda is marked at the centre and, a minute later, at the station
    let now = Timestamp::now();
    for (api, by, seconds_ago) in [(&admin, admin_id, 120), (&operator, operator_id, 60)] {
        let mut mark = huda.clone();
        mark.has_voted = true;
        mark.voted_at = Some(now.plus_micros(-seconds_ago * 1_000_000));
        mark.voted_by_operator_id = Some(by);
        mark.updated_at = now.plus_micros(-seconds_ago * 1_000_000);
        assert_eq!(api.push(vec![update(&mark)]).await.0, 200);
    }
    let station = StationReport {
        client_id: Uuid::new_v4().to_string(),
        version: "jcselect-client 0.1.0".into(),
        pending: 0,
        retry: 0,
        parked: 0,
        oldest_unsent_at: None,
        clock_offset_micros: 0,
        parked_changes: vec![],
    };
    operator.push_reporting(&station).await;

    let browser = webdriver::Browser::start(&chromium, &driver).await;
    browser.open(&format!("{base}/admin?lang=en")).await;
    browser.type_into("#username", "chief").await;
    browser.type_into("#password", "chief-password").await;
    browser.click("#log-in").await;
    browser
        .wait_for(
            &pen_is(beirut.id, "green"),
            "the syncing station's pen to be green",
        )
        .await;
    browser
        .wait_for(
            &pen_is(saida.id, "none"),
            "the pen without a station to say so",
        )
        .await;
    let turnout = browser
        .run(&format!(
            "return document.querySelector('tr.pen[data-pen=\"{}\"]').innerText",
            beirut.id
        ))
        .await;
    assert!(turnout.as_str().unwrap().contains("2 / 2"), "{turnout}");

    // the station goes silent: its last report is two hours old
    let registry = jcselect_server::registry().unwrap();
    let store = jcselect_server::database::open_store(&url, registry)
        .await
        .unwrap();
    store
        .put_station(&StationSeen {
            report: station.clone(),
            user_id: operator_id,
            seen_at: Timestamp::now().plus_micros(-7_200_000_000),
        })
        .await
        .unwrap();
    browser
        .wait_for(
            &pen_is(beirut.id, "red"),
            "the silent station's pen to turn red",
        )
        .await;

    // it syncs again, holding a change the server parked
    let parked = StationReport {
        pending: 1,
        parked: 1,
        parked_changes: vec![jcselect_sync::wire::ParkedChange {
            entity_type: "Voter".into(),
            entity_id: huda.id,
            reason: Some("القلم قلم ٩ غير موجود على الخادم".into()),
            attempts: 5,
        }],
        oldest_unsent_at: Some(Timestamp::now().plus_micros(-300_000_000)),
        ..station.clone()
    };
    operator.push_reporting(&parked).await;
    browser
        .run(&format!(
            "document.querySelector('tr.pen[data-pen=\"{}\"]').click(); return true",
            beirut.id
        ))
        .await;
    browser
        .wait_for(
            &format!(
                "const row = document.querySelector('#pen-stations tr.station[data-client=\"{}\"]'); \
                 return !!row && row.classList.contains('red') && row.innerText.includes('rami') \
                 && row.children[7].innerText.trim() === '1';",
                station.client_id
            ),
            "the pen's detail to show the station's parked change",
        )
        .await;
    browser
        .wait_for(
            &format!(
                "const row = document.querySelector('#parked-changes tr[data-entity=\"{}\"]'); \
                 return !!row && row.innerText.includes('القلم قلم ٩ غير موجود على الخادم');",
                huda.id
            ),
            "the parked change with the server's reason",
        )
        .await;
    browser
        .wait_for(
            "return !!document.querySelector('#turnout-chart svg') \
             && document.querySelector('#turnout-chart h3').innerText.includes('2 / 2');",
            "the pen's votes per hour",
        )
        .await;
    // and the duplicate mark, both marks side by side
    browser
        .wait_for(
            &format!(
                "const block = document.querySelector('.incident.DUPLICATE_VOTE_MARK[data-entity=\"{}\"]'); \
                 if (!block) return false; \
                 const differs = [...block.querySelectorAll('tr.differs')].map(tr => tr.children[0].innerText); \
                 return block.innerText.includes('{}') && block.innerText.includes('{}') && block.innerText.includes('هدى حداد') \
                 && differs.includes('voted_by_operator_id') && differs.includes('voted_at');",
                huda.id, "chief", "rami"
            ),
            "the duplicate mark with both marks",
        )
        .await;
    if let Some(path) = std::env::var_os("JCSELECT_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }

    // and sends it: green again
    operator.push_reporting(&station).await;
    browser
        .wait_for(&pen_is(beirut.id, "green"), "the pen to be green again")
        .await;

    // the page in Arabic: right to left, Arabic headings
    browser.open(&format!("{base}/admin?lang=ar")).await;
    browser
        .wait_for(
            "return document.documentElement.dir === 'rtl' && \
             [...document.querySelectorAll('#pens th')].some(th => th.innerText.includes('القلم'))",
            "the Arabic page",
        )
        .await;
    browser.stop().await;
    server.stop().await;
}
