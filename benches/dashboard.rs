//! Dashboard benchmark (`cargo bench --bench dashboard`): server time per page with 200 000 customers and
//! about 5 000 000 events (the demo generator, 7 months of history), on the real release binary over
//! loopback. Each page is requested `SEEN_BENCH_REQUESTS` times (default 40) after one warm-up, with the
//! figure cache on (the default, 30 s) and off (`figures_cache_secs = 0`: every request recomputes).
//! Also the customer search (an id prefix, and one letter: 50 of very many) and, with `[public] enabled`,
//! the public promise figures (`/promises/public`, no login; baselines that lack a page skip it), and one
//! queue customer's own status page (`/c/{token}`, minted with `seen keys links url`).
//! Writes `target/bench-dashboard.md`.
//!
//! Sizes: `SEEN_BENCH_CUSTOMERS` (default 200 000), `SEEN_BENCH_MONTHS` (default 7),
//! `SEEN_BENCH_DB` (reuse an existing database file instead of building one; it needs the admin
//! `bench@example.com` with the password "a long bench password"). `SEEN_BENCH_BASELINE=/old/seen[,…]`: those
//! binaries serve the same database too, one after the other per setup, with this build's p50 over theirs.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const END: &str = "2026-11-24T12:00:00Z";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(seen: &str, db: &Path, config: &Path) -> Serve {
        let mut child = Command::new(seen)
            .arg("--db")
            .arg(db)
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start seen serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("seen serve exited")
                .expect("read stdout");
            if let Some(address) = line.strip_prefix("seen listening on ") {
                break address.trim().to_string();
            }
        };
        Serve { child, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

fn login(client: &reqwest::blocking::Client, base: &str) -> String {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .expect("login page");
    let login_cookie = cookie(&page, "seen_login").expect("login cookie");
    let html = page.text().expect("login html");
    let marker = "name=\"login_token\" value=\"";
    let start = html.find(marker).expect("login token") + marker.len();
    let token = &html[start..start + html[start..].find('"').expect("token end")];
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", format!("seen_login={login_cookie}"))
        .form(&[
            ("email", "bench@example.com"),
            ("password", "a long bench password"),
            ("login_token", token),
        ])
        .send()
        .expect("login");
    cookie(&response, "seen_session").expect("session cookie")
}

fn build(dir: &Path, customers: usize, months: usize) -> PathBuf {
    let db = dir.join("dashboard.db");
    let started = Instant::now();
    let mut demo = Command::new(SEEN)
        .args([
            "demo",
            "--events-only",
            "--customers",
            &customers.to_string(),
            "--months",
            &months.to_string(),
            "--end",
            END,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("demo");
    let status = Command::new(SEEN)
        .arg("--db")
        .arg(&db)
        .args(["import", "-", "--quiet"])
        .stdin(demo.stdout.take().expect("demo stdout"))
        .status()
        .expect("import");
    assert!(status.success(), "import failed");
    assert!(demo.wait().expect("demo").success());
    eprintln!(
        "built {} in {:.0} s",
        db.display(),
        started.elapsed().as_secs_f64()
    );
    let mut add = Command::new(SEEN)
        .arg("--db")
        .arg(&db)
        .args([
            "users",
            "add",
            "bench@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("users add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"a long bench password\n")
        .expect("password");
    assert!(add.wait().expect("users add").success());
    db
}

/// `seen journeys report NAME --format json` for each built-in journey, the whole process (start, open,
/// migrate check, load, compute, print), 5 runs after one warm-up, by each binary in `bins` (baselines
/// first, this build last; each must print the same report): a table of median (min–max) seconds and this
/// build's median over each baseline's. Then this build's first report with no journey progress kept
/// (a copy of the database without it: what the first report after a large import costs).
fn journeys(db: &Path, bins: &[String]) -> String {
    let mut table = String::from(
        "| `seen journeys report NAME --format json`, whole process | binary | median (min–max) s | this / it | entered | stuck |\n|---|---|---|---|---|---|\n",
    );
    let run = |seen: &str, db: &Path, name: &str| {
        let started = Instant::now();
        let output = Command::new(seen)
            .arg("--db")
            .arg(db)
            .args([
                "journeys", "report", name, "--as-of", END, "--format", "json",
            ])
            .output()
            .expect("seen journeys report");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("report json");
        (started.elapsed().as_secs_f64(), report)
    };
    for name in ["booking", "order", "visit"] {
        let mut medians = Vec::new();
        let mut first_report: Option<serde_json::Value> = None;
        for seen in bins {
            let (_, report) = run(seen, db, name);
            match &first_report {
                Some(expected) => {
                    assert_eq!(&report, expected, "{seen} reports {name} differently")
                }
                None => first_report = Some(report.clone()),
            }
            let mut times: Vec<f64> = (0..5).map(|_| run(seen, db, name).0).collect();
            times.sort_by(f64::total_cmp);
            let median = percentile(&times, 50.0);
            medians.push(median);
            let this = medians.len() == bins.len();
            let ratio = if this {
                medians[..medians.len() - 1]
                    .iter()
                    .map(|m| format!("{:.2}×", median / m))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                "–".into()
            };
            let line = format!(
                "| {name} | `{}` | {:.3} ({:.3}–{:.3}) | {ratio} | {} | {} |\n",
                seen.rsplit('/').next().unwrap_or(seen),
                median,
                times[0],
                times[times.len() - 1],
                report["entered"],
                report["stuck"].as_array().map_or(0, Vec::len)
            );
            eprint!("journeys: {line}");
            table.push_str(&line);
        }
    }
    // The first report after an import: nothing kept yet, every event of the journey's types counted.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("uncounted.db");
    std::fs::copy(db, &copy).expect("copy the database");
    let cleared = Command::new("sqlite3")
        .arg(&copy)
        .arg("DELETE FROM journey_keys; DELETE FROM journey_state; DELETE FROM journey_stale;")
        .status()
        .expect("sqlite3");
    assert!(cleared.success());
    table.push_str("\n| first report with no progress kept (counts every event of its types) | s |\n|---|---|\n");
    for name in ["booking", "order", "visit"] {
        let (secs, _) = run(SEEN, &copy, name);
        let line = format!("| {name} | {secs:.3} |\n");
        eprint!("journeys, first: {line}");
        table.push_str(&line);
    }
    table
}

/// A page's p50, p95 and max, in ms.
type Figures = (f64, f64, f64);

/// One binary serving `db` with `config`: (page, figures) for each page, one request at a time.
fn measure(
    seen: &str,
    db: &Path,
    config: &Path,
    client: &reqwest::blocking::Client,
    requests: usize,
    pause_ms: u64,
) -> Vec<(String, Figures)> {
    let serve = Serve::start(seen, db, config);
    let session = login(client, &serve.base);
    // A customer of the queue, for the customer page.
    let queue = client
        .get(format!("{}/invisible", serve.base))
        .header("cookie", format!("seen_session={session}"))
        .send()
        .and_then(|r| r.text())
        .expect("queue");
    let marker = "data-customer=\"";
    let customer = queue.find(marker).map(|i| {
        let rest = &queue[i + marker.len()..];
        rest[..rest.find('"').unwrap_or(0)].to_string()
    });
    let mut pages = vec![
        "/overview".to_string(),
        "/overview?days=91".into(),
        "/invisible".into(),
        "/promises".into(),
        "/promises?format=csv".into(),
        "/outbox".into(),
        "/surveys".into(),
        "/retention".into(),
        "/journeys/order".into(),
        "/journeys/booking".into(),
        "/admin/users".into(),
        "/admin/policies".into(),
        "/search?q=a".into(),
        "/promises/public".into(),
    ];
    if let Some(c) = &customer {
        // That customer's own status page (no session needed), with a link minted by this build's CLI.
        if seen == SEEN {
            let minted = Command::new(seen)
                .arg("--db")
                .arg(db)
                .arg("--config")
                .arg(config)
                .args(["keys", "links", "url", c])
                .output()
                .expect("seen keys links url");
            let url = String::from_utf8_lossy(&minted.stdout).trim().to_string();
            if let Some(at) = url.find("/c/") {
                pages.push(url[at..].to_string());
            }
        }
    }
    if let Some(c) = customer {
        let prefix: String = c.chars().take(4).collect();
        pages.push(format!("/search?q={prefix}"));
        pages.insert(3, format!("/customers/{c}"));
    }
    let mut out = Vec::new();
    for page in pages {
        let mut times = Vec::with_capacity(requests);
        for i in 0..=requests {
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
            let started = Instant::now();
            let response = client
                .get(format!("{}{page}", serve.base))
                .header("cookie", format!("seen_session={session}"))
                .send()
                .expect("request");
            let status = response.status();
            let body = response.bytes().expect("body");
            let ms = started.elapsed().as_secs_f64() * 1_000.0;
            if status == reqwest::StatusCode::NOT_FOUND && seen != SEEN {
                // A baseline from before this page.
                break;
            }
            assert!(status.is_success(), "{page}: {status}");
            assert!(!body.is_empty());
            if i > 0 {
                times.push(ms);
            } else {
                // The warm-up computes what a cache then holds (the public figures' own 60 s cache, say).
                eprintln!(
                    "{page} ({}): first request {ms:.1} ms",
                    seen.rsplit('/').next().unwrap_or(seen)
                );
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort_by(f64::total_cmp);
        let figures = (
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            times.last().copied().unwrap_or(f64::NAN),
        );
        out.push((page, figures));
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let customers = env_usize("SEEN_BENCH_CUSTOMERS", 200_000);
    let months = env_usize("SEEN_BENCH_MONTHS", 7);
    let requests = env_usize("SEEN_BENCH_REQUESTS", 40);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = match std::env::var("SEEN_BENCH_DB") {
        Ok(path) => PathBuf::from(path),
        Err(_) => build(dir.path(), customers, months),
    };
    let counts = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM events), (SELECT count(*) FROM obligations)")
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
            match text.split('|').collect::<Vec<_>>().as_slice() {
                [c, e, o] => format!("{c} customers, {e} events, {o} obligations"),
                _ => text,
            }
        })
        .unwrap_or_default();
    eprintln!("database: {counts}");
    // With SEEN_BENCH_BASELINE=/old/seen[,…] those binaries serve the same database too, one after the
    // other within each setup: a p50/p95 pair per binary and this build's p50 over each baseline's.
    let mut bins: Vec<String> = std::env::var("SEEN_BENCH_BASELINE")
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    bins.push(SEEN.to_string());
    let journeys = journeys(&db, &bins);
    if std::env::var("SEEN_BENCH_JOURNEYS_ONLY").is_ok() {
        println!("Database: {counts} (SQLite).\n\n{journeys}");
        return;
    }

    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut table = String::new();
    table.push_str(&format!(
        "Database: {counts} (SQLite); {requests} requests per page after one warm-up, one at a time.\n\n"
    ));
    let name = |bin: &str| bin.rsplit('/').next().unwrap_or(bin).to_string();
    table.push_str("| page | cache |");
    for bin in &bins {
        table.push_str(&format!(" `{}` p50 / p95 / max ms |", name(bin)));
    }
    for bin in &bins[..bins.len() - 1] {
        table.push_str(&format!(" p50 this / `{}` |", name(bin)));
    }
    table.push_str("\n|---|---|");
    for _ in 0..(2 * bins.len() - 1) {
        table.push_str("---|");
    }
    table.push('\n');
    // (label, figures_cache_secs, queue_cache_secs, pause between requests): the defaults; a 1 s cache
    // with pauses, so that requests keep finding expired figures (served stale while one background
    // task recomputes them, which competes with the requests for the 2 cores); and no cache at all.
    let setups: [(&str, u64, u64, u64); 3] = [
        ("default (30 s, queue 5 s)", 30, 5, 0),
        ("1 s, 150 ms apart", 1, 1, 150),
        ("off", 0, 0, 0),
    ];
    // SEEN_BENCH_CACHE=default,1,off (the default: all three) chooses the setups by their first word.
    let chosen = std::env::var("SEEN_BENCH_CACHE").unwrap_or_else(|_| "default,1,off".into());
    let chosen: Vec<&str> = chosen.split(',').map(str::trim).collect();
    for (label, figures_secs, queue_secs, pause_ms) in setups {
        let word = label.split_whitespace().next().unwrap_or("");
        if !chosen.contains(&word) {
            continue;
        }
        let config = dir.path().join(format!("seen-{figures_secs}.toml"));
        std::fs::write(
            &config,
            format!(
                "[actions]\nenabled = false\n\n[server]\nfigures_cache_secs = {figures_secs}\nqueue_cache_secs = {queue_secs}\n"
            ),
        )
        .expect("config");
        // This build also publishes its promise figures (older binaries refuse the unknown section).
        let config_public = dir.path().join(format!("seen-{figures_secs}-public.toml"));
        std::fs::write(
            &config_public,
            format!(
                "{}\n[public]\nenabled = true\n",
                std::fs::read_to_string(&config).expect("config")
            ),
        )
        .expect("config");
        // page -> (p50, p95, max) per binary
        // A page a baseline lacks shows "–" in its column.
        let mut results: Vec<(String, Vec<Option<Figures>>)> = Vec::new();
        for (b, seen) in bins.iter().enumerate() {
            let config = if seen == SEEN {
                &config_public
            } else {
                &config
            };
            let pages = measure(seen, &db, config, &client, requests, pause_ms);
            for (page, figures) in pages {
                eprintln!(
                    "{page} {label} ({}): p50 {:.1} p95 {:.1} max {:.1}",
                    name(seen),
                    figures.0,
                    figures.1,
                    figures.2
                );
                // The customer page names a different customer per binary only if their queues differ.
                // A status link is minted per run.
                let page = if page.starts_with("/customers/") {
                    "/customers/…".to_string()
                } else if page.starts_with("/c/") {
                    "/c/{token}".to_string()
                } else {
                    page
                };
                let row = match results.iter_mut().position(|(p, _)| *p == page) {
                    Some(i) => &mut results[i].1,
                    None => {
                        results.push((page, vec![None; bins.len()]));
                        &mut results.last_mut().expect("just pushed").1
                    }
                };
                row[b] = Some(figures);
            }
        }
        for (page, row) in results {
            let mut line = format!("| `{page}` | {label} |");
            for figures in &row {
                match figures {
                    Some((p50, p95, max)) => {
                        line.push_str(&format!(" {p50:.1} / {p95:.1} / {max:.1} |"))
                    }
                    None => line.push_str(" – |"),
                }
            }
            let this = row[row.len() - 1].map(|f| f.0);
            for before in &row[..row.len() - 1] {
                match (this, before) {
                    (Some(this), Some((p50, _, _))) => {
                        line.push_str(&format!(" {:.2}× |", this / p50))
                    }
                    _ => line.push_str(" – |"),
                }
            }
            line.push('\n');
            table.push_str(&line);
        }
    }
    table.push_str(&format!("\n{journeys}"));
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-dashboard.md");
    std::fs::write(&out, &table).expect("write results");
    eprintln!("written to {}", out.display());
}
