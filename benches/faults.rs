//! Fault bench (not CI): `kill -9` of `seen serve` under load, over and over, on SQLite and PostgreSQL.
//! `cargo bench --bench faults` (release binary). Four clients post batches of events; each remembers
//! every event of a 2xx answer; a killer waits for fresh acknowledgements, then kills the server at a
//! random moment and starts it again. At the end: every acknowledged id is in the store, and the stored
//! obligations equal what `seen recompute` rebuilds from the events.
//!
//! SEEN_FAULTS_SQLITE_CYCLES (default 100), SEEN_FAULTS_POSTGRES_CYCLES (30; 0 skips PostgreSQL),
//! SEEN_FAULTS_CLIENTS (4), SEEN_BENCH_POSTGRES_URL (admin URL, default the local server; a fresh
//! database is created and dropped). Prints the figures as a Markdown table for BENCHMARKS.md and
//! exits non-zero on any loss or difference.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
/// Obligations are compared as of this moment (after every event's `at`).
const AS_OF: &str = "2030-01-01T00:00:00Z";
const BATCH: usize = 50;
const TYPES: [&str; 7] = [
    "message.received",
    "message.sent",
    "booking.created",
    "booking.confirmed",
    "order.placed",
    "order.confirmed",
    "purchase",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `seen serve` child; its stdout stays open so the server never writes into a closed pipe.
struct Server {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    address: String,
}

fn start(db: &str, dir: &Path, log: &Path) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the server log");
    let mut child = Command::new(SEEN)
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
        .env_remove("SEEN_CONFIG")
        .env("SEEN_LOG", "warn")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start seen serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("address line");
    let address = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        address.starts_with("http://127.0.0.1:"),
        "unexpected first line: {line:?}"
    );
    Server {
        child,
        _stdout: stdout,
        address,
    }
}

fn seen(db: &str, dir: &Path, args: &[&str]) -> String {
    let output = Command::new(SEEN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("SEEN_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run seen");
    assert!(
        output.status.success(),
        "seen {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn obligations(db: &str, dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = seen(
        db,
        dir,
        &["obligations", "--format", "jsonl", "--as-of", AS_OF],
    )
    .lines()
    .map(str::to_string)
    .collect();
    lines.sort();
    lines
}

/// One batch of events from client `client`: customers shared between clients, `at` spread over
/// two months so that some events arrive late (replays) and most go through the fast path.
fn batch(client: usize, number: u64, rng: &mut impl Rng) -> (Vec<String>, serde_json::Value) {
    let mut ids = Vec::with_capacity(BATCH);
    let mut events = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let id = format!("f{client}-{number}-{i}");
        let customer = format!("c{}", rng.gen_range(0..300));
        let kind = TYPES[rng.gen_range(0..TYPES.len())];
        let at = jiff::Timestamp::from_second(1_767_225_600 + rng.gen_range(0..60 * 86_400))
            .expect("in range");
        let reference = format!("R{}", rng.gen_range(0..40));
        events.push(serde_json::json!({
            "id": id, "type": kind, "customer": customer, "at": at.to_string(), "ref": reference,
            "customer_email": format!("{customer}@example.com"),
        }));
        ids.push(id);
    }
    (ids, serde_json::Value::Array(events))
}

struct Figures {
    backend: &'static str,
    cycles: usize,
    acknowledged: usize,
    stored: usize,
    missing: usize,
    obligations: usize,
    differing: usize,
    seconds: f64,
}

fn run(backend: &'static str, db: &str, dir: &Path, cycles: usize, clients: usize) -> Figures {
    let started = Instant::now();
    let log = dir.join("serve.log");
    let key = seen(db, dir, &["keys", "create", "faults"])
        .trim()
        .to_string();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let address = Arc::new(Mutex::new(String::new()));
    let acks = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut server = start(db, dir, &log);
    *address.lock().expect("lock") = server.address.clone();

    let mut workers = Vec::new();
    for client in 0..clients {
        let (acknowledged, address, acks, stop, key) = (
            acknowledged.clone(),
            address.clone(),
            acks.clone(),
            stop.clone(),
            key.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client");
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(client as u64);
            let mut number = 0u64;
            // A batch that got no answer is sent again (with the same ids) until one comes.
            let mut pending = batch(client, number, &mut rng);
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{}/v1/events", address.lock().expect("lock"));
                let answer = http
                    .post(url)
                    .bearer_auth(&key)
                    .json(&pending.1)
                    .send()
                    .map(|r| r.status());
                match answer {
                    Ok(status) if status.is_success() => {
                        acknowledged
                            .lock()
                            .expect("lock")
                            .extend(pending.0.iter().cloned());
                        acks.fetch_add(1, Ordering::Relaxed);
                        number += 1;
                        pending = batch(client, number, &mut rng);
                    }
                    // A restarting PostgreSQL store may answer 503 (Retry-After): try again.
                    Ok(status) if status.as_u16() == 503 => {
                        std::thread::sleep(Duration::from_millis(100))
                    }
                    Ok(status) => panic!("client {client}: unexpected {status}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }));
    }

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    for cycle in 0..cycles {
        // Wait for a few acknowledgements from this server, then kill it at a random moment.
        let before = acks.load(Ordering::Relaxed);
        let waited = Instant::now();
        while acks.load(Ordering::Relaxed) < before + clients as u64 {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "{backend} cycle {cycle}: no acknowledgements for a minute (see {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        let _ = server.child.kill(); // SIGKILL
        let _ = server.child.wait();
        server = start(db, dir, &log);
        *address.lock().expect("lock") = server.address.clone();
        if (cycle + 1) % 10 == 0 {
            eprintln!(
                "{backend}: {} kills, {} events acknowledged",
                cycle + 1,
                acknowledged.lock().expect("lock").len()
            );
        }
    }
    // The last server stays up until every client's last batch is answered, then stops the same way.
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("client thread");
    }
    let _ = server.child.kill();
    let _ = server.child.wait();

    let acknowledged = acknowledged.lock().expect("lock").clone();
    let stored = stored_ids(backend, db);
    let missing = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .count();
    let before = obligations(db, dir);
    seen(db, dir, &["recompute"]);
    let after = obligations(db, dir);
    let before_set: HashSet<&String> = before.iter().collect();
    let after_set: HashSet<&String> = after.iter().collect();
    let differing = before_set.symmetric_difference(&after_set).count();
    for line in before_set.symmetric_difference(&after_set).take(5) {
        eprintln!("{backend}: obligation differs after recompute: {line}");
    }
    Figures {
        backend,
        cycles,
        acknowledged: acknowledged.len(),
        stored: stored.len(),
        missing,
        obligations: before.len(),
        differing,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn stored_ids(backend: &str, db: &str) -> HashSet<String> {
    if backend == "SQLite" {
        let conn = rusqlite::Connection::open(db).expect("open the SQLite file");
        let mut statement = conn.prepare("SELECT id FROM events").expect("prepare");
        let ids = statement
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("read ids");
        ids
    } else {
        postgres(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(db).await.expect("connect");
            let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events")
                .fetch_all(&mut conn)
                .await
                .expect("read ids");
            ids.into_iter().collect()
        })
    }
}

fn postgres<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(work)
}

fn admin(sql: &str) {
    let url = std::env::var("SEEN_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    postgres(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url)
            .await
            .expect("connect to PostgreSQL (SEEN_BENCH_POSTGRES_URL)");
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    });
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        // `cargo test --benches` / `--list`: nothing to run here.
        return ExitCode::SUCCESS;
    }
    let clients = env_usize("SEEN_FAULTS_CLIENTS", 4);
    let sqlite_cycles = env_usize("SEEN_FAULTS_SQLITE_CYCLES", 100);
    let postgres_cycles = env_usize("SEEN_FAULTS_POSTGRES_CYCLES", 30);
    let mut figures = Vec::new();

    if sqlite_cycles > 0 {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("seen.db");
        figures.push(run(
            "SQLite",
            db.to_str().expect("utf-8 path"),
            dir.path(),
            sqlite_cycles,
            clients,
        ));
    }
    if postgres_cycles > 0 {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = format!("seen_faults_{}", uuid::Uuid::now_v7().simple());
        let base = std::env::var("SEEN_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let base = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(b, _)| b)
            .to_string();
        admin(&format!("CREATE DATABASE {name}"));
        let result = std::panic::catch_unwind(|| {
            run(
                "PostgreSQL",
                &format!("{base}/{name}"),
                dir.path(),
                postgres_cycles,
                clients,
            )
        });
        admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        match result {
            Ok(f) => figures.push(f),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    println!("| backend | kill -9 cycles | clients | events acknowledged | events stored | acknowledged but missing | obligations | differing after `seen recompute` | wall time |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ok = true;
    for f in &figures {
        println!(
            "| {} | {} | {clients} | {} | {} | {} | {} | {} | {:.0} s |",
            f.backend,
            f.cycles,
            f.acknowledged,
            f.stored,
            f.missing,
            f.obligations,
            f.differing,
            f.seconds
        );
        ok &= f.missing == 0 && f.differing == 0;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("FAILED: acknowledged events missing or obligations differing");
        ExitCode::FAILURE
    }
}
