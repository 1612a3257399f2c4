//! Seen acts: confirmations, reminders, respect (quiet hours, cap, unsubscribe, bounces, retries), and
//! staff alerts — against a real SMTP server (aiosmtpd) and a real webhook receiver.

use std::time::{Duration, Instant};

use crate::common::sinks::{HookReceiver, SmtpSink};
use crate::common::{spawn_app_acting, spawn_app_stepped, Backend, TestApp};
use jiff::{SignedDuration, Timestamp};
use seen::config::Config;
use serde_json::{json, Value};

fn config(smtp_port: u16, extra: &str) -> Config {
    let text = format!(
        r#"
[email]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
from = "Riverside Rooms <hello@riverside.example>"

{extra}
"#
    );
    Config::from_toml(&text, "test").expect("test config")
}

fn actions(extra: &str) -> String {
    format!(
        r#"[actions]
business_name = "Riverside Rooms"
retry_backoff = "1s"
max_attempts = 3
lease = "3s"
{extra}"#
    )
}

fn booking(
    id: &str,
    kind: &str,
    customer: &str,
    email: &str,
    reference: &str,
    starts_in: SignedDuration,
) -> Value {
    let now = Timestamp::now();
    json!({
        "id": id, "type": kind, "customer": customer, "at": now.to_string(), "ref": reference,
        "customer_email": email, "customer_name": format!("{customer} Silva"), "customer_timezone": "Europe/Lisbon",
        "properties": { "starts_at": (now + starts_in).to_string(), "room": "Tagus", "party_size": 12 }
    })
}

const DAY: SignedDuration = SignedDuration::from_hours(24);

async fn outbox(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/v1/outbox?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

async fn wait_outbox(
    app: &TestApp,
    query: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let rows = outbox(app, query).await;
        if pred(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header<'a>(message: &'a Value, name: &str) -> Option<&'a str> {
    let data = message["data"].as_str()?;
    data.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

fn subject(message: &Value) -> String {
    header(message, "Subject").unwrap_or_default().to_string()
}

async fn booking_lifecycle(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(
        backend,
        config(smtp.port, &actions("quiet_hours = \"\"\ndaily_cap = 0")),
    )
    .await;

    // A booking: the confirmation goes out at once, and Seen records it, keeping the promise.
    let posted = Instant::now();
    let (status, body) = app
        .post_events(&json!([booking(
            "b1",
            "booking.created",
            "ana",
            "ana@example.com",
            "B-1",
            DAY + SignedDuration::from_secs(4)
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    smtp.wait_for(5, "the confirmation", |m| !m.is_empty())
        .await;
    let latency = posted.elapsed();
    assert!(
        latency < Duration::from_secs(2),
        "confirmation took {latency:?}"
    );
    let to_ana = smtp.to("ana@example.com");
    assert_eq!(to_ana.len(), 1);
    assert!(
        subject(&to_ana[0]).to_lowercase().contains("confirmed"),
        "{}",
        subject(&to_ana[0])
    );
    assert!(to_ana[0]["data"].as_str().unwrap().contains("B-1"));

    // The email reaches the sink before the sender records it as an event (the event keeps the promise):
    // wait for the record, not only for the email.
    let started = Instant::now();
    let customer = loop {
        let (_, customer) = app.get_json("/v1/customers/ana").await;
        let recorded = customer["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["type"] == "booking.confirmed"));
        if recorded || started.elapsed() > Duration::from_secs(10) {
            break customer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let confirm = customer["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["policy"] == "confirm-booking")
        .cloned()
        .unwrap();
    assert_eq!(confirm["status"], "kept", "{customer:#}");
    let recorded = customer["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "booking.confirmed")
        .cloned()
        .expect("a recorded booking.confirmed");
    assert_eq!(recorded["properties"]["automated"], true);

    // The same event again (a client retrying): still one email.
    let (status, body) = app
        .post_events(&json!([booking(
            "b1",
            "booking.created",
            "ana",
            "ana@example.com",
            "B-1",
            DAY + SignedDuration::from_secs(4)
        )]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicates"], 1, "{body}");

    // A booking that is cancelled: confirmation yes, reminder no.
    let (status, _) = app
        .post_events(&json!([booking(
            "b2",
            "booking.created",
            "bob",
            "bob@example.com",
            "B-2",
            DAY + SignedDuration::from_secs(3)
        )]))
        .await;
    assert_eq!(status, 200);
    smtp.wait_for(5, "bob's confirmation", |_| {
        smtp.to("bob@example.com").len() == 1
    })
    .await;
    let (status, _) = app
        .post_events(&json!([{ "id": "b2-cancel", "type": "booking.cancelled", "customer": "bob", "ref": "B-2", "at": Timestamp::now().to_string() }]))
        .await;
    assert_eq!(status, 200);

    // The reminder: 24 h before the start, not earlier, and within a second of its time.
    let reminders = wait_outbox(&app, "customer=ana", 10, "ana's reminder sent", |rows| {
        rows.iter()
            .any(|r| r["policy"] == "booking-reminder" && r["status"] == "sent")
    })
    .await;
    let reminder = reminders
        .iter()
        .find(|r| r["policy"] == "booking-reminder")
        .unwrap();
    let due: Timestamp = reminder["due_at"].as_str().unwrap().parse().unwrap();
    let sent: Timestamp = reminder["sent_at"].as_str().unwrap().parse().unwrap();
    assert!(sent >= due, "sent {sent} before due {due}");
    assert!(
        sent.duration_since(due) < SignedDuration::from_secs(1),
        "late by {}",
        sent.duration_since(due)
    );
    let to_ana = smtp.to("ana@example.com");
    assert_eq!(
        to_ana.len(),
        2,
        "confirmation + reminder, no duplicate: {to_ana:#?}"
    );
    assert!(to_ana[1]["data"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("flip chart"));
    // Non-transactional: it carries a one-click unsubscribe link.
    assert!(header(&to_ana[1], "List-Unsubscribe").is_some_and(|v| v.contains("/u/")));

    // Bob's reminder was due too, but the booking was cancelled.
    let bob = wait_outbox(&app, "customer=bob", 5, "bob's reminder skipped", |rows| {
        rows.iter()
            .any(|r| r["policy"] == "booking-reminder" && r["status"] == "skipped")
    })
    .await;
    let skipped = bob
        .iter()
        .find(|r| r["policy"] == "booking-reminder")
        .unwrap();
    assert!(
        skipped["detail"].as_str().unwrap().contains("cancelled"),
        "{skipped}"
    );
    assert_eq!(smtp.to("bob@example.com").len(), 1);
}

async fn respect(backend: Backend) {
    // The CLI part reads the same database: on PostgreSQL too (`--db` takes the URL).
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(
        backend,
        config(smtp.port, &actions("quiet_hours = \"\"\ndaily_cap = 2")),
    )
    .await;
    let soon = DAY + SignedDuration::from_secs(1);

    // Cap: three reminders for one customer in a day; two go.
    let events: Vec<Value> = (1..=3)
        .map(|i| {
            booking(
                &format!("c{i}"),
                "booking.confirmed",
                "carl",
                "carl@example.com",
                &format!("C-{i}"),
                soon,
            )
        })
        .collect();
    assert_eq!(app.post_events(&json!(events)).await.0, 200);
    let rows = wait_outbox(&app, "customer=carl", 10, "carl's reminders done", |rows| {
        rows.len() == 3
            && rows
                .iter()
                .all(|r| r["status"] != "pending" && r["status"] != "sending")
    })
    .await;
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        2,
        "{rows:#?}"
    );
    let capped = rows
        .iter()
        .find(|r| r["status"] == "capped")
        .expect("one capped");
    assert!(capped["detail"].as_str().unwrap().contains("daily_cap = 2"));
    assert_eq!(smtp.to("carl@example.com").len(), 2);

    // Unsubscribe with the link from the first reminder; the next reminder is suppressed, but the
    // (transactional) confirmation of a new booking still goes.
    assert_eq!(
        app.post_events(&json!([booking(
            "d1",
            "booking.confirmed",
            "dora",
            "dora@example.com",
            "D-1",
            soon
        )]))
        .await
        .0,
        200
    );
    let first = smtp
        .wait_for(10, "dora's reminder", |_| {
            smtp.to("dora@example.com").len() == 1
        })
        .await;
    let _ = first;
    let message = &smtp.to("dora@example.com")[0];
    let link = header(message, "List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let path = &link[link.find("/u/").unwrap()..];
    let page = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    // A forged link does nothing.
    let forged = app
        .client
        .post(format!(
            "{}/u/{}.00112233445566778899aabbccddeeff",
            app.address,
            hex_of("carl")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let done = app
        .client
        .post(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("unsubscribed"));
    assert_eq!(
        app.post_events(&json!([booking(
            "d2",
            "booking.confirmed",
            "dora",
            "dora@example.com",
            "D-2",
            soon
        )]))
        .await
        .0,
        200
    );
    assert_eq!(
        app.post_events(&json!([booking(
            "d3",
            "booking.created",
            "dora",
            "dora@example.com",
            "D-3",
            DAY * 3
        )]))
        .await
        .0,
        200
    );
    let rows = wait_outbox(
        &app,
        "customer=dora",
        10,
        "dora's second reminder suppressed",
        |rows| {
            rows.iter().any(|r| r["status"] == "suppressed")
                && rows.iter().filter(|r| r["status"] == "sent").count() == 2
        },
    )
    .await;
    let suppressed = rows.iter().find(|r| r["status"] == "suppressed").unwrap();
    assert_eq!(suppressed["ref"], "D-2");
    assert!(suppressed["detail"]
        .as_str()
        .unwrap()
        .contains("unsubscribed"));
    let to_dora = smtp.to("dora@example.com");
    assert_eq!(to_dora.len(), 2, "reminder D-1 and confirmation D-3");
    assert!(to_dora
        .iter()
        .any(|m| m["data"].as_str().unwrap().contains("D-3")));

    // A hard bounce fails at once and suppresses the address; a temporary failure is retried, then given up.
    assert_eq!(
        app.post_events(&json!([booking(
            "e1",
            "booking.created",
            "eve",
            "bounce@example.com",
            "E-1",
            DAY * 3
        )]))
        .await
        .0,
        200
    );
    assert_eq!(
        app.post_events(&json!([booking(
            "f1",
            "booking.created",
            "fay",
            "tempfail@example.com",
            "F-1",
            DAY * 3
        )]))
        .await
        .0,
        200
    );
    let eve = wait_outbox(&app, "customer=eve", 10, "eve's bounce", |rows| {
        rows.iter().any(|r| r["status"] == "failed")
    })
    .await;
    assert!(
        eve[0]["detail"].as_str().unwrap().contains("550"),
        "{eve:#?}"
    );
    assert_eq!(eve[0]["attempts"], 1);
    let fay = wait_outbox(&app, "customer=fay", 20, "fay's retries", |rows| {
        rows.iter().any(|r| r["status"] == "dead")
    })
    .await;
    assert_eq!(fay[0]["attempts"], 3, "{fay:#?}");
    assert!(
        fay[0]["detail"].as_str().unwrap().contains("451"),
        "{fay:#?}"
    );
    // Eve's next (non-urgent) message is suppressed because her address bounced.
    assert_eq!(
        app.post_events(&json!([booking(
            "e2",
            "booking.confirmed",
            "eve",
            "bounce@example.com",
            "E-2",
            soon
        )]))
        .await
        .0,
        200
    );
    let eve = wait_outbox(&app, "customer=eve", 10, "eve suppressed", |rows| {
        rows.iter().any(|r| r["status"] == "suppressed")
    })
    .await;
    let suppressed = eve.iter().find(|r| r["status"] == "suppressed").unwrap();
    assert!(suppressed["detail"].as_str().unwrap().contains("bounced"));

    // `seen explain` tells why each message was or was not sent; `seen outbox` lists them.
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
            .env_remove("SEEN_CONFIG")
            .args(["--db", &app.db.url])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let explained = cli(&["explain", "carl"]);
    assert!(explained.contains("Messages"), "{explained}");
    assert_eq!(explained.matches("sent at").count(), 2, "{explained}");
    assert!(
        explained.contains("NOT sent: capped") && explained.contains("daily_cap = 2"),
        "{explained}"
    );
    let explained = cli(&["explain", "fay"]);
    assert!(
        explained.contains("NOT sent: dead") && explained.contains("451"),
        "{explained}"
    );
    let listed = cli(&["outbox", "--status", "suppressed"]);
    assert!(
        listed.contains("dora") && listed.contains("eve") && !listed.contains("carl"),
        "{listed}"
    );
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_delay_non_urgent_messages() {
    let smtp = SmtpSink::start(&[]);
    // Quiet hours around now, in UTC (the customer's zone).
    let now = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let start = now.checked_sub(SignedDuration::from_hours(1)).unwrap();
    let end = now.checked_add(SignedDuration::from_hours(1)).unwrap();
    let window = format!("{}-{}", start.strftime("%H:%M"), end.strftime("%H:%M"));
    // Stepped: the jobs act when the test runs them, not when they wake.
    let app = spawn_app_stepped(
        Backend::Sqlite,
        config(
            smtp.port,
            &actions(&format!("quiet_hours = \"{window}\"\ntimezone = \"UTC\"")),
        ),
    )
    .await;
    let event = |id: &str, kind: &str, reference: &str, starts_in: SignedDuration| {
        let mut e = booking(id, kind, "gil", "gil@example.com", reference, starts_in);
        e["customer_timezone"] = json!("UTC");
        e
    };
    // The confirmation is urgent: it goes at once. The reminder waits for the end of quiet hours.
    assert_eq!(
        app.post_events(&json!([event("g1", "booking.created", "G-1", DAY * 3)]))
            .await
            .0,
        200
    );
    assert_eq!(
        app.post_events(&json!([event(
            "g2",
            "booking.confirmed",
            "G-2",
            DAY + SignedDuration::from_secs(1)
        )]))
        .await
        .0,
        200
    );
    app.run_pending_jobs().await;
    smtp.wait_for(5, "the confirmation", |m| m.len() == 1).await;
    // The reminder falls due a second after it was posted: one pass then defers it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.run_pending_jobs().await;
    let rows = wait_outbox(&app, "customer=gil", 10, "the reminder deferred", |rows| {
        rows.iter().any(|r| {
            r["ref"] == "G-2"
                && r["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("quiet hours"))
        })
    })
    .await;
    let deferred = rows.iter().find(|r| r["ref"] == "G-2").unwrap();
    assert_eq!(deferred["status"], "pending");
    let next: Timestamp = deferred["next_at"].as_str().unwrap().parse().unwrap();
    let expected = end
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap()
        .timestamp();
    assert_eq!(next, expected, "{deferred:#}");
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_alerts_reach_the_right_people_once() {
    let smtp = SmtpSink::start(&[]);
    let hooks = HookReceiver::start().await;
    let extra = format!(
        r#"
{}

[[policies]]
name = "reply"
kind = "expect"
trigger = ["message.received"]
expect = ["message.sent"]
within = "3s"
warn_before = {{ span = "2s" }}
on_breach = [{{}}, {{ to = "customer", template = "apology" }}]
escalate_after = {{ span = "1s", repeat = "1s", max = 2 }}

[people.alice]
email = "alice@venue.example"
[people.bob]
email = "bob@venue.example"
[people.carol]
name = "Carol Manager"
email = "carol@venue.example"
webhook = "ops"

[teams.front]
members = ["alice"]
managers = ["carol"]
[teams.back]
members = ["bob"]
managers = ["bob"]

[[routes]]
team = "back"
channel = ["phone"]

[webhooks.ops]
url = "{}/hook"
secret = "whsec-test"
"#,
        actions("quiet_hours = \"\"\ndefault_team = \"front\""),
        hooks.url
    );
    let app = spawn_app_acting(Backend::Sqlite, config(smtp.port, &extra)).await;
    let now = Timestamp::now().to_string();
    let events = json!([
        { "id": "m1", "type": "message.received", "customer": "gus", "customer_email": "gus@example.com", "channel": "email", "ref": "T-1", "at": now },
        { "id": "m2", "type": "message.received", "customer": "hal", "customer_email": "hal@example.com", "channel": "email", "ref": "T-2", "at": now },
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);
    // Hal gets a reply in time: no alert about him.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = json!([{ "id": "m2-reply", "type": "message.sent", "customer": "hal", "channel": "email", "ref": "T-2", "at": Timestamp::now().to_string() }]);
    assert_eq!(app.post_events(&reply).await.0, 200);

    // Warn at ~1 s, breach at ~3 s, escalations at ~4 s and ~5 s.
    smtp.wait_for(15, "two escalations to carol", |_| {
        smtp.to("carol@venue.example").len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let alice = smtp.to("alice@venue.example");
    let subjects: Vec<String> = alice.iter().map(subject).collect();
    assert_eq!(alice.len(), 2, "warn + breach for gus only: {subjects:?}");
    assert!(alice
        .iter()
        .all(|m| m["data"].as_str().unwrap().contains("gus")));
    assert_eq!(smtp.to("carol@venue.example").len(), 2);
    assert!(smtp.to("bob@venue.example").is_empty());
    assert_eq!(smtp.to("gus@example.com").len(), 1, "one apology");
    assert!(smtp.to("hal@example.com").is_empty());

    // Carol's webhook got both escalations, signed.
    let got = hooks.hooks();
    assert_eq!(got.len(), 2, "{got:#?}");
    for hook in &got {
        let timestamp = hook.header("X-Seen-Timestamp").unwrap();
        let signature = hook.header("X-Seen-Signature").unwrap();
        assert!(seen::channels::verify_signature(
            "whsec-test",
            timestamp,
            &hook.body,
            signature
        ));
        assert!(!seen::channels::verify_signature(
            "wrong", timestamp, &hook.body, signature
        ));
        assert_eq!(hook.json()["action"], "escalate");
        assert_eq!(hook.json()["customer"]["id"], "gus");
    }
    let keys: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|h| h.header("X-Seen-Idempotency-Key").unwrap())
        .collect();
    assert_eq!(keys.len(), 2);
}

/// Stepped jobs: nothing acts until the test runs the pending jobs; one pass plans and sends the
/// confirmation and records it (keeping its promise); another pass has nothing left to do.
async fn one_pass_of_the_jobs_sends_what_is_due(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_stepped(
        backend,
        config(smtp.port, &actions("quiet_hours = \"\"\ndaily_cap = 0")),
    )
    .await;
    let event = booking(
        "b1",
        "booking.created",
        "ana",
        "ana@example.com",
        "B-1",
        DAY * 3,
    );
    assert_eq!(app.post_events(&json!([event])).await.0, 200);
    assert!(
        outbox(&app, "customer=ana").await.is_empty(),
        "not planned yet"
    );

    app.run_pending_jobs().await;
    let rows = outbox(&app, "customer=ana").await;
    let confirmation = rows
        .iter()
        .find(|r| r["policy"] == "confirm-booking")
        .unwrap_or_else(|| panic!("no confirmation: {rows:#?}"));
    assert_eq!(confirmation["status"], "sent", "{confirmation:#}");
    let to_ana = smtp.to("ana@example.com");
    assert_eq!(to_ana.len(), 1);
    assert!(subject(&to_ana[0]).to_lowercase().contains("confirmed"));
    let (_, customer) = app.get_json("/v1/customers/ana").await;
    let kept = customer["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["policy"] == "confirm-booking" && o["status"] == "kept");
    assert!(kept, "{customer:#}");

    app.run_pending_jobs().await;
    assert_eq!(smtp.messages().len(), 1, "nothing more was due");
}

on_both_backends!(
    booking_lifecycle,
    respect,
    one_pass_of_the_jobs_sends_what_is_due
);

/// Two nodes on one PostgreSQL database, both running the sender: each message is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_send_a_message_twice() {
    use std::sync::Arc;
    let smtp = SmtpSink::start(&[]);
    let config = config(smtp.port, &actions("quiet_hours = \"\"\ndaily_cap = 0"));
    let app = spawn_app_acting(Backend::Postgres, config.clone()).await;
    let second = seen::store::open(
        &app.db.url,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .unwrap();
    let node2 = Arc::new(
        seen::jobs::actions::Actor::new(second, &config)
            .await
            .unwrap(),
    );
    let wake2 = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(node2.run(wake2.clone(), Arc::new(tokio::sync::Notify::new())));

    // 300 confirmed bookings whose reminders fall due together, 3 s from now: both nodes race for them.
    const N: usize = 300;
    let starts = DAY + SignedDuration::from_secs(3);
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| {
                booking(
                    &format!("r{i}"),
                    "booking.confirmed",
                    &format!("k{i}"),
                    &format!("k{i}@example.com"),
                    &format!("R-{i}"),
                    starts,
                )
            })
            .collect();
        assert_eq!(app.post_events(&json!(events)).await.0, 200);
        wake2.notify_one();
    }
    smtp.wait_for(20, "every reminder", |m| m.len() >= N).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = smtp.messages();
    let unique: std::collections::BTreeSet<&str> = messages
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert_eq!(unique.len(), N);
    assert_eq!(messages.len(), N, "a message went twice");
    let sent = outbox(&app, "status=sent&limit=1000").await;
    assert_eq!(sent.len(), N);
}
