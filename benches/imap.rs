//! The mailbox connector against a real Dovecot (`cargo bench --bench imap`; needs dovecot-imapd):
//! - backfill: `seen serve` reads SEEN_BENCH_MAILS (default 10 000) mails from 2 000 customers into a new
//!   SQLite file; mails/s from the server's start until the last event is stored (median of
//!   SEEN_BENCH_RUNS, default 3), beside the same events POSTed to /v1/events (batches of 1 000, 1 client);
//! - IDLE latency: one mail appended at a time while the server idles, from the APPEND's completion until
//!   its event is stored (SEEN_BENCH_LATENCY_MAILS, default 200): p50 / p99 / max.
//!
//! Prints a Markdown table for BENCHMARKS.md.

#[path = "../tests/support/dovecot.rs"]
mod dovecot;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dovecot::Dovecot;

const SEEN: &str = env!("CARGO_BIN_EXE_seen");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn mail(i: usize) -> String {
    format!(
        "From: Customer {c} <c{c}@example.com>\r\nTo: hello@venue.example\r\nSubject: Request {i}\r\n\
         Message-ID: <bench-{i}@example.com>\r\nDate: Mon, 30 Nov 2026 09:{m:02}:00 +0000\r\n\r\n\
         Hello, this is request {i}. Could somebody get back to me about my booking?\r\n",
        c = i % 2_000,
        m = i % 60
    )
}

fn count(db: &Path) -> usize {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
        .map(|n| n as usize)
        .unwrap_or(0)
}

/// `seen serve` with the connector, on a fresh database; returns the child and its address.
fn serve(db: &Path, config: &Path, env: &str) -> (Child, String) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut child = Command::new(SEEN)
        .args([
            "--db",
            db.to_str().expect("path"),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("SEEN_CONFIG", config)
        .env("SEEN_LOG", "warn")
        .env(env, dovecot::PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start seen serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let address = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    (child, address)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let binary = std::env::var("SEEN_TEST_DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
    if !Path::new(&binary).exists() {
        eprintln!("dovecot-imapd is missing ({binary} not found): apt-get install dovecot-imapd");
        std::process::exit(1);
    }
    let mails = env_usize("SEEN_BENCH_MAILS", 10_000);
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let latency_mails = env_usize("SEEN_BENCH_LATENCY_MAILS", 200);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = Dovecot::start_binary(&binary);
    let appended = Instant::now();
    runtime.block_on(async {
        let mut session = server.client().await;
        for i in 0..mails {
            session
                .append("INBOX", None, None, mail(i))
                .await
                .expect("append");
        }
        let _ = session.logout().await;
    });
    eprintln!(
        "appended {mails} mails in {:.1} s",
        appended.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("seen.db");
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        format!(
            "[actions]\nenabled = false\n{}",
            server.connector_toml("bench", "backfill = \"3650d\"")
        ),
    )
    .expect("config");
    let env = "SEEN_TEST_IMAP_BENCH";

    // Backfill.
    let mut rates = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let (mut child, _) = serve(&db, &config, env);
        while count(&db) < mails {
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "backfill too slow"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let seconds = started.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        rates.push(mails as f64 / seconds);
        eprintln!("backfill run {run}: {mails} mails in {seconds:.2} s");
    }

    // The same events through the API.
    let mut api_rates = Vec::new();
    let events: Vec<serde_json::Value> = (0..mails)
        .map(|i| {
            serde_json::json!({
                "id": format!("api-{i}"), "type": "message.received",
                "customer": format!("c{}@example.com", i % 2_000),
                "customer_email": format!("c{}@example.com", i % 2_000),
                "customer_name": format!("Customer {}", i % 2_000),
                "at": format!("2026-11-30T09:{:02}:00Z", i % 60), "channel": "email",
                "ref": format!("bench-{i}@example.com"),
                "properties": {"connector": "bench", "folder": "INBOX", "subject": format!("Request {i}"),
                    "snippet": format!("Hello, this is request {i}. Could somebody get back to me about my booking?"),
                    "message_id": format!("bench-{i}@example.com"), "thread_rule": "new"}
            })
        })
        .collect();
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "[actions]\nenabled = false\n").expect("config");
    for run in 0..runs {
        let (mut child, address) = serve(&db, &plain, env);
        let key = Command::new(SEEN)
            .args([
                "--db",
                db.to_str().expect("path"),
                "keys",
                "create",
                &format!("bench{run}"),
            ])
            .env("SEEN_CONFIG", &plain)
            .output()
            .expect("key");
        let key = String::from_utf8_lossy(&key.stdout).trim().to_string();
        let client = reqwest::blocking::Client::new();
        let started = Instant::now();
        for batch in events.chunks(1_000) {
            let response = client
                .post(format!("{address}/v1/events"))
                .bearer_auth(&key)
                .json(&batch)
                .send()
                .expect("post");
            assert!(response.status().is_success(), "{}", response.status());
        }
        let seconds = started.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        api_rates.push(mails as f64 / seconds);
        eprintln!("api run {run}: {mails} events in {seconds:.2} s");
    }

    // IDLE latency: the server has read the backlog and idles; one new mail at a time.
    let (mut child, _) = serve(&db, &config, env);
    let started = Instant::now();
    while count(&db) < mails {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "backfill too slow"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut latencies = Vec::new();
    runtime.block_on(async {
        let mut session = server.client().await;
        for i in 0..latency_mails {
            let before = count(&db);
            session
                .append("INBOX", None, None, mail(mails + i))
                .await
                .expect("append");
            let appended = Instant::now();
            while count(&db) <= before {
                assert!(
                    appended.elapsed() < Duration::from_secs(30),
                    "mail {i} never arrived"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            latencies.push(appended.elapsed().as_secs_f64() * 1000.0);
        }
        let _ = session.logout().await;
    });
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort_by(f64::total_cmp);
    let min_max = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() - 1])
    };
    let (rmin, rmax) = min_max(&rates);
    let (amin, amax) = min_max(&api_rates);
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| IMAP backfill of {mails} mails (2 000 customers) into a new SQLite file, `seen serve` start to last event, mails/s | {:.0} ({rmin:.0}–{rmax:.0}) | — |",
        median(rates.clone())
    );
    println!(
        "| the same {mails} events via `POST /v1/events` (batches of 1 000, 1 client), events/s | {:.0} ({amin:.0}–{amax:.0}) | — |",
        median(api_rates.clone())
    );
    println!(
        "| new mail to event under IDLE ({latency_mails} mails), ms p50 / p99 / max | {:.0} / {:.0} / {:.0} | < 5 000 |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
}
