//! Webhook ingestion through the real binary: `cargo bench --bench hooks`. Signed Shopify `orders/create`
//! deliveries posted by 4 clients to `POST /hooks/shopify/bench`, beside the same orders as events posted one by
//! one to `POST /v1/events` (each on a fresh SQLite database). Prints a Markdown table (medians) for
//! BENCHMARKS.md. Sizes: SEEN_BENCH_HOOKS (deliveries, default 10 000), SEEN_BENCH_RUNS (3).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SEEN: &str = env!("CARGO_BIN_EXE_seen");
const SECRET: &str = "bench-webhook-secret";
const CLIENTS: usize = 4;

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

/// One order of customer `i % 2000`, as Shopify's `orders/create` body.
fn order(i: usize) -> String {
    let minute = i % 60;
    let hour = (i / 60) % 24;
    let day = 1 + (i / 1440) % 28;
    serde_json::json!({
        "id": 6_000_000_000u64 + i as u64,
        "name": format!("#{}", 10_000 + i),
        "email": format!("buyer{}@example.com", i % 2000),
        "created_at": format!("2026-05-{day:02}T{hour:02}:{minute:02}:00-04:00"),
        "updated_at": format!("2026-05-{day:02}T{hour:02}:{minute:02}:05-04:00"),
        "currency": "USD",
        "total_price": format!("{}.50", 10 + i % 90),
        "line_items": [{ "id": i, "title": "Mug", "quantity": 1 + i % 3, "price": "10.00" }],
        "customer": { "first_name": "Buyer", "last_name": format!("{}", i % 2000) }
    })
    .to_string()
}

/// The same order as one Seen event.
fn event(i: usize) -> String {
    serde_json::json!({
        "id": format!("order-{i}"),
        "type": "order.placed",
        "customer": format!("buyer{}@example.com", i % 2000),
        "customer_email": format!("buyer{}@example.com", i % 2000),
        "at": format!("2026-05-{:02}T{:02}:{:02}:00-04:00", 1 + (i / 1440) % 28, (i / 60) % 24, i % 60),
        "ref": format!("#{}", 10_000 + i),
        "properties": { "total": format!("{}.50", 10 + i % 90), "currency": "USD" }
    })
    .to_string()
}

fn signature(body: &str) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// `seen serve` on `db` with `config`: the child and its address.
fn serve(db: &Path, config: &Path) -> (Child, String) {
    let mut server = Command::new(SEEN)
        .args([
            "--db",
            db.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SEEN_LOG", "warn")
        .env("SEEN_BENCH_HOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start seen serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read address");
    let address = line.trim().rsplit(' ').next().expect("address").to_string();
    (server, address)
}

/// One request: URL, headers, body.
type Request = (String, Vec<(&'static str, String)>, String);

/// Posts every request with `CLIENTS` clients; requests per second.
fn post_all(requests: Vec<Request>) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let count = requests.len();
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..CLIENTS {
            let client = client.clone();
            let mine: Vec<_> = requests
                .iter()
                .skip(worker)
                .step_by(CLIENTS)
                .cloned()
                .collect();
            tasks.push(tokio::spawn(async move {
                for (url, headers, body) in mine {
                    let mut request = client.post(url).body(body);
                    for (name, value) in headers {
                        request = request.header(name, value);
                    }
                    let response = request.send().await.expect("post");
                    assert!(response.status().is_success(), "{}", response.status());
                    let _ = response.bytes().await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("client task");
        }
        count as f64 / started.elapsed().as_secs_f64()
    })
}

fn main() {
    let deliveries = env_usize("SEEN_BENCH_HOOKS", 10_000);
    let runs = env_usize("SEEN_BENCH_RUNS", 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        "[actions]\nenabled = false\n\n[[connectors.hooks]]\nsource = \"shopify\"\nname = \"bench\"\nsecret_env = \"SEEN_BENCH_HOOK_SECRET\"\n",
    )
    .expect("write config");
    let orders: Vec<String> = (0..deliveries).map(order).collect();
    let events: Vec<String> = (0..deliveries).map(event).collect();
    let (mut hooks, mut api) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let db: PathBuf = dir.path().join(format!("hooks-{run}.db"));
        remove_db(&db);
        let (mut server, address) = serve(&db, &config);
        let requests = orders
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let headers = vec![
                    ("content-type", "application/json".to_string()),
                    ("x-shopify-topic", "orders/create".to_string()),
                    ("x-shopify-webhook-id", format!("bench-{run}-{i}")),
                    ("x-shopify-hmac-sha256", signature(body)),
                ];
                (
                    format!("{address}/hooks/shopify/bench"),
                    headers,
                    body.clone(),
                )
            })
            .collect();
        hooks.push(post_all(requests));
        let _ = server.kill();
        let _ = server.wait();

        let db: PathBuf = dir.path().join(format!("api-{run}.db"));
        remove_db(&db);
        let key = Command::new(SEEN)
            .args(["--db", db.to_str().unwrap(), "keys", "create", "bench"])
            .output()
            .expect("create key");
        let key = String::from_utf8(key.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        let (mut server, address) = serve(&db, &config);
        let requests = events
            .iter()
            .map(|body| {
                let headers = vec![
                    ("content-type", "application/json".to_string()),
                    ("authorization", format!("Bearer {key}")),
                ];
                (format!("{address}/v1/events"), headers, body.clone())
            })
            .collect();
        api.push(post_all(requests));
        let _ = server.kill();
        let _ = server.wait();
    }
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.0}–{max:.0}")
    };
    let (hooks_range, api_range) = (range(&hooks), range(&api));
    let (hooks, api) = (median(hooks), median(api));
    let table = format!(
        "| measure ({deliveries} orders, {CLIENTS} clients, SQLite, median (min–max) of {runs}) | per second |\n|---|---|\n\
         | signed Shopify deliveries, `POST /hooks/shopify/NAME` (verify, map, link, store, keep the body) | {hooks:.0} ({hooks_range}) |\n\
         | the same orders as single events, `POST /v1/events` | {api:.0} ({api_range}) |\n\
         | webhook / API | {:.2} |\n",
        hooks / api
    );
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-hooks.md");
    let _ = std::fs::write(out, table);
}
