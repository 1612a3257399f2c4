//! The mailbox connector against a real IMAP server (Dovecot, started per test by `common::dovecot`):
//! kinds of mail, threading (References, Outlook's In-Reply-To only, Seen's reply token, the subject, a
//! parent never seen, another customer's same subject), auto-replies, bounces, backfill without actions,
//! IDLE, restart and resume, a UIDVALIDITY change, and kill -9 during a backfill.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use seen::app::Jobs;
use seen::config::Config;
use seen::domain::Event;
use serde_json::Value;

use crate::common::dovecot::Dovecot;
use crate::common::{self, Backend};

fn config_with(dovecot: &Dovecot, name: &str, extra: &str, actions: bool) -> Config {
    let toml = format!(
        "[actions]\nenabled = {actions}\n{}",
        dovecot.connector_toml(name, extra)
    );
    Config::from_toml(&toml, "test.toml").expect("config")
}

/// Headers, then a blank line, then the body (when `more` is empty the blank line still separates).
fn message(from: &str, to: &str, subject: &str, id: &str, more: &[&str], body: &str) -> String {
    let mut text = format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{id}>\nDate: Mon, 30 Nov 2026 09:00:00 +0000\n"
    );
    for line in more {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(body);
    text.push('\n');
    text
}

/// The events of the connector, by customer, waiting until `count` are stored (or failing with what is).
async fn wait_for_events(
    app: &common::TestApp,
    customers: &[&str],
    count: usize,
) -> HashMap<String, Vec<Event>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = HashMap::new();
        let mut n = 0;
        for customer in customers {
            let events = app.service.customer_events(customer).await.expect("events");
            n += events.len();
            all.insert(customer.to_string(), events);
        }
        if n >= count {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {count} events after 30 s: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn property(event: &Event, name: &str) -> Value {
    event
        .properties_value()
        .get(name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn find<'a>(events: &'a [Event], kind: &str, message_id: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.kind == kind && property(e, "message_id") == message_id)
        .unwrap_or_else(|| panic!("no {kind} of {message_id} in {events:#?}"))
}

async fn mail_kinds_and_threading(backend: Backend) {
    let dovecot = Dovecot::start();
    let ana = "\"Ana Silva\" <ana@example.com>";
    let token_id = seen::connectors::imap::thread::outgoing_message_id("abc123", Some("BK-1042"));
    // A conversation with Ana: her question, our answer (Sent), her Outlook reply (In-Reply-To only),
    // then a reply whose client kept only the subject.
    dovecot
        .append(
            "INBOX",
            &message(
                ana,
                "hello@venue.example",
                "Room for Friday",
                "m1@example.com",
                &[],
                "Is the room free on Friday?",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "Sent",
            &message(
                "hello@venue.example",
                ana,
                "Re: Room for Friday",
                "s1@venue.example",
                &[
                    "In-Reply-To: <m1@example.com>",
                    "References: <m1@example.com>",
                ],
                "Yes it is.",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &message(
                ana,
                "hello@venue.example",
                "AW: Room for Friday",
                "m2@example.com",
                &[
                    "In-Reply-To: <s1@venue.example>",
                    "Thread-Topic: Room for Friday",
                ],
                "Great, I take it.",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &message(
                ana,
                "hello@venue.example",
                "RE: room for friday",
                "m3@example.com",
                &[],
                "And parking?",
            ),
            None,
        )
        .await;
    // Bob writes with the same subject: another customer, another thread.
    dovecot
        .append(
            "INBOX",
            &message(
                "bob@example.com",
                "hello@venue.example",
                "Re: Room for Friday",
                "b1@example.com",
                &[],
                "Me too?",
            ),
            None,
        )
        .await;
    // Carol replies to a mail Seen never saw, twice.
    dovecot
        .append(
            "INBOX",
            &message(
                "carol@example.com",
                "hello@venue.example",
                "Re: your offer",
                "c1@example.com",
                &["References: <lost@venue.example>"],
                "Yes",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &message(
                "carol@example.com",
                "hello@venue.example",
                "Re: your offer",
                "c2@example.com",
                &[
                    "References: <lost@venue.example> <c1@example.com>",
                    "In-Reply-To: <c1@example.com>",
                ],
                "Also",
            ),
            None,
        )
        .await;
    // Dan answers a confirmation Seen sent (its Message-ID carries the booking's ref).
    dovecot
        .append(
            "INBOX",
            &message(
                "dan@example.com",
                "hello@venue.example",
                "Re: Your booking",
                "d1@example.com",
                &[&format!("In-Reply-To: <{token_id}>")],
                "Thanks!",
            ),
            None,
        )
        .await;
    // Not customers: an auto-reply, a list mail, our own internal mail, a mail without From.
    dovecot
        .append(
            "INBOX",
            &message(
                "eve@example.com",
                "hello@venue.example",
                "Out of office",
                "o1@example.com",
                &["Auto-Submitted: auto-replied"],
                "Away",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &message(
                "news@example.com",
                "hello@venue.example",
                "Weekly news",
                "n1@example.com",
                &["List-Id: <news.example.com>"],
                "News",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &message(
                "ann@staff.venue.example",
                "hello@venue.example",
                "Lunch",
                "i1@venue.example",
                &[],
                "?",
            ),
            None,
        )
        .await;
    dovecot.append("INBOX", "To: hello@venue.example\nSubject: no sender\nMessage-ID: <x1@example.com>\n\nwho am I\n", None).await;
    // A bounce of a confirmation Seen sent to Gone.
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.venue.example>\nTo: hello@venue.example\n\
Subject: Undelivered Mail Returned to Sender\nMessage-ID: <bounce1@mx.venue.example>\nDate: Mon, 30 Nov 2026 09:05:00 +0000\n\
Auto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\n\n\
--BB\nContent-Type: text/plain\n\nSorry.\n--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.venue.example\n\n\
Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n\
--BB\nContent-Type: text/rfc822-headers\n\nFrom: hello@venue.example\nTo: gone@example.com\nMessage-ID: <{token_id}>\nSubject: Your booking\n\n--BB--\n"
    );
    dovecot.append("INBOX", &bounce, None).await;

    let app = common::spawn_app_with(backend, config_with(&dovecot, "hello", "", false)).await;
    let customers = [
        "ana@example.com",
        "bob@example.com",
        "carol@example.com",
        "dan@example.com",
        "gone@example.com",
        "eve@example.com",
        "news@example.com",
    ];
    let all = wait_for_events(&app, &customers, 9).await;
    let ana = &all["ana@example.com"];
    assert_eq!(ana.len(), 4, "{ana:#?}");
    let m1 = find(ana, "message.received", "m1@example.com");
    assert_eq!(m1.reference.as_deref(), Some("m1@example.com"));
    assert_eq!(m1.channel.as_deref(), Some("email"));
    assert_eq!(m1.profile.name.as_deref(), Some("Ana Silva"));
    assert_eq!(m1.at.to_string(), "2026-11-30T09:00:00Z");
    assert_eq!(property(m1, "connector"), "hello");
    assert_eq!(property(m1, "folder"), "INBOX");
    assert_eq!(property(m1, "subject"), "Room for Friday");
    assert_eq!(property(m1, "snippet"), "Is the room free on Friday?");
    assert_eq!(property(m1, "backfill"), true);
    let s1 = find(ana, "message.sent", "s1@venue.example");
    // Sent folders are read first: our reply names the root it answers before that mail is known.
    assert_eq!(
        (s1.reference.as_deref(), property(s1, "thread_rule")),
        (Some("m1@example.com"), Value::from("new"))
    );
    let m2 = find(ana, "message.received", "m2@example.com");
    assert_eq!(
        (m2.reference.as_deref(), property(m2, "thread_rule")),
        (Some("m1@example.com"), Value::from("in-reply-to"))
    );
    let m3 = find(ana, "message.received", "m3@example.com");
    assert_eq!(
        (m3.reference.as_deref(), property(m3, "thread_rule")),
        (Some("m1@example.com"), Value::from("subject"))
    );
    let b1 = find(
        &all["bob@example.com"],
        "message.received",
        "b1@example.com",
    );
    assert_eq!(
        b1.reference.as_deref(),
        Some("b1@example.com"),
        "another customer's mail is not merged"
    );
    let carol = &all["carol@example.com"];
    assert_eq!(
        find(carol, "message.received", "c1@example.com")
            .reference
            .as_deref(),
        Some("lost@venue.example")
    );
    assert_eq!(
        find(carol, "message.received", "c2@example.com")
            .reference
            .as_deref(),
        Some("lost@venue.example")
    );
    let d1 = find(
        &all["dan@example.com"],
        "message.received",
        "d1@example.com",
    );
    assert_eq!(
        (d1.reference.as_deref(), property(d1, "thread_rule")),
        (Some("BK-1042"), Value::from("reply-token"))
    );
    assert!(all["eve@example.com"].is_empty() && all["news@example.com"].is_empty());
    let gone = &all["gone@example.com"];
    assert_eq!(gone.len(), 1, "{gone:#?}");
    assert_eq!(gone[0].kind, "message.bounced");
    assert_eq!(gone[0].reference.as_deref(), Some("BK-1042"));
    assert_eq!(property(&gone[0], "status"), "5.1.1");
    // The bounced address is suppressed: no more mail goes to it.
    let suppressed = app
        .service
        .store()
        .suppressions()
        .await
        .expect("suppressions");
    assert!(
        suppressed
            .iter()
            .any(|s| s.target == "gone@example.com" && s.reason == "bounced"),
        "{suppressed:?}"
    );
    // Nobody else became a customer (staff, the list, the sender-less mail).
    let counts = app.service.counts().await.expect("counts");
    assert_eq!(counts.events, 9, "{counts:?}");

    // Live: a new mail arrives while the connector IDLEs, and becomes an event (not backfill).
    let before = Instant::now();
    dovecot
        .append(
            "INBOX",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Re: Room for Friday",
                "m4@example.com",
                &["References: <m1@example.com> <s1@venue.example>"],
                "One more thing",
            ),
            None,
        )
        .await;
    let all = wait_for_events(&app, &["ana@example.com"], 5).await;
    let latency = before.elapsed();
    let m4 = find(
        &all["ana@example.com"],
        "message.received",
        "m4@example.com",
    );
    assert_eq!(m4.reference.as_deref(), Some("m1@example.com"));
    assert_eq!(property(m4, "backfill"), Value::Null);
    eprintln!("new mail to event: {latency:?}");
    // /healthz shows the connector.
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["connectors"]["hello"]["state"], "connected",
        "{health}"
    );
    assert!(
        health["connectors"]["hello"]["events_today"].as_u64() >= Some(10),
        "{health}"
    );
    // The dashboard shows the connector's health, and on the customer's page where each event came from.
    crate::common::dashboard::add_user(&app, "agent@example.com", seen::store::Role::Agent).await;
    let session = common::dashboard::login(&app, "agent@example.com").await;
    let html = |path: &'static str| {
        let (address, session) = (app.address.clone(), session.clone());
        async move {
            common::dashboard::client()
                .get(format!("{address}{path}"))
                .header("cookie", format!("seen_session={session}"))
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    let overview = html("/overview").await;
    assert!(
        overview.contains("id=\"connectors\"")
            && overview.contains("<td>hello</td><td>imap</td><td>connected</td>"),
        "{overview}"
    );
    let customer = html("/customers/ana@example.com").await;
    assert!(customer.contains("via hello"), "{customer}");
}

async fn restart_resumes_and_a_uidvalidity_change_duplicates_nothing(backend: Backend) {
    let dovecot = Dovecot::start();
    {
        let mut session = dovecot.client().await;
        session.create("Support").await.expect("create Support");
        let _ = session.logout().await;
    }
    let extra = "folders = { inbox = [\"INBOX\", \"Support\"], sent = [\"Sent\"] }";
    for i in 0..3 {
        dovecot
            .append(
                "Support",
                &message(
                    "ana@example.com",
                    "hello@venue.example",
                    &format!("Question {i}"),
                    &format!("q{i}@example.com"),
                    &[],
                    "?",
                ),
                None,
            )
            .await;
    }
    let app = common::spawn_app_with(backend, config_with(&dovecot, "resume", extra, false)).await;
    wait_for_events(&app, &["ana@example.com"], 3).await;
    let db = app.stop().await;

    // While Seen is stopped, two more mails arrive; after the restart both are read, nothing twice.
    for i in 3..5 {
        dovecot
            .append(
                "Support",
                &message(
                    "ana@example.com",
                    "hello@venue.example",
                    &format!("Question {i}"),
                    &format!("q{i}@example.com"),
                    &[],
                    "?",
                ),
                None,
            )
            .await;
    }
    let mut config = config_with(&dovecot, "resume", extra, false);
    config.file.actions.enabled = false;
    let app = common::spawn_on(db, config, Jobs::FOR_TESTS).await;
    let events = wait_for_events(&app, &["ana@example.com"], 5).await;
    assert_eq!(events["ana@example.com"].len(), 5);
    let ana = &events["ana@example.com"];
    for id in ["q3@example.com", "q4@example.com"] {
        assert_eq!(
            property(find(ana, "message.received", id), "backfill"),
            Value::Null,
            "{id} is live"
        );
    }
    assert_eq!(
        property(find(ana, "message.received", "q0@example.com"), "backfill"),
        true
    );

    // The folder is re-created (a new UIDVALIDITY) with an old mail and a new one: the old one is the
    // same event, the new one is new.
    let (before, after) = dovecot.recreate("Support").await;
    assert_ne!(before, after);
    dovecot
        .append(
            "Support",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Question 4",
                "q4@example.com",
                &[],
                "?",
            ),
            None,
        )
        .await;
    dovecot
        .append(
            "Support",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Question 5",
                "q5@example.com",
                &[],
                "?",
            ),
            None,
        )
        .await;
    let events = wait_for_events(&app, &["ana@example.com"], 6).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events_after = app
        .service
        .customer_events("ana@example.com")
        .await
        .expect("events");
    assert_eq!(events_after.len(), 6, "{events:#?}");
}

/// Backfilled mail opens promises but no action fires for it; a live mail's actions are planned.
async fn backfill_fires_no_actions() {
    let dovecot = Dovecot::start();
    dovecot
        .append(
            "INBOX",
            &message(
                "old@example.com",
                "hello@venue.example",
                "Hello",
                "old1@example.com",
                &[],
                "Anyone?",
            ),
            None,
        )
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A team answers the reply promise: its warnings, alerts and escalations are planned for live mail.
    let toml = format!(
        "[actions]\nenabled = true\n[email]\nfile = {:?}\n[people.ann]\nemail = \"ann@staff.venue.example\"\n\
         [teams.desk]\nmembers = [\"ann\"]\nmanagers = [\"ann\"]\n[[routes]]\nteam = \"desk\"\npolicy = [\"reply\"]\n{}",
        dir.path().join("outbox.jsonl").display().to_string(),
        dovecot.connector_toml("quiet", "")
    );
    let config = Config::from_toml(&toml, "test.toml").expect("config");
    let app = common::spawn_app_acting(Backend::Sqlite, config).await;
    wait_for_events(&app, &["old@example.com"], 1).await;
    let obligations = app
        .service
        .customer_obligations("old@example.com")
        .await
        .expect("obligations");
    assert!(!obligations.is_empty(), "the default reply promise opens");
    app.run_pending_jobs().await;
    let (_, outbox) = app.get_json("/v1/outbox?customer=old@example.com").await;
    assert_eq!(
        outbox["messages"].as_array().map(Vec::len),
        Some(0),
        "{outbox}"
    );

    // Live mail is dated now: the fixed date of the others would put its deadlines in the past once the
    // test runs a day later, and nothing is planned for a deadline already gone.
    let now = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    dovecot
        .append(
            "INBOX",
            &message(
                "new@example.com",
                "hello@venue.example",
                "Hello",
                "new1@example.com",
                &[],
                "Anyone?",
            )
            .replace("Mon, 30 Nov 2026 09:00:00 +0000", &now),
            None,
        )
        .await;
    wait_for_events(&app, &["new@example.com"], 1).await;
    app.run_pending_jobs().await;
    let (_, outbox) = app.get_json("/v1/outbox?customer=new@example.com").await;
    assert!(
        outbox["messages"].as_array().is_some_and(|m| !m.is_empty()),
        "{outbox}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfilled_mail_fires_no_actions() {
    backfill_fires_no_actions().await;
}

/// kill -9 in the middle of a backfill: after the restart every mail is one event, none missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_backfill_loses_and_duplicates_nothing() {
    let dovecot = Dovecot::start();
    let total = 1_500;
    {
        let mut session = dovecot.client().await;
        for i in 0..total {
            let raw = message(
                &format!("c{}@example.com", i % 300),
                "hello@venue.example",
                &format!("Request {i}"),
                &format!("k{i}@example.com"),
                &[],
                "Please answer",
            )
            .replace('\n', "\r\n");
            session
                .append("INBOX", None, None, raw)
                .await
                .expect("append");
        }
        let _ = session.logout().await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("seen.db");
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        format!(
            "[actions]\nenabled = false\n{}",
            dovecot.connector_toml("killed", "")
        ),
    )
    .expect("config");
    let count = || -> usize {
        rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as usize)
            .unwrap_or(0)
    };
    let env = "SEEN_TEST_IMAP_KILLED".to_string();
    let password = std::env::var(&env).expect("password set by connector_toml");
    let mut server = common::Server::builder(db.to_str().expect("path"))
        .config(&config)
        .env(&env, &password)
        .stderr(Stdio::null())
        .start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count() < 200 {
        assert!(Instant::now() < deadline, "the backfill did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let at_kill = count();
    assert!(
        at_kill < total,
        "killed after the whole backfill ({at_kill}); use more mail"
    );
    let _server = common::Server::builder(db.to_str().expect("path"))
        .config(&config)
        .env(&env, &password)
        .stderr(Stdio::null())
        .start();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count() < total {
        assert!(
            Instant::now() < deadline,
            "{} of {total} after the restart",
            count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let conn = rusqlite::Connection::open(&db).expect("open");
    let (events, distinct): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT json_extract(properties, '$.message_id')) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert_eq!(
        (events, distinct),
        (total as i64, total as i64),
        "killed at {at_kill}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_retried_and_shown() {
    let dovecot = Dovecot::start();
    let toml = dovecot
        .connector_toml("wrong", "")
        .replace("SEEN_TEST_IMAP_WRONG", "SEEN_TEST_IMAP_WRONG_PASSWORD");
    std::env::set_var("SEEN_TEST_IMAP_WRONG_PASSWORD", "not the password");
    let config = Config::from_toml(&format!("[actions]\nenabled = false\n{toml}"), "test.toml")
        .expect("config");
    let app = common::spawn_app_with(Backend::Sqlite, config).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, health) = app.get_json("/healthz").await;
        assert_eq!(status, 200, "the server stays up");
        let h = &health["connectors"]["wrong"];
        if h["state"] == "retrying" {
            assert!(
                h["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("login")),
                "{health}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two nodes on one PostgreSQL: one reads the mailbox, the other waits; when the first stops, the second
/// takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_read_a_mailbox_once() {
    let dovecot = Dovecot::start();
    let first = common::spawn_app_with(
        Backend::Postgres,
        config_with(&dovecot, "shared", "", false),
    )
    .await;
    let state = |app: &common::TestApp| {
        let (client, address) = (app.client.clone(), app.address.clone());
        async move {
            let health: Value = client
                .get(format!("{address}/healthz"))
                .send()
                .await
                .expect("healthz")
                .json()
                .await
                .expect("json");
            health["connectors"]["shared"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&first).await != "connected" {
        assert!(Instant::now() < deadline, "the first node never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = common::spawn_on(
        first.db.alias(),
        config_with(&dovecot, "shared", "", false),
        Jobs::FOR_TESTS,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&second).await != "standby" {
        assert!(
            Instant::now() < deadline,
            "the second node: {}",
            state(&second).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dovecot
        .append(
            "INBOX",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Hi",
                "n1@example.com",
                &[],
                "?",
            ),
            None,
        )
        .await;
    wait_for_events(&first, &["ana@example.com"], 1).await;
    assert_eq!(state(&first).await, "connected");
    assert_eq!(state(&second).await, "standby");

    // The first node stops (gracefully: it gives the lease up); the second takes over.
    let db = first.stop().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while state(&second).await != "connected" {
        assert!(
            Instant::now() < deadline,
            "the second node never took over: {}",
            state(&second).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dovecot
        .append(
            "INBOX",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Hi again",
                "n2@example.com",
                &[],
                "?",
            ),
            None,
        )
        .await;
    let events = wait_for_events(&second, &["ana@example.com"], 2).await;
    assert_eq!(events["ana@example.com"].len(), 2);
    drop(second);
    drop(db);
}

/// STARTTLS with the server's certificate trusted through `ca_file`; without it the connection is refused
/// and the connector says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (dovecot, ca) = Dovecot::start_tls(dir.path());
    dovecot
        .append(
            "INBOX",
            &message(
                "ana@example.com",
                "hello@venue.example",
                "Hi",
                "t1@example.com",
                &[],
                "?",
            ),
            None,
        )
        .await;
    let trusted = dovecot
        .connector_toml(
            "tls-ok",
            &format!("ca_file = {:?}", ca.display().to_string()),
        )
        .replace("tls = \"none\"", "tls = \"starttls\"");
    let config = Config::from_toml(&format!("[actions]\nenabled = false\n{trusted}"), "t.toml")
        .expect("config");
    let app = common::spawn_app_with(Backend::Sqlite, config).await;
    wait_for_events(&app, &["ana@example.com"], 1).await;

    let untrusted = dovecot
        .connector_toml("tls-unknown", "")
        .replace("tls = \"none\"", "tls = \"starttls\"");
    let config = Config::from_toml(
        &format!("[actions]\nenabled = false\n{untrusted}"),
        "t.toml",
    )
    .expect("config");
    let app = common::spawn_app_with(Backend::Sqlite, config).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, health) = app.get_json("/healthz").await;
        let h = &health["connectors"]["tls-unknown"];
        if h["state"] == "retrying" {
            assert!(
                h["last_error"].as_str().is_some_and(|e| e.contains("TLS")),
                "{health}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_connector_config_names_what_is_wrong() {
    let base = |extra: &str| {
        format!(
            "[[connectors.imap]]\nname = \"x\"\nhost = \"imap.example.com\"\nusername = \"u\"\npassword_env = \"SEEN_TEST_NOT_SET_ANYWHERE\"\nour_addresses = [\"a@b.c\"]\n{extra}"
        )
    };
    // tls = none to a remote host is refused when the app is built; a bad our_addresses too.
    let config = Config::from_toml(&base("tls = \"none\""), "t.toml").expect("parses");
    let err =
        seen::connectors::imap::Mailbox::from_config(&config.file.connectors.imap[0]).unwrap_err();
    assert!(err.contains("tls = \"none\""), "{err}");
    let config = Config::from_toml(&base(""), "t.toml").expect("parses");
    let err =
        seen::connectors::imap::Mailbox::from_config(&config.file.connectors.imap[0]).unwrap_err();
    assert!(err.contains("SEEN_TEST_NOT_SET_ANYWHERE"), "{err}");
    let err = Config::from_toml(&format!("{}\n{}", base(""), base("")), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("another connector has that name"), "{err}");
}

/// The demo's mailbox (200 conversations written by Gmail, Outlook and header-dropping clients, answers to
/// Seen's confirmations, parents never seen, out-of-office replies, newsletters, colleagues' mail and
/// bounces) read through the connector's threading into a real store: every conversation is one `ref`,
/// no two conversations share one, and nothing that is not a customer's becomes an event.
async fn the_demo_mailbox_threads_each_conversation_as_one(backend: Backend) {
    use seen::demo::{mailbox, DemoMail};
    let app = common::spawn_app(backend).await;
    let end: jiff::Timestamp = "2026-06-30T18:00:00Z".parse().unwrap();
    let mails = seen::demo::mailbox(&seen::demo::DemoOptions::new(7, 1_000, end));
    let header = |raw: &str, name: &str| -> String {
        raw.split("\r\n")
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {raw}"))
            .trim()
            .to_string()
    };
    let address = |from: String| -> String {
        from.rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>').to_string())
            .unwrap_or(from)
    };
    // The truth: each conversation's customer and mails.
    let mut conversation_of: HashMap<String, usize> = HashMap::new();
    let mut customers: HashMap<usize, String> = HashMap::new();
    for m in &mails {
        if let Some(c) = m.conversation {
            let id = header(&m.raw, "Message-ID: ");
            conversation_of.insert(id.trim_matches(['<', '>']).to_string(), c);
            if m.folder == mailbox::INBOX {
                customers.insert(c, address(header(&m.raw, "From: ")));
            }
        }
    }
    let input = mails.iter().cloned().map(DemoMail::into_read).collect();
    let mut threader = seen::connectors::imap::Threader::new(
        "hello",
        app.service.clone(),
        seen::connectors::Health::default(),
        seen::jobs::Wake::default(),
    );
    let pass = threader
        .store_raw(input, &mailbox::our_addresses(), true)
        .await
        .expect("stored");
    assert_eq!(pass.mails, mails.len() as u64);
    assert_eq!(pass.skipped, 0, "{pass:?}");
    assert_eq!(pass.bounces, 4, "{pass:?}");
    let t = pass.threaded;
    assert!(
        t.references > 0 && t.in_reply_to > 0 && t.reply_token > 0 && t.subject > 0 && t.new > 0,
        "every rule has work in the demo: {t:?}"
    );
    let mut ref_of: HashMap<usize, String> = HashMap::new();
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut events = 0;
    for (c, customer) in &customers {
        for event in app.service.customer_events(customer).await.expect("events") {
            events += 1;
            let id = property(&event, "message_id");
            let truth = conversation_of[id.as_str().expect("message_id")];
            assert_eq!(truth, *c, "{event:?} is another conversation's");
            let reference = event.reference.clone().expect("a ref");
            let first = ref_of.entry(*c).or_insert_with(|| reference.clone());
            assert_eq!(*first, reference, "conversation {c} split: {event:?}");
            let previous = owner.insert(reference.clone(), *c);
            assert!(
                previous.is_none_or(|p| p == *c),
                "conversations {previous:?} and {c} merged into {reference}"
            );
        }
    }
    assert_eq!(
        events,
        conversation_of.len(),
        "one event per conversation mail"
    );
    assert_eq!(ref_of.len(), 200);
    // An answer to Seen's confirmation joins the booking's ref.
    assert!(ref_of.values().any(|r| r.starts_with("BK-M")), "{ref_of:?}");
    // A bounced confirmation is a promise not kept, on the booking it confirmed.
    let bounce = mails
        .iter()
        .find(|m| m.raw.contains("multipart/report"))
        .expect("a bounce");
    let gone = header(&bounce.raw, "Final-Recipient: rfc822; ");
    let bounced = app.service.customer_events(&gone).await.expect("events");
    assert_eq!(bounced.len(), 1, "{bounced:?}");
    assert_eq!(bounced[0].kind, "message.bounced");
    assert!(bounced[0]
        .reference
        .as_deref()
        .is_some_and(|r| r.starts_with("BK-B")));
}

on_both_backends!(
    the_demo_mailbox_threads_each_conversation_as_one,
    mail_kinds_and_threading,
    restart_resumes_and_a_uidvalidity_change_duplicates_nothing
);
