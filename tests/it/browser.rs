//! Browser tests: `tests/browser/dashboard.mjs` drives Debian's chromium with npm's playwright-core against
//! the real `seen demo --serve`, and saves a screenshot of every page under `target/screenshots/`.
//! Needs Node.js, `/usr/bin/chromium` (Debian package `chromium`) and `npm ci` in `tests/browser` (done here
//! when `node_modules` is missing); `scripts/test` installs all of them (`common::prerequisites`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::dashboard::add_user;
use crate::common::sinks::SmtpSink;
use crate::common::{prerequisites, spawn_app_acting, Backend};
use crate::status_page;

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    let chromium = prerequisites::chromium();
    let node = prerequisites::node();
    prerequisites::browser_modules(&dir);
    let screenshots = root.join("target/screenshots");
    let output = Command::new(node)
        .arg("dashboard.mjs")
        .current_dir(&dir)
        .env("SEEN_BIN", assert_cmd::cargo::cargo_bin("seen"))
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", chromium)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    screenshots_taken(
        &screenshots,
        &[
            "login",
            "invisible",
            "forbidden",
            "customer",
            "invisible-manager",
            "overview",
            "promises",
            "outbox",
            "surveys",
            "retention",
            "users",
            "keys",
            "policies",
            "demo-status",
        ],
    );
}

/// The front desk (`tests/browser/visits.mjs`, against the real `seen demo --serve`): a visitor checks in at
/// the kiosk on a 390 px phone and lands on their own page with their place in the queue; staff call, serve
/// and finish them on the board for desk-1; the visitor's page and the waiting-room display follow each step
/// live, without a reload; a manager's `/visits` shows the figures and the heatmap; axe-core finds no serious
/// or critical violation on the kiosk, the visitor's page, the display or the board.
#[test]
fn the_front_desk_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    let chromium = prerequisites::chromium();
    let node = prerequisites::node();
    prerequisites::browser_modules(&dir);
    let screenshots = root.join("target/screenshots");
    let output = Command::new(node)
        .arg("visits.mjs")
        .current_dir(&dir)
        .env("SEEN_BIN", assert_cmd::cargo::cargo_bin("seen"))
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", chromium)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all front desk checks passed"),
        "browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    screenshots_taken(
        &screenshots,
        &[
            "visit-checkin",
            "visit-waiting",
            "board",
            "visit-called",
            "display",
            "visit-finished",
            "visits-figures",
        ],
    );
}

/// The customer's side (`tests/browser/customer.mjs`): a real email caught by the test SMTP server carries
/// the status link; the customer opens it on a 390 px phone (and a 1280 px screen), sees the open request
/// and its promised time in their zone, axe-core finds no violation, they tap "Nobody got back to me"; the
/// manager's alert arrives by email and the dashboard lists the customer first, urgent. Screenshots in
/// `target/screenshots/status-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_page_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    let chromium = prerequisites::chromium();
    let node = prerequisites::node();
    prerequisites::browser_modules(&dir);
    let screenshots = root.join("target/screenshots");
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(Backend::Sqlite, status_page::config(smtp.port)).await;
    add_user(&app, "rui@venue.example", seen::store::Role::Manager).await;
    let at = jiff::Timestamp::now() - Duration::from_secs(60);
    assert_eq!(
        app.post_events(&status_page::customer_events(at)).await.0,
        200
    );
    smtp.wait_for(15, "the order confirmation", |_| {
        !smtp.to("ana@example.com").is_empty()
    })
    .await;
    let url = format!(
        "{}{}",
        app.address,
        status_page::status_path(&smtp, "ana@example.com")
    );
    let zone = jiff::tz::TimeZone::get("Europe/Lisbon").expect("zone");
    let due = seen::words::when(
        at + Duration::from_secs(4 * 3600),
        jiff::Timestamp::now(),
        &zone,
    );
    let (address, shots) = (app.address.clone(), screenshots.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg("customer.mjs")
            .current_dir(&dir)
            .env("STATUS_URL", url)
            .env("BASE", address)
            .env("EMAIL", "rui@venue.example")
            .env("PASSWORD", "a long password")
            .env("DUE", due)
            .env("SCREENSHOTS", shots)
            .env("CHROMIUM", chromium)
            .output()
            .expect("running node")
    })
    .await
    .expect("the browser run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all customer page checks passed"),
        "browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    smtp.wait_for(15, "the manager's alert", |_| {
        smtp.to("rui@venue.example").iter().any(|m| {
            m["data"]
                .as_str()
                .unwrap_or("")
                .contains("nobody got back to them")
        })
    })
    .await;
    screenshots_taken(
        &screenshots,
        &[
            "status-390",
            "status-1280",
            "status-told-390",
            "invisible-urgent",
        ],
    );
}

/// Each named screenshot exists and holds a picture.
fn screenshots_taken(dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(format!("{name}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 5_000, "{} missing or empty", path.display());
    }
}
