//! Browser tests: `tests/browser/dashboard.mjs` drives Debian's chromium with npm's playwright-core against
//! the real `seen demo --serve`, and saves a screenshot of every page under `target/screenshots/`.
//! Needs Node.js, `/usr/bin/chromium` (Debian package `chromium`) and `npm ci` in `tests/browser` (done here
//! when `node_modules` is missing). `.ci/run` installs all of them.

use std::path::Path;
use std::process::Command;

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("running npm (Node.js is needed for the browser tests)");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    let screenshots = root.join("target/screenshots");
    let output = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&dir)
        .env("SEEN_BIN", assert_cmd::cargo::cargo_bin("seen"))
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
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
