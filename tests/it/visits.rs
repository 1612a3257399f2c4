//! The front desk (issue 19) over HTTP, on both backends: check-in at the kiosk with a quoted estimate kept
//! on `visit.queued`, the visitor's live page, staff working the board (every action an event with
//! `properties.by`), the serve promise by visit type, "you're next" (a real SMTP server and webhook peer:
//! once, never twice), and the figures against hand-computed values (API and CLI).

use std::time::Duration;

use jiff::Timestamp;
use seen::config::Config;
use seen::store::Role;
use serde_json::{json, Value};

use crate::common::dashboard::{add_user, client, hidden, login};
use crate::common::sinks::{HookReceiver, SmtpSink};
use crate::common::{spawn_app, spawn_app_stepped, Backend, TestApp};

on_both_backends!(
    estimates_are_judged_against_a_generated_history,
    check_in_quotes_an_estimate_and_keeps_it,
    staff_work_the_queue_and_every_step_is_an_event,
    youre_next_goes_once_and_never_twice,
    figures_match_a_hand_computed_history,
);

/// Checks in at the kiosk; returns the visitor's page path and the visit's ref.
async fn check_in(app: &TestApp, visit_type: &str, name: &str, email: &str) -> (String, String) {
    let response = client()
        .post(format!("{}/visit/main", app.address))
        .form(&[
            ("visit_type", visit_type),
            ("first_name", name),
            ("email", email),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    // A link to this visit only: /v/HEX(customer).HEX(ref).KID.ISSUED.EXPIRES.MAC
    let token = location
        .strip_prefix("/v/")
        .unwrap_or_else(|| panic!("{location}"));
    let reference =
        String::from_utf8(hex::decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(reference.starts_with("V-"), "{location}");
    (location, reference)
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The stored events of the visit `reference`, in order.
async fn visit_events(app: &TestApp, reference: &str) -> Vec<seen::domain::Event> {
    let events = app
        .service
        .store()
        .visit_events(
            Timestamp::now() - jiff::SignedDuration::from_hours(1),
            Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .await
        .unwrap();
    events
        .into_iter()
        .filter(|e| e.reference.as_deref() == Some(reference))
        .collect()
}

async fn check_in_quotes_an_estimate_and_keeps_it(backend: Backend) {
    let app = spawn_app(backend).await;
    check_in(&app, "returns", "Ana", "ana@example.com").await;
    check_in(&app, "returns", "Bo", "").await;
    let (cy_page, cy) = check_in(&app, "returns", "Cy", "cy@example.com").await;

    // Cy is quoted with two ahead, at the two counters serving returns, from the prior (6 min, sd 3 min):
    // mean (2 + 0.5) × 360 / 2 = 450 s, sd 180 × √3 / 2 = 155.9 s → 294 s .. 652.6 s → 4–11 min.
    let queued = &visit_events(&app, &cy).await[0];
    assert_eq!(queued.kind, "visit.queued");
    let properties = queued.properties_value();
    assert_eq!(
        properties["estimate"],
        json!({ "low_s": 240, "high_s": 660, "ahead": 2, "counters": 2, "basis": "prior" })
    );
    assert_eq!(properties["visit_type"], "returns");
    assert_eq!(properties["location"], "main");
    assert_eq!(properties["first_name"], "Cy");
    let (status, html) = page(&app, &cy_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("2 people ahead of you"), "{html}");
    assert!(html.contains("4–11 min"), "{html}");
    assert!(html.contains("src=\"/visit/live.js\""), "{html}");

    // The serve promise follows the type's target wait (returns: 10 minutes).
    let customer = queued.customer.clone();
    let (_, body) = app
        .get_json(&format!("/v1/obligations?customer={customer}"))
        .await;
    let serve = body["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["policy"] == "serve-queue")
        .cloned()
        .unwrap_or_else(|| panic!("{body}"));
    let opened: Timestamp = serve["opened_at"].as_str().unwrap().parse().unwrap();
    let due: Timestamp = serve["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due.duration_since(opened).as_secs(), 600);

    // A kiosk visitor giving a known customer's email joins the queue as that customer, but their link shows
    // this visit only: it is not that customer's status link (the email was never verified).
    let (status, body) = app
        .post_events(&json!([{ "id": "m-known", "type": "message.received", "customer": "cus-known",
            "customer_email": "known@example.com", "ref": "T-9", "at": Timestamp::now().to_string() }]))
        .await;
    assert_eq!(status, 200, "{body}");
    let (known_page, known) = check_in(&app, "payment", "Kim", "KNOWN@example.com").await;
    assert_eq!(visit_events(&app, &known).await[0].customer, "cus-known");
    let (status, html) = page(&app, &known_page).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Everything we promised you"), "{html}");
    let token = known_page.strip_prefix("/v/").unwrap();
    assert_eq!(page(&app, &format!("/c/{token}")).await.0, 404);
    let tampered = token.replacen(&hex::encode(&known), &hex::encode(&cy), 1);
    assert_eq!(page(&app, &format!("/v/{tampered}")).await.0, 404);

    // Bad check-ins: named, nothing stored.
    let response = client()
        .post(format!("{}/visit/main", app.address))
        .form(&[("visit_type", "haircut"), ("first_name", "Di")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("haircut"));
    let response = client()
        .post(format!("{}/visit/main", app.address))
        .header("sec-fetch-site", "cross-site")
        .form(&[("visit_type", "returns"), ("first_name", "Eve")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(page(&app, "/visit/nowhere").await.0, 404);

    // Through the API: an unknown visit type is rejected by name, the valid event beside it is kept.
    let now = Timestamp::now().to_string();
    let (status, body) = app
        .post_events(&json!([
            { "id": "q-ok", "type": "visit.queued", "customer": "fay", "ref": "V-api-1", "at": now,
              "properties": { "visit_type": "payment", "location": "main" } },
            { "id": "q-bad", "type": "visit.queued", "customer": "gil", "ref": "V-api-2", "at": now,
              "properties": { "visit_type": "haircut", "location": "main" } },
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted", "{body}");
    assert_eq!(body["results"][1]["status"], "rejected", "{body}");
    assert_eq!(
        body["results"][1]["field"], "properties.visit_type",
        "{body}"
    );
    assert_eq!(visit_events(&app, "V-api-1").await.len(), 1);
    assert!(visit_events(&app, "V-api-2").await.is_empty());
}

/// Posts one board form as the logged-in agent.
async fn act(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    client()
        .post(format!("{}/board/main/act", app.address))
        .header("cookie", format!("seen_session={cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The next `update` of an SSE stream (within 10 s), as its joined data lines.
async fn next_update(stream: &mut reqwest::Response, buffer: &mut String) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: update") {
                return block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|l| l.strip_prefix(' ').unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an update within 10 s")
            .unwrap()
            .expect("the stream is open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn staff_work_the_queue_and_every_step_is_an_event(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "agent@venue.example", Role::Agent).await;
    let cookie = login(&app, "agent@venue.example").await;
    let (ana_page, ana) = check_in(&app, "returns", "Ana", "").await;
    let (bo_page, bo) = check_in(&app, "collection", "Bo", "").await;

    let board = client()
        .get(format!("{}/board/main?counter=desk-3", app.address))
        .header("cookie", format!("seen_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(board.status(), 200);
    let csp = board.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = board.text().await.unwrap();
    assert!(html.contains("Ana") && html.contains("Bo"), "{html}");
    assert!(html.contains("Call next to desk-3"), "{html}");
    let csrf = hidden(&html, "csrf");

    // Ana's page, live: its first update shows her waiting.
    let events = client()
        .get(format!("{}{ana_page}/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = events;
    let mut buffer = String::new();
    let first = next_update(&mut stream, &mut buffer).await;
    assert!(first.contains("you're in the queue"), "{first}");

    // Desk 3 does not serve returns: "call next" there calls Bo (collection), though Ana came first.
    let response = act(
        &app,
        &cookie,
        &csrf,
        &[("action", "call_next"), ("counter", "desk-3")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let called = visit_events(&app, &bo).await;
    assert_eq!(called.last().unwrap().kind, "visit.called");
    let properties = called.last().unwrap().properties_value();
    assert_eq!(properties["by"], "agent@venue.example");
    assert_eq!(properties["counter"], "desk-3");
    let (_, html) = page(&app, &bo_page).await;
    assert!(
        html.contains("it's your turn") && html.contains("desk-3"),
        "{html}"
    );
    let (_, display) = page(&app, "/visit/main/display").await;
    assert!(
        display.contains("<strong>Bo</strong> → desk-3"),
        "{display}"
    );

    // Ana is called at desk 1: her open page hears it without a reload.
    act(
        &app,
        &cookie,
        &csrf,
        &[
            ("action", "call"),
            ("reference", &ana),
            ("counter", "desk-1"),
        ],
    )
    .await;
    let update = next_update(&mut stream, &mut buffer).await;
    assert!(
        update.contains("it's your turn") && update.contains("desk-1"),
        "{update}"
    );
    for (action, expect) in [
        ("serve", "being served"),
        ("finish", "Thank you for your visit"),
    ] {
        let response = act(
            &app,
            &cookie,
            &csrf,
            &[("action", action), ("reference", &ana)],
        )
        .await;
        assert_eq!(response.status(), 303, "{action}");
        let update = next_update(&mut stream, &mut buffer).await;
        assert!(update.contains(expect), "{action}: {update}");
    }
    let kinds: Vec<String> = visit_events(&app, &ana)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "visit.queued",
            "visit.called",
            "visit.served",
            "visit.finished"
        ]
    );
    assert!(visit_events(&app, &ana)
        .await
        .iter()
        .skip(1)
        .all(|e| e.properties_value()["by"] == "agent@venue.example"));

    // Bo no longer wants collection but payment: a transfer starts the payment clock (10 minutes); the
    // call before it kept the first promise.
    act(
        &app,
        &cookie,
        &csrf,
        &[
            ("action", "transfer"),
            ("reference", &bo),
            ("visit_type", "payment"),
        ],
    )
    .await;
    let customer = visit_events(&app, &bo).await[0].customer.clone();
    let (_, body) = app
        .get_json(&format!("/v1/obligations?customer={customer}"))
        .await;
    let serve: Vec<&Value> = body["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["policy"] == "serve-queue")
        .collect();
    assert_eq!(serve.len(), 2, "{body}");
    assert!(serve.iter().any(|o| o["status"] == "kept"), "{body}");
    let open = serve
        .iter()
        .find(|o| o["status"] == "open")
        .unwrap_or_else(|| panic!("{body}"));
    let opened: Timestamp = open["opened_at"].as_str().unwrap().parse().unwrap();
    let due: Timestamp = open["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due.duration_since(opened).as_secs(), 600);
    // Called again, he does not come: a no-show closes the promise as cancelled.
    act(
        &app,
        &cookie,
        &csrf,
        &[
            ("action", "call"),
            ("reference", &bo),
            ("counter", "desk-2"),
        ],
    )
    .await;
    act(
        &app,
        &cookie,
        &csrf,
        &[("action", "no_show"), ("reference", &bo)],
    )
    .await;
    assert_eq!(
        visit_events(&app, &bo).await.last().unwrap().kind,
        "visit.no_show"
    );

    // A walk-in checked in from the board, who then walks out.
    let response = client()
        .post(format!("{}/board/main/check-in", app.address))
        .header("cookie", format!("seen_session={cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("visit_type", "enquiry"),
            ("first_name", "Cy"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let visits = app.service.current_visits(Timestamp::now()).await.unwrap();
    let cy = visits
        .iter()
        .find(|v| v.first_name.as_deref() == Some("Cy"))
        .unwrap()
        .reference
        .clone();
    act(
        &app,
        &cookie,
        &csrf,
        &[("action", "left"), ("reference", &cy)],
    )
    .await;
    let cy_events = visit_events(&app, &cy).await;
    assert_eq!(cy_events[0].properties_value()["by"], "agent@venue.example");
    assert_eq!(cy_events.last().unwrap().kind, "visit.left");

    // What cannot be done is refused by name, and changes nothing.
    let response = act(
        &app,
        &cookie,
        &csrf,
        &[("action", "finish"), ("reference", &cy)],
    )
    .await;
    assert_eq!(response.status(), 404, "a visit that ended is not open");
    let (_, dan) = check_in(&app, "enquiry", "Dan", "").await;
    let response = act(
        &app,
        &cookie,
        &csrf,
        &[("action", "finish"), ("reference", &dan)],
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = act(
        &app,
        &cookie,
        "wrong",
        &[("action", "call"), ("reference", &dan)],
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(visit_events(&app, &dan).await.len(), 1);
    // The printable check-in QR code (SVG), for staff.
    let qr = client()
        .get(format!("{}/board/main/qr.svg", app.address))
        .header("cookie", format!("seen_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    let svg = qr.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    // Without a login the board is not shown.
    let response = client()
        .get(format!("{}/board/main", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

fn notify_config(smtp_port: u16, hooks: &str) -> Config {
    let text = format!(
        r#"
[email]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
from = "Riverside Rooms <hello@riverside.example>"

[actions]
business_name = "Riverside Rooms"
retry_backoff = "1s"
max_attempts = 3
lease = "3s"

[visits]
notify_ahead = 1
notify_webhook = "sms"

[webhooks.sms]
url = "{hooks}/sms"
"#
    );
    Config::from_toml(&text, "test").expect("test config")
}

async fn youre_next_goes_once_and_never_twice(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let hooks = HookReceiver::start().await;
    let app = spawn_app_stepped(backend, notify_config(smtp.port, &hooks.url)).await;
    let (_, ana) = check_in(&app, "returns", "Ana", "ana@example.com").await;
    check_in(&app, "returns", "Bo", "bo@example.com").await;
    check_in(&app, "returns", "Cy", "cy@example.com").await;
    // A visitor with a phone only: the SMS gateway's webhook.
    let response = client()
        .post(format!("{}/visit/main", app.address))
        .form(&[
            ("visit_type", "payment"),
            ("first_name", "Dee"),
            ("phone", "+351 912 345 678"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // Ana (0 ahead) and Bo (1 ahead) hear they are next; Cy (2 ahead) not yet.
    app.run_pending_jobs().await;
    smtp.wait_for(10, "two emails", |m| m.len() >= 2).await;
    assert_eq!(smtp.to("ana@example.com").len(), 1);
    assert_eq!(smtp.to("bo@example.com").len(), 1);
    assert!(smtp.to("cy@example.com").is_empty());
    let data = smtp.to("ana@example.com")[0]["data"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(data.contains("You're next"), "{data}");
    assert!(data.contains(&format!("/visit/{ana}")), "{data}");
    let got = hooks.hooks();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].json()["customer"]["phone"], "+351 912 345 678");

    // Ana is called: Cy is now one behind Bo and hears it; nobody hears anything twice, however often the
    // jobs run.
    app.service
        .visit_action(
            &ana,
            seen::service::visits::Action::Call,
            "desk@venue.example",
            Some("desk-1"),
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        app.run_pending_jobs().await;
    }
    smtp.wait_for(10, "Cy's email", |_| !smtp.to("cy@example.com").is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.run_pending_jobs().await;
    for who in ["ana", "bo", "cy"] {
        assert_eq!(smtp.to(&format!("{who}@example.com")).len(), 1, "{who}");
    }
    assert_eq!(hooks.hooks().len(), 1);
    // Each one sent is recorded on the visit (it keeps no promise: they still wait).
    let notified = app
        .service
        .store()
        .visit_events(
            Timestamp::now() - jiff::SignedDuration::from_hours(1),
            Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "visit.notified")
        .count();
    assert_eq!(notified, 4);
}

/// A Monday morning at the desk (UTC), as in the comments of `figures_match_a_hand_computed_history`.
fn history() -> Value {
    let at = |hm: &str| format!("2026-11-02T{hm}:00Z");
    let e = |id: &str, kind: &str, customer: &str, r: &str, hm: &str, properties: Value| json!({ "id": id, "type": kind, "customer": customer, "ref": r, "at": at(hm), "channel": "in_person", "properties": properties });
    let queued = |t: &str, name: &str, estimate: Option<(i64, i64)>| {
        let mut p = json!({ "visit_type": t, "location": "main", "first_name": name });
        if let Some((low, high)) = estimate {
            p["estimate"] = json!({ "low_s": low, "high_s": high, "ahead": 0, "counters": 2, "basis": "history" });
        }
        p
    };
    let by = |who: &str, counter: &str| json!({ "by": who, "counter": counter });
    let ann = "ann@venue.example";
    let ben = "ben@venue.example";
    json!([
        e(
            "1q",
            "visit.queued",
            "c1",
            "V1",
            "10:00",
            queued("returns", "Ana", Some((180, 300)))
        ),
        e("1c", "visit.called", "c1", "V1", "10:04", by(ann, "desk-1")),
        e("1s", "visit.served", "c1", "V1", "10:05", by(ann, "desk-1")),
        e(
            "1f",
            "visit.finished",
            "c1",
            "V1",
            "10:11",
            by(ann, "desk-1")
        ),
        e(
            "2q",
            "visit.queued",
            "c2",
            "V2",
            "10:01",
            queued("returns", "Bo", Some((300, 600)))
        ),
        e("2c", "visit.called", "c2", "V2", "10:13", by(ann, "desk-1")),
        e("2s", "visit.served", "c2", "V2", "10:13", by(ann, "desk-1")),
        e(
            "2f",
            "visit.finished",
            "c2",
            "V2",
            "10:20",
            by(ann, "desk-1")
        ),
        e(
            "3q",
            "visit.queued",
            "c3",
            "V3",
            "10:02",
            queued("collection", "Cy", Some((60, 120)))
        ),
        e("3c", "visit.called", "c3", "V3", "10:03", by(ben, "desk-3")),
        e("3s", "visit.served", "c3", "V3", "10:03", by(ben, "desk-3")),
        e(
            "3f",
            "visit.finished",
            "c3",
            "V3",
            "10:05",
            by(ben, "desk-3")
        ),
        e(
            "4q",
            "visit.queued",
            "c4",
            "V4",
            "10:05",
            queued("collection", "Di", None)
        ),
        e("4l", "visit.left", "c4", "V4", "10:20", json!({})),
        e(
            "5q",
            "visit.queued",
            "c5",
            "V5",
            "10:06",
            queued("enquiry", "Ed", None)
        ),
        e("5c", "visit.called", "c5", "V5", "10:08", by(ben, "desk-2")),
        e(
            "5n",
            "visit.no_show",
            "c5",
            "V5",
            "10:10",
            json!({ "by": ben })
        ),
        e(
            "6q",
            "visit.queued",
            "c6",
            "V6",
            "10:07",
            queued("enquiry", "Flo", None)
        ),
        e("6s", "visit.served", "c6", "V6", "10:09", by(ben, "desk-2")),
        e(
            "6t",
            "visit.transferred",
            "c6",
            "V6",
            "10:12",
            json!({ "by": ben, "visit_type": "payment", "from_type": "enquiry" })
        ),
        e("6c", "visit.called", "c6", "V6", "10:15", by(ann, "desk-1")),
        e(
            "6s2",
            "visit.served",
            "c6",
            "V6",
            "10:15",
            by(ann, "desk-1")
        ),
        e(
            "6f",
            "visit.finished",
            "c6",
            "V6",
            "10:19",
            by(ann, "desk-1")
        ),
    ])
}

fn row<'a>(rows: &'a Value, group: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == group)
        .unwrap_or_else(|| panic!("no {group} in {rows}"))
}

/// The figures the history gives, worked out by hand (targets: collection 5 min, returns 10, enquiry 15,
/// payment 10; percentiles by nearest rank):
/// - waits until called or served: V1 240 s, V2 720 s (over 10 min), V3 60 s, V4 left after 900 s (over
///   5 min), V5 120 s, V6 120 s as an enquiry then 180 s as a payment after the transfer;
/// - services: V1 360 s, V2 420 s, V3 120 s, V6 180 s (enquiry, by Ben) and 240 s (payment, by Ann);
/// - quoted: V1 180–300 (240 inside, error |240 − 240| = 0), V2 300–600 (720 outside, error 270),
///   V3 60–120 (60 inside, error 30): median error 30 s, 2 of 3 within.
async fn figures_match_a_hand_computed_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.post_events(&history()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "accepted"),
        "{body}"
    );
    let period = "from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z";

    let (status, report) = app
        .get_json(&format!("/v1/visits/summary?{period}&by=type"))
        .await;
    assert_eq!(status, 200, "{report}");
    let groups: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["collection", "enquiry", "payment", "returns"]);
    let returns = row(&report["rows"], "returns");
    assert_eq!(
        (
            returns["visits"].clone(),
            returns["waits_p50_s"].clone(),
            returns["waits_p90_s"].clone()
        ),
        (json!(2), json!(240), json!(720))
    );
    assert_eq!(
        (
            returns["service_p50_s"].clone(),
            returns["service_p90_s"].clone()
        ),
        (json!(360), json!(420))
    );
    assert_eq!(
        (
            returns["over_target"].clone(),
            returns["over_target_share"].clone()
        ),
        (json!(1), json!(50.0))
    );
    assert_eq!(
        (returns["served"].clone(), returns["serving_s"].clone()),
        (json!(2), json!(780))
    );
    assert_eq!(returns["visits_per_hour"], json!(2.0));
    let collection = row(&report["rows"], "collection");
    assert_eq!(
        (
            collection["waits_p50_s"].clone(),
            collection["abandoned"].clone(),
            collection["abandoned_share"].clone()
        ),
        (json!(60), json!(1), json!(50.0))
    );
    assert_eq!(collection["over_target"], json!(1));
    let enquiry = row(&report["rows"], "enquiry");
    assert_eq!(
        (
            enquiry["visits"].clone(),
            enquiry["waits_p50_s"].clone(),
            enquiry["no_shows"].clone(),
            enquiry["transfers"].clone(),
            enquiry["service_p50_s"].clone()
        ),
        (json!(2), json!(120), json!(1), json!(1), json!(180))
    );
    let payment = row(&report["rows"], "payment");
    assert_eq!(
        (
            payment["visits"].clone(),
            payment["over_target"].clone(),
            payment["served"].clone(),
            payment["serving_s"].clone()
        ),
        (json!(0), json!(0), json!(1), json!(240))
    );
    let all = &report["totals"];
    assert_eq!(
        (
            all["visits"].clone(),
            all["waits_p50_s"].clone(),
            all["waits_p90_s"].clone(),
            all["service_p50_s"].clone(),
            all["service_p90_s"].clone()
        ),
        (json!(6), json!(120), json!(720), json!(240), json!(420))
    );
    assert_eq!(
        (
            all["over_target"].clone(),
            all["abandoned"].clone(),
            all["no_shows"].clone(),
            all["transfers"].clone()
        ),
        (json!(2), json!(1), json!(1), json!(1))
    );
    let share = all["over_target_share"].as_f64().unwrap();
    assert!((share - 200.0 / 7.0).abs() < 1e-9, "{share}");
    assert_eq!(
        (all["served"].clone(), all["serving_s"].clone()),
        (json!(5), json!(1320))
    );
    // Monday 10:00: six check-ins, median first wait of [60, 120, 120, 240, 720] = 120 s.
    assert_eq!(report["heatmap"][0][10], json!([6, 120]));
    assert_eq!(report["heatmap"][0][11], json!([0, null]));
    let accuracy = &report["accuracy"];
    assert_eq!(
        (
            accuracy["quoted"].clone(),
            accuracy["median_abs_error_s"].clone(),
            accuracy["trusted"].clone()
        ),
        (json!(3), json!(30), json!(false))
    );
    assert!((accuracy["within_share"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);

    // Per staff member: what they served, and the no-show and transfer they recorded.
    let (_, staff) = app
        .get_json(&format!("/v1/visits/summary?{period}&by=staff"))
        .await;
    let ann = row(&staff["rows"], "ann@venue.example");
    assert_eq!(
        (
            ann["visits"].clone(),
            ann["served"].clone(),
            ann["serving_s"].clone(),
            ann["waits_p50_s"].clone(),
            ann["over_target"].clone()
        ),
        (json!(3), json!(3), json!(1020), json!(240), json!(1))
    );
    let ben = row(&staff["rows"], "ben@venue.example");
    assert_eq!(
        (
            ben["visits"].clone(),
            ben["served"].clone(),
            ben["serving_s"].clone(),
            ben["no_shows"].clone(),
            ben["transfers"].clone()
        ),
        (json!(2), json!(2), json!(300), json!(1), json!(1))
    );
    let (_, hours) = app
        .get_json(&format!("/v1/visits/summary?{period}&by=hour"))
        .await;
    assert_eq!(row(&hours["rows"], "10")["visits"], json!(6));

    // Bad parameters are named.
    let (status, body) = app
        .get_json(&format!("/v1/visits/summary?{period}&by=weather"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("weather"),
        "{body}"
    );
    let (status, _) = app.get_json("/v1/visits/summary?from=yesterday").await;
    assert_eq!(status, 400);

    // The CLI prints the same figures.
    if backend == Backend::Sqlite {
        let db = app.db.url.clone();
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
            .args([
                "--db",
                &db,
                "visits",
                "report",
                "--by",
                "type",
                "--from",
                "2026-11-02T00:00:00Z",
                "--to",
                "2026-11-03T00:00:00Z",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(cli["rows"], report["rows"]);
        assert_eq!(cli["totals"], report["totals"]);
        let table = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
            .args([
                "--db",
                &db,
                "visits",
                "report",
                "--by",
                "staff",
                "--from",
                "2026-11-02T00:00:00Z",
                "--to",
                "2026-11-03T00:00:00Z",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(
            text.contains("ann@venue.example") && text.contains("ben@venue.example"),
            "{text}"
        );
    }
}

/// 60 visits with quoted ranges and the waits that followed, drawn from a fixed generator: the reported
/// accuracy is the one computed here from the same numbers (median |actual − middle of the range|, share of
/// actual waits inside the range), and 60 quotes mostly inside make the estimate trusted.
async fn estimates_are_judged_against_a_generated_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let start: Timestamp = "2026-11-03T09:00:00Z".parse().unwrap();
    let mut state = 42u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as i64
    };
    let (mut events, mut errors, mut within) = (Vec::new(), Vec::new(), 0u32);
    for k in 0..60i64 {
        let queued = start + jiff::SignedDuration::from_secs(k * 300);
        let low = 60 * (next() % 10);
        let high = low + 60 * (1 + next() % 6);
        let wait = next() % 900;
        errors.push((wait - (low + high) / 2).abs());
        within += u32::from((low..=high).contains(&wait));
        let r = format!("G-{k}");
        events.push(json!({ "id": format!("g{k}q"), "type": "visit.queued", "customer": format!("g{k}"), "ref": r,
            "at": queued.to_string(), "properties": { "visit_type": "enquiry", "location": "main",
            "estimate": { "low_s": low, "high_s": high, "ahead": 1, "counters": 3, "basis": "history" } } }));
        events.push(json!({ "id": format!("g{k}c"), "type": "visit.called", "customer": format!("g{k}"), "ref": r,
            "at": (queued + jiff::SignedDuration::from_secs(wait)).to_string(), "properties": { "by": "x@venue.example" } }));
    }
    let (status, body) = app.post_events(&json!(events)).await;
    assert_eq!(status, 200, "{body}");
    errors.sort_unstable();
    // Nearest rank, as every median in Seen.
    let median = errors[(errors.len() * 50).div_ceil(100) - 1];
    let share = 100.0 * f64::from(within) / 60.0;
    let (_, report) = app
        .get_json("/v1/visits/summary?from=2026-11-03T00:00:00Z&to=2026-11-04T00:00:00Z")
        .await;
    let accuracy = &report["accuracy"];
    assert_eq!(accuracy["quoted"], json!(60), "{report}");
    assert_eq!(accuracy["median_abs_error_s"], json!(median), "{report}");
    assert!(
        (accuracy["within_share"].as_f64().unwrap() - share).abs() < 1e-9,
        "{report} vs {share}"
    );
    assert_eq!(accuracy["trusted"], json!(share >= 60.0), "{report}");
}
