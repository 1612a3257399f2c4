//! A journey's stage update (`tell_customer_after` on a backstage step): the customer hears "we are still
//! working on it" once when the step is late, through the outbox and a real SMTP server (aiosmtpd); never
//! when the step came in time or the journey was cancelled; never twice, across a `kill -9` and restart.

use std::time::{Duration, Instant};

use crate::common::sinks::SmtpSink;
use crate::common::{spawn_app_stepped, Backend, Server, TestApp};
use jiff::{SignedDuration, Timestamp};
use seen::config::Config;
use serde_json::{json, Value};

const POLICY: &str = "still-working:order:packed";

/// The order journey with a short `tell_customer_after` (the default policies stay: the order confirmation
/// records `order.confirmed`, which is the step before "packed").
fn settings(smtp_port: u16, tell_after: &str, actions: &str) -> String {
    format!(
        r#"
[email]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
from = "Riverside Shop <hello@riverside.example>"

[actions]
business_name = "Riverside Shop"
retry_backoff = "1s"
lease = "3s"
{actions}

[[journeys]]
name = "order"
per = "ref"
window = "1h"
cancel = ["order.cancelled"]
steps = [
  {{ name = "placed",     events = ["order.placed"],     customer_sees = true }},
  {{ name = "confirmed",  events = ["order.confirmed"],  customer_sees = true }},
  {{ name = "packed",     events = ["order.packed"],     customer_sees = false, tell_customer_after = "{tell_after}" }},
  {{ name = "dispatched", events = ["order.dispatched"], customer_sees = true }},
]
"#
    )
}

fn event(id: &str, kind: &str, customer: &str, reference: &str) -> Value {
    json!({
        "id": id, "type": kind, "customer": customer, "at": Timestamp::now().to_string(), "ref": reference,
        "customer_email": format!("{customer}@example.com"), "customer_name": format!("{customer} Silva"),
        "customer_timezone": "UTC",
    })
}

fn subject(message: &Value) -> String {
    let data = message["data"].as_str().unwrap_or_default();
    data.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("subject:"))
        .map(|l| l["subject:".len()..].trim().to_string())
        .unwrap_or_default()
}

fn still_working(messages: &[Value]) -> Vec<&Value> {
    messages
        .iter()
        .filter(|m| subject(m).contains("still working"))
        .collect()
}

async fn obligation_status(app: &TestApp, customer: &str) -> String {
    let (status, body) = app.get_json(&format!("/v1/customers/{customer}")).await;
    assert_eq!(status, 200, "{body}");
    body["obligations"]
        .as_array()
        .expect("obligations")
        .iter()
        .find(|o| o["policy"] == POLICY)
        .map(|o| o["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no {POLICY} obligation for {customer}: {body:#}"))
}

/// Three orders, confirmed at once by email: one is packed in time, one is cancelled, one is late. Only
/// the late one's customer hears from us, once; the stage update keeps its obligation and is recorded.
async fn a_late_backstage_step_is_told_once(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let config = Config::from_toml(
        &settings(smtp.port, "1s", "quiet_hours = \"\"\ndaily_cap = 0"),
        "test",
    )
    .expect("config");
    let app = spawn_app_stepped(backend, config).await;
    let orders = json!([
        event("p1", "order.placed", "ana", "O-1"),
        event("p2", "order.placed", "ben", "O-2"),
        event("p3", "order.placed", "cid", "O-3"),
    ]);
    assert_eq!(app.post_events(&orders).await.0, 200);
    app.run_pending_jobs().await;
    smtp.wait_for(10, "three order confirmations", |m| m.len() == 3)
        .await;
    // Ben's order is packed in time; Cid cancels.
    let later = json!([
        event("k2", "order.packed", "ben", "O-2"),
        event("x3", "order.cancelled", "cid", "O-3"),
    ]);
    assert_eq!(app.post_events(&later).await.0, 200);
    assert_eq!(obligation_status(&app, "ana").await, "open");
    assert_eq!(obligation_status(&app, "ben").await, "cancelled");
    assert_eq!(obligation_status(&app, "cid").await, "cancelled");

    // A second after the confirmation, Ana's packing is late.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    app.run_pending_jobs().await;
    let messages = smtp
        .wait_for(10, "the stage update", |m| !still_working(m).is_empty())
        .await;
    let told = still_working(&messages);
    assert_eq!(told.len(), 1, "{messages:#?}");
    assert_eq!(
        told[0]["rcpt_tos"],
        json!(["ana@example.com"]),
        "{:#}",
        told[0]
    );
    let data = told[0]["data"].as_str().unwrap();
    assert!(data.contains("reference O-1"), "{data}");
    assert!(data.contains("(packed)"), "{data}");
    assert!(data.contains("/c/"), "the status link is in it: {data}");
    // Recorded: journey.stage_update kept the obligation.
    let deadline = Instant::now() + Duration::from_secs(10);
    while obligation_status(&app, "ana").await != "kept" {
        assert!(
            Instant::now() < deadline,
            "the stage update was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, rows) = app.get_json("/v1/outbox?customer=ana").await;
    let row = rows["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["policy"] == POLICY)
        .cloned()
        .expect("the outbox row");
    assert_eq!(row["status"], "sent", "{row:#}");
    assert_eq!(row["template"], "still-working", "{row:#}");

    // Packed at last, and the jobs run again: nothing more for anyone.
    assert_eq!(
        app.post_events(&json!([event("k1", "order.packed", "ana", "O-1")]))
            .await
            .0,
        200
    );
    app.run_pending_jobs().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.run_pending_jobs().await;
    assert_eq!(still_working(&smtp.messages()).len(), 1);
    assert_eq!(smtp.messages().len(), 4);
}

on_both_backends!(a_late_backstage_step_is_told_once);

/// Quiet hours hold the stage update (it is not urgent), as they hold every non-urgent message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_the_stage_update() {
    let smtp = SmtpSink::start(&[]);
    let now = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let start = now.checked_sub(SignedDuration::from_hours(1)).unwrap();
    let end = now.checked_add(SignedDuration::from_hours(1)).unwrap();
    let window = format!("{}-{}", start.strftime("%H:%M"), end.strftime("%H:%M"));
    let config = Config::from_toml(
        &settings(
            smtp.port,
            "1s",
            &format!("quiet_hours = \"{window}\"\ntimezone = \"UTC\"\ndaily_cap = 0"),
        ),
        "test",
    )
    .expect("config");
    let app = spawn_app_stepped(Backend::Sqlite, config).await;
    let placed = json!([event("p1", "order.placed", "ana", "O-1")]);
    assert_eq!(app.post_events(&placed).await.0, 200);
    app.run_pending_jobs().await;
    // The confirmation is transactional and urgent: it goes at once.
    smtp.wait_for(10, "the confirmation", |m| m.len() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    app.run_pending_jobs().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, rows) = app.get_json("/v1/outbox?customer=ana").await;
        let held = rows["messages"].as_array().unwrap().iter().any(|r| {
            r["policy"] == POLICY
                && r["status"] == "pending"
                && r["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("quiet hours"))
        });
        if held {
            break;
        }
        assert!(Instant::now() < deadline, "not held: {rows:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.run_pending_jobs().await;
    }
    assert_eq!(smtp.messages().len(), 1, "nothing but the confirmation");
}

/// The real `seen serve` on a SQLite file: the stage update goes once; after a `kill -9` and a restart,
/// with its due time long past, it does not go again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_update_goes_once_across_restarts() {
    let smtp = SmtpSink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db");
    let db = db.to_str().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        settings(smtp.port, "2s", "quiet_hours = \"\"\ndaily_cap = 0"),
    )
    .unwrap();
    let key = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .args(["--db", db, "keys", "create", "test"])
        .env("SEEN_CONFIG", &config)
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let client = reqwest::Client::new();
    let status_of = |address: String| {
        let client = client.clone();
        let key = key.clone();
        async move {
            let body: Value = client
                .get(format!("{address}/v1/customers/ana"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["obligations"]
                .as_array()
                .and_then(|o| o.iter().find(|o| o["policy"] == POLICY).cloned())
                .map(|o| o["status"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default()
        }
    };

    let mut server = Server::start_with(db, std::process::Stdio::null(), Some(&config));
    let response = client
        .post(format!("{}/v1/events", server.address))
        .bearer_auth(&key)
        .json(&json!([event("p1", "order.placed", "ana", "O-1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let messages = smtp
        .wait_for(20, "the confirmation and the stage update", |m| {
            !still_working(m).is_empty()
        })
        .await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    // Recorded (committed) before the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(server.address.clone()).await != "kept" {
        assert!(
            Instant::now() < deadline,
            "the stage update was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();

    let server = Server::start_with(db, std::process::Stdio::null(), Some(&config));
    // Its jobs plan and send at start; give them time to do anything they would.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(status_of(server.address.clone()).await, "kept");
    let messages = smtp.messages();
    assert_eq!(still_working(&messages).len(), 1, "{messages:#?}");
    assert_eq!(messages.len(), 2, "{messages:#?}");
}
