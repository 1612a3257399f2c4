//! Promises as service desks keep them, through the API on both backends: a pause stops the clock and a
//! resume starts the time that was left, a target chosen by priority, a booking that moves; the breach
//! scheduler wakes at a resumed obligation's new due time (real time); warnings and breach alerts planned for a
//! deadline a pause moved are skipped and planned again.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use seen::config::Config;
use serde_json::{json, Value};

use crate::common::sinks::HookReceiver;
use crate::common::{self, spawn_app_acting, spawn_app_stepped, Backend, TestApp, TestDb};

const DESK: &str = r#"
[[policies]]
name = "resolve"
kind = "expect"
trigger = ["ticket.opened"]
expect = ["ticket.resolved"]
cancel = ["ticket.cancelled"]
pause = ["ticket.waiting_on_customer"]
resume = ["message.received"]
within = { by = "properties.priority", urgent = "1h", high = "4h", default = "10h" }

[[policies]]
name = "booking-reminder"
kind = "schedule"
trigger = ["booking.confirmed"]
at = "properties.starts_at - 24h"
expect = ["message.sent"]
grace = "1h"
cancel = ["booking.cancelled"]
reschedule = ["booking.rescheduled"]
"#;

fn event(id: &str, kind: &str, at: &str, reference: &str, properties: Value) -> Value {
    json!({ "id": id, "type": kind, "customer": "ana", "at": at, "ref": reference, "properties": properties })
}

async fn obligations(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get_json("/v1/obligations?customer=ana").await;
    assert_eq!(status, 200, "{body}");
    body["obligations"].as_array().cloned().unwrap_or_default()
}

async fn pause_resume_priority_and_reschedule(backend: Backend) {
    let config = Config::from_toml(DESK, "test").expect("config");
    let app = common::spawn_app_with(backend, config).await;
    let post = |events: Value| {
        let app = &app;
        async move {
            let (status, body) = app.post_events(&events).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    post(json!([
        event(
            "t1",
            "ticket.opened",
            "2026-01-05T10:00:00Z",
            "TK-1",
            json!({"priority": "URGENT"})
        ),
        event(
            "t2",
            "ticket.opened",
            "2026-01-05T10:00:00Z",
            "TK-2",
            json!({"priority": "unheard-of"})
        ),
        event(
            "w1",
            "ticket.waiting_on_customer",
            "2026-01-05T10:20:00Z",
            "TK-1",
            json!({})
        ),
    ]))
    .await;
    let all = obligations(&app).await;
    let tk = |all: &[Value], r: &str| all.iter().find(|o| o["ref"] == r).cloned().unwrap();
    let t1 = tk(&all, "TK-1");
    assert_eq!(t1["status"], "paused", "{t1:#}");
    assert_eq!(t1["due_at"], Value::Null);
    assert_eq!(t1["breach_at"], Value::Null);
    assert_eq!(t1["paused_since"], "2026-01-05T10:20:00Z");
    assert_eq!(t1["paused_left"], 40 * 60, "urgent: 1 h, 20 min used");
    assert_eq!(
        tk(&all, "TK-2")["due_at"],
        "2026-01-05T20:00:00Z",
        "unknown priority: the default"
    );
    // Paused obligations are never overdue: nobody is invisible because of TK-1.
    let (_, invisible) = app
        .get_json("/v1/invisible?as_of=2026-01-05T12:00:00Z")
        .await;
    assert_eq!(invisible["invisible"], json!([]), "{invisible:#}");

    // The customer answers the next morning: 40 minutes from then.
    post(json!([event(
        "m1",
        "message.received",
        "2026-01-06T09:00:00Z",
        "TK-1",
        json!({})
    )]))
    .await;
    let t1 = tk(&obligations(&app).await, "TK-1");
    assert_eq!(t1["status"], "breached", "{t1:#}");
    assert_eq!(t1["due_at"], "2026-01-06T09:40:00Z");
    assert_eq!(t1["paused_since"], Value::Null);
    assert_eq!(t1["paused_total"], (22 * 60 + 40) * 60);
    // As of a moment inside the pause, it was paused then.
    let (_, then) = app
        .get_json("/v1/obligations?customer=ana&as_of=2026-01-05T23:00:00Z")
        .await;
    let then = tk(then["obligations"].as_array().unwrap(), "TK-1");
    assert_eq!(then["status"], "paused", "{then:#}");

    // A booking confirmed, then moved: the reminder follows the new date.
    post(json!([
        event(
            "b1",
            "booking.confirmed",
            "2026-01-06T10:00:00Z",
            "BK-1",
            json!({"starts_at": "2026-01-20T09:00:00Z"})
        ),
        event(
            "b2",
            "booking.rescheduled",
            "2026-01-07T10:00:00Z",
            "BK-1",
            json!({"starts_at": "2026-01-27T09:00:00Z"})
        ),
    ]))
    .await;
    let all = obligations(&app).await;
    let reminders: Vec<&Value> = all
        .iter()
        .filter(|o| o["policy"] == "booking-reminder")
        .collect();
    assert_eq!(reminders.len(), 2, "{all:#?}");
    assert_eq!(reminders[0]["closure"], "rescheduled");
    assert_eq!(reminders[0]["status"], "cancelled");
    assert_eq!(reminders[1]["due_at"], "2026-01-26T09:00:00Z");
    assert_eq!(reminders[1]["trigger_event"], "b2");

    // A late arrival (a pause before the resume that was already stored) replays the history: the same
    // obligations as if the events had come in order.
    post(json!([event(
        "w0",
        "ticket.waiting_on_customer",
        "2026-01-05T10:10:00Z",
        "TK-2",
        json!({})
    )]))
    .await;
    let t2 = tk(&obligations(&app).await, "TK-2");
    assert_eq!(t2["status"], "paused", "{t2:#}");
    assert_eq!(t2["paused_left"], (9 * 60 + 50) * 60);
    let (_, summary) = app.get_json("/v1/summary?as_of=2026-01-08T00:00:00Z").await;
    let resolve = summary["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == "resolve")
        .cloned()
        .unwrap();
    assert_eq!(
        (resolve["paused"].as_u64(), resolve["breached"].as_u64()),
        (Some(1), Some(1)),
        "{resolve:#}"
    );
}

/// The breach scheduler notices a resumed obligation at its new due time, not at the one that passed while
/// it was paused (real time, a three-second promise).
async fn a_resumed_obligation_is_noticed_at_its_new_due_time(backend: Backend) {
    let config = Config::from_toml(
        r#"
[[policies]]
name = "resolve"
kind = "expect"
trigger = ["ticket.opened"]
expect = ["ticket.resolved"]
pause = ["ticket.waiting_on_customer"]
resume = ["message.received"]
within = "3s"
"#,
        "test",
    )
    .expect("config");
    let app = spawn_app_acting(backend, config).await;
    let now = || Timestamp::now().to_string();
    let post = |events: Value| {
        let app = &app;
        async move {
            assert_eq!(app.post_events(&events).await.0, 200);
        }
    };
    post(json!([event(
        "t1",
        "ticket.opened",
        &now(),
        "TK-1",
        json!({})
    )]))
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    post(json!([event(
        "w1",
        "ticket.waiting_on_customer",
        &now(),
        "TK-1",
        json!({})
    )]))
    .await;
    // The original due time passes while paused.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(
        noticed(&app.db, backend).await,
        None,
        "paused: never breached"
    );
    let resumed = Timestamp::now();
    post(json!([event(
        "m1",
        "message.received",
        &resumed.to_string(),
        "TK-1",
        json!({})
    )]))
    .await;
    let due: Timestamp = obligations(&app).await[0]["due_at"]
        .as_str()
        .expect("a due time again")
        .parse()
        .unwrap();
    let left = due.duration_since(resumed);
    assert!(
        (SignedDuration::from_millis(1_500)..=SignedDuration::from_millis(2_200)).contains(&left),
        "about two seconds were left: {left:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let at = loop {
        if let Some(at) = noticed(&app.db, backend).await {
            break at;
        }
        assert!(Instant::now() < deadline, "the breach was never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let late = at.duration_since(due);
    assert!(
        late >= SignedDuration::ZERO && late < SignedDuration::from_millis(1_500),
        "noticed {late:?} after the new due time"
    );
}

/// The customer's outbox rows, by due time.
async fn rows(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get_json("/v1/outbox?customer=ana").await;
    assert_eq!(status, 200, "{body}");
    let mut rows = body["messages"].as_array().cloned().unwrap_or_default();
    rows.sort_by_key(|r| {
        (
            r["due_at"].as_str().unwrap_or("").to_string(),
            r["action"].to_string(),
        )
    });
    rows
}

/// When the scheduler marked the one obligation's breach.
async fn noticed(db: &TestDb, backend: Backend) -> Option<Timestamp> {
    let nanos: Option<i64> = match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(&db.url).expect("open");
            conn.query_row("SELECT noticed_at FROM obligations", [], |r| r.get(0))
                .expect("noticed_at")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let value = sqlx::query_scalar("SELECT noticed_at FROM obligations")
                .fetch_one(&pool)
                .await
                .expect("noticed_at");
            pool.close().await;
            value
        }
    };
    nanos.map(|n| Timestamp::from_nanosecond(i128::from(n)).unwrap())
}

/// Warnings and breach alerts planned for a deadline a pause moved are skipped ("the deadline moved"); none
/// is planned while paused; at the resume they are planned again for the new deadline.
async fn alerts_follow_the_deadline_a_pause_moves(backend: Backend) {
    let hooks = HookReceiver::start().await;
    let config = Config::from_toml(
        &format!(
            r#"
[actions]
quiet_hours = ""
default_team = "desk"

[[policies]]
name = "resolve"
kind = "expect"
trigger = ["ticket.opened"]
expect = ["ticket.resolved"]
pause = ["ticket.waiting_on_customer"]
resume = ["message.received"]
within = "1h"
warn_before = {{ span = "30m" }}
on_breach = {{}}

[people.carol]
webhook = "ops"
[teams.desk]
members = ["carol"]
managers = ["carol"]
[webhooks.ops]
url = "{}/hook"
"#,
            hooks.url
        ),
        "test",
    )
    .expect("config");
    let app = spawn_app_stepped(backend, config).await;
    let opened = Timestamp::now() - SignedDuration::from_mins(10);
    assert_eq!(
        app.post_events(&json!([event(
            "t1",
            "ticket.opened",
            &opened.to_string(),
            "TK-1",
            json!({})
        )]))
        .await
        .0,
        200
    );
    app.run_pending_jobs().await;
    let planned = rows(&app).await;
    let kinds: Vec<(&str, &str)> = planned
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("warn", "pending"), ("breach", "pending")],
        "{planned:#?}"
    );

    // Waiting on the customer: both skipped, nothing new planned.
    let paused_at = Timestamp::now();
    let pause = event(
        "w1",
        "ticket.waiting_on_customer",
        &paused_at.to_string(),
        "TK-1",
        json!({}),
    );
    assert_eq!(app.post_events(&json!([pause])).await.0, 200);
    app.run_pending_jobs().await;
    let after_pause = rows(&app).await;
    assert_eq!(after_pause.len(), 2, "{after_pause:#?}");
    for row in &after_pause {
        assert_eq!(row["status"], "skipped", "{row:#}");
        assert!(
            row["detail"]
                .as_str()
                .unwrap()
                .contains("the deadline moved"),
            "{row:#}"
        );
    }

    // The customer answers: the warning and the breach alert again, for the new deadline.
    let resumed = Timestamp::now();
    let answer = event(
        "m1",
        "message.received",
        &resumed.to_string(),
        "TK-1",
        json!({}),
    );
    assert_eq!(app.post_events(&json!([answer])).await.0, 200);
    app.run_pending_jobs().await;
    let due: Timestamp = obligations(&app).await[0]["due_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let again: Vec<Value> = rows(&app)
        .await
        .into_iter()
        .filter(|r| r["status"] == "pending")
        .collect();
    assert_eq!(again.len(), 2, "{again:#?}");
    let due_of = |action: &str| -> Timestamp {
        again.iter().find(|r| r["action"] == action).unwrap()["due_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(due_of("warn"), due - SignedDuration::from_mins(30));
    assert!(due_of("breach") > due && due_of("breach") < due + SignedDuration::from_secs(1));
    assert!(hooks.hooks().is_empty(), "nothing was due yet");
}

/// `seen explain` and the dashboard's customer page say how long the clock has been stopped and how much
/// business time is left (the default `resolve` promise: 25h30m of office time, Mon-Fri 09:00-17:30 UTC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_the_customer_page_show_the_pause() {
    let app = common::spawn_app_with(Backend::Sqlite, Config::defaults().unwrap()).await;
    let events = json!([
        event(
            "t1",
            "ticket.opened",
            "2026-01-05T10:00:00Z",
            "TK-1",
            json!({"subject": "Broken lamp"})
        ),
        event(
            "w1",
            "ticket.waiting_on_customer",
            "2026-01-05T11:00:00Z",
            "TK-1",
            json!({})
        ),
        event(
            "b1",
            "booking.confirmed",
            "2026-01-05T10:00:00Z",
            "BK-1",
            json!({"starts_at": "2026-01-20T09:00:00Z"})
        ),
        event(
            "b2",
            "booking.rescheduled",
            "2026-01-06T10:00:00Z",
            "BK-1",
            json!({"starts_at": "2026-01-27T09:00:00Z"})
        ),
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .env_remove("SEEN_CONFIG")
        .env_remove("SEEN_DATABASE_URL")
        .args([
            "--db",
            &app.db.url,
            "explain",
            "ana",
            "--as-of",
            "2026-01-06T13:00:00Z",
        ])
        .output()
        .expect("run seen explain");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.contains("resolve") && l.contains("paused"))
        .unwrap_or_else(|| panic!("no paused line in\n{text}"));
    assert!(
        line.contains("paused 1d 2h waiting on the customer; 24h 30m of business time left"),
        "{line}"
    );
    assert!(text.contains("moved 2026-01-06 10:00"), "{text}");
    assert!(
        text.contains("opens booking-reminder (due 2026-01-26 09:00"),
        "{text}"
    );

    crate::common::dashboard::add_user(&app, "agent@example.com", seen::store::Role::Agent).await;
    let session = crate::common::dashboard::login(&app, "agent@example.com").await;
    let page = crate::common::dashboard::client()
        .get(format!("{}/customers/ana", app.address))
        .header("cookie", format!("seen_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("when the customer answers"), "{html}");
    assert!(html.contains("waiting on the customer;"), "{html}");
    assert!(html.contains("of business time left"), "{html}");
    assert!(html.contains("(rescheduled)"), "{html}");
}

on_both_backends!(
    pause_resume_priority_and_reschedule,
    a_resumed_obligation_is_noticed_at_its_new_due_time,
    alerts_follow_the_deadline_a_pause_moves,
);
