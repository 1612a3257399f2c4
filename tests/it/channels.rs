//! `channels` against real servers: the SMTP sink in `tests/support/smtp_sink.py` (run with Debian's
//! `/usr/bin/python3`, which has `aiosmtpd`) and an axum webhook receiver on 127.0.0.1:0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::sinks::SmtpSink;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use seen::channels::{
    verify_signature, ChannelError, Channels, Delivery, EmailSettings, EmailTransportKind,
    OutgoingEmail, OutgoingWebhook, TlsMode, WebhookFormat, WebhookSettings,
};

/// Settings that send to `sink` over plain SMTP.
fn settings(sink: &SmtpSink) -> EmailSettings {
    EmailSettings {
        transport: EmailTransportKind::Smtp,
        port: sink.port,
        timeout: "5s".into(),
        from: "Seen Test <seen@test.example>".into(),
        ..EmailSettings::default()
    }
}

fn email(id: &str, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        message_id: format!("{id}@seen"),
        to: to.into(),
        subject: format!("Subject {id}"),
        text: "Your order has shipped.".into(),
        html: None,
        headers: vec![],
    }
}

fn channels(settings: &EmailSettings) -> Channels {
    Channels::new(settings, &BTreeMap::new()).expect("valid settings")
}

#[tokio::test]
async fn email_with_html_and_headers_reaches_the_sink() {
    let sink = SmtpSink::start(&[]);
    let mut settings = settings(&sink);
    settings.reply_to = Some("Support <support@test.example>".into());
    let channels = channels(&settings);
    let message = OutgoingEmail {
        html: Some("<p>Your order has <b>shipped</b>.</p>".into()),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://seen.example/u/abc>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
            ("X-Seen-Key".into(), "order-42/shipped".into()),
        ],
        ..email("abc123", "Alice Example <alice@customer.example>")
    };
    let delivery = channels.send_email(&message).await;
    let Delivery::Sent { detail } = &delivery else {
        panic!("expected Sent, got {delivery:?}");
    };
    assert!(detail.starts_with("250 OK queued as"), "{detail}");

    let records = sink.messages();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["message_id"], "abc123@seen");
    assert_eq!(record["mail_from"], "seen@test.example");
    assert_eq!(record["rcpt_tos"], json!(["alice@customer.example"]));
    let data = record["data"].as_str().expect("data");
    for expected in [
        "Message-ID: <abc123@seen>",
        "Subject: Subject abc123",
        "To: \"Alice Example\" <alice@customer.example>",
        "From: \"Seen Test\" <seen@test.example>",
        "Reply-To: Support <support@test.example>",
        "List-Unsubscribe: <https://seen.example/u/abc>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-Seen-Key: order-42/shipped",
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain",
        "Content-Type: text/html",
        "Date: ",
    ] {
        assert!(data.contains(expected), "missing {expected:?} in\n{data}");
    }
    assert!(data.contains("shipped</b>"), "html body missing in\n{data}");
}

#[tokio::test]
async fn smtp_rejections_are_classified() {
    let sink = SmtpSink::start(&[]);
    let channels = channels(&settings(&sink));

    let bounce = channels
        .send_email(&email("b1", "bounce@customer.example"))
        .await;
    match &bounce {
        Delivery::Permanent {
            error,
            bounce: true,
        } => {
            assert!(error.contains("550"), "{error}");
            assert!(error.contains("no such user"), "{error}");
            assert!(error.contains("bounce@customer.example"), "{error}");
        }
        other => panic!("expected a permanent bounce, got {other:?}"),
    }

    let tempfail = channels
        .send_email(&email("t1", "tempfail@customer.example"))
        .await;
    match &tempfail {
        Delivery::Transient { error } => {
            assert!(
                error.contains("451") && error.contains("try again later"),
                "{error}"
            )
        }
        other => panic!("expected Transient, got {other:?}"),
    }

    let invalid = channels.send_email(&email("i1", "not an address")).await;
    assert!(
        matches!(&invalid, Delivery::Permanent { bounce: false, error } if error.contains("invalid address")),
        "{invalid:?}"
    );

    // The pool recovers after rejected transactions.
    let ok = channels
        .send_email(&email("ok1", "bob@customer.example"))
        .await;
    assert!(ok.is_sent(), "{ok:?}");
    let ids: Vec<Value> = sink
        .messages()
        .iter()
        .map(|r| r["message_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("ok1@seen")]);
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let settings = EmailSettings {
        transport: EmailTransportKind::Smtp,
        port,
        timeout: "2s".into(),
        ..EmailSettings::default()
    };
    let delivery = channels(&settings)
        .send_email(&email("x", "a@b.example"))
        .await;
    match &delivery {
        Delivery::Transient { error } => assert!(error.contains(&port.to_string()), "{error}"),
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_server_times_out_as_transient() {
    let sink = SmtpSink::start(&[]);
    let settings = EmailSettings {
        timeout: "500ms".into(),
        ..settings(&sink)
    };
    let channels = channels(&settings);
    let started = Instant::now();
    let delivery = channels
        .send_email(&email("s1", "slow@customer.example"))
        .await;
    assert!(
        matches!(&delivery, Delivery::Transient { error } if error.to_lowercase().contains("timed out")),
        "{delivery:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    // The timed-out connection is not reused: the next message gets its own reply.
    let next = channels
        .send_email(&email("n1", "nina@customer.example"))
        .await;
    assert!(next.is_sent(), "{next:?}");
    assert!(sink.messages().iter().any(|r| r["message_id"] == "n1@seen"));
}

#[tokio::test]
async fn pooled_connections_survive_a_server_restart() {
    let first = SmtpSink::start(&[]);
    let port = first.port.to_string();
    let channels = channels(&settings(&first));
    let delivery = channels
        .send_email(&email("p1", "paul@customer.example"))
        .await;
    assert!(delivery.is_sent(), "{delivery:?}");
    drop(first);
    let second = SmtpSink::start(&["--port", &port]);
    // The pooled connection is dead; the send notices (NOOP) and reconnects.
    let delivery = channels
        .send_email(&email("p2", "paul@customer.example"))
        .await;
    assert!(delivery.is_sent(), "{delivery:?}");
    assert_eq!(second.messages()[0]["message_id"], "p2@seen");
}

#[tokio::test]
async fn service_unavailable_is_transient_and_the_retry_succeeds() {
    let sink = SmtpSink::start(&["--fail-first", "1"]);
    let channels = channels(&settings(&sink));
    let first = channels
        .send_email(&email("r1", "carol@customer.example"))
        .await;
    assert!(
        matches!(&first, Delivery::Transient { error } if error.contains("421")),
        "{first:?}"
    );
    assert!(sink.messages().is_empty());
    let retry = channels
        .send_email(&email("r1", "carol@customer.example"))
        .await;
    assert!(retry.is_sent(), "{retry:?}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn smtp_auth() {
    let sink = SmtpSink::start(&["--auth", "u:p"]);
    let good = EmailSettings {
        username: Some("u".into()),
        password: Some("p".into()),
        ..settings(&sink)
    };
    let delivery = channels(&good)
        .send_email(&email("a1", "dan@customer.example"))
        .await;
    assert!(delivery.is_sent(), "{delivery:?}");
    assert_eq!(sink.messages()[0]["auth"], "u");

    let wrong = EmailSettings {
        password: Some("wrong".into()),
        ..good.clone()
    };
    let delivery = channels(&wrong)
        .send_email(&email("a2", "dan@customer.example"))
        .await;
    let error = match &delivery {
        Delivery::Permanent { error, bounce } => {
            assert!(!bounce, "a login failure is not a bounce");
            error
        }
        Delivery::Transient { error } => error,
        Delivery::Sent { .. } => panic!("sent with a wrong password"),
    };
    assert!(error.contains("535"), "{error}");

    let anonymous = channels(&settings(&sink))
        .send_email(&email("a3", "dan@customer.example"))
        .await;
    assert!(!anonymous.is_sent(), "{anonymous:?}");
    assert_eq!(sink.messages().len(), 1);
}

/// A self-signed certificate for localhost (and its key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new(crate::common::prerequisites::openssl())
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => (cert, key),
        Ok(status) => panic!("openssl failed: {status}"),
        Err(e) => panic!("cannot run openssl: {e}"),
    }
}

#[tokio::test]
async fn starttls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let sink = SmtpSink::start(&["--tls-cert", &cert, "--tls-key", &key, "--auth", "u:p"]);
    let settings = EmailSettings {
        tls: TlsMode::Starttls,
        accept_invalid_certs: true,
        username: Some("u".into()),
        password: Some("p".into()),
        ..settings(&sink)
    };
    let delivery = channels(&settings)
        .send_email(&email("tls1", "erin@customer.example"))
        .await;
    assert!(delivery.is_sent(), "{delivery:?}");
    let records = sink.messages();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["tls"], true);

    // Certificates are verified unless told otherwise.
    let strict = EmailSettings {
        accept_invalid_certs: false,
        ..settings
    };
    let delivery = channels(&strict)
        .send_email(&email("tls2", "erin@customer.example"))
        .await;
    assert!(
        matches!(delivery, Delivery::Transient { .. }),
        "{delivery:?}"
    );
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_all_arrive() {
    let total: usize = std::env::var("SEEN_SMTP_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let sink = SmtpSink::start(&[]);
    let channels = Arc::new(channels(&settings(&sink)));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (channels, next) = (channels.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return failures;
                }
                let to = format!("customer{i}@customer.example");
                let delivery = channels.send_email(&email(&format!("c{i}"), &to)).await;
                if !delivery.is_sent() {
                    failures.push(delivery);
                }
            }
        }));
    }
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let rate = total as f64 / elapsed.as_secs_f64();
    println!("{total} emails over SMTP, 16 concurrent senders: {elapsed:?}, {rate:.0} messages/s");
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..1]
    );
    // The rate is printed, not asserted: timing belongs in `cargo bench --bench actions` (BENCHMARKS.md),
    // where Nagle's 40 ms stall per message (see smtp.rs) would show as a cap near 180/s.
    let ids: BTreeSet<String> = sink
        .messages()
        .iter()
        .map(|r| r["message_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), total);
    assert!(ids.contains("c0@seen") && ids.contains(&format!("c{}@seen", total - 1)));
}

#[tokio::test]
async fn file_transport_writes_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let settings = EmailSettings {
        transport: EmailTransportKind::File,
        file: path.to_string_lossy().into_owned(),
        ..EmailSettings::default()
    };
    let channels = channels(&settings);
    let mut first = email("f1", "frank@customer.example");
    first.html = Some("<p>hi</p>".into());
    first.headers = vec![("X-Seen-Key".into(), "k1".into())];
    for message in [first, email("f2", "Grace <grace@customer.example>")] {
        let delivery = channels.send_email(&message).await;
        assert_eq!(
            delivery,
            Delivery::Sent {
                detail: format!("written to {}", path.display())
            }
        );
    }
    let bad = channels.send_email(&email("f3", "nobody")).await;
    assert!(
        matches!(bad, Delivery::Permanent { bounce: false, .. }),
        "{bad:?}"
    );

    let text = std::fs::read_to_string(&path).expect("outbox file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["message_id"], "f1@seen");
    assert_eq!(lines[0]["to"], "frank@customer.example");
    assert_eq!(lines[0]["subject"], "Subject f1");
    assert_eq!(lines[0]["html"], "<p>hi</p>");
    assert_eq!(lines[0]["headers"], json!([["X-Seen-Key", "k1"]]));
    assert!(lines[0]["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert_eq!(lines[1]["html"], Value::Null);
}

#[test]
fn settings_defaults_validation_and_secrets() {
    let defaults: EmailSettings = serde_json::from_value(json!({})).expect("empty table");
    assert_eq!(defaults, EmailSettings::default());
    assert_eq!(defaults.transport, EmailTransportKind::File);
    assert_eq!((defaults.port, defaults.pool_size), (25, 8));
    let hook: WebhookSettings =
        serde_json::from_value(json!({"url": "https://h.example/x"})).expect("webhook");
    assert_eq!(
        (hook.format, hook.timeout.as_str()),
        (WebhookFormat::Json, "10s")
    );

    for bad in [
        json!({"tls": "ssl"}),
        json!({"pasword": "x"}),
        json!({"transport": "smtp2"}),
    ] {
        assert!(
            serde_json::from_value::<EmailSettings>(bad.clone()).is_err(),
            "{bad}"
        );
    }

    let invalid = |settings: EmailSettings| match Channels::new(&settings, &BTreeMap::new()) {
        Err(ChannelError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let smtp = EmailSettings {
        transport: EmailTransportKind::Smtp,
        ..EmailSettings::default()
    };
    let from = EmailSettings {
        from: "not an address".into(),
        ..smtp.clone()
    };
    assert_eq!(invalid(from), "email.from");
    let timeout = EmailSettings {
        timeout: "soon".into(),
        ..smtp.clone()
    };
    assert_eq!(invalid(timeout), "email.timeout");
    let pool = EmailSettings {
        pool_size: 0,
        ..smtp.clone()
    };
    assert_eq!(invalid(pool), "email.pool_size");

    let secret = EmailSettings {
        username: Some("mailer".into()),
        password: Some("hunter2-very-secret".into()),
        ..smtp
    };
    let debug = format!("{secret:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("mailer") && debug.contains("***"), "{debug}");
    let hook = WebhookSettings {
        url: "https://hooks.slack.example/services/T000/B000/tokentoken".into(),
        secret: Some("whsec-topsecret".into()),
        ..WebhookSettings::default()
    };
    let debug = format!("{hook:?}");
    assert!(
        !debug.contains("topsecret") && !debug.contains("tokentoken"),
        "{debug}"
    );
    assert!(debug.contains("hooks.slack.example"), "{debug}");
}

// ---- webhooks ----

#[derive(Debug, Clone)]
struct Received {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

async fn receive(
    State(inbox): State<Inbox>,
    UrlPath(status): UrlPath<u16>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    inbox.lock().expect("inbox").push(Received {
        status,
        headers,
        body,
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
    (code, format!("receiver says {status}"))
}

/// An axum receiver on 127.0.0.1:0: `POST /hook/{status}` records the request and answers `status`.
async fn start_receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let app = Router::new()
        .route("/hook/{status}", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, inbox)
}

/// Email settings that create no file (the default transport appends to ./seen-outbox.jsonl).
fn stdout_email() -> EmailSettings {
    EmailSettings {
        transport: EmailTransportKind::Stdout,
        ..EmailSettings::default()
    }
}

fn hook(endpoint: &str, event: &str) -> OutgoingWebhook {
    OutgoingWebhook {
        endpoint: endpoint.into(),
        event: event.into(),
        idempotency_key: format!("key-{event}-1"),
        payload: json!({"event": event, "case": "C-17", "customer": "Alice"}),
        text: "Case C-17 breached its first-response promise".into(),
    }
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}"))
}

#[tokio::test]
async fn webhooks_json_and_slack() {
    let (base, inbox) = start_receiver().await;
    let mut settings = BTreeMap::new();
    settings.insert(
        "ops".to_string(),
        WebhookSettings {
            url: format!("{base}/hook/200"),
            secret: Some("whsec_test".into()),
            ..WebhookSettings::default()
        },
    );
    settings.insert(
        "slack-ops".to_string(),
        WebhookSettings {
            url: format!("{base}/hook/200"),
            format: WebhookFormat::Slack,
            ..WebhookSettings::default()
        },
    );
    let channels = Channels::new(&stdout_email(), &settings).expect("channels");
    assert!(channels.has_webhook("ops") && channels.has_webhook("slack-ops"));
    assert!(!channels.has_webhook("pager"));

    let before = jiff::Timestamp::now().as_second();
    let delivery = channels.send_webhook(&hook("ops", "breach")).await;
    assert_eq!(
        delivery,
        Delivery::Sent {
            detail: "HTTP 200".into()
        }
    );
    let delivery = channels.send_webhook(&hook("slack-ops", "warn")).await;
    assert_eq!(
        delivery,
        Delivery::Sent {
            detail: "HTTP 200".into()
        }
    );

    let received = inbox.lock().expect("inbox").clone();
    assert_eq!(received.len(), 2);
    let json = &received[0];
    assert_eq!(header(json, "content-type"), "application/json");
    assert_eq!(header(json, "x-seen-event"), "breach");
    assert_eq!(header(json, "x-seen-idempotency-key"), "key-breach-1");
    let timestamp = header(json, "x-seen-timestamp");
    let seconds: i64 = timestamp.parse().expect("unix seconds");
    assert!(
        (before..=before + 5).contains(&seconds),
        "{seconds} vs {before}"
    );
    let body: Value = serde_json::from_slice(&json.body).expect("json body");
    assert_eq!(
        body,
        json!({"event": "breach", "case": "C-17", "customer": "Alice"})
    );
    let signature = header(json, "x-seen-signature");
    assert!(verify_signature(
        "whsec_test",
        timestamp,
        &json.body,
        signature
    ));
    assert!(!verify_signature(
        "whsec_wrong",
        timestamp,
        &json.body,
        signature
    ));
    assert!(!verify_signature("whsec_test", "1", &json.body, signature));

    let slack = &received[1];
    assert_eq!(header(slack, "x-seen-event"), "warn");
    assert!(slack.headers.get("x-seen-signature").is_none());
    let body: Value = serde_json::from_slice(&slack.body).expect("json body");
    assert_eq!(
        body,
        json!({"text": "Case C-17 breached its first-response promise"})
    );
}

#[tokio::test]
async fn webhook_statuses_are_classified() {
    let (base, inbox) = start_receiver().await;
    let channels = Channels::new(&stdout_email(), &BTreeMap::new()).expect("channels");
    let send = |status: u16| {
        let hook = hook(&format!("{base}/hook/{status}"), "escalate");
        let channels = &channels;
        async move { channels.send_webhook(&hook).await }
    };
    assert_eq!(
        send(200).await,
        Delivery::Sent {
            detail: "HTTP 200".into()
        }
    );
    assert_eq!(
        send(204).await,
        Delivery::Sent {
            detail: "HTTP 204".into()
        }
    );
    for status in [500, 503, 429, 408] {
        let delivery = send(status).await;
        assert!(
            matches!(&delivery, Delivery::Transient { error }
                if error.contains(&status.to_string()) && error.contains("receiver says")),
            "{status}: {delivery:?}"
        );
    }
    for status in [400, 401, 404, 410] {
        let delivery = send(status).await;
        assert!(
            matches!(&delivery, Delivery::Permanent { error, bounce: false }
                if error.contains(&status.to_string())),
            "{status}: {delivery:?}"
        );
    }
    // Inline URLs carry no signature.
    let received = inbox.lock().expect("inbox").clone();
    assert_eq!(received.len(), 10);
    assert!(received
        .iter()
        .all(|r| r.headers.get("x-seen-signature").is_none()));
    assert_eq!(received[0].status, 200);

    let unknown = channels.send_webhook(&hook("pager", "escalate")).await;
    assert!(
        matches!(&unknown, Delivery::Permanent { error, bounce: false }
            if error.contains("unknown webhook") && error.contains("pager")),
        "{unknown:?}"
    );

    // Nothing listening: transient.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}/hook/200", listener.local_addr().expect("addr"));
    drop(listener);
    let refused = channels.send_webhook(&hook(&closed, "escalate")).await;
    assert!(matches!(refused, Delivery::Transient { .. }), "{refused:?}");
}

#[tokio::test]
async fn webhook_timeout_is_transient() {
    // A listener that accepts connections but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut settings = BTreeMap::new();
    settings.insert(
        "silent".to_string(),
        WebhookSettings {
            url: format!("http://{addr}/hook"),
            timeout: "300ms".into(),
            ..WebhookSettings::default()
        },
    );
    let channels = Channels::new(&stdout_email(), &settings).expect("channels");
    let started = Instant::now();
    let delivery = channels.send_webhook(&hook("silent", "breach")).await;
    assert!(
        matches!(&delivery, Delivery::Transient { error } if error.contains("timed out")),
        "{delivery:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    held.abort();
}
