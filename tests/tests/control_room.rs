//! The control room in a real browser (headless Chromium driven through
//! ChromeDriver) against a running server over HTTP with real
//! `jcselect-client` replicas syncing: log in; the station's pen green;
//! the station stops syncing and its pen turns red, then green when it
//! syncs again; a voter marked at the centre and at the station appears
//! as a duplicate mark with both marks side by side; a change the server
//! parked appears with its reason; the page in Arabic. Reported as ignored
//! (`SKIPPED: …`) where Chromium or ChromeDriver is not installed;
//! `.ci/run` installs them. With `JCSELECT_SCREENSHOT=FILE` it keeps a
//! picture of the dashboard (the README's).

use jcselect_e2e::webdriver::{self, Browser};
use jcselect_e2e::{quick_settings, sync, Via, World, ADMIN, OPERATOR};
use jcselect_server::settings::Overrides;
use jcselect_store_conformance::fixture;
use jcselect_sync::engine::SyncSettings;
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
    // a pen the operator works at, and one the server never hears of (a
    // change of it is parked)
    let beirut = fixture::pen("قلم ١");
    let ghost = fixture::pen("قلم ٩");
    let world = World::start_with(
        Via::Http,
        vec![beirut.id, ghost.id],
        Overrides {
            station_amber_seconds: Some(10),
            station_red_seconds: Some(20),
            ..Overrides::default()
        },
    )
    .await;
    let base = format!("http://{}", world.http_address.expect("an HTTP world"));
    let (centre, _) = world.replica("centre", ADMIN, quick_settings()).await;
    let voters = [
        fixture::voter(&beirut, "1", "أحمد خليل"),
        fixture::voter(&beirut, "2", "هدى حداد"),
    ];
    centre
        .dao
        .save(std::slice::from_ref(&beirut))
        .await
        .unwrap();
    centre.dao.save(&voters).await.unwrap();
    sync(&centre).await;
    let one_try = SyncSettings {
        sync_max_retries: 1,
        ..quick_settings()
    };
    let (station, _) = world.replica("station", OPERATOR, one_try).await;
    sync(&station).await;

    let browser = Browser::start(&chromium, &driver).await;
    browser.open(&format!("{base}/admin?lang=en")).await;
    browser.type_into("#username", ADMIN.0).await;
    browser.type_into("#password", ADMIN.1).await;
    browser.click("#log-in").await;
    browser
        .wait_for(
            &pen_is(beirut.id, "green"),
            "the syncing station's pen to be green",
        )
        .await;

    // the station stops syncing: red once the red threshold has passed
    browser
        .wait_for(
            &pen_is(beirut.id, "red"),
            "the silent station's pen to turn red",
        )
        .await;
    sync(&station).await;
    browser
        .wait_for(
            &pen_is(beirut.id, "green"),
            "the pen green again once it syncs",
        )
        .await;

    // Huda marked at the centre, then at the station before it heard
    let centre_actor = centre.actor().await.unwrap().unwrap();
    centre
        .dao
        .mark_voted(voters[1].id, centre_actor)
        .await
        .unwrap();
    sync(&centre).await;
    let station_actor = station.actor().await.unwrap().unwrap();
    station
        .dao
        .mark_voted(voters[1].id, station_actor)
        .await
        .unwrap();
    // and a voter of the pen the server does not know: parked
    station
        .dao
        .save(&[fixture::voter(&ghost, "7", "مجهول")])
        .await
        .unwrap();
    let report = sync(&station).await;
    assert_eq!(report.parked_total, 1, "{report:?}");

    browser
        .wait_for(
            &pen_is(beirut.id, "red"),
            "the pen red with a parked change",
        )
        .await;
    browser
        .run(&format!(
            "document.querySelector('tr.pen[data-pen=\"{}\"]').click(); return true",
            beirut.id
        ))
        .await;
    browser
        .wait_for(
            "const rows = [...document.querySelectorAll('#parked-changes tr')]; \
             return rows.some(row => row.innerText.includes('Voter') && row.children[3] \
             && row.children[3].innerText.trim().length > 3);",
            "the station's parked change with the server's reason",
        )
        .await;
    browser
        .wait_for(
            &format!(
                "const block = document.querySelector('.incident.DUPLICATE_VOTE_MARK[data-entity=\"{}\"]'); \
                 if (!block) return false; \
                 const differs = [...block.querySelectorAll('tr.differs')].map(tr => tr.children[0].innerText); \
                 return block.innerText.includes('هدى حداد') && block.innerText.includes('{}') \
                 && block.innerText.includes('{}') && differs.includes('voted_by_operator_id');",
                voters[1].id, ADMIN.0, OPERATOR.0
            ),
            "the duplicate mark with both marks",
        )
        .await;
    browser
        .wait_for(
            "return !!document.querySelector('#turnout-chart svg') \
             && document.querySelector('#turnout-chart h3').innerText.includes('1 / 2');",
            "the pen's votes per hour",
        )
        .await;
    if let Some(path) = std::env::var_os("JCSELECT_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }

    // 120 more pens at the centre: the open page learns of them from its
    // next poll (only what changed) and shows a hundred rows at a time
    let more: Vec<_> = (0..120)
        .map(|n| fixture::pen(&format!("قلم {}", n + 10)))
        .collect();
    centre.dao.save(&more).await.unwrap();
    sync(&centre).await;
    browser
        .wait_for(
            "return document.getElementById('rows').innerText.trim() === '1–100 of 121' \
             && document.querySelectorAll('#pens tbody tr').length === 100",
            "the first hundred of 121 pens (the pen the server never heard of is not one)",
        )
        .await;
    browser.click("#next").await;
    browser
        .wait_for(
            "return document.getElementById('rows').innerText.trim() === '101–121 of 121' \
             && document.querySelectorAll('#pens tbody tr').length === 21",
            "the last 21 pens on the second page",
        )
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
}
