//! Operations a small business runs itself, through the real binary and store: backup under write load and
//! restore, erasure of one customer (every table scanned afterwards, past figures unchanged), retention,
//! and the audit log (CLI and dashboard, admins only).

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::dashboard::{hidden, login};
use crate::common::{event, spawn_app, Backend, Server, TestApp};
use jiff::{SignedDuration, Timestamp};
use seen::domain::trend::Window;
use seen::store::{ChurnScore, OutboxItem, Role, Suppression, WorkEntry};
use serde_json::{json, Value};

const ALICE: &str = "cust-alice-7731";
const ALICE_EMAIL: &str = "alice.smith@example.org";
const ALICE_NAME: &str = "Alice Smithson";

fn seen(db: &str, args: &[&str]) -> Output {
    seen_with(db, args, None)
}

fn seen_with(db: &str, args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("seen"));
    command
        .env_remove("SEEN_CONFIG")
        .env_remove("SEEN_DATABASE_URL")
        .env("SEEN_LOG", "warn")
        .env("USER", "tester")
        .args(["--db", db]);
    if let Some(config) = config {
        command.args(["--config", config.to_str().unwrap()]);
    }
    command.args(args).output().expect("run seen")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn audit(db: &str) -> Vec<Value> {
    let out = ok(&seen(db, &["audit", "--format", "json"]));
    serde_json::from_str::<Vec<Value>>(&out).expect("audit json")
}

fn ago(t: Timestamp, hours: i64) -> String {
    (t - SignedDuration::from_hours(hours)).to_string()
}

// ---------------------------------------------------------------------------------------------------
// Erasure

/// Every text cell of every table that contains `needle`, as "table.column".
async fn mentions(backend: Backend, url: &str, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(url).unwrap();
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(tables.len() >= 12, "{tables:?}");
            for table in tables {
                let columns: Vec<String> = conn
                    .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                for column in columns {
                    let n: i64 = conn
                        .query_row(
                            &format!(
                                "SELECT count(*) FROM \"{table}\" WHERE instr(lower(CAST(\"{column}\" AS TEXT)), lower(?1)) > 0"
                            ),
                            [needle],
                            |r| r.get(0),
                        )
                        .unwrap();
                    if n > 0 {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(columns.len() > 50, "{columns:?}");
            for (table, column) in columns {
                let n: i64 = sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM \"{table}\" WHERE strpos(lower(\"{column}\"::text), lower($1)) > 0"
                ))
                .bind(needle)
                .fetch_one(&pool)
                .await
                .unwrap();
                if n > 0 {
                    found.push(format!("{table}.{column}"));
                }
            }
            pool.close().await;
        }
    }
    found
}

/// Alice and Bob: messages, an order never confirmed (breached), a survey with a comment, an open
/// promise, a work-log note, a queued message, a suppression and churn scores.
async fn a_customer_with_everything(app: &TestApp, now: Timestamp) {
    let mut events = Vec::new();
    for (who, email, name) in [
        (ALICE, ALICE_EMAIL, ALICE_NAME),
        ("cust-bob-1", "bob@example.org", "Bob Jones"),
    ] {
        let mut first = event(
            &format!("{who}-msg-1"),
            "message.received",
            who,
            &ago(now, 24 * 9),
            Some(&format!("ticket-{who}")),
        );
        first["customer_email"] = json!(email);
        first["customer_name"] = json!(name);
        first["customer_phone"] = json!("+44 7700 900123");
        first["properties"] = json!({ "text": format!("Hello, this is {name}") });
        events.push(first);
        events.push(event(
            &format!("{who}-reply-1"),
            "message.sent",
            who,
            &ago(now, 24 * 9 - 2),
            Some(&format!("ticket-{who}")),
        ));
        events.push(event(
            &format!("{who}-order-1"),
            "order.placed",
            who,
            &ago(now, 24 * 6),
            Some(&format!("order-{who}")),
        ));
        let mut sent = event(
            &format!("{who}-survey-sent"),
            "survey.sent",
            who,
            &ago(now, 24 * 4),
            None,
        );
        sent["properties"] = json!({ "send": format!("send-{who}"), "survey": "csat", "kind": "csat", "policy": "reply", "to": email });
        events.push(sent);
        let mut answered = event(
            &format!("{who}-survey-answer"),
            "survey.answered",
            who,
            &ago(now, 24 * 4 - 1),
            None,
        );
        answered["properties"] = json!({ "send": format!("send-{who}"), "survey": "csat", "kind": "csat", "score": 2, "policy": "reply" });
        events.push(answered);
        let mut comment = event(
            &format!("{who}-survey-comment"),
            "survey.comment",
            who,
            &ago(now, 24 * 4 - 1),
            None,
        );
        comment["properties"] =
            json!({ "send": format!("send-{who}"), "comment": format!("{name} was kept waiting") });
        events.push(comment);
        // Still open (due in the future).
        events.push(event(
            &format!("{who}-msg-2"),
            "message.received",
            who,
            &ago(now, 1),
            None,
        ));
    }
    let (status, body) = app.post_events(&json!(events)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 14, "{body}");

    let store = &app.service.store();
    store
        .record_work(WorkEntry {
            customer: ALICE.into(),
            policy: "confirm-order".into(),
            trigger_event: format!("{ALICE}-order-1"),
            kind: "note".into(),
            by: "agent@shop.test".into(),
            assignee: None,
            note: Some(format!("{ALICE_NAME} called about {ALICE_EMAIL}")),
            at: now,
        })
        .await
        .unwrap();
    store
        .enqueue(
            vec![OutboxItem {
                key: format!("confirm-order/{ALICE}/{ALICE}-order-1/breach/0/customer"),
                customer: ALICE.into(),
                policy: "confirm-order".into(),
                trigger_event: format!("{ALICE}-order-1"),
                reference: Some(format!("order-{ALICE}")),
                action: seen::domain::action::ActionKind::Breach,
                step: 0,
                template: "apology".into(),
                channel: "email".into(),
                recipient: ALICE_EMAIL.into(),
                recipient_name: Some(ALICE_NAME.into()),
                role: "customer".into(),
                transactional: false,
                urgent: false,
                records: Some("message.sent".into()),
                due_at: now + SignedDuration::from_hours(1),
                survey: None,
            }],
            vec![],
        )
        .await
        .unwrap();
    store
        .suppress(Suppression {
            target: ALICE_EMAIL.into(),
            reason: "bounced".into(),
            detail: Some(format!("550 no such user {ALICE_EMAIL}")),
            at: now,
        })
        .await
        .unwrap();
    let score = |customer: &str| ChurnScore {
        customer: customer.into(),
        p_alive: 0.2,
        expected_purchases: 0.1,
        average_value: Some(10.0),
        value_if_active: Some(20.0),
        value_at_risk: Some(16.0),
        frequency: 1.0,
        recency: 2.0,
        age: 3.0,
        last_purchase_at: now,
        gone_quiet: true,
    };
    store
        .save_churn(now, json!({}), vec![score(ALICE), score("cust-bob-1")])
        .await
        .unwrap();
}

/// The overview's figures for the past two weeks, without "invisible now" (a forgotten customer is no
/// longer anybody's to see).
async fn past_figures(app: &TestApp, window: Window) -> Value {
    let overview = app.service.overview(window).await.unwrap();
    let mut value = serde_json::to_value(&overview).unwrap();
    value.as_object_mut().unwrap().remove("invisible_now");
    value
}

async fn forget_erases_every_trace_and_keeps_the_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = Timestamp::now();
    a_customer_with_everything(&app, now).await;
    // Periods that ended: forgetting closes the customer's open promises, which changes today's figures.
    let window = Window::ending_at(
        now - SignedDuration::from_hours(24),
        SignedDuration::from_hours(24),
        14,
    )
    .unwrap();
    let before = past_figures(&app, window).await;
    assert!(
        before["totals"]["promises"]["breached"].as_u64().unwrap() >= 4,
        "{before}"
    );
    // Both answers (score 2 of 5: unsatisfied) are in the CSAT series.
    assert!(
        before["csat"]["values"]
            .as_array()
            .unwrap()
            .contains(&json!(0.0)),
        "{before}"
    );
    for needle in [ALICE, ALICE_EMAIL, ALICE_NAME] {
        assert!(
            !mentions(backend, &app.db.url, needle).await.is_empty(),
            "{needle} should be stored before"
        );
    }
    // Sorted: obligations opened by one event may come back from a recompute in another order.
    let bob = || async {
        let mut obligations = app
            .service
            .store()
            .customer_obligations("cust-bob-1")
            .await
            .unwrap();
        obligations.sort_by_key(|o| format!("{o:?}"));
        obligations
    };
    let bob_before = bob().await;

    let out = ok(&seen(&app.db.url, &["forget", ALICE, "--json"]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["found"], true, "{report}");
    assert_eq!(report["events_deleted"], 5, "{report}");
    assert_eq!(report["events_anonymised"], 2, "{report}");
    assert_eq!(report["obligations_closed"], 3, "{report}");
    assert_eq!(report["outbox_anonymised"], 1, "{report}");
    assert_eq!(report["work_anonymised"], 1, "{report}");
    assert_eq!(report["churn_scores_deleted"], 1, "{report}");
    assert_eq!(report["suppressions_deleted"], 1, "{report}");

    for needle in [ALICE, ALICE_EMAIL, ALICE_NAME, "7731"] {
        assert_eq!(
            mentions(backend, &app.db.url, needle).await,
            Vec::<String>::new(),
            "{needle} is still stored"
        );
    }
    // The past did not change, and recomputing (as after a policy change) keeps it.
    assert_eq!(past_figures(&app, window).await, before);
    ok(&seen(&app.db.url, &["recompute"]));
    assert_eq!(past_figures(&app, window).await, before);
    assert_eq!(bob().await, bob_before);
    assert_eq!(bob_before.len(), 4);
    assert!(app.service.store().customer(ALICE).await.unwrap().is_none());
    // Forgetting twice finds nothing.
    let again = seen(&app.db.url, &["forget", ALICE]);
    assert_eq!(again.status.code(), Some(1));

    let log = audit(&app.db.url);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["action"], "customer.forgotten");
    assert_eq!(log[0]["actor"], "cli:tester");
    assert_eq!(
        log[0]["subject"].as_str().unwrap(),
        seen::store::admin::customer_digest(ALICE)
    );
}

/// Signed survey links already in a forgotten customer's mailbox stop working (they need the customer's
/// `survey.sent` event), so a late click cannot bring the customer back.
async fn survey_links_stop_working_after_forget(backend: Backend) {
    let app = common::spawn_app_acting(backend, seen::config::Config::defaults().unwrap()).await;
    let mut sent = event(
        "link-sent",
        "survey.sent",
        "cust-link",
        &Timestamp::now().to_string(),
        None,
    );
    sent["properties"] = json!({ "send": "send-link-1", "survey": "csat", "kind": "csat" });
    assert_eq!(app.post_events(&json!([sent])).await.0, 200);
    let secret = app.service.store().shared_secret().await.unwrap();
    let link = |customer: &str| seen::domain::survey::SurveyLink {
        customer: customer.into(),
        survey: "csat".into(),
        send: "send-link-1".into(),
        expires: Timestamp::now() + SignedDuration::from_hours(24),
    };
    let click = |score: u8| {
        let url = format!(
            "{}/s/{}/{score}",
            app.address,
            seen::secrets::survey_link_token(&link("cust-link"), &secret)
        );
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(click(5).await, 200);
    ok(&seen(&app.db.url, &["forget", "cust-link"]));
    assert_eq!(click(4).await, 404);
    assert!(app
        .service
        .store()
        .customer("cust-link")
        .await
        .unwrap()
        .is_none());
    assert!(mentions(backend, &app.db.url, "cust-link").await.is_empty());
}

// ---------------------------------------------------------------------------------------------------
// Retention

async fn retention_clears_old_details_and_keeps_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = Timestamp::now();
    let mut old = event(
        "old-1",
        "order.placed",
        "cust-r",
        &ago(now, 24 * 500),
        Some("o-1"),
    );
    old["properties"] = json!({ "address": "1 Old Street" });
    old["customer_email"] = json!("r@example.org");
    let mut recent = event(
        "new-1",
        "order.placed",
        "cust-r",
        &ago(now, 24 * 10),
        Some("o-2"),
    );
    recent["properties"] = json!({ "address": "2 New Street" });
    let (status, body) = app.post_events(&json!([old, recent])).await;
    assert_eq!(status, 200, "{body}");
    let obligations_before = app.service.store().counts().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(&config, "[retention]\nevents_properties = \"400d\"\n").unwrap();
    let out = ok(&seen_with(
        &app.db.url,
        &["retention", "run"],
        Some(&config),
    ));
    assert!(out.contains("properties of 1 events"), "{out}");

    let events = app.service.store().customer_events("cust-r").await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id, "old-1");
    assert_eq!(events[0].properties, None);
    assert!(events[0].profile.is_empty());
    assert_eq!(events[0].reference.as_deref(), Some("o-1"));
    assert!(events[1]
        .properties
        .as_deref()
        .unwrap()
        .contains("2 New Street"));
    let counts = app.service.store().counts().await.unwrap();
    assert_eq!(counts.events, obligations_before.events);
    assert_eq!(counts.obligations, obligations_before.obligations);
    // A second run has nothing left to do.
    let out = ok(&seen_with(
        &app.db.url,
        &["retention", "run"],
        Some(&config),
    ));
    assert!(out.contains("properties of 0 events"), "{out}");

    // Finished messages lose who they went to; queued ones keep it.
    let store = &app.service.store();
    let item = |key: &str| OutboxItem {
        key: key.into(),
        customer: "cust-r".into(),
        policy: "confirm-order".into(),
        trigger_event: "new-1".into(),
        reference: Some("o-2".into()),
        action: seen::domain::action::ActionKind::Breach,
        step: 0,
        template: "apology".into(),
        channel: "email".into(),
        recipient: "r@example.org".into(),
        recipient_name: Some("R Person".into()),
        role: "customer".into(),
        transactional: false,
        urgent: false,
        records: None,
        due_at: now,
        survey: None,
    };
    store
        .enqueue(vec![item("done"), item("queued")], vec![])
        .await
        .unwrap();
    let claimed = store
        .claim_outbox(
            now + SignedDuration::from_secs(1),
            now + SignedDuration::from_secs(60),
            1,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .finish_outbox(vec![seen::store::OutboxUpdate {
            key: claimed[0].item.key.clone(),
            status: seen::store::OutboxStatus::Sent,
            next_at: None,
            detail: Some("250 ok r@example.org".into()),
            sent_at: Some(now),
            held: Some(claimed[0].next_at),
        }])
        .await
        .unwrap();
    let report = store
        .apply_retention(seen::store::RetentionCutoffs {
            events_properties: None,
            sent_messages: Some(Timestamp::now() + SignedDuration::from_secs(5)),
        })
        .await
        .unwrap();
    assert_eq!(report.messages_cleared, 1);
    let rows = store
        .outbox(seen::store::OutboxFilter::default())
        .await
        .unwrap();
    let mut recipients: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                format!("{:?}", r.status),
                r.item.recipient.clone(),
                r.item.recipient_name.clone(),
            )
        })
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        vec![
            (
                "Pending".into(),
                "r@example.org".into(),
                Some("R Person".into())
            ),
            ("Sent".into(), "customer".into(), None),
        ]
    );
}

/// `seen serve` reads `[retention]` at start (it runs the daily pass): a bad value stops it with the field named.
#[test]
fn serve_refuses_a_bad_retention_setting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db");
    let config = dir.path().join("seen.toml");
    std::fs::write(&config, "[retention]\nevents_properties = \"soon\"\n").unwrap();
    let out = seen_with(
        db.to_str().unwrap(),
        &["serve", "--listen", "127.0.0.1:0"],
        Some(&config),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("events_properties"), "{stderr}");
}

/// `seen serve` runs the retention pass by itself (shortly after start, then daily): its log says so, and the
/// old event's details are gone.
async fn serve_applies_retention_by_itself(backend: Backend) {
    use std::io::BufRead;
    let app = spawn_app(backend).await;
    let now = Timestamp::now();
    let mut old = event("old-s", "order.placed", "cust-s", &ago(now, 24 * 500), None);
    old["properties"] = json!({ "address": "3 Old Street" });
    assert_eq!(app.post_events(&json!([old])).await.0, 200);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(&config, "[retention]\nevents_properties = \"400d\"\n").unwrap();
    // Killed on drop, even if an assertion below fails.
    let mut server = Server::builder(&app.db.url)
        .config(&config)
        .log("info")
        .stderr(Stdio::piped())
        .folder(dir.path())
        .start();
    let stderr = server.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("retention applied") && tx.send(line).is_err() {
                return;
            }
        }
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("seen serve logged a retention pass");
    // Without the terminal colours (`ESC [ … m`).
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    assert!(plain.contains("events_cleared=1"), "{plain}");
    let events = app.service.store().customer_events("cust-s").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].properties, None);
}

// ---------------------------------------------------------------------------------------------------
// Audit log

async fn request(
    app: &TestApp,
    session: &str,
    path: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, String) {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let builder = match form {
        Some(form) => c.post(format!("{}{path}", app.address)).form(form),
        None => c.get(format!("{}{path}", app.address)),
    };
    let response = builder
        .header("cookie", format!("seen_session={session}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn every_admin_action_leaves_one_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.db.url.clone();
    // The command line.
    let mut add = Command::new(assert_cmd::cargo::cargo_bin("seen"));
    let added = add
        .env_remove("SEEN_CONFIG")
        .env("USER", "tester")
        .args([
            "--db",
            &db,
            "users",
            "add",
            "root@shop.test",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut child = added;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a long password\n")
            .unwrap();
        ok(&child.wait_with_output().unwrap());
    }
    ok(&seen(&db, &["keys", "create", "shop"]));
    ok(&seen(&db, &["keys", "revoke", "shop"]));
    let log = audit(&db);
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("cli:tester", "key.revoked", "shop"),
            ("cli:tester", "key.created", "shop"),
            ("cli:tester", "user.added", "root@shop.test"),
        ]
    );
    // A failed revoke changes nothing and records nothing.
    assert_eq!(
        seen(&db, &["keys", "revoke", "nope"]).status.code(),
        Some(1)
    );
    assert_eq!(audit(&db).len(), 3);

    // The dashboard.
    for (email, role) in [
        ("agent@shop.test", Role::Agent),
        ("boss@shop.test", Role::Manager),
    ] {
        crate::common::dashboard::add_user(&app, email, role).await;
    }
    let admin = login(&app, "root@shop.test").await;
    let (_, html) = request(&app, &admin, "/admin/keys", None).await;
    let csrf = hidden(&html, "csrf");
    for action in ["create", "revoke"] {
        let (status, html) = request(
            &app,
            &admin,
            "/admin/keys",
            Some(&[("csrf", &csrf), ("action", action), ("name", "web-key")]),
        )
        .await;
        assert_eq!(status, 200, "{html}");
    }
    let (status, html) = request(
        &app,
        &admin,
        "/admin/users",
        Some(&[
            ("csrf", &csrf),
            ("email", "new@shop.test"),
            ("name", "New"),
            ("role", "manager"),
            ("password", "another long password"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let log = audit(&db);
    assert_eq!(log.len(), 6, "{log:?}");
    let latest: Vec<(&str, &str, &str)> = log[..3]
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        latest,
        vec![
            ("root@shop.test", "user.added", "new@shop.test"),
            ("root@shop.test", "key.revoked", "web-key"),
            ("root@shop.test", "key.created", "web-key"),
        ]
    );

    // Admins see the page; agents and managers do not.
    let (status, html) = request(&app, &admin, "/admin/audit", None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("web-key") && html.contains("cli:tester"),
        "{html}"
    );
    let mut sessions = Vec::new();
    for email in ["agent@shop.test", "boss@shop.test"] {
        let session = login(&app, email).await;
        let (status, html) = request(&app, &session, "/admin/audit", None).await;
        assert_eq!(status, 403, "{email}");
        assert!(!html.contains("web-key"), "{html}");
        sessions.push(session);
    }

    // Removing a user and changing a role end their sessions, and are recorded.
    ok(&seen(&db, &["users", "remove", "agent@shop.test"]));
    ok(&seen(&db, &["users", "role", "boss@shop.test", "admin"]));
    assert_eq!(
        seen(&db, &["users", "remove", "agent@shop.test"])
            .status
            .code(),
        Some(1)
    );
    for session in &sessions {
        let (status, _) = request(&app, session, "/invisible", None).await;
        assert_ne!(status, 200);
    }
    let users = ok(&seen(&db, &["users", "list"]));
    assert!(!users.contains("agent@shop.test"), "{users}");
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("boss@shop.test") && l.contains("admin")),
        "{users}"
    );
    let log = audit(&db);
    assert_eq!(log.len(), 8, "{log:?}");
    assert_eq!(
        (
            log[0]["action"].as_str(),
            log[0]["subject"].as_str(),
            log[0]["detail"].as_str()
        ),
        (Some("user.role"), Some("boss@shop.test"), Some("admin"))
    );
    assert_eq!(
        (log[1]["action"].as_str(), log[1]["subject"].as_str()),
        (Some("user.removed"), Some("agent@shop.test"))
    );
    let boss = login(&app, "boss@shop.test").await;
    assert_eq!(request(&app, &boss, "/admin/audit", None).await.0, 200);

    // An erasure from the dashboard: admins only, with the CSRF token; recorded under the admin.
    let mut e = event(
        "web-1",
        "order.placed",
        "cust-web",
        &Timestamp::now().to_string(),
        None,
    );
    e["customer_email"] = json!("web@example.org");
    assert_eq!(app.post_events(&json!([e])).await.0, 200);
    let manager = {
        let hash = seen::secrets::hash_password("a long password").unwrap();
        app.service
            .store()
            .create_user("m2@shop.test", "M2", Role::Manager, &hash)
            .await
            .unwrap();
        login(&app, "m2@shop.test").await
    };
    let (_, html) = request(&app, &manager, "/invisible", None).await;
    let manager_csrf = hidden(&html, "csrf");
    let (status, _) = request(
        &app,
        &manager,
        "/admin/forget",
        Some(&[("csrf", &manager_csrf), ("customer", "cust-web")]),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = request(
        &app,
        &admin,
        "/admin/forget",
        Some(&[("customer", "cust-web")]),
    )
    .await;
    assert!(status == 403 || status == 422, "{status}");
    assert!(app
        .service
        .store()
        .customer("cust-web")
        .await
        .unwrap()
        .is_some());
    let (status, html) = request(
        &app,
        &admin,
        "/admin/forget",
        Some(&[("csrf", &csrf), ("customer", "cust-web")]),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Forgotten: 1 events deleted"), "{html}");
    assert!(app
        .service
        .store()
        .customer("cust-web")
        .await
        .unwrap()
        .is_none());
    let log = audit(&db);
    assert_eq!(log.len(), 9, "{log:?}");
    assert_eq!(log[0]["actor"], "root@shop.test");
    assert_eq!(log[0]["action"], "customer.forgotten");
    assert_eq!(
        log[0]["subject"].as_str().unwrap(),
        seen::store::admin::customer_digest("cust-web")
    );
    assert!(mentions(backend, &db, "web@example.org").await.is_empty());
}

/// Policies are not edited in Seen but in seen.toml: a start that finds them changed records it.
async fn a_policy_change_is_audited(backend: Backend) {
    let db = common::TestDb::new(backend).await;
    let defaults = seen::config::Config::defaults().unwrap();
    let store = common::open_store(&db.url, &defaults).await.store().clone();
    assert!(store.audit_log(10).await.unwrap().is_empty());
    drop(store);
    let changed = seen::config::Config::from_toml(
        "[[policies]]\nname='fast-reply'\nkind='expect'\ntrigger=['message.received']\nexpect=['message.sent']\nwithin='5m'",
        "test",
    )
    .unwrap();
    let store = common::open_store(&db.url, &changed).await.store().clone();
    let log = store.audit_log(10).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].actor.as_str(), log[0].action.as_str()),
        ("seen.toml", "policies.changed")
    );
    let detail = log[0].detail.clone().unwrap_or_default();
    assert!(detail.contains(changed.engine.fingerprint()), "{detail}");
    drop(store);
    // The same policies again: nothing to record.
    let store = common::open_store(&db.url, &changed).await.store().clone();
    assert_eq!(store.audit_log(10).await.unwrap().len(), 1);
}

on_both_backends!(
    a_policy_change_is_audited,
    serve_applies_retention_by_itself,
    survey_links_stop_working_after_forget,
    forget_erases_every_trace_and_keeps_the_counts,
    retention_clears_old_details_and_keeps_rows,
    every_admin_action_leaves_one_audit_row,
);

// ---------------------------------------------------------------------------------------------------
// Backup and restore (SQLite; PostgreSQL uses pg_dump)

const BATCHES: usize = 150;
const PER_BATCH: usize = 20;

/// Batch `b`: ten customers, each with a message and (for even customers) a reply, and an order.
fn batch(b: usize, now: Timestamp) -> Value {
    let mut events = Vec::new();
    for i in 0..PER_BATCH / 2 {
        let customer = format!("c{}", (b * 7 + i) % 300);
        let at = now - SignedDuration::from_mins((BATCHES * 10 - b * 10 + i) as i64);
        let kind = if i % 2 == 0 {
            "message.received"
        } else {
            "order.placed"
        };
        events.push(event(
            &format!("b{b}-{i}-a"),
            kind,
            &customer,
            &at.to_string(),
            Some(&format!("r{b}-{i}")),
        ));
        let second = if i % 3 == 0 {
            "message.sent"
        } else {
            "order.confirmed"
        };
        events.push(event(
            &format!("b{b}-{i}-b"),
            second,
            &customer,
            &(at + SignedDuration::from_mins(30)).to_string(),
            Some(&format!("r{b}-{i}")),
        ));
    }
    json!(events)
}

/// A JSON array's items as text, sorted (recomputing rewrites rows, so their order may change).
fn sorted_json(text: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(text).expect("json");
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
    items.sort();
    items
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_write_load_restores_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db").to_str().unwrap().to_string();
    ok(&seen(&db, &["migrate"]));
    let key = ok(&seen(&db, &["keys", "create", "loader"]))
        .trim()
        .to_string();
    let server = Server::start(&db, Stdio::null());
    let address = server.address.clone();
    let now = Timestamp::now();
    let writer = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for b in 0..BATCHES {
            let response = client
                .post(format!("{address}/v1/events"))
                .bearer_auth(&key)
                .json(&batch(b, now))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    // Backups while the server is writing.
    let mut backups = Vec::new();
    for n in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let file = dir
            .path()
            .join(format!("backup-{n}.db"))
            .to_str()
            .unwrap()
            .to_string();
        let (db, f) = (db.clone(), file.clone());
        let out = tokio::task::spawn_blocking(move || seen(&db, &["backup", &f]))
            .await
            .unwrap();
        assert!(ok(&out).contains("backed up"));
        backups.push(file);
    }
    writer.await.unwrap();
    // A backup file is never overwritten.
    assert!(!seen(&db, &["backup", &backups[0]]).status.success());

    let sqlite = |path: &str| rusqlite::Connection::open(path).unwrap();
    let mut sizes = Vec::new();
    for (n, file) in backups.iter().enumerate() {
        let restored = dir
            .path()
            .join(format!("restored-{n}.db"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(ok(&seen(&restored, &["restore", file])).contains("restored"));
        // No torn state: each batch is all there or not at all, and the counters agree with the rows.
        let conn = sqlite(&restored);
        let per_batch: Vec<i64> = conn
            .prepare("SELECT count(*) FROM events GROUP BY substr(id, 1, instr(id, '-') - 1)")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            per_batch.iter().all(|&n| n == PER_BATCH as i64),
            "{per_batch:?}"
        );
        let (events, counted): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM events), (SELECT sum(events) FROM customers)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(events, counted);
        sizes.push(events);
        drop(conn);
        // Stored obligations are exactly what the events give.
        let later = (Timestamp::now() + SignedDuration::from_hours(24)).to_string();
        let obligations = ["obligations", "--format", "json", "--as-of", &later];
        let invisible = ["report", "--format", "jsonl", "--as-of", &later];
        let stored = sorted_json(&ok(&seen(&restored, &obligations)));
        let report = sorted_lines(&ok(&seen(&restored, &invisible)));
        ok(&seen(&restored, &["recompute"]));
        let recomputed = sorted_json(&ok(&seen(&restored, &obligations)));
        assert_eq!(recomputed.len(), stored.len());
        for (a, b) in recomputed.iter().zip(&stored) {
            assert_eq!(a, b);
        }
        assert_eq!(sorted_lines(&ok(&seen(&restored, &invisible))), report);
        assert!(!report.is_empty());
        assert!(stored.len() > 10);
    }
    assert!(sizes.iter().any(|&n| n > 0), "{sizes:?}");
    assert!(
        sizes.iter().any(|&n| n < (BATCHES * PER_BATCH) as i64),
        "every backup ran after the load: {sizes:?}"
    );

    // Restore refuses to replace a database without --force, and one in use even with it.
    let target = dir
        .path()
        .join("restored-0.db")
        .to_str()
        .unwrap()
        .to_string();
    let refused = seen(&target, &["restore", &backups[2]]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let in_use = seen(&db, &["restore", "--force", &backups[2]]);
    assert!(!in_use.status.success());
    assert!(
        String::from_utf8_lossy(&in_use.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&in_use.stderr)
    );
    drop(server);
    ok(&seen(&target, &["restore", "--force", &backups[2]]));
    let restored_events: i64 = sqlite(&target)
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(restored_events, sizes[2]);
    // Not a Seen database: refused, nothing replaced.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    let refused = seen(&target, &["restore", "--force", junk.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert_eq!(
        sqlite(&target)
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        sizes[2]
    );
    // A database from a newer Seen (unknown schema version): refused.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&backups[0], &newer).unwrap();
    sqlite(newer.to_str().unwrap())
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let refused = seen(&target, &["restore", "--force", newer.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("schema version 99"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The source's audit log has the backups; the restored one its restore.
    let log = audit(&db);
    assert_eq!(
        log.iter().filter(|e| e["action"] == "backup").count(),
        3,
        "{log:?}"
    );
    let log = audit(&target);
    assert_eq!(log[0]["action"], "restore");

    // PostgreSQL: advice, and a failure exit.
    let _turn = common::db::PostgresTurn::shared().await;
    let out = seen(&common::admin_url(), &["backup", "x.dump"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
