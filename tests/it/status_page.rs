//! The customer's status page end to end, on both backends: a real email's link opens the customer's
//! promises in their words and zone; "Nobody got back to me" records once (GET and HEAD record nothing),
//! opens `heard`, alerts the manager by email and puts the customer first in the queue; tampered, expired,
//! revoked, retired-key and other-customer links show nothing and record nothing.

use std::time::Duration;

use jiff::Timestamp;
use seen::config::Config;
use seen::secrets::{status_link_token, StatusLink};
use serde_json::{json, Value};

use crate::common::sinks::SmtpSink;
use crate::common::{spawn_app_stepped, Backend, TestApp};
use crate::surveys::{form_action, message_urls};

pub(crate) const PUBLIC: &str = "https://seen.example";

pub(crate) fn config(smtp_port: u16) -> Config {
    let text = format!(
        r#"
[actions]
business_name = "Riverside Rooms"
public_url = "{PUBLIC}"
quiet_hours = ""
daily_cap = 0
default_team = "front"

[email]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}

[people.alice]
email = "alice@venue.example"
[people.rui]
email = "rui@venue.example"
[teams.front]
members = ["alice"]
managers = ["rui"]

[[policies]]
name = "reply"
kind = "expect"
trigger = ["message.received"]
expect = ["message.sent"]
within = "4h"
customer_text.open = "We got your message {{opened}}. You will hear from us by {{due}}."

[[policies]]
name = "confirm-order"
kind = "expect"
trigger = ["order.placed"]
expect = ["order.confirmed"]
within = "1h"
on_open = {{ template = "order-confirmation" }}
customer_text.open = "We will confirm your order {{ref}} by {{due}}."
customer_text.kept = "We confirmed your order {{ref}} {{kept}}."

[[policies]]
name = "internal-check"
kind = "expect"
trigger = ["order.placed"]
expect = ["order.checked"]
within = "1d"

[[policies]]
name = "told-us"
kind = "expect"
trigger = ["customer.feels_ignored"]
expect = ["message.sent"]
within = "0s"
on_open = {{ to = "assignee", template = "told-us" }}

[[policies]]
name = "heard"
kind = "expect"
trigger = ["customer.feels_ignored"]
expect = ["message.sent"]
within = "1h"
alert_out_of_hours = true
on_open = {{ to = "manager", template = "feels-ignored" }}
customer_text.open = "You told us {{opened}} that nobody got back to you. A manager will reach out by {{due}}."
"#
    );
    Config::from_toml(&text, "test").expect("test config")
}

pub(crate) fn customer_events(at: Timestamp) -> Value {
    json!([
        { "id": "m1", "type": "message.received", "customer": "ana", "customer_email": "ana@example.com",
          "customer_name": "Ana Pereira", "customer_timezone": "Europe/Lisbon", "channel": "email",
          "at": at.to_string() },
        { "id": "o1", "type": "order.placed", "customer": "ana", "ref": "ORD-77", "channel": "web",
          "at": at.to_string() },
        { "id": "x1", "type": "message.received", "customer": "bob", "customer_email": "bob@example.com",
          "customer_name": "Roberto Secreto", "ref": "BOB-SECRET", "at": at.to_string() },
    ])
}

async fn events_of(app: &TestApp, customer: &str, kind: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/v1/customers/{customer}")).await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The status-page link in a message to `address`.
pub(crate) fn status_path(smtp: &SmtpSink, address: &str) -> String {
    let message = smtp.to(address).into_iter().next().expect("a message");
    let url = message_urls(&message)
        .into_iter()
        .find(|u| u.contains("/c/") && !u.ends_with("/ignored"))
        .expect("a status link in the message");
    url.strip_prefix(PUBLIC)
        .expect("under public_url")
        .to_string()
}

async fn the_emailed_link_shows_the_promise_and_nobody_got_back_records_once(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_stepped(backend, config(smtp.port)).await;
    let at = Timestamp::now() - Duration::from_secs(60);
    assert_eq!(app.post_events(&customer_events(at)).await.0, 200);
    app.run_pending_jobs().await;
    smtp.wait_for(10, "the order confirmation", |_| {
        !smtp.to("ana@example.com").is_empty()
    })
    .await;
    let path = status_path(&smtp, "ana@example.com");

    // Her page: her promises in her words and zone, nothing internal, nothing of Bob's.
    let (status, html) = get(&app, &path).await;
    assert_eq!(status, 200, "{html}");
    let zone = jiff::tz::TimeZone::get("Europe/Lisbon").unwrap();
    let due = seen::words::when(at + Duration::from_secs(4 * 3600), Timestamp::now(), &zone);
    assert!(
        html.contains(&format!("You will hear from us by {due}.")),
        "the reply promise in Lisbon time ({due}): {html}"
    );
    assert!(
        html.contains("We confirmed your order ORD-77 today at"),
        "{html}"
    );
    assert!(html.contains("Hello Ana"), "{html}");
    assert!(html.contains("Times are in Europe&#x2f;Lisbon"), "{html}");
    for never in [
        "internal-check",
        "confirm-order",
        "Roberto",
        "BOB-SECRET",
        "bob@",
    ] {
        assert!(!html.contains(never), "{never:?} on Ana's page: {html}");
    }
    assert!(!html.contains("<script"), "no JavaScript");

    // Reading it (GET and HEAD), and opening the footer's "nobody got back to me", record nothing.
    let before = app.get_json("/v1/customers/ana").await.1;
    let head = app
        .client
        .head(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let (status, confirm) = get(&app, &format!("{path}/ignored")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Nothing is recorded until you press the button"));
    assert_eq!(
        form_action(&confirm).as_deref(),
        Some(format!("{path}/ignored").as_str())
    );
    app.run_pending_jobs().await;
    let after = app.get_json("/v1/customers/ana").await.1;
    assert_eq!(before["events"], after["events"]);
    assert_eq!(before["obligations"], after["obligations"]);

    // One tap: customer.feels_ignored, the heard promise, the manager's email, first in the queue.
    let (status, thanks) = post(&app, &format!("{path}/ignored"), &[("via", "message_link")]).await;
    assert_eq!(status, 200, "{thanks}");
    assert!(thanks.contains("Thank you for telling us"), "{thanks}");
    let told = events_of(&app, "ana", "customer.feels_ignored").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["properties"]["via"], "message_link");
    let (_, obligations) = app.get_json("/v1/obligations?customer=ana").await;
    let heard: Vec<&Value> = obligations["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["policy"] == "heard")
        .collect();
    assert_eq!(heard.len(), 1, "{obligations:#}");
    app.run_pending_jobs().await;
    smtp.wait_for(10, "the manager's alert", |_| {
        !smtp.to("rui@venue.example").is_empty()
    })
    .await;
    let alert = &smtp.to("rui@venue.example")[0];
    let data = alert["data"].as_str().unwrap();
    assert!(data.contains("nobody got back to them"), "{data}");
    let (_, invisible) = app.get_json("/v1/invisible").await;
    assert_eq!(
        invisible["invisible"][0]["customer"], "ana",
        "{invisible:#}"
    );

    // A second tap within the hour: nothing new. A comment is kept.
    let (status, again) = post(&app, &format!("{path}/ignored"), &[("via", "status_page")]).await;
    assert_eq!(status, 200);
    assert!(again.contains("We already know"), "{again}");
    assert_eq!(
        events_of(&app, "ana", "customer.feels_ignored").await.len(),
        1
    );
    let (status, _) = post(
        &app,
        &format!("{path}/comment"),
        &[("comment", "Three emails, no answer.")],
    )
    .await;
    assert_eq!(status, 200);
    let comments = events_of(&app, "ana", "customer.comment").await;
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0]["properties"]["comment"],
        "Three emails, no answer."
    );

    // Her page now says so, and shows the heard promise.
    let (_, html) = get(&app, &path).await;
    assert!(
        html.contains("You told us nobody got back to you"),
        "{html}"
    );
    assert!(html.contains("A manager will reach out by"), "{html}");
}

/// A token for `customer` signed with the store's current key.
async fn token(app: &TestApp, customer: &str, issued: Timestamp, expires: Timestamp) -> String {
    let key = app.service.signing_link_key().await.unwrap();
    status_link_token(
        &key.secret,
        &StatusLink {
            customer: customer.into(),
            kid: key.kid,
            issued,
            expires,
        },
    )
}

/// Each bad link answers a page that shows nothing of the customer, and its POSTs record nothing.
async fn shows_nothing(app: &TestApp, token: &str, expected: u16, what: &str) {
    let (status, html) = get(app, &format!("/c/{token}")).await;
    assert_eq!(status, expected, "{what}: {html}");
    for never in ["Ana", "ORD-77", "hear from us", "Roberto", "BOB-SECRET"] {
        assert!(!html.contains(never), "{what}: {never:?} shown: {html}");
    }
    let (status, _) = get(app, &format!("/c/{token}/ignored")).await;
    assert_eq!(status, expected, "{what}: confirmation");
    for (path, form) in [
        ("ignored", [("via", "status_page")]),
        ("comment", [("comment", "let me in")]),
    ] {
        let (status, _) = post(app, &format!("/c/{token}/{path}"), &form).await;
        assert_eq!(status, expected, "{what}: POST {path}");
    }
    for customer in ["ana", "bob"] {
        assert!(
            events_of(app, customer, "customer.feels_ignored")
                .await
                .is_empty(),
            "{what}"
        );
        assert!(
            events_of(app, customer, "customer.comment")
                .await
                .is_empty(),
            "{what}"
        );
    }
}

async fn bad_links_show_nothing_and_record_nothing(backend: Backend) {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_stepped(backend, config(smtp.port)).await;
    let now = Timestamp::now();
    assert_eq!(app.post_events(&customer_events(now)).await.0, 200);
    let day = Duration::from_secs(86_400);
    let good = token(&app, "ana", now, now + day).await;
    assert_eq!(get(&app, &format!("/c/{good}")).await.0, 200);

    // Tampered: each part changed in turn; a character flipped in the signature.
    let parts: Vec<&str> = good.split('.').collect();
    let bob_hex = hex("bob");
    for (i, replacement) in [bob_hex.as_str(), "9", "1", "99999999999"]
        .into_iter()
        .enumerate()
    {
        let mut changed = parts.clone();
        changed[i] = replacement;
        shows_nothing(&app, &changed.join("."), 404, &format!("part {i} changed")).await;
    }
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    shows_nothing(&app, &flipped, 404, "signature").await;
    shows_nothing(&app, "not-a-token", 404, "garbage").await;

    // Expired.
    let old = token(&app, "ana", now - day * 10, now - day).await;
    shows_nothing(&app, &old, 410, "expired").await;

    // Another customer's token shows that customer only: Bob's link never shows Ana.
    let bob = token(&app, "bob", now, now + day).await;
    let (status, html) = get(&app, &format!("/c/{bob}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Hello Roberto"), "{html}");
    assert!(!html.contains("Ana") && !html.contains("ORD-77"), "{html}");

    // A customer Seen does not know (a valid signature, say after erasure): nothing.
    let ghost = token(&app, "ghost", now, now + day).await;
    shows_nothing(&app, &ghost, 404, "unknown customer").await;

    // Revoked: links issued before stop working; a new one works.
    app.service
        .revoke_status_links("ana", Timestamp::now())
        .await
        .unwrap();
    shows_nothing(&app, &good, 404, "revoked").await;
    let fresh = token(&app, "ana", Timestamp::now(), Timestamp::now() + day).await;
    assert_eq!(get(&app, &format!("/c/{fresh}")).await.0, 200);
    assert_eq!(
        get(&app, &format!("/c/{bob}")).await.0,
        200,
        "Bob's links are not Ana's"
    );

    // Rotation: the old key's links keep working until it is retired; the new key signs.
    let first = app.service.signing_link_key().await.unwrap();
    let second = app.service.rotate_link_key().await.unwrap();
    assert_eq!(second.kid, first.kid + 1);
    assert_eq!(
        app.service.signing_link_key().await.unwrap().kid,
        second.kid
    );
    assert_eq!(get(&app, &format!("/c/{fresh}")).await.0, 200);
    assert!(app.service.retire_link_key(first.kid).await.unwrap());
    shows_nothing(&app, &fresh, 404, "retired key").await;
    let newest = token(&app, "ana", Timestamp::now(), Timestamp::now() + day).await;
    assert_eq!(get(&app, &format!("/c/{newest}")).await.0, 200);
    assert!(
        app.service.retire_link_key(second.kid).await.is_err(),
        "the only live key cannot be retired"
    );
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

on_both_backends!(
    the_emailed_link_shows_the_promise_and_nobody_got_back_records_once,
    bad_links_show_nothing_and_record_nothing,
);
