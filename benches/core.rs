//! Seen's core benchmarks, through the real binary: `cargo bench --bench core`.
//! Prints a Markdown table (medians of several runs) for BENCHMARKS.md.
//! Sizes: SEEN_BENCH_IMPORT_CUSTOMERS (default 43 700 ≈ 1 M events), SEEN_BENCH_REPORT_CUSTOMERS (200 000),
//! SEEN_BENCH_RUNS (5). SEEN_BENCH_BASELINE=/old/seen[,/older/seen] runs those binaries alternately with this build
//! and adds their columns and this build / each ratio (before/after from one run).

use std::io::{BufRead, BufReader};
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

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn write_events(path: &Path, customers: usize) -> usize {
    let file = std::fs::File::create(path).expect("create events file");
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
    BufReader::new(std::fs::File::open(path).expect("open"))
        .lines()
        .count()
}

/// Runs `seen import` under GNU time: (seconds, peak RSS in MB).
fn import(seen: &str, db: &Path, events: &Path) -> (f64, f64) {
    remove_db(db);
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%M",
            seen,
            "--db",
            db.to_str().unwrap(),
            "import",
            "--quiet",
            events.to_str().unwrap(),
        ])
        .output()
        .expect("run /usr/bin/time seen import (apt-get install time)");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kb: f64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(f64::NAN);
    (seconds, kb / 1024.0)
}

/// The binaries measured: with `SEEN_BENCH_BASELINE=/old/seen[,/older/seen…]` those first, then this build,
/// run alternately so that all see the same machine (before/after ratios from one run).
fn binaries() -> Vec<String> {
    let mut bins: Vec<String> = std::env::var("SEEN_BENCH_BASELINE")
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    for baseline in &bins {
        assert!(
            Path::new(baseline).is_file(),
            "SEEN_BENCH_BASELINE: {baseline} is not a file"
        );
    }
    bins.push(SEEN.to_string());
    bins
}

/// One measure's samples per binary, in the order of `binaries()`.
struct Samples(Vec<Vec<f64>>);

impl Samples {
    fn new(bins: usize) -> Self {
        Samples(vec![Vec::new(); bins])
    }

    /// `median (min–max)` per binary, then the after/before ratio of the medians when there is a baseline.
    fn cells(&self, decimals: usize) -> String {
        let mut cells: Vec<String> = self
            .0
            .iter()
            .map(|v| {
                if v.is_empty() {
                    return "—".to_string();
                }
                let min = v.iter().copied().fold(f64::MAX, f64::min);
                let max = v.iter().copied().fold(f64::MIN, f64::max);
                format!(
                    "**{:.decimals$}** ({min:.decimals$}–{max:.decimals$})",
                    median(v.clone())
                )
            })
            .collect();
        // This build (the last) against each baseline.
        let after = self
            .0
            .last()
            .filter(|v| !v.is_empty())
            .map(|v| median(v.clone()));
        for before in &self.0[..self.0.len() - 1] {
            cells.push(match (after, before.is_empty()) {
                (Some(after), false) => format!("{:.2}×", after / median(before.clone())),
                _ => "—".to_string(),
            });
        }
        cells.join(" | ")
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and must not run minutes of benchmarks.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = env_usize("SEEN_BENCH_RUNS", 5);
    let bins = binaries();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows: Vec<String> = Vec::new();

    // 1. Import of ~1 M demo events into a new SQLite file.
    let import_customers = env_usize("SEEN_BENCH_IMPORT_CUSTOMERS", 43_700);
    let events = dir.path().join("events.jsonl");
    let count = write_events(&events, import_customers);
    let db = dir.path().join("import.db");
    let mut rates = Samples::new(bins.len());
    let mut rss = Samples::new(bins.len());
    for _ in 0..runs {
        for (b, seen) in bins.iter().enumerate() {
            let (seconds, mb) = import(seen, &db, &events);
            rates.0[b].push(count as f64 / seconds);
            rss.0[b].push(mb);
            eprintln!("import ({seen}): {count} events in {seconds:.2} s, peak RSS {mb:.0} MB");
        }
    }
    rows.push(format!(
        "| `seen import` of {count} demo events into a new SQLite file, events/s | {} | ≥ 300 000 events/s |",
        rates.cells(0)
    ));
    rows.push(format!(
        "| peak RSS of that import, MB | {} | |",
        rss.cells(0)
    ));

    // 2. HTTP ingestion, batches of 1 000.
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&events).expect("open"))
        .lines()
        .take(300_000)
        .map(|l| l.expect("line"))
        .collect();
    let bodies: Vec<String> = lines
        .chunks(1_000)
        .map(|c| format!("[{}]", c.join(",")))
        .collect();
    let http_events = lines.len();
    let mut rates = Samples::new(bins.len());
    for _ in 0..runs {
        for (b, seen) in bins.iter().enumerate() {
            let db = dir.path().join("http.db");
            remove_db(&db);
            let rate = http_ingest(seen, db.to_str().expect("utf-8"), &bodies, http_events, 1).rate;
            eprintln!("http ({seen}): {rate:.0} events/s");
            rates.0[b].push(rate);
        }
    }
    rows.push(format!(
        "| `POST /v1/events`, {http_events} events in batches of 1 000, 4 client connections, events/s | {} | ≥ 150 000 events/s |",
        rates.cells(0)
    ));

    // 2b. The same on PostgreSQL: import, and HTTP with one node vs two nodes on one database.
    let admin = std::env::var("SEEN_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if create_database(&admin, "seen_bench").is_some() {
        let mut rates = Samples::new(bins.len());
        for _ in 0..runs {
            for (b, seen) in bins.iter().enumerate() {
                let Some(url) = create_database(&admin, "seen_bench") else {
                    break;
                };
                let started = Instant::now();
                let output = Command::new(seen)
                    .args(["--db", &url, "import", "--quiet", events.to_str().unwrap()])
                    .output()
                    .expect("seen import into PostgreSQL");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                let rate = count as f64 / started.elapsed().as_secs_f64();
                eprintln!("postgres import ({seen}): {rate:.0} events/s");
                rates.0[b].push(rate);
            }
        }
        rows.push(format!(
            "| PostgreSQL: `seen import` of {count} demo events into a new database, events/s | {} | ≥ 200 000 events/s |",
            rates.cells(0)
        ));
        // CPU seconds per 1 000 events of this build's nodes and of PostgreSQL, one node: the scale model's
        // inputs.
        let (mut node_cpu, mut database_cpu) = (Vec::new(), Vec::new());
        for nodes in [1, 2] {
            let mut rates = Samples::new(bins.len());
            for _ in 0..runs {
                for (b, seen) in bins.iter().enumerate() {
                    let Some(url) = create_database(&admin, "seen_bench") else {
                        break;
                    };
                    let run = http_ingest(seen, &url, &bodies, http_events, nodes);
                    let per_1000 = |cpu: f64| cpu / http_events as f64 * 1_000.0;
                    eprintln!(
                        "postgres http, {nodes} node(s) ({seen}): {:.0} events/s; CPU per 1 000 events: nodes {:.4} s, PostgreSQL {:.4} s",
                        run.rate,
                        per_1000(run.node_cpu),
                        per_1000(run.database_cpu)
                    );
                    rates.0[b].push(run.rate);
                    if nodes == 1 && b + 1 == bins.len() {
                        node_cpu.push(per_1000(run.node_cpu));
                        database_cpu.push(per_1000(run.database_cpu));
                    }
                }
            }
            rows.push(format!(
                "| PostgreSQL: `POST /v1/events`, {http_events} events in batches of 1 000, 4 clients, **{nodes} node(s)** on one database, events/s | {} | {} |",
                rates.cells(0),
                if nodes == 1 { "≥ 80 000 events/s" } else { "" }
            ));
        }
        scale_model(&node_cpu, &database_cpu);
        drop_database(&admin, "seen_bench");
    } else {
        eprintln!("PostgreSQL at {admin} is not reachable: its rows are skipped (set SEEN_BENCH_POSTGRES_URL)");
    }

    // 3. `seen report` on 200 000 customers.
    let report_customers = env_usize("SEEN_BENCH_REPORT_CUSTOMERS", 200_000);
    let big = dir.path().join("big.jsonl");
    let big_count = write_events(&big, report_customers);
    let mut times = Samples::new(bins.len());
    let (mut big_rates, mut big_rss) = (Samples::new(bins.len()), Samples::new(bins.len()));
    for (b, seen) in bins.iter().enumerate() {
        // Each binary reads a database it wrote itself.
        let big_db = dir.path().join(format!("big-{b}.db"));
        let (seconds, mb) = import(seen, &big_db, &big);
        eprintln!("imported {big_count} events for the report in {seconds:.1} s, peak RSS {mb:.0} MB ({seen})");
        big_rates.0[b].push(big_count as f64 / seconds);
        big_rss.0[b].push(mb);
    }
    rows.push(format!(
        "| `seen import` of {big_count} demo events ({report_customers} customers) into a new SQLite file, events/s (one run) | {} | |",
        big_rates.cells(0)
    ));
    rows.push(format!(
        "| peak RSS of that import, MB (one run) | {} | ≤ 256 MB (5 M events) |",
        big_rss.cells(0)
    ));
    drop(std::fs::remove_file(&big));
    for _ in 0..runs {
        for (b, seen) in bins.iter().enumerate() {
            let big_db = dir.path().join(format!("big-{b}.db"));
            let started = Instant::now();
            let output = Command::new(seen)
                .args([
                    "--db",
                    big_db.to_str().unwrap(),
                    "report",
                    "--format",
                    "json",
                    "--as-of",
                    END,
                ])
                .stdout(Stdio::piped())
                .output()
                .expect("run seen report");
            assert!(output.status.success());
            let seconds = started.elapsed().as_secs_f64();
            let json: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("report json");
            let invisible = json["invisible"].as_array().map_or(0, Vec::len);
            eprintln!(
                "report ({seen}): {invisible} invisible of {report_customers} customers in {seconds:.3} s"
            );
            times.0[b].push(seconds);
        }
    }
    rows.push(format!(
        "| `seen report --format json` on {report_customers} customers ({big_count} events), whole process, s | {} | < 0.3 s |",
        times.cells(3)
    ));

    let mut header = String::from("| measure |");
    for bin in &bins[..bins.len() - 1] {
        header.push_str(&format!(" before: `{bin}` |"));
    }
    header.push_str(&format!(" this build, median (min–max) of {runs} |"));
    for bin in &bins[..bins.len() - 1] {
        header.push_str(&format!(
            " this / `{}` |",
            bin.rsplit('/').next().unwrap_or(bin)
        ));
    }
    header.push_str(" target |\n|---|");
    for _ in 0..(2 * bins.len() - 1) {
        header.push_str("---|");
    }
    header.push_str("---|");
    let table = format!("{header}\n{}\n", rows.join("\n"));
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-core.md");
    let _ = std::fs::write(out, table);
}

/// One HTTP ingestion run: the rate, and the CPU seconds the `seen` nodes and the PostgreSQL server spent.
struct HttpRun {
    rate: f64,
    node_cpu: f64,
    database_cpu: f64,
}

/// The clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (utime + stime, cutime + cstime) of a process, in ticks; zero when it is gone.
fn process_ticks(pid: u32) -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    // utime, stime, cutime, cstime are fields 14–17 of the line: 11–14 after the name.
    (at(11) + at(12), at(13) + at(14))
}

/// CPU ticks of every PostgreSQL process on this machine, with what its exited backends spent (counted in
/// the postmaster's children's times).
fn postgres_ticks() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            let (own, children) = process_ticks(pid);
            total += own + children;
        }
    }
    total
}

fn http_ingest(seen: &str, db: &str, bodies: &[String], events: usize, nodes: usize) -> HttpRun {
    let key = Command::new(seen)
        .args(["--db", db, "keys", "create", "bench"])
        .output()
        .expect("create key");
    let key = String::from_utf8(key.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let mut servers = Vec::new();
    let mut addresses = Vec::new();
    for _ in 0..nodes {
        let mut server = Command::new(seen)
            .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
            .env("SEEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start seen serve");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read address");
        addresses.push(line.trim().rsplit(' ').next().expect("address").to_string());
        servers.push(server);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let node_ticks = |servers: &[std::process::Child]| -> f64 {
        servers.iter().map(|s| process_ticks(s.id()).0).sum()
    };
    let (nodes_before, database_before) = (node_ticks(&servers), postgres_ticks());
    let seconds = runtime.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let (client, key) = (client.clone(), key.clone());
            // Clients spread over the nodes, as behind a load balancer.
            let address = addresses[worker % addresses.len()].clone();
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
    let ticks = clock_ticks();
    let node_cpu = (node_ticks(&servers) - nodes_before) / ticks;
    let database_cpu = (postgres_ticks() - database_before) / ticks;
    for mut server in servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    HttpRun {
        rate: events as f64 / seconds,
        node_cpu,
        database_cpu,
    }
}

/// The scale model from one node's measured CPU per 1 000 events: nodes on machines of their own (this
/// machine's cores each) against one PostgreSQL on a machine like this one; throughput is the smaller of what
/// the nodes and what PostgreSQL can do, ignoring lock waits (an upper bound).
fn scale_model(node_cpu: &[f64], database_cpu: &[f64]) {
    if node_cpu.is_empty() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let (node, database) = (median(node_cpu.to_vec()), median(database_cpu.to_vec()));
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.4}–{hi:.4}")
    };
    let node_capacity = cores / node * 1_000.0;
    let database_capacity = cores / database * 1_000.0;
    eprintln!(
        "scale model inputs (this build, 1 node, {} runs): CPU per 1 000 events: node {node:.4} s ({}), PostgreSQL {database:.4} s ({}); {cores} cores each",
        node_cpu.len(),
        range(node_cpu),
        range(database_cpu)
    );
    println!("\n| nodes | predicted events/s (min of nodes × {node_capacity:.0}, PostgreSQL {database_capacity:.0}) | bound by |");
    println!("|---|---|---|");
    for nodes in [1.0, 2.0, 4.0, 8.0] {
        let predicted = (nodes * node_capacity).min(database_capacity);
        let bound = if nodes * node_capacity < database_capacity {
            "the nodes"
        } else {
            "PostgreSQL"
        };
        println!("| {nodes} | {predicted:.0} | {bound} |");
    }
    println!(
        "\nPostgreSQL saturates at {:.1} nodes.",
        database_capacity / node_capacity
    );
}

/// A fresh PostgreSQL database for one run, dropped by `drop_database`.
fn create_database(admin: &str, name: &str) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin).await.ok()?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .ok()?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .ok()?;
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Some(format!("{base}/{name}"))
    })
}

fn drop_database(admin: &str, name: &str) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    });
}
