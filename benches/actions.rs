//! Actions benchmarks (`cargo bench --bench actions`): SMTP sending rate, and timer lateness with a million
//! scheduled messages pending. Drives the real release binary against the real SMTP sink
//! (`tests/support/smtp_sink.py`, Debian's python3-aiosmtpd). Writes `target/bench-actions.md`.
//!
//! Sizes: `SEEN_BENCH_SENDS` (default 5 000), `SEEN_BENCH_PENDING` (default 1 000 000),
//! `SEEN_BENCH_TIMED` (default 2 000), `SEEN_BENCH_RUNS` (default 3).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

const SEEN: &str = env!("CARGO_BIN_EXE_seen");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Sink {
    fn start(dir: &Path) -> Sink {
        let out = dir.join("mail.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--port", "0", "--exit-on-stdin-eof", "--out"])
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("READY");
        let port = line
            .trim()
            .trim_start_matches("READY ")
            .parse()
            .expect("port");
        Sink { child, port, out }
    }
    fn count(&self) -> usize {
        std::fs::read(&self.out)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Serve {
    child: Child,
    address: String,
}

impl Serve {
    fn start(db: &Path, config: &Path) -> Serve {
        let mut child = Command::new(SEEN)
            .args([
                "--db",
                db.to_str().expect("utf-8 path"),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("SEEN_CONFIG", config)
            .env("SEEN_LOG", "warn")
            .current_dir(db.parent().expect("folder"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start seen serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address line");
        let address = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        Serve { child, address }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("seen.toml");
    std::fs::write(
        &path,
        format!(
            "[actions]\nquiet_hours = \"\"\ndaily_cap = 0\n[email]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\n"
        ),
    )
    .expect("write config");
    path
}

fn import(db: &Path, config: &Path, events: &Path) {
    let status = Command::new(SEEN)
        .args(["--db", db.to_str().expect("utf-8"), "import"])
        .arg(events)
        .env("SEEN_CONFIG", config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run seen import");
    assert!(status.success(), "import failed");
}

/// Messages/s: `n` order confirmations planned and sent by a fresh server.
fn smtp_rate(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(dir.path());
    let config = write_config(dir.path(), sink.port);
    let db = dir.path().join("seen.db");
    let events = dir.path().join("orders.jsonl");
    let now = Timestamp::now().to_string();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&events).expect("create"));
    for i in 0..n {
        writeln!(
            file,
            r#"{{"id":"o{i}","type":"order.placed","customer":"c{i}","customer_email":"c{i}@example.com","ref":"O-{i}","at":"{now}","properties":{{"total":42.5,"currency":"EUR"}}}}"#
        )
        .expect("write");
    }
    file.flush().expect("flush");
    drop(file);
    import(&db, &config, &events);
    let _serve = Serve::start(&db, &config);
    // From the first message accepted to the last.
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.count() == 0 {
        assert!(Instant::now() < deadline, "nothing sent");
        std::thread::sleep(Duration::from_millis(2));
    }
    let first = Instant::now();
    while sink.count() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} sent",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    n as f64 / first.elapsed().as_secs_f64()
}

/// Timer lateness (seconds) of `timed` reminders falling due over ~30 s while `pending` more are scheduled
/// for the next week.
fn lateness(pending: usize, timed: usize) -> (Vec<f64>, usize, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(dir.path());
    let config = write_config(dir.path(), sink.port);
    let db = dir.path().join("seen.db");
    let events = dir.path().join("bookings.jsonl");
    let now = Timestamp::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&events).expect("create"));
    let week = 7 * 86_400;
    for i in 0..pending {
        // Reminders due between 1 h and a week from now.
        let due = now + SignedDuration::from_secs(3_600 + (i as i64 * 7_919) % week);
        let starts = due + SignedDuration::from_hours(24);
        writeln!(
            file,
            r#"{{"id":"p{i}","type":"booking.confirmed","customer":"p{i}","customer_email":"p{i}@example.com","ref":"P-{i}","at":"{now}","properties":{{"starts_at":"{starts}"}}}}"#
        )
        .expect("write");
    }
    file.flush().expect("flush");
    drop(file);
    import(&db, &config, &events);
    let serve = Serve::start(&db, &config);
    // Wait until the planner has queued them all.
    let planned = Instant::now();
    loop {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap_or(0);
        if n as usize >= pending {
            break;
        }
        assert!(
            planned.elapsed() < Duration::from_secs(900),
            "planning stalled at {n}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let planning = planned.elapsed().as_secs_f64();
    // The timed reminders: due 10 s to 40 s from now, posted over HTTP while the million wait.
    let key_output = Command::new(SEEN)
        .args([
            "--db",
            db.to_str().expect("utf-8"),
            "keys",
            "create",
            "bench",
        ])
        .env("SEEN_CONFIG", &config)
        .output()
        .expect("keys");
    let key = String::from_utf8_lossy(&key_output.stdout)
        .trim()
        .to_string();
    let client = reqwest::blocking::Client::new();
    let base = Timestamp::now() + SignedDuration::from_secs(10);
    for chunk in (0..timed).collect::<Vec<_>>().chunks(500) {
        let events: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                let due = base + SignedDuration::from_millis((*i as i64 * 30_000) / timed as i64);
                serde_json::json!({
                    "id": format!("t{i}"), "type": "booking.confirmed", "customer": format!("t{i}"),
                    "customer_email": format!("t{i}@example.com"), "ref": format!("T-{i}"),
                    "at": Timestamp::now().to_string(),
                    "properties": { "starts_at": (due + SignedDuration::from_hours(24)).to_string() }
                })
            })
            .collect();
        let response = client
            .post(format!("{}/v1/events", serve.address))
            .bearer_auth(&key)
            .json(&events)
            .send()
            .expect("post");
        assert!(response.status().is_success(), "{:?}", response.text());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.count() < timed {
        assert!(
            Instant::now() < deadline,
            "only {} of {timed} timed reminders sent",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let mut stmt = conn
        .prepare("SELECT sent_at - due_at FROM outbox WHERE customer LIKE 't%' AND status = 'sent'")
        .expect("prepare");
    let mut late: Vec<f64> = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .expect("query")
        .filter_map(Result::ok)
        .map(|ns| ns as f64 / 1e9)
        .collect();
    late.sort_by(f64::total_cmp);
    let still_pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    drop(serve);
    (late, still_pending.max(0) as usize, planning)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let sends = env_usize("SEEN_BENCH_SENDS", 5_000);
    let pending = env_usize("SEEN_BENCH_PENDING", 1_000_000);
    let timed = env_usize("SEEN_BENCH_TIMED", 2_000);
    let mut table = String::from("| measure | result | target |\n|---|---|---|\n");

    let rates: Vec<f64> = (0..runs)
        .map(|run| {
            let rate = smtp_rate(sends);
            eprintln!("smtp run {run}: {rate:.0} messages/s");
            rate
        })
        .collect();
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    table.push_str(&format!(
        "| order confirmations sent to a local SMTP server ({sends} per run, planned + rendered + sent + recorded) | **{:.0} messages/s** (min {:.0}, max {:.0}; {runs} runs) | ≥ 500 messages/s |\n",
        median(rates),
        sorted[0],
        sorted[sorted.len() - 1]
    ));

    // Lateness: one full run (import, planning, timed burst) per repetition; medians with min–max.
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut maxes = Vec::new();
    let mut plannings = Vec::new();
    let mut samples = 0;
    let mut still = 0;
    for run in 0..runs {
        let (late, still_pending, planning) = lateness(pending, timed);
        let (p50, p99) = (percentile(&late, 50.0) * 1e3, percentile(&late, 99.0) * 1e3);
        let max = late.last().copied().unwrap_or(f64::NAN) * 1e3;
        eprintln!(
            "lateness run {run}: {} samples, p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms, planning {planning:.1} s",
            late.len()
        );
        samples = late.len();
        still = still_pending;
        p50s.push(p50);
        p99s.push(p99);
        maxes.push(max);
        plannings.push(planning);
    }
    let spread = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (median(s.clone()), s[0], s[s.len() - 1])
    };
    let ((p50, p50_lo, p50_hi), (p99, p99_lo, p99_hi)) = (spread(&p50s), spread(&p99s));
    let ((max, max_lo, max_hi), (plan, plan_lo, plan_hi)) = (spread(&maxes), spread(&plannings));
    table.push_str(&format!(
        "| timer lateness (sent_at − due_at) of {samples} reminders due over 30 s, with {still} more pending | **p50 {p50:.0} ms** ({p50_lo:.0}–{p50_hi:.0}), **p99 {p99:.0} ms** ({p99_lo:.0}–{p99_hi:.0}), max {max:.0} ms ({max_lo:.0}–{max_hi:.0}); median of {runs} runs | p99 ≤ 1 s |\n"
    ));
    table.push_str(&format!(
        "| planning {pending} imported reminders into the outbox at start | {plan:.1} s ({plan_lo:.1}–{plan_hi:.1}; {:.0} rows/s, polled every 0.5 s) | — |\n",
        pending as f64 / plan
    ));
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-actions.md");
    let _ = std::fs::write(out, table);
}
