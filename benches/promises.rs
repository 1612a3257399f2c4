//! Issue 16's figures, through the real binary: `cargo bench --bench promises`. Prints Markdown for
//! BENCHMARKS.md.
//!
//! 1. Import rate of the same demo events (SEEN_BENCH_CUSTOMERS, default 20 000 customers) under the default
//!    policies before issue 16 (`benches/fixtures/policies-before-issue-16.toml`) and under today's (with the
//!    `resolve` promise's pauses and priorities and the reminder's reschedules), alternately, on SQLite.
//! 2. The customer with 100 000 open obligations: 100 000 `message.received` with distinct refs for one
//!    customer, then 10 000 more of its events (new messages and their answers, in turn), imported in batches
//!    of 1 000 as the API would bring them; beside the same 10 000 events for a customer with ten open
//!    obligations: the same work but for the backlog. SEEN_BENCH_BASELINE=/old/seen also runs an older
//!    binary's (same files). SEEN_BENCH_ONLY_OPEN=1 skips part 1.
//!
//! SEEN_BENCH_RUNS (default 3) runs of each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const END: &str = "2026-11-20T17:00:00Z";

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

/// `median (min–max)`.
fn cell(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.0} ({:.0}–{:.0})", median(values.to_vec()), min, max)
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// `seen [--config C] --db DB import --quiet [--batch-size N] FILE`: seconds.
fn import(seen: &str, db: &Path, config: Option<&Path>, batch: Option<usize>, file: &Path) -> f64 {
    let mut cmd = Command::new(seen);
    cmd.env_remove("SEEN_CONFIG")
        .env_remove("SEEN_DATABASE_URL");
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("--db").arg(db).args(["import", "--quiet"]);
    if let Some(batch) = batch {
        cmd.args(["--batch-size", &batch.to_string()]);
    }
    cmd.arg(file).stdout(Stdio::null());
    let started = Instant::now();
    let output = cmd.output().expect("run seen import");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).expect("read").lines().count()
}

/// A JSON line per event, `at` a second apart from `start` (seconds since the epoch).
fn write(path: &Path, events: impl Iterator<Item = (String, &'static str, String, String)>) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for (id, kind, customer, reference) in events {
        writeln!(
            out,
            r#"{{"id":"{id}","type":"{kind}","customer":"{customer}","ref":"{reference}","at":"{}"}}"#,
            // at is filled in by the caller through the id's number
            at_of(&id)
        )
        .expect("write");
    }
}

/// Events are a second apart, in the order of their number (the id's digits).
fn at_of(id: &str) -> String {
    let n: i64 = id
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    jiff::Timestamp::from_second(1_767_225_600 + n) // 2026-01-01T00:00:00Z + n s
        .expect("time")
        .to_string()
}

fn main() {
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let customers = env_usize("SEEN_BENCH_CUSTOMERS", 20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let before = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/fixtures/policies-before-issue-16.toml");

    // 1. Same file, both policy sets.
    let events = dir.path().join("demo.jsonl");
    let file = std::fs::File::create(&events).expect("create");
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
        .expect("seen demo");
    assert!(status.success());
    let n = lines(&events) as f64;
    let db = dir.path().join("import.db");
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let only_open = std::env::var("SEEN_BENCH_ONLY_OPEN").is_ok();
    for run in 0..if only_open { 0 } else { runs } {
        for which in [0, 1] {
            remove_db(&db);
            let config = (which == 0).then_some(before.as_path());
            let seconds = import(SEEN, &db, config, None, &events);
            let rate = n / seconds;
            eprintln!(
                "run {run}: {} policies: {rate:.0} events/s",
                if which == 0 { "before" } else { "today's" }
            );
            if which == 0 {
                old.push(rate)
            } else {
                new.push(rate)
            }
        }
    }

    // 2. The busy customer.
    let open = 100_000usize;
    let more = 10_000usize;
    let history = dir.path().join("history.jsonl");
    write(
        &history,
        (0..open).map(|i| {
            (
                format!("h{i}"),
                "message.received",
                "busy".into(),
                format!("R{i}"),
            )
        }),
    );
    let calm_history = dir.path().join("calm-history.jsonl");
    write(
        &calm_history,
        (0..10).map(|i| {
            (
                format!("h{}", open - 10 + i),
                "message.received",
                "calm".into(),
                format!("R{i}"),
            )
        }),
    );
    // The customer's ordinary traffic: a new message, then its answer, and so on. Both customers do the same
    // work (the same obligations opened and kept); only the backlog of 100 000 open ones differs.
    let batch_of = |customer: &'static str| {
        (0..more).map(move |k| {
            let id = format!("m{}", open + k);
            if k % 2 == 0 {
                (
                    id,
                    "message.received",
                    customer.to_string(),
                    format!("N{k}"),
                )
            } else {
                (
                    id,
                    "message.sent",
                    customer.to_string(),
                    format!("N{}", k - 1),
                )
            }
        })
    };
    let busy_more = dir.path().join("busy-more.jsonl");
    write(&busy_more, batch_of("busy"));
    let calm_more = dir.path().join("calm-more.jsonl");
    write(&calm_more, batch_of("calm"));

    let mut bins: Vec<String> = std::env::var("SEEN_BENCH_BASELINE")
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    bins.push(SEEN.to_string());
    let mut busy: Vec<Vec<f64>> = vec![Vec::new(); bins.len()];
    let mut calm: Vec<Vec<f64>> = vec![Vec::new(); bins.len()];
    let mut setup: Vec<Vec<f64>> = vec![Vec::new(); bins.len()];
    for run in 0..runs {
        for (b, seen) in bins.iter().enumerate() {
            let db = dir.path().join(format!("busy-{b}.db"));
            remove_db(&db);
            let s = import(seen, &db, None, Some(1_000), &history);
            setup[b].push(open as f64 / s);
            let s = import(seen, &db, None, Some(1_000), &busy_more);
            busy[b].push(more as f64 / s);
            let db = dir.path().join(format!("calm-{b}.db"));
            remove_db(&db);
            import(seen, &db, None, Some(1_000), &calm_history);
            let s = import(seen, &db, None, Some(1_000), &calm_more);
            calm[b].push(more as f64 / s);
            eprintln!(
                "run {run} {seen}: 100 000 history {:.0}/s, busy {:.0}/s, calm {:.0}/s",
                setup[b].last().unwrap(),
                busy[b].last().unwrap(),
                calm[b].last().unwrap()
            );
        }
    }

    println!("\n| measure ({runs} runs; median (min–max)) | events/s |");
    println!("|---|---|");
    if !only_open {
        println!(
            "| {n:.0} demo events ({customers} customers), default policies before issue 16 | {} |",
            cell(&old)
        );
        println!(
            "| the same file, today's default policies (pauses, priorities, reschedules) | {} |",
            cell(&new)
        );
        println!(
            "| today's / before | {:.2} |",
            median(new.clone()) / median(old.clone())
        );
    }
    for (b, seen) in bins.iter().enumerate() {
        let name = if b + 1 == bins.len() {
            "this build".to_string()
        } else {
            seen.clone()
        };
        println!("| {name}: 100 000 messages of one customer (batches of 1 000), each opening a promise | {} |", cell(&setup[b]));
        println!(
            "| {name}: 10 000 more events of that customer (100 000 open) | {} |",
            cell(&busy[b])
        );
        println!(
            "| {name}: the same 10 000 events of a customer with 10 open | {} |",
            cell(&calm[b])
        );
        println!(
            "| {name}: busy / calm | {:.2} |",
            median(busy[b].clone()) / median(calm[b].clone())
        );
    }
}
