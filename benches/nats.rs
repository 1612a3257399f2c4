//! NATS consumption against `POST /v1/events`, through the real binary: `cargo bench --bench nats`.
//! The same demo events (SEEN_BENCH_NATS_EVENTS, default 1 000 000) are published to a JetStream stream on
//! the local NATS (SEEN_BENCH_NATS_URL, default nats://127.0.0.1:4222) and consumed by `seen serve`'s
//! `[[connectors.nats]]` — timed from the server's start to the last ack — then posted to a fresh
//! `seen serve` in batches of 1 000 by 4 clients. SQLite, and PostgreSQL when SEEN_BENCH_POSTGRES_URL
//! (default the local server) answers. SEEN_BENCH_RUNS (default 3) runs each; prints a Markdown table
//! (median, min–max) for BENCHMARKS.md and writes it to target/bench-nats.md.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const END: &str = "2026-11-20T17:00:00Z";
/// Demo customers that make about a million events.
const CUSTOMERS_PER_MILLION: usize = 43_700;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `median (min–max)` of events/s.
fn cell(rates: &[f64]) -> String {
    let min = rates.iter().copied().fold(f64::MAX, f64::min);
    let max = rates.iter().copied().fold(f64::MIN, f64::max);
    format!("**{:.0}** ({min:.0}–{max:.0})", median(rates.to_vec()))
}

/// `count` demo events, one JSON object a line.
fn demo_events(dir: &Path, count: usize) -> Vec<String> {
    let path = dir.join("events.jsonl");
    let customers = (count * CUSTOMERS_PER_MILLION).div_ceil(1_000_000) + 10;
    let file = std::fs::File::create(&path).expect("create events file");
    let status = Command::new(SEEN)
        .args([
            "demo",
            "--events-only",
            "--customers",
            &customers.to_string(),
            "--end",
            END,
        ])
        .stdout(file)
        .status()
        .expect("run seen demo");
    assert!(status.success());
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&path).expect("open"))
        .lines()
        .take(count)
        .map(|l| l.expect("line"))
        .collect();
    let _ = std::fs::remove_file(path);
    lines
}

/// A database for one run: a SQLite file in `dir`, or a new PostgreSQL database.
enum Db {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

impl Db {
    fn fresh(&self) -> String {
        match self {
            Db::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                path.display().to_string()
            }
            Db::Postgres { admin, name } => {
                postgres(
                    admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .expect("drop database");
                postgres(admin, &format!("CREATE DATABASE {name}")).expect("create database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres { .. } => "PostgreSQL",
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres { admin, name } = self {
            let _ = postgres(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on the PostgreSQL server at `admin`; `None` when it cannot.
fn postgres(admin: &str, statement: &str) -> Option<()> {
    runtime().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin).await.ok()?;
        sqlx::query(statement).execute(&mut conn).await.ok()?;
        Some(())
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `seen serve` on port 0 (killed when dropped).
struct Serve(Child, String);

impl Serve {
    fn start(db: &str, config: Option<&Path>) -> Serve {
        let mut command = Command::new(SEEN);
        if let Some(config) = config {
            command.env("SEEN_CONFIG", config);
        }
        let mut child = command
            .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
            .env("SEEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start seen serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read address");
        let address = line.trim().rsplit(' ').next().expect("address").to_string();
        Serve(child, address)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Publishes every event to a new stream; returns the stream's name and the subject.
async fn publish(js: &jetstream::Context, events: &[String]) -> (String, String) {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let (name, subject) = (format!("SEEN_BENCH_{id}"), format!("seenbench.{id}"));
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .expect("create stream");
    let started = Instant::now();
    let mut acks = Vec::with_capacity(1_000);
    for (i, event) in events.iter().enumerate() {
        acks.push(
            js.publish(subject.clone(), event.clone().into())
                .await
                .expect("publish"),
        );
        if acks.len() == 1_000 || i + 1 == events.len() {
            for ack in acks.drain(..) {
                ack.await.expect("stream ack");
            }
        }
    }
    eprintln!(
        "published {} events in {:.1} s",
        events.len(),
        started.elapsed().as_secs_f64()
    );
    (name, subject)
}

/// Seconds from `seen serve`'s start until the connector acked every message.
fn consume(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    db: &str,
    dir: &Path,
    events: &[String],
) -> f64 {
    let (stream, subject) = rt.block_on(publish(js, events));
    let config = dir.join("seen-nats.toml");
    let url =
        std::env::var("SEEN_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    std::fs::write(
        &config,
        format!(
            "[actions]\nenabled = false\n\n[[connectors.nats]]\nname = \"bench\"\nurl = \"{url}\"\n\
             stream = \"{stream}\"\ndurable = \"seen-bench\"\nsubject = \"{subject}\"\n"
        ),
    )
    .expect("write config");
    let started = Instant::now();
    let server = Serve::start(db, Some(&config));
    let seconds = rt.block_on(async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let Ok(handle) = js.get_stream(&stream).await else {
                continue;
            };
            // Until the server has created its durable consumer, there is none to ask.
            let Ok(consumer) = handle
                .get_consumer::<consumer::pull::Config>("seen-bench")
                .await
            else {
                continue;
            };
            if let Ok(info) = consumer.get_info().await {
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    return started.elapsed().as_secs_f64();
                }
            }
        }
    });
    drop(server);
    rt.block_on(async {
        let _ = js.delete_stream(&stream).await;
    });
    seconds
}

/// Seconds to post every event in batches of 1 000 from 4 clients.
fn post(rt: &tokio::runtime::Runtime, db: &str, events: &[String]) -> f64 {
    let key = Command::new(SEEN)
        .args(["--db", db, "keys", "create", "bench"])
        .output()
        .expect("create key");
    let key = String::from_utf8(key.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let server = Serve::start(db, None);
    let bodies: Vec<String> = events
        .chunks(1_000)
        .map(|c| format!("[{}]", c.join(",")))
        .collect();
    let seconds = rt.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let (client, key, address) = (client.clone(), key.clone(), server.1.clone());
            let mine: Vec<String> = bodies.iter().skip(worker).step_by(4).cloned().collect();
            tasks.push(tokio::spawn(async move {
                for body in mine {
                    let response = client
                        .post(format!("{address}/v1/events"))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert!(response.status().is_success(), "{}", response.status());
                    let _ = response.bytes().await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("client task");
        }
        started.elapsed().as_secs_f64()
    });
    drop(server);
    seconds
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and must not run minutes of benchmarks.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let count = env_usize("SEEN_BENCH_NATS_EVENTS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = demo_events(dir.path(), count);
    let count = events.len();
    let rt = runtime();
    let url =
        std::env::var("SEEN_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let js = rt.block_on(async {
        let client = async_nats::connect(&url).await.unwrap_or_else(|e| {
            panic!("NATS at {url}: {e} (nats-server -js, or SEEN_BENCH_NATS_URL)")
        });
        jetstream::new(client)
    });

    let mut dbs = vec![Db::Sqlite(dir.path().join("bench.db"))];
    let admin = std::env::var("SEEN_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if postgres(&admin, "SELECT 1").is_some() {
        dbs.push(Db::Postgres {
            admin,
            name: "seen_bench_nats".into(),
        });
    } else {
        eprintln!("PostgreSQL at {admin} is not reachable: its rows are skipped (set SEEN_BENCH_POSTGRES_URL)");
    }

    let mut rows = Vec::new();
    for db in &dbs {
        let (mut nats, mut http) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let seconds = consume(&rt, &js, &db.fresh(), dir.path(), &events);
            eprintln!("{}: NATS, {count} events in {seconds:.1} s", db.label());
            nats.push(count as f64 / seconds);
            let seconds = post(&rt, &db.fresh(), &events);
            eprintln!("{}: HTTP, {count} events in {seconds:.1} s", db.label());
            http.push(count as f64 / seconds);
        }
        rows.push(format!(
            "| {}: NATS JetStream consumption (`[[connectors.nats]]`, batches of 1 000), from `seen serve`'s start to the last ack, events/s | {} |",
            db.label(),
            cell(&nats)
        ));
        rows.push(format!(
            "| {}: the same events through `POST /v1/events` (batches of 1 000, 4 clients), events/s | {} |",
            db.label(),
            cell(&http)
        ));
    }
    let table = format!(
        "| measure ({count} demo events) | median (min–max) of {runs} |\n|---|---|\n{}\n",
        rows.join("\n")
    );
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-nats.md");
    let _ = std::fs::write(out, table);
}
