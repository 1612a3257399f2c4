//! `kill -9` during a burst of 1 000 sends: after a restart every message is sent, and the duplicates (the
//! window between the SMTP server's acceptance and our commit) are counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::sinks::SmtpSink;
use crate::common::Server;
use jiff::Timestamp;
use serde_json::{json, Value};

const ORDERS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_burst_of_sends_loses_nothing() {
    let smtp = SmtpSink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db");
    let db = db.to_str().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[actions]
quiet_hours = ""
lease = "2s"
[email]
transport = "smtp"
host = "127.0.0.1"
port = {}
"#,
            smtp.port
        ),
    )
    .unwrap();
    let key_output = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .args(["--db", db, "keys", "create", "test"])
        .env("SEEN_CONFIG", &config)
        .output()
        .unwrap();
    assert!(key_output.status.success(), "{key_output:?}");
    let key = String::from_utf8(key_output.stdout)
        .unwrap()
        .trim()
        .to_string();

    let mut server = Server::start_with(db, std::process::Stdio::null(), Some(&config));
    let client = reqwest::Client::new();
    let now = Timestamp::now().to_string();
    // 1 000 orders, each confirmed by email at once (transactional, records order.confirmed).
    for chunk in (0..ORDERS).collect::<Vec<_>>().chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({ "id": format!("o{i}"), "type": "order.placed", "customer": format!("c{i}"),
                        "customer_email": format!("c{i}@example.com"), "ref": format!("O-{i}"), "at": now })
            })
            .collect();
        let response = client
            .post(format!("{}/v1/events", server.address))
            .bearer_auth(&key)
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Kill it in the middle of the burst.
    smtp.wait_for(30, "a third of the burst", |m| m.len() >= ORDERS / 3)
        .await;
    server.kill();
    let before_restart = smtp.messages().len();
    assert!(
        before_restart < ORDERS,
        "the burst finished before the kill; the test proves nothing"
    );

    let started = Instant::now();
    let server = Server::start_with(db, std::process::Stdio::null(), Some(&config));
    let messages = smtp
        .wait_for(60, "every message", |m| {
            let unique: std::collections::BTreeSet<&str> =
                m.iter().filter_map(|m| m["message_id"].as_str()).collect();
            unique.len() >= ORDERS
        })
        .await;
    let recovery = started.elapsed();
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in &messages {
        *per_id
            .entry(m["message_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!(
        "kill -9 after {before_restart} of {ORDERS} sends: all {ORDERS} sent after restart ({recovery:?}), \
         {duplicates} duplicate(s)"
    );
    assert_eq!(per_id.len(), ORDERS);
    // At most the messages in flight at the kill (concurrency 16) can go twice.
    assert!(duplicates <= 16, "{duplicates} duplicates");

    // The outbox agrees: every message sent, nothing left pending.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: Value = client
            .get(format!(
                "{}/v1/outbox?status=sent&limit=5000",
                server.address
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sent = body["messages"].as_array().unwrap().len();
        if sent == ORDERS {
            break;
        }
        assert!(Instant::now() < deadline, "only {sent} marked sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
