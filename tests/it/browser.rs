//! Browser tests: `tests/browser/dashboard.mjs` drives Debian's chromium with npm's playwright-core against
//! the real `seen demo --serve`, and saves a screenshot of every page under `target/screenshots/`.
//! Needs Node.js, `/usr/bin/chromium` (Debian package `chromium`) and `npm ci` in `tests/browser` (done here
//! when `node_modules` is missing); `scripts/test` installs all of them (`common::prerequisites`).

use std::path::Path;
use std::process::Command;

use crate::common::prerequisites;

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
    for page in [
        "login",
        "invisible",
        "forbidden",
        "customer",
        "invisible-manager",
        "overview",
        "promises",
        "outbox",
        "surveys",
        "users",
        "keys",
        "policies",
    ] {
        let shot = screenshots.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 5_000, "{} missing or empty", shot.display());
    }
}
