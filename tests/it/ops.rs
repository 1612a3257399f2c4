//! Operating Seen, through the real binary: `GET /metrics` (off by default; a token on the public port, or a
//! listener of its own), the numbers it shows after real traffic on both backends, the query plans of its
//! gauges, and logs (no colour when piped; one JSON object per line with `SEEN_LOG_FORMAT=json`).

use crate::common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::common::{Backend, Server, TestDb};
use serde_json::{json, Value};

const TOKEN: &str = "scrape-token-0123456789";

/// A policy that breaches an hour after a message, so one old and one new message give one breached and
/// one open obligation.
const POLICY: &str = r#"
[[policies]]
name = "reply"
kind = "expect"
trigger = ["message.received"]
expect = ["message.sent"]
within = "1h"
"#;

fn seen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seen"));
    cmd.env_remove("SEEN_DATABASE_URL")
        .env_remove("SEEN_CONFIG")
        .env_remove("SEEN_LOG_FORMAT")
        .env_remove("NO_COLOR");
    cmd
}

/// `seen serve` as a child process (killed when dropped), with its API key and printed addresses.
struct Served {
    address: String,
    metrics: Option<String>,
    key: String,
    _server: Server,
    _dir: tempfile::TempDir,
}

fn serve(db: &TestDb, config: &str, own_metrics_listener: bool) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seen.toml");
    std::fs::write(&path, config).expect("write config");
    let config_path = path.to_str().expect("utf-8 path");
    let key = seen()
        .args([
            "--db",
            &db.url,
            "--config",
            config_path,
            "keys",
            "create",
            "ops",
        ])
        .output()
        .expect("create key");
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8(key.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let mut server = Server::builder(&db.url).config(&path);
    if own_metrics_listener {
        server = server.metrics_line();
    }
    let server = server.start();
    Served {
        address: server.address.clone(),
        metrics: server.metrics.clone(),
        key,
        _server: server,
        _dir: dir,
    }
}

/// Parses the Prometheus text format strictly: every line is a `# HELP`/`# TYPE` comment or a sample
/// `name{label="value",…} number`; returns the samples by `name{labels}` as written.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut samples = BTreeMap::new();
    let mut typed = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let context = format!("line {}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let kind = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            assert!(name_ok(name), "{context}: bad metric name");
            match kind {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{context}: bad type"
                    );
                    assert!(
                        typed.insert(name.to_string(), t.to_string()).is_none(),
                        "{context}: TYPE given twice"
                    );
                }
                _ => panic!("{context}: unknown comment"),
            }
            continue;
        }
        let (series, value) = match line.find('{') {
            Some(open) => {
                let close = line
                    .rfind('}')
                    .unwrap_or_else(|| panic!("{context}: no '}}'"));
                let name = &line[..open];
                assert!(name_ok(name), "{context}: bad metric name");
                check_labels(&line[open + 1..close], &context);
                (&line[..=close], line[close + 1..].trim())
            }
            None => {
                let (name, value) = line
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("{context}: no value"));
                assert!(name_ok(name), "{context}: bad metric name");
                (name, value.trim())
            }
        };
        let value = value.split(' ').next().unwrap_or("");
        let parsed: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("{context}: bad value")),
        };
        let base = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                base.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(base);
        assert!(
            typed.contains_key(family),
            "{context}: sample before its TYPE"
        );
        assert!(
            samples.insert(series.to_string(), parsed).is_none(),
            "{context}: series given twice"
        );
    }
    samples
}

fn check_labels(labels: &str, context: &str) {
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("{context}: bad label"));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{context}: bad label name {name:?}"
        );
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.unwrap_or_else(|| panic!("{context}: unterminated label value"));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

async fn scrape(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("scrape");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| {
        panic!(
            "no series {series} in {:#?}",
            samples.keys().collect::<Vec<_>>()
        )
    })
}

fn at(hours_ago: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(hours_ago))
        .expect("time")
        .to_string()
}

async fn metrics_count_real_traffic(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config =
        format!("{POLICY}\n[metrics]\nenabled = true\ntoken = \"{TOKEN}\"\nrefresh = \"0s\"\n");
    let server = serve(&db, &config, false);
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.address);

    // Never without the token: not anonymous, not a wrong one, not an API key.
    for token in [
        None,
        Some("wrong-token-0123456789"),
        Some(server.key.as_str()),
    ] {
        let response = match token {
            Some(t) => client.get(&url).bearer_auth(t),
            None => client.get(&url),
        }
        .send()
        .await
        .expect("scrape");
        assert_eq!(response.status().as_u16(), 401, "token {token:?}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }

    let (status, before) = scrape(&client, &url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let before = parse_prometheus(&before);
    assert_eq!(
        value(&before, r#"seen_events_total{outcome="accepted"}"#),
        0.0
    );
    assert_eq!(
        value(&before, r#"seen_events_total{outcome="rejected"}"#),
        0.0
    );

    let post = |body: Value| {
        client
            .post(format!("{}/v1/events", server.address))
            .bearer_auth(&server.key)
            .json(&body)
            .send()
    };
    let first = post(json!([
        {"id": "old", "type": "message.received", "customer": "c1", "at": at(3)},
        {"id": "new", "type": "message.received", "customer": "c2", "at": at(0)},
        {"id": "bad", "type": "message.received", "at": at(0)},
    ]))
    .await
    .expect("post");
    assert_eq!(first.status().as_u16(), 200);
    let first: Value = first.json().await.expect("json");
    assert_eq!(
        (first["accepted"].as_u64(), first["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let again =
        post(json!([{"id": "old", "type": "message.received", "customer": "c1", "at": at(3)}]))
            .await
            .expect("post");
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["duplicates"].as_u64(), Some(1));
    for customer in ["c1", "c2"] {
        let response = client
            .get(format!("{}/v1/customers/{customer}", server.address))
            .bearer_auth(&server.key)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status().as_u16(), 200);
    }
    let missing = client
        .get(format!("{}/no/such/route", server.address))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);

    let (status, text) = scrape(&client, &url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let after = parse_prometheus(&text);
    assert_eq!(
        value(&after, r#"seen_events_total{outcome="accepted"}"#),
        2.0
    );
    assert_eq!(
        value(&after, r#"seen_events_total{outcome="duplicate"}"#),
        1.0
    );
    assert_eq!(
        value(&after, r#"seen_events_total{outcome="rejected"}"#),
        1.0
    );

    // Latency by route template: two POSTs, two customer pages under one series, and no raw path.
    let posts = r#"method="POST",route="/v1/events",status="200""#;
    assert_eq!(
        value(
            &after,
            &format!("seen_http_request_duration_seconds_count{{{posts}}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            &format!("seen_http_request_duration_seconds_bucket{{{posts},le=\"+Inf\"}}")
        ),
        2.0
    );
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(series, count)| {
            let le = series
                .strip_prefix(&format!(
                    "seen_http_request_duration_seconds_bucket{{{posts},le=\""
                ))?
                .strip_suffix("\"}")?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                *count,
            ))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {buckets:?}"
    );
    assert!(
        value(
            &after,
            &format!("seen_http_request_duration_seconds_sum{{{posts}}}")
        ) > 0.0
    );
    assert_eq!(
        value(
            &after,
            r#"seen_http_request_duration_seconds_count{method="GET",route="/v1/customers/{id}",status="200"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            r#"seen_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert!(!text.contains("/v1/customers/c1") && !text.contains("/no/such/route"));

    // Gauges from the database: one breached, one open; nothing in the outbox; the scheduler keeps up.
    assert_eq!(value(&after, r#"seen_obligations{state="breached"}"#), 1.0);
    assert_eq!(value(&after, r#"seen_obligations{state="open"}"#), 1.0);
    assert_eq!(value(&after, "seen_outbox_due"), 0.0);
    assert_eq!(value(&after, r#"seen_job_lag_seconds{job="sender"}"#), 0.0);
    // The breach is two hours old: until the scheduler (woken by the ingestion) notices it, the scheduler
    // is that late; then it has nothing left to catch up on.
    let lag = |samples: &BTreeMap<String, f64>| {
        value(samples, r#"seen_job_lag_seconds{job="scheduler"}"#)
    };
    let mut scheduler_lag = lag(&after);
    for _ in 0..100 {
        if scheduler_lag < 60.0 {
            break;
        }
        assert!(
            (7_000.0..7_300.0).contains(&scheduler_lag),
            "{scheduler_lag}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        scheduler_lag = lag(&parse_prometheus(
            &scrape(&client, &url, Some(TOKEN)).await.1,
        ));
    }
    assert!((0.0..60.0).contains(&scheduler_lag), "{scheduler_lag}");
    assert!(value(&after, r#"seen_db_connections{state="max"}"#) >= 1.0);
    assert!(value(&after, "seen_process_resident_memory_bytes") > 1e6);
    assert!(
        value(
            &after,
            r#"seen_job_last_run_timestamp_seconds{job="scheduler"}"#
        ) > 1.7e9
    );

    // A message sent keeps the open promise: the gauge follows on the next scrape.
    let kept = post(json!({"id": "reply", "type": "message.sent", "customer": "c2", "at": at(0)}))
        .await
        .expect("post");
    assert_eq!(kept.status().as_u16(), 200);
    let (_, text) = scrape(&client, &url, Some(TOKEN)).await;
    let later = parse_prometheus(&text);
    assert_eq!(value(&later, r#"seen_obligations{state="open"}"#), 0.0);
    assert_eq!(
        value(&later, r#"seen_events_total{outcome="accepted"}"#),
        3.0
    );
}

async fn metrics_are_off_by_default(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = serve(&db, POLICY, false);
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.address);
    for token in [None, Some(TOKEN), Some(server.key.as_str())] {
        let (status, _) = scrape(&client, &url, token).await;
        assert_eq!(status, 404, "token {token:?}");
    }
}

async fn metrics_on_their_own_listener(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = format!("{POLICY}\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n");
    let server = serve(&db, &config, true);
    let client = reqwest::Client::new();
    // Not on the public port at all...
    let (status, _) = scrape(&client, &format!("{}/metrics", server.address), None).await;
    assert_eq!(status, 404);
    // ...but on its own address, where no token was asked for.
    let own = server.metrics.clone().expect("metrics address");
    let (status, text) = scrape(&client, &own, None).await;
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    assert_eq!(
        value(&samples, r#"seen_events_total{outcome="accepted"}"#),
        0.0
    );
    assert_eq!(value(&samples, r#"seen_obligations{state="open"}"#), 0.0);
}

async fn metrics_own_listener_with_a_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = format!(
        "{POLICY}\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
    );
    let server = serve(&db, &config, true);
    let client = reqwest::Client::new();
    let own = server.metrics.clone().expect("metrics address");
    assert_eq!(scrape(&client, &own, None).await.0, 401);
    assert_eq!(scrape(&client, &own, Some(TOKEN)).await.0, 200);
    // With a listener of its own, the public port never serves it, token or not.
    let public = format!("{}/metrics", server.address);
    assert_eq!(scrape(&client, &public, Some(TOKEN)).await.0, 404);
}

on_both_backends!(
    metrics_count_real_traffic,
    metrics_are_off_by_default,
    metrics_on_their_own_listener,
    metrics_own_listener_with_a_token,
);

#[test]
fn metrics_on_the_public_port_need_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seen.toml");
    for (config, complaint) in [
        ("[metrics]\nenabled = true\n", "needs a `token`"),
        (
            "[metrics]\nenabled = true\ntoken = \"short\"\n",
            "at least 16 characters",
        ),
        (
            "[metrics]\nenabled = true\nlisten = \"nowhere\"\n",
            "listen = \"nowhere\"",
        ),
    ] {
        std::fs::write(&path, config).expect("write config");
        let output = seen()
            .args(["--config", path.to_str().expect("utf-8"), "config"])
            .output()
            .expect("run seen config");
        assert!(!output.status.success(), "{config}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("[metrics]") && stderr.contains(complaint),
            "{stderr}"
        );
    }
    std::fs::write(
        &path,
        format!("[metrics]\nenabled = true\ntoken = \"{TOKEN}\"\n"),
    )
    .expect("write");
    let output = seen()
        .args(["--config", path.to_str().expect("utf-8"), "config"])
        .output()
        .expect("run seen config");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(!printed.contains(TOKEN), "the token is printed: {printed}");
    assert!(printed.contains("token = \"********\""), "{printed}");
}

/// The gauges' queries read ranges of their partial indexes (a scrape never scans the history).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauge_queries_use_their_indexes() {
    let config = seen::config::Config::defaults().expect("defaults");
    let sqlite = TestDb::new(Backend::Sqlite).await;
    let _store = common::open_store(&sqlite.url, &config).await;
    let conn = rusqlite::Connection::open(&sqlite.url).expect("open");
    for (query, index) in seen::store::sqlite::gauges::GAUGE_QUERIES.iter().zip([
        "obligations_unclosed",
        "obligations_unclosed",
        "outbox_due",
    ]) {
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
            .expect("explain");
        let steps: Vec<String> = plan
            .query_map([0i64], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let plan = steps.join("; ");
        // A range of the partial index (its `DeferredSeek` never reads the table for a count), no scan.
        assert!(
            plan.contains(&format!("INDEX {index} (")),
            "{query}: {plan}"
        );
        assert!(!plan.contains("SCAN"), "{query}: {plan}");
    }

    let postgres = TestDb::new(Backend::Postgres).await;
    let _store = common::open_store(&postgres.url, &config).await;
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&postgres.url)
        .await
        .expect("connect");
    // An empty table is cheapest to read whole; what matters is that the index serves the query.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .expect("set");
    // On an empty table both partial indexes of unclosed obligations cost the same, and PostgreSQL may take
    // either for the obligation gauges; what matters is that one of them serves it.
    for (query, indexes) in seen::store::postgres::gauges::GAUGE_QUERIES.iter().zip([
        &["obligations_unclosed", "obligations_open_by_ref"][..],
        &["obligations_unclosed", "obligations_open_by_ref"][..],
        &["outbox_due"][..],
    ]) {
        let steps: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {query}"))
            .bind(0i64)
            .fetch_all(&mut conn)
            .await
            .expect("explain");
        let plan = steps.join("; ");
        assert!(
            indexes.iter().any(|index| plan.contains(index)),
            "{query}: {plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{query}: {plan}");
    }
}

/// Runs `seen serve` with stderr piped, waits for it to listen, stops it with SIGTERM, returns stderr.
fn serve_and_stop(format: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("seen.db");
    let mut server = Server::builder(db.to_str().expect("utf-8"))
        .log("info")
        .stderr(Stdio::piped());
    if let Some(format) = format {
        server = server.env("SEEN_LOG_FORMAT", format);
    }
    let mut server = server.start();
    assert!(
        server.address.starts_with("http://"),
        "{:?}",
        server.address
    );
    let (status, stderr) = server.terminate();
    assert!(status.success());
    stderr
}

#[test]
fn logs_have_no_colour_when_piped() {
    let stderr = serve_and_stop(None);
    assert!(
        stderr.contains("serving") && stderr.contains("shutting down"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\x1b["),
        "ANSI codes in piped logs: {stderr:?}"
    );
    assert!(stderr.contains(" INFO "), "{stderr}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let stderr = serve_and_stop(Some("json"));
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
            l["fields"]["message"].as_str().unwrap_or("")
        })
        .collect();
    assert!(
        messages.contains(&"serving") && messages.contains(&"shutting down"),
        "{messages:?}"
    );
    let serving = lines
        .iter()
        .find(|l| l["fields"]["message"] == "serving")
        .expect("serving line");
    assert!(serving["fields"]["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));

    // The final error of a failed command is a JSON line too.
    let output = seen()
        .args(["--db", "/no/such/folder/seen.db", "report"])
        .env("SEEN_LOG_FORMAT", "json")
        .output()
        .expect("run seen");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let last = lines.last().expect("an error line");
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist")),
        "{last}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let output = seen()
        .args(["config", "--defaults"])
        .env("SEEN_LOG_FORMAT", "yaml")
        .output()
        .expect("run seen");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SEEN_LOG_FORMAT") && stderr.contains("\"json\""),
        "{stderr}"
    );
}
