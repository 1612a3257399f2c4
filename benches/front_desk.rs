//! Front-desk benchmark (`cargo bench --bench front_desk`): the real release binary (`seen serve` over
//! loopback) with 20 locations (3 counters each, the 5 built-in visit types), 28 days of finished visits
//! (`SEEN_BENCH_HISTORY` per location and day, default 40: 22 400 visits, ~90 000 events) and 1 000 people
//! waiting now (50 per location). Measures, after one warm-up each:
//! - the board (`GET /board/{location}`, logged in, a location at random): `SEEN_BENCH_REQUESTS` (200), and
//!   half as many right after a check-in at that location (the board window read again);
//! - check-in (`POST /visit/{location}`, the kiosk form, which quotes an estimate and stores `visit.queued`);
//! - SSE fan-out: `SEEN_BENCH_PAGES` (500) display pages of one location connected to
//!   `/visit/{location}/display/events`; one staff call there; the time until each page received the change
//!   (p50, p95, max), over `SEEN_BENCH_ROUNDS` (5) calls.
//!
//! Reports median (p50), p95 and min–max in milliseconds; writes `target/bench-front-desk.md`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const LOCATIONS: usize = 20;
const TYPES: [&str; 5] = ["collection", "returns", "enquiry", "appointment", "payment"];

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

/// "p50 (p95; min–max)" in ms.
fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{:.1} ms | {:.1} ms | {:.1}–{:.1} ms | {}",
        percentile(&ms, 50.0),
        percentile(&ms, 95.0),
        ms.first().copied().unwrap_or(f64::NAN),
        ms.last().copied().unwrap_or(f64::NAN),
        ms.len()
    )
}

fn config(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from(
        "[server]\nmax_batch = 10000\n\n[visits]\nnotify_ahead = 0\nboard_window = \"12h\"\nhistory = \"28d\"\n\n",
    );
    for l in 0..LOCATIONS {
        text.push_str(&format!(
            "[[visits.locations]]\nname = \"l{l:02}\"\nlabel = \"Branch {l}\"\ncounters = [\"l{l:02}-1\", \"l{l:02}-2\", \"l{l:02}-3\"]\n\n"
        ));
    }
    let path = dir.join("seen.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A tiny deterministic generator (no dependency on rand's versions for reproducible data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// History and the queue now, as JSONL.
fn events(dir: &Path, per_day: usize, now: jiff::Timestamp) -> std::path::PathBuf {
    let path = dir.join("visits.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut rng = Lcg(7);
    let mut n = 0u64;
    let mut line = |out: &mut std::io::BufWriter<std::fs::File>,
                    kind: &str,
                    customer: &str,
                    r: &str,
                    at: jiff::Timestamp,
                    properties: serde_json::Value| {
        n += 1;
        let e = serde_json::json!({ "id": format!("b{n}"), "type": kind, "customer": customer, "ref": r,
            "at": at.to_string(), "channel": "in_person", "properties": properties });
        writeln!(out, "{e}").expect("write");
    };
    let day = jiff::SignedDuration::from_hours(24);
    let secs = |s: f64| jiff::SignedDuration::from_secs(s as i64);
    for l in 0..LOCATIONS {
        let location = format!("l{l:02}");
        for d in 1..=28 {
            let start = now - day * d + jiff::SignedDuration::from_hours(9);
            for k in 0..per_day {
                let t = TYPES[k % TYPES.len()];
                let r = format!("H-{l}-{d}-{k}");
                let customer = format!("h{l}-{d}-{k}");
                let queued = start + secs(rng.next() * 8.0 * 3600.0);
                let called = queued + secs(30.0 + rng.next() * 900.0);
                let finished = called + secs(60.0 + rng.next() * 600.0);
                let by = format!("staff{}@bench.example", k % 6);
                let counter = format!("{location}-{}", 1 + k % 3);
                line(
                    &mut out,
                    "visit.queued",
                    &customer,
                    &r,
                    queued,
                    serde_json::json!({ "visit_type": t, "location": location, "first_name": "H" }),
                );
                line(
                    &mut out,
                    "visit.called",
                    &customer,
                    &r,
                    called,
                    serde_json::json!({ "by": by, "counter": counter }),
                );
                line(
                    &mut out,
                    "visit.served",
                    &customer,
                    &r,
                    called,
                    serde_json::json!({ "by": by, "counter": counter }),
                );
                line(
                    &mut out,
                    "visit.finished",
                    &customer,
                    &r,
                    finished,
                    serde_json::json!({ "by": by }),
                );
            }
        }
        for k in 0..50 {
            let t = TYPES[k % TYPES.len()];
            let queued = now - secs(60.0 + rng.next() * 3.0 * 3600.0);
            line(
                &mut out,
                "visit.queued",
                &format!("w{l}-{k}"),
                &format!("W-{l}-{k}"),
                queued,
                serde_json::json!({ "visit_type": t, "location": location, "first_name": format!("Wanda{k}") }),
            );
        }
    }
    out.flush().expect("flush");
    path
}

struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(db: &Path, config: &Path) -> Serve {
        let mut child = Command::new(SEEN)
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

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_string())
        })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_string()
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let login_cookie = cookie(&page, "seen_login").expect("login cookie");
    let token = hidden(&page.text().await.expect("html"), "login_token");
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", format!("seen_login={login_cookie}"))
        .form(&[
            ("email", "bench@example.com"),
            ("password", "a long bench password"),
            ("login_token", &token),
        ])
        .send()
        .await
        .expect("login");
    cookie(&response, "seen_session").expect("session cookie")
}

/// Reads an SSE response until the next `update` event.
async fn next_update(response: &mut reqwest::Response, buffer: &mut String) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: update") {
                return;
            }
            continue;
        }
        let chunk = response.chunk().await.expect("read").expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn main() {
    let requests = env_usize("SEEN_BENCH_REQUESTS", 200);
    let pages = env_usize("SEEN_BENCH_PAGES", 500);
    let rounds = env_usize("SEEN_BENCH_ROUNDS", 5);
    let per_day = env_usize("SEEN_BENCH_HISTORY", 40);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    let db = dir.path().join("front-desk.db");
    let now = jiff::Timestamp::now();
    let file = events(dir.path(), per_day, now);
    let started = Instant::now();
    let status = Command::new(SEEN)
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .args(["import", "--quiet"])
        .arg(&file)
        .status()
        .expect("import");
    assert!(status.success());
    eprintln!("imported in {:.1} s", started.elapsed().as_secs_f64());
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

    let serve = Serve::start(&db, &config);
    let base = serve.base.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1000)
            .build()
            .expect("client");
        let session = login(&client, &base).await;
        let mut rng = Lcg(11);
        let board = |l: usize| {
            client
                .get(format!("{base}/board/l{l:02}?counter=l{l:02}-1"))
                .header("cookie", format!("seen_session={session}"))
                .send()
        };
        // Warm-up: the first board reads the window and learns the service times.
        let first = board(0).await.expect("board");
        assert_eq!(first.status(), 200);
        let html = first.text().await.expect("html");
        assert!(html.contains("Wanda0"), "the board shows the queue");
        let csrf = hidden(&html, "csrf");
        let mut board_ms = Vec::new();
        for _ in 0..requests {
            let l = (rng.next() * LOCATIONS as f64) as usize;
            let t = Instant::now();
            let response = board(l).await.expect("board");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
            board_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut check_in_ms = Vec::new();
        for k in 0..=requests {
            let l = (rng.next() * LOCATIONS as f64) as usize;
            let t = Instant::now();
            let response = client
                .post(format!("{base}/visit/l{l:02}"))
                .form(&[
                    ("visit_type", TYPES[k % TYPES.len()]),
                    ("first_name", "Bench"),
                ])
                .send()
                .await
                .expect("check in");
            assert_eq!(
                response.status(),
                303,
                "{}",
                response.text().await.unwrap_or_default()
            );
            if k > 0 {
                check_in_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        // The board right after a change (a check-in at that location): the window is read again.
        let mut fresh_ms = Vec::new();
        for k in 0..requests / 2 {
            let l = (rng.next() * LOCATIONS as f64) as usize;
            let response = client
                .post(format!("{base}/visit/l{l:02}"))
                .form(&[
                    ("visit_type", TYPES[k % TYPES.len()]),
                    ("first_name", "Fresh"),
                ])
                .send()
                .await
                .expect("check in");
            assert_eq!(response.status(), 303);
            let t = Instant::now();
            let response = board(l).await.expect("board");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
            fresh_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // Fan-out: `pages` display pages of l00, each waiting for its first update, then one call per round.
        let connect = Instant::now();
        let mut streams = Vec::with_capacity(pages);
        for _ in 0..pages {
            let client = client.clone();
            let base = base.clone();
            streams.push(tokio::spawn(async move {
                let mut response = client
                    .get(format!("{base}/visit/l00/display/events"))
                    .send()
                    .await
                    .expect("connect");
                let mut buffer = String::new();
                next_update(&mut response, &mut buffer).await;
                (response, buffer)
            }));
        }
        let mut connected = Vec::with_capacity(pages);
        for s in streams {
            connected.push(s.await.expect("stream"));
        }
        let connect_s = connect.elapsed().as_secs_f64();
        let mut fan_ms = Vec::new();
        let mut last_ms = Vec::new();
        for _ in 0..rounds {
            let called = Arc::new(Instant::now());
            let waits: Vec<_> = connected
                .drain(..)
                .map(|(mut response, mut buffer)| {
                    let called = called.clone();
                    tokio::spawn(async move {
                        tokio::time::timeout(
                            Duration::from_secs(60),
                            next_update(&mut response, &mut buffer),
                        )
                        .await
                        .expect("an update within 60 s");
                        (called.elapsed().as_secs_f64() * 1000.0, response, buffer)
                    })
                })
                .collect();
            let response = client
                .post(format!("{base}/board/l00/act"))
                .header("cookie", format!("seen_session={session}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("action", "call_next"),
                    ("counter", "l00-1"),
                ])
                .send()
                .await
                .expect("call next");
            assert_eq!(response.status(), 303);
            let mut round = Vec::new();
            for w in waits {
                let (ms, response, buffer) = w.await.expect("wait");
                round.push(ms);
                connected.push((response, buffer));
            }
            round.sort_by(|a, b| a.total_cmp(b));
            last_ms.push(*round.last().unwrap_or(&f64::NAN));
            fan_ms.extend(round);
        }
        format!(
            "| what | p50 | p95 | min–max | n |\n|---|---|---|---|---|\n\
             | board `GET /board/{{location}}` (1 000 waiting, 20 locations) | {} |\n\
             | board right after a check-in there (the window read again) | {} |\n\
             | check-in `POST /visit/{{location}}` | {} |\n\
             | SSE fan-out: a call reaches each of {pages} connected display pages | {} |\n\
             | SSE fan-out: the last of {pages} pages, per call | {} |\n\n\
             {pages} pages connected (first update each) in {connect_s:.2} s.\n",
            summary(board_ms),
            summary(fresh_ms),
            summary(check_in_ms),
            summary(fan_ms),
            summary(last_ms),
        )
    });
    drop(serve);
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-front-desk.md");
    std::fs::write(&out, &report).expect("write report");
    eprintln!("wrote {}", out.display());
}
