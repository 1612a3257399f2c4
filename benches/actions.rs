//! Actions benchmarks (`cargo bench --bench actions`): SMTP sending rate, planning a backlog of a million
//! imported reminders (and how soon a new event's confirmation goes out meanwhile), and timer lateness with
//! that million pending. Drives the real release binary. Writes `target/bench-actions.md`.
//!
//! Two SMTP servers: the tests' sink (`tests/support/smtp_sink.py`, Debian's python3-aiosmtpd), and,
//! because that sink alone tops out near 2 000 messages/s of its own CPU on this machine (measured with a
//! trivial client, issue 20), Postfix's `smtp-sink` (C; Debian's `postfix` package, `/usr/sbin/smtp-sink`),
//! which advertises PIPELINING. Rows of the second are counted by the outbox's sent rows.
//!
//! Sizes: `SEEN_BENCH_SENDS` (default 5 000), `SEEN_BENCH_PENDING` (default 1 000 000),
//! `SEEN_BENCH_TIMED` (default 2 000), `SEEN_BENCH_RUNS` (default 3). With
//! `SEEN_BENCH_BASELINE=/path/to/old/seen` the old binary and this build run alternately and each row
//! gives both medians (min–max) and the ratio.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const SMTP_SINK_C: &str = "/usr/sbin/smtp-sink";

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

/// (median, min, max).
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (median(s.clone()), s[0], s[s.len() - 1])
}

/// Which SMTP server receives.
#[derive(Clone, Copy, PartialEq)]
enum SinkKind {
    /// The tests' aiosmtpd sink: each accepted message is a line of its output file.
    Python,
    /// Postfix's smtp-sink: accepts and forgets; the outbox's sent rows count.
    Postfix,
}

struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Sink {
    fn start(dir: &Path, kind: SinkKind) -> Sink {
        match kind {
            SinkKind::Python => Sink::python(dir),
            SinkKind::Postfix => Sink::postfix(dir),
        }
    }

    fn python(dir: &Path) -> Sink {
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

    fn postfix(dir: &Path) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(SMTP_SINK_C)
            .args(["-u", "root", &format!("127.0.0.1:{port}"), "1024"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/smtp-sink (apt-get install postfix)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink {
            child,
            port,
            out: dir.join("none"),
        }
    }

    /// Messages the Python sink accepted.
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
    fn start(seen: &Path, db: &Path, config: &Path) -> Serve {
        let mut child = Command::new(seen)
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

fn import(seen: &Path, db: &Path, config: &Path, events: &Path) {
    let status = Command::new(seen)
        .args(["--db", db.to_str().expect("utf-8"), "import"])
        .arg(events)
        .env("SEEN_CONFIG", config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run seen import");
    assert!(status.success(), "import failed");
}

fn api_key(seen: &Path, db: &Path, config: &Path) -> String {
    let output = Command::new(seen)
        .args([
            "--db",
            db.to_str().expect("utf-8"),
            "keys",
            "create",
            "bench",
        ])
        .env("SEEN_CONFIG", config)
        .output()
        .expect("keys");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn read_only(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open")
}

fn count(conn: &rusqlite::Connection, sql: &str) -> usize {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .unwrap_or(0)
        .max(0) as usize
}

/// Messages/s: `n` order confirmations planned and sent by a fresh server, from the first message accepted
/// (Python sink) or marked sent (smtp-sink) to the last.
fn smtp_rate(seen: &Path, n: usize, kind: SinkKind) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(dir.path(), kind);
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
    import(seen, &db, &config, &events);
    let _serve = Serve::start(seen, &db, &config);
    let conn = read_only(&db);
    let sent = || match kind {
        SinkKind::Python => sink.count(),
        SinkKind::Postfix => count(&conn, "SELECT count(*) FROM outbox WHERE status = 'sent'"),
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while sent() == 0 {
        assert!(Instant::now() < deadline, "nothing sent");
        std::thread::sleep(Duration::from_millis(2));
    }
    let first = Instant::now();
    loop {
        let done = sent();
        if done >= n {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {n} sent");
        std::thread::sleep(Duration::from_millis(5));
    }
    n as f64 / first.elapsed().as_secs_f64()
}

/// One lateness run's figures.
struct Lateness {
    /// `sent_at − due_at` of the timed reminders, seconds, sorted.
    late: Vec<f64>,
    still_pending: usize,
    /// From `seen serve`'s start until the outbox holds the whole backlog, seconds.
    planning: f64,
    /// From a new order's `POST` (sent right after the start) until its confirmation reached the SMTP
    /// sink, seconds; and how many backlog rows were planned at that moment.
    new_event: f64,
    planned_then: usize,
}

/// The backlog: `pending` bookings whose reminders fall due between 1 h and a week from now, imported
/// into a database kept as a template (each run plans a copy).
fn backlog(seen: &Path, dir: &Path, pending: usize) -> PathBuf {
    let config = write_config(dir, 25);
    let db = dir.join("template.db");
    let events = dir.join("bookings.jsonl");
    let now = Timestamp::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&events).expect("create"));
    let week = 7 * 86_400;
    for i in 0..pending {
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
    import(seen, &db, &config, &events);
    // Checkpointed into the main file, so that a copy of that file is the whole database.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    db
}

/// Planning a copy of `template` at start, a new order's confirmation meanwhile, then the timer lateness
/// of `timed` reminders falling due over ~30 s while the backlog waits.
fn lateness(seen: &Path, template: &Path, pending: usize, timed: usize) -> Lateness {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(dir.path(), SinkKind::Python);
    let config = write_config(dir.path(), sink.port);
    let db = dir.path().join("seen.db");
    std::fs::copy(template, &db).expect("copy the backlog");
    let key = api_key(seen, &db, &config);
    let client = reqwest::blocking::Client::new();
    let serve = Serve::start(seen, &db, &config);
    let started = Instant::now();
    let order = serde_json::json!([{
        "id": "new-order", "type": "order.placed", "customer": "n0", "customer_email": "n0@example.com",
        "ref": "N-0", "at": Timestamp::now().to_string(), "properties": { "total": 10, "currency": "EUR" }
    }]);
    let response = client
        .post(format!("{}/v1/events", serve.address))
        .bearer_auth(&key)
        .json(&order)
        .send()
        .expect("post");
    assert!(response.status().is_success(), "{:?}", response.text());
    let posted = Instant::now();
    let conn = read_only(&db);
    let deadline = Instant::now() + Duration::from_secs(900);
    while sink.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "the new order was never confirmed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let new_event = posted.elapsed().as_secs_f64();
    let planned_then = count(&conn, "SELECT count(*) FROM outbox");
    // Until the planner has queued the whole backlog.
    loop {
        let n = count(&conn, "SELECT count(*) FROM outbox");
        if n > pending {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "planning stalled at {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let planning = started.elapsed().as_secs_f64();
    // The timed reminders: due 10 s to 40 s from now, posted over HTTP while the million wait.
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
    while sink.count() < timed + 1 {
        assert!(
            Instant::now() < deadline,
            "only {} of {timed} timed reminders sent",
            sink.count().saturating_sub(1)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let still_pending = count(
        &conn,
        "SELECT count(*) FROM outbox WHERE status = 'pending'",
    );
    drop(serve);
    Lateness {
        late,
        still_pending,
        planning,
        new_event,
        planned_then,
    }
}

/// The binaries measured, alternately: the baseline's (if any), then this build.
fn binaries() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    if let Some(old) = std::env::var_os("SEEN_BENCH_BASELINE") {
        out.push(("before", PathBuf::from(old)));
    }
    out.push(("after", PathBuf::from(SEEN)));
    out
}

/// One table row's cells: each binary's median (min–max), and after/before.
fn cells(per_binary: &[Vec<f64>], digits: usize) -> String {
    let mut out = Vec::new();
    for values in per_binary {
        let (m, lo, hi) = spread(values);
        out.push(format!("**{m:.digits$}** ({lo:.digits$}–{hi:.digits$})"));
    }
    if let [before, after] = per_binary {
        out.push(format!(
            "{:.2}×",
            median(after.clone()) / median(before.clone())
        ));
    }
    out.join(" | ")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let sends = env_usize("SEEN_BENCH_SENDS", 5_000);
    let pending = env_usize("SEEN_BENCH_PENDING", 1_000_000);
    let timed = env_usize("SEEN_BENCH_TIMED", 2_000);
    let bins = binaries();
    let postfix = Path::new(SMTP_SINK_C).exists();
    if !postfix {
        eprintln!("{SMTP_SINK_C} missing (apt-get install postfix): its row is left out");
    }
    let names: Vec<&str> = bins.iter().map(|(name, _)| *name).collect();
    let mut table = format!(
        "| measure ({runs} runs each, median (min–max)) | {} |",
        names.join(" | ")
    );
    table.push_str(if bins.len() == 2 {
        " after/before |\n|---|---|---|---|\n"
    } else {
        "\n|---|---|\n"
    });

    let n = bins.len();
    let mut python = vec![Vec::new(); n];
    let mut fast = vec![Vec::new(); n];
    for run in 0..runs {
        for (b, (name, seen)) in bins.iter().enumerate() {
            let rate = smtp_rate(seen, sends, SinkKind::Python);
            eprintln!("smtp (aiosmtpd) run {run} {name}: {rate:.0} messages/s");
            python[b].push(rate);
            if postfix {
                let rate = smtp_rate(seen, sends, SinkKind::Postfix);
                eprintln!("smtp (smtp-sink) run {run} {name}: {rate:.0} messages/s");
                fast[b].push(rate);
            }
        }
    }
    table.push_str(&format!(
        "| order confirmations to the tests' SMTP sink (aiosmtpd), {sends} per run, messages/s | {} |\n",
        cells(&python, 0)
    ));
    if postfix {
        table.push_str(&format!(
            "| order confirmations to Postfix's smtp-sink, {sends} per run, messages/s | {} |\n",
            cells(&fast, 0)
        ));
    }

    let templates_dir = tempfile::tempdir().expect("tempdir");
    let templates: Vec<PathBuf> = bins
        .iter()
        .enumerate()
        .map(|(b, (_, seen))| {
            let dir = templates_dir.path().join(format!("b{b}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            backlog(seen, &dir, pending)
        })
        .collect();
    let (mut p50s, mut p99s, mut maxes) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    let (mut plannings, mut news, mut thens) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    let (mut samples, mut still) = (0, 0);
    for run in 0..runs {
        for (b, (name, seen)) in bins.iter().enumerate() {
            let l = lateness(seen, &templates[b], pending, timed);
            let (p50, p99) = (
                percentile(&l.late, 50.0) * 1e3,
                percentile(&l.late, 99.0) * 1e3,
            );
            let max = l.late.last().copied().unwrap_or(f64::NAN) * 1e3;
            eprintln!(
                "lateness run {run} {name}: {} samples, p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms, planning {:.1} s, new order confirmed after {:.0} ms with {} of {pending} planned",
                l.late.len(),
                l.planning,
                l.new_event * 1e3,
                l.planned_then
            );
            samples = l.late.len();
            still = l.still_pending;
            p50s[b].push(p50);
            p99s[b].push(p99);
            maxes[b].push(max);
            plannings[b].push(l.planning);
            news[b].push(l.new_event * 1e3);
            thens[b].push(l.planned_then as f64);
        }
    }
    table.push_str(&format!(
        "| planning {pending} imported reminders into the outbox at start, s | {} |\n",
        cells(&plannings, 1)
    ));
    table.push_str(&format!(
        "| a new order's confirmation, posted right after the start, reaches the sink after … ms | {} |\n",
        cells(&news, 0)
    ));
    table.push_str(&format!(
        "| … with this many backlog rows planned by then | {} |\n",
        cells(&thens, 0)
    ));
    table.push_str(&format!(
        "| timer lateness p50 of {samples} reminders due over 30 s, {still} more pending, ms | {} |\n",
        cells(&p50s, 0)
    ));
    table.push_str(&format!(
        "| timer lateness p99, ms | {} |\n",
        cells(&p99s, 0)
    ));
    table.push_str(&format!(
        "| timer lateness max, ms | {} |\n",
        cells(&maxes, 0)
    ));
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-actions.md");
    let _ = std::fs::write(out, table);
}
