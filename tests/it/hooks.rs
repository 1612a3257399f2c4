//! Inbound webhooks (`POST /hooks/{source}/{name}`) on both backends: each provider's documented payloads
//! (`tests/fixtures/hooks/`), signed here as the provider signs them, become the right events; retries are
//! duplicates; a bad signature is a 401 with nothing stored; a malformed body a 400 naming the field; a type we
//! do not map a 202 counted as ignored; WhatsApp's GET handshake changes nothing; a kept delivery is replayed
//! after a mapping fix (`seen connectors replay`), and pruned after `keep_raw`.

use std::process::Command;
use std::sync::Once;

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sha2::Sha256;

use crate::common::{self, Backend, TestApp};
use seen::config::Config;
use seen::domain::Closure;

const SECRET: &str = "whsec-test-5f1c0a9e";
const WA_TOKEN: &str = "verify-me-7d2b";
const TWILIO_URL: &str = "https://seen.example.com/hooks/twilio/sms";

const CONFIG: &str = r#"
[[connectors.hooks]]
source = "calcom"
name = "cal"
secret_env = "SEEN_TEST_HOOK_SECRET"

[[connectors.hooks]]
source = "calendly"
name = "book"
secret_env = "SEEN_TEST_HOOK_SECRET"

[[connectors.hooks]]
source = "shopify"
name = "shop"
secret_env = "SEEN_TEST_HOOK_SECRET"

[[connectors.hooks]]
source = "woocommerce"
name = "woo"
secret_env = "SEEN_TEST_HOOK_SECRET"

[[connectors.hooks]]
source = "twilio"
name = "sms"
secret_env = "SEEN_TEST_HOOK_SECRET"
public_url = "https://seen.example.com/hooks/twilio/sms"

[[connectors.hooks]]
source = "whatsapp"
name = "wa"
secret_env = "SEEN_TEST_HOOK_SECRET"
verify_token_env = "SEEN_TEST_WA_TOKEN"

[[connectors.hooks]]
source = "generic"
name = "crm"
secret_env = "SEEN_TEST_HOOK_SECRET"
signature_header = "X-Signature"
[connectors.hooks.mapping]
type = "/event"
customer = "/contact/email"
id = "/id"
at = "/occurred_at"
ref = "/ticket/id"
customer_name = "/contact/name"
properties = { subject = "/ticket/subject" }
types = { "ticket.opened" = "message.received" }
"#;

/// The same environment for every test of this module (set once, before any app reads it).
fn secrets() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        std::env::set_var("SEEN_TEST_HOOK_SECRET", SECRET);
        std::env::set_var("SEEN_TEST_WA_TOKEN", WA_TOKEN);
    });
}

async fn app(backend: Backend) -> TestApp {
    secrets();
    let config = Config::from_toml(CONFIG, "hooks test").expect("config");
    common::spawn_app_with(backend, config).await
}

fn fixture(path: &str) -> Vec<u8> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn hmac256(parts: &[&[u8]]) -> Vec<u8> {
    hmac256_with(SECRET, parts)
}

fn hmac256_with(key: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The headers each provider sends with `body`, signed as it signs.
fn signed(source: &str, body: &[u8]) -> Vec<(String, String)> {
    signed_with(SECRET, source, body)
}

/// The same, signed with `key`.
fn signed_with(key: &str, source: &str, body: &[u8]) -> Vec<(String, String)> {
    let header = |name: &str, value: String| vec![(name.to_string(), value)];
    let mac = |parts: &[&[u8]]| hmac256_with(key, parts);
    match source {
        "calcom" => header("X-Cal-Signature-256", hex::encode(mac(&[body]))),
        "calendly" => {
            let t = Timestamp::now().as_second().to_string();
            let v1 = hex::encode(mac(&[t.as_bytes(), b".", body]));
            header("Calendly-Webhook-Signature", format!("t={t},v1={v1}"))
        }
        "shopify" => header("X-Shopify-Hmac-Sha256", base64(&mac(&[body]))),
        "woocommerce" => header("X-WC-Webhook-Signature", base64(&mac(&[body]))),
        "whatsapp" => header(
            "X-Hub-Signature-256",
            format!("sha256={}", hex::encode(mac(&[body]))),
        ),
        "generic" => header("X-Signature", hex::encode(mac(&[body]))),
        other => panic!("no signer for {other}"),
    }
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
    content_type: String,
}

async fn post(app: &TestApp, path: &str, headers: &[(String, String)], body: Vec<u8>) -> Answer {
    let mut request = app.client.post(format!("{}{path}", app.address)).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        content_type,
    }
}

/// A signed delivery of `source` to connector `name`, with `extra` headers (topics, delivery ids).
async fn deliver(
    app: &TestApp,
    source: &str,
    name: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut headers = signed(source, &body);
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    post(app, &format!("/hooks/{source}/{name}"), &headers, body).await
}

/// (type, ref) of a customer's events, in time order.
async fn events(app: &TestApp, customer: &str) -> Vec<(String, Option<String>)> {
    app.service
        .customer_events(customer)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind, e.reference))
        .collect()
}

async fn event_count(app: &TestApp) -> u64 {
    app.service.counts().await.expect("counts").events
}

/// A customer's obligations of one policy: (ref, closure).
async fn obligations(
    app: &TestApp,
    customer: &str,
    policy: &str,
) -> Vec<(Option<String>, Option<Closure>)> {
    app.service
        .customer_obligations(customer)
        .await
        .expect("obligations")
        .into_iter()
        .filter(|o| &*o.policy == policy)
        .map(|o| (o.reference, o.closure))
        .collect()
}

async fn kept(app: &TestApp, connector: &str) -> usize {
    app.service
        .kept_deliveries(connector, Timestamp::UNIX_EPOCH, None, 1000)
        .await
        .expect("kept deliveries")
        .len()
}

/// `/healthz`'s view of one connector.
async fn health(app: &TestApp, connector: &str) -> Value {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{body}");
    body["connectors"][connector].clone()
}

/// A delivery signed with another secret, or not signed, is a 401 and stores nothing (no event, no kept
/// body); `/healthz` shows the refusal as the connector's last error.
async fn refuses(app: &TestApp, source: &str, name: &str, body: Vec<u8>, extra: &[(&str, &str)]) {
    let before = (event_count(app).await, kept(app, name).await);
    // Signed, but with another secret.
    let mut headers = signed_with("not-the-secret", source, &body);
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let answer = post(
        app,
        &format!("/hooks/{source}/{name}"),
        &headers,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, 401, "{source}: {}", answer.text);
    let unsigned = post(app, &format!("/hooks/{source}/{name}"), &[], body).await;
    assert_eq!(unsigned.status, 401, "{source} unsigned: {}", unsigned.text);
    assert_eq!(
        (event_count(app).await, kept(app, name).await),
        before,
        "{source}: a refused delivery stored something"
    );
    let last_error = health(app, name).await["last_error"].clone();
    assert!(
        last_error.as_str().unwrap_or_default().contains("401"),
        "{last_error}"
    );
}

/// A body that is not what the provider documents is a 400 naming the field, and stores nothing.
async fn malformed(
    app: &TestApp,
    source: &str,
    name: &str,
    body: &str,
    extra: &[(&str, &str)],
    field: &str,
) {
    let before = event_count(app).await;
    let answer = deliver(app, source, name, body.as_bytes().to_vec(), extra).await;
    assert_eq!(answer.status, 400, "{source}: {}", answer.text);
    assert_eq!(answer.body["error"], "invalid_payload");
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("`{field}`")), "{source}: {detail}");
    assert_eq!(event_count(app).await, before);
}

/// A delivery Seen does not map is a 202, counted as ignored on `/healthz`, and stores no event.
async fn ignored(app: &TestApp, source: &str, name: &str, body: Vec<u8>, extra: &[(&str, &str)]) {
    let before = (
        event_count(app).await,
        health(app, name).await["ignored_today"]
            .as_u64()
            .unwrap_or(0),
    );
    let answer = deliver(app, source, name, body, extra).await;
    assert_eq!(answer.status, 202, "{source}: {}", answer.text);
    if source != "twilio" {
        assert_eq!(answer.body["accepted"], 0, "{}", answer.body);
        assert!(!answer.body["ignored"][0]
            .as_str()
            .unwrap_or_default()
            .is_empty());
    }
    assert_eq!(event_count(app).await, before.0);
    assert_eq!(
        health(app, name).await["ignored_today"].as_u64(),
        Some(before.1 + 1)
    );
}

async fn calcom_bookings_are_confirmed_and_followed_through_reschedules(backend: Backend) {
    let app = app(backend).await;
    let ana = "ana.reis@example.com";

    let created = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/booking_created.json"),
        &[],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["accepted"], 1);
    assert_eq!(created.body["events"][0], "cal:booking:bk-6Tq2Lx:created");
    let stored = app.service.customer_events(ana).await.unwrap();
    let booking = &stored[0];
    assert_eq!(booking.kind, "booking.created");
    assert_eq!(booking.reference.as_deref(), Some("bk-6Tq2Lx"));
    assert_eq!(
        booking.at,
        "2026-05-04T08:15:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(booking.profile.timezone.as_deref(), Some("Europe/Lisbon"));
    let properties = booking.properties_value();
    assert_eq!(properties["connector"], "cal");
    assert_eq!(properties["starts_at"], "2026-05-12T09:00:00Z");
    let profile = app
        .service
        .customer(ana, Timestamp::now())
        .await
        .unwrap()
        .unwrap()
        .profile;
    assert_eq!(profile.name.as_deref(), Some("Ana Reis"));
    // The default policies apply: the booking is to be confirmed.
    assert_eq!(
        obligations(&app, ana, "confirm-booking").await,
        [(Some("bk-6Tq2Lx".to_string()), None)]
    );
    assert_eq!(health(&app, "cal").await["events_today"], 1);

    // Cal.com's retry of the same delivery is a duplicate.
    let again = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/booking_created.json"),
        &[],
    )
    .await;
    assert_eq!(
        (again.status, again.body["duplicates"].as_u64()),
        (200, Some(1))
    );
    assert_eq!(event_count(&app).await, 1);

    // A reschedule is a new Cal.com booking naming the one before: it stays the first booking's ref...
    let moved = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/booking_rescheduled.json"),
        &[],
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    // ...and so does the cancellation of the new uid.
    let cancelled = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/booking_cancelled.json"),
        &[],
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let first = Some("bk-6Tq2Lx".to_string());
    assert_eq!(
        events(&app, ana).await,
        [
            ("booking.created".to_string(), first.clone()),
            ("booking.rescheduled".to_string(), first.clone()),
            ("booking.cancelled".to_string(), first.clone()),
        ]
    );
    let rescheduled = &app.service.customer_events(ana).await.unwrap()[1];
    assert_eq!(
        rescheduled.properties_value()["starts_at"],
        "2026-05-14T14:00:00Z"
    );
    assert_eq!(
        obligations(&app, ana, "confirm-booking").await,
        [(first.clone(), Some(Closure::Cancelled))]
    );

    // The meeting and a no-show become visit events of the booking.
    let ended = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/meeting_ended.json"),
        &[],
    )
    .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    let absent = deliver(
        &app,
        "calcom",
        "cal",
        fixture("calcom/no_show_updated.json"),
        &[],
    )
    .await;
    assert_eq!(absent.status, 200, "{}", absent.text);
    let kinds: Vec<String> = events(&app, ana).await.into_iter().map(|e| e.0).collect();
    assert!(kinds.contains(&"visit.served".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"visit.no_show".to_string()), "{kinds:?}");

    ignored(&app, "calcom", "cal", fixture("calcom/ping.json"), &[]).await;
    refuses(
        &app,
        "calcom",
        "cal",
        fixture("calcom/booking_created.json"),
        &[],
    )
    .await;
    malformed(
        &app,
        "calcom",
        "cal",
        r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"bk-x","attendees":[{"name":"No Email"}]}}"#,
        &[],
        "payload.attendees[0].email",
    )
    .await;
    malformed(&app, "calcom", "cal", "{not json", &[], "(body)").await;
}

async fn calendly_reschedule_keeps_one_booking(backend: Backend) {
    let app = app(backend).await;
    let leo = "leo.martin@example.org";
    let created = deliver(
        &app,
        "calendly",
        "book",
        fixture("calendly/invitee_created.json"),
        &[],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);

    // A reschedule: the cancel half is ignored, the create half moves the same booking.
    ignored(
        &app,
        "calendly",
        "book",
        fixture("calendly/invitee_canceled_rescheduled.json"),
        &[],
    )
    .await;
    let moved = deliver(
        &app,
        "calendly",
        "book",
        fixture("calendly/invitee_created_rescheduled.json"),
        &[],
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let first = Some("INV1A2B".to_string());
    assert_eq!(
        events(&app, leo).await,
        [
            ("booking.created".to_string(), first.clone()),
            ("booking.rescheduled".to_string(), first.clone()),
        ]
    );
    assert_eq!(
        obligations(&app, leo, "confirm-booking").await,
        [(first.clone(), None)],
        "one booking, still to be confirmed"
    );
    let stored = app.service.customer_events(leo).await.unwrap();
    assert_eq!(
        stored[1].properties_value()["starts_at"],
        "2026-05-13T15:00:00Z"
    );
    assert_eq!(
        stored[0].profile.timezone.as_deref(),
        Some("America/Toronto")
    );

    // Cancelling the new invitee cancels the one booking.
    let cancelled = deliver(
        &app,
        "calendly",
        "book",
        fixture("calendly/invitee_canceled.json"),
        &[],
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(
        obligations(&app, leo, "confirm-booking").await,
        [(first, Some(Closure::Cancelled))]
    );

    // A signature older than five minutes is a captured delivery played again.
    let body = fixture("calendly/invitee_created.json");
    let t = (Timestamp::now() - SignedDuration::from_mins(10))
        .as_second()
        .to_string();
    let v1 = hex::encode(hmac256(&[t.as_bytes(), b".", &body]));
    let stale = post(
        &app,
        "/hooks/calendly/book",
        &[(
            "Calendly-Webhook-Signature".into(),
            format!("t={t},v1={v1}"),
        )],
        body.clone(),
    )
    .await;
    assert_eq!(stale.status, 401, "{}", stale.text);
    refuses(&app, "calendly", "book", body, &[]).await;
    malformed(
        &app,
        "calendly",
        "book",
        r#"{"event":"invitee.created","payload":{"email":"x@example.org"}}"#,
        &[],
        "payload.uri",
    )
    .await;
}

/// A Shopify delivery of a fixture: its topic and webhook id as Shopify sends them.
async fn shopify(app: &TestApp, file: &str, topic: &str, webhook_id: &str) -> Answer {
    let extra = [
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Webhook-Id", webhook_id),
    ];
    deliver(app, "shopify", "shop", fixture(file), &extra).await
}

async fn shopify_orders_are_followed_to_delivery(backend: Backend) {
    let app = app(backend).await;
    let priya = "priya.n@example.net";
    let topic =
        |t: &'static str, id: &'static str| [("X-Shopify-Topic", t), ("X-Shopify-Webhook-Id", id)];

    let placed = shopify(
        &app,
        "shopify/orders_create.json",
        "orders/create",
        "b54557e4-1",
    )
    .await;
    assert_eq!(placed.status, 200, "{}", placed.text);
    let order = &app.service.customer_events(priya).await.unwrap()[0];
    assert_eq!(order.kind, "order.placed");
    assert_eq!(order.reference.as_deref(), Some("#1042"));
    assert_eq!(
        order.at,
        "2026-05-04T18:21:07Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(order.profile.phone.as_deref(), Some("+14165550182"));
    let properties = order.properties_value();
    assert_eq!(
        (
            &properties["connector"],
            &properties["value"],
            &properties["items"],
            &properties["currency"]
        ),
        (
            &Value::from("shop"),
            &Value::from(86.4),
            &Value::from(3),
            &Value::from("CAD")
        )
    );
    let order_ref = Some("#1042".to_string());
    assert_eq!(
        obligations(&app, priya, "dispatch-order").await,
        [(order_ref.clone(), None)]
    );
    assert_eq!(
        obligations(&app, priya, "confirm-order").await,
        [(order_ref.clone(), None)]
    );

    // Shopify's retry carries the same X-Shopify-Webhook-Id: a duplicate delivery, nothing new.
    let retry = shopify(
        &app,
        "shopify/orders_create.json",
        "orders/create",
        "b54557e4-1",
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.body["duplicate_delivery"], true);
    assert_eq!(retry.body["duplicates"], 1);
    assert_eq!(kept(&app, "shop").await, 1);
    assert_eq!(event_count(&app).await, 1);

    let paid = shopify(
        &app,
        "shopify/orders_paid.json",
        "orders/paid",
        "b54557e4-2",
    )
    .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    // The fulfilment names only the order: its customer and ref come from the order.
    let shipped = shopify(
        &app,
        "shopify/fulfillments_create.json",
        "fulfillments/create",
        "b54557e4-3",
    )
    .await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    let delivered = shopify(
        &app,
        "shopify/fulfillment_events_create.json",
        "fulfillment_events/create",
        "b54557e4-4",
    )
    .await;
    assert_eq!(delivered.status, 200, "{}", delivered.text);
    assert_eq!(
        events(&app, priya).await,
        [
            ("order.placed".to_string(), order_ref.clone()),
            ("purchase".to_string(), order_ref.clone()),
            ("order.dispatched".to_string(), order_ref.clone()),
            ("order.delivered".to_string(), order_ref.clone()),
        ]
    );
    assert_eq!(
        obligations(&app, priya, "dispatch-order").await,
        [(order_ref.clone(), Some(Closure::Kept))]
    );

    ignored(
        &app,
        "shopify",
        "shop",
        fixture("shopify/products_update.json"),
        &topic("products/update", "b54557e4-5"),
    )
    .await;
    refuses(
        &app,
        "shopify",
        "shop",
        fixture("shopify/orders_create.json"),
        &topic("orders/create", "b54557e4-6"),
    )
    .await;
    malformed(
        &app,
        "shopify",
        "shop",
        r#"{"email":"someone@example.net","created_at":"2026-05-04T14:21:07-04:00"}"#,
        &topic("orders/create", "b54557e4-7"),
        "id",
    )
    .await;
}

async fn woocommerce_orders_by_status(backend: Backend) {
    let app = app(backend).await;
    let jonas = "jonas.weber@example.de";
    // The ping WooCommerce sends when the webhook is saved: unsigned, answered 200, nothing stored.
    let ping = post(
        &app,
        "/hooks/woocommerce/woo",
        &[],
        b"webhook_id=12".to_vec(),
    )
    .await;
    assert_eq!(ping.status, 200, "{}", ping.text);
    assert_eq!(event_count(&app).await, 0);

    let created = deliver(
        &app,
        "woocommerce",
        "woo",
        fixture("woocommerce/order_processing.json"),
        &[("X-WC-Webhook-Topic", "order.created")],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["accepted"], 2);
    // Every later order.updated of the same status repeats events already stored.
    let updated = deliver(
        &app,
        "woocommerce",
        "woo",
        fixture("woocommerce/order_processing.json"),
        &[("X-WC-Webhook-Topic", "order.updated")],
    )
    .await;
    assert_eq!(
        (
            updated.body["accepted"].as_u64(),
            updated.body["duplicates"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let completed = deliver(
        &app,
        "woocommerce",
        "woo",
        fixture("woocommerce/order_completed.json"),
        &[("X-WC-Webhook-Topic", "order.updated")],
    )
    .await;
    assert_eq!(completed.body["accepted"], 1, "{}", completed.text);
    let number = Some("3317".to_string());
    assert_eq!(
        events(&app, jonas).await,
        [
            ("order.placed".to_string(), number.clone()),
            ("purchase".to_string(), number.clone()),
            ("order.dispatched".to_string(), number.clone()),
        ]
    );
    assert_eq!(
        obligations(&app, jonas, "dispatch-order").await,
        [(number, Some(Closure::Kept))]
    );

    ignored(
        &app,
        "woocommerce",
        "woo",
        br#"{"id":70,"name":"Linen tea towel"}"#.to_vec(),
        &[("X-WC-Webhook-Topic", "product.updated")],
    )
    .await;
    refuses(
        &app,
        "woocommerce",
        "woo",
        fixture("woocommerce/order_processing.json"),
        &[("X-WC-Webhook-Topic", "order.created")],
    )
    .await;
    malformed(
        &app,
        "woocommerce",
        "woo",
        r#"{"id":3318,"billing":{"email":"a@example.de"}}"#,
        &[("X-WC-Webhook-Topic", "order.created")],
        "status",
    )
    .await;
}

/// A Twilio form from a fixture's parameters, signed for `url` as Twilio signs.
fn twilio_form(fixture_path: &str, url: &str) -> (Vec<u8>, String) {
    let params: serde_json::Map<String, Value> =
        serde_json::from_slice(&fixture(fixture_path)).expect("fixture");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
        .collect();
    signed_form_for(url, &pairs)
}

/// A form of `pairs` and Twilio's signature of it for `url`: the base64 HMAC-SHA1 of the URL followed by
/// every parameter's name and value, sorted by name.
fn signed_form_for(url: &str, pairs: &[(&str, &str)]) -> (Vec<u8>, String) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut sorted: Vec<(&str, &str)> = pairs.to_vec();
    sorted.sort();
    let mut signed = url.to_string();
    for (k, v) in sorted {
        signed.push_str(k);
        signed.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    (body.into_bytes(), base64(&mac.finalize().into_bytes()))
}

async fn twilio_sms_is_a_message_to_answer(backend: Backend) {
    let app = app(backend).await;
    let sender = "+14155550123";
    let (body, signature) = twilio_form(
        "twilio/inbound_sms.json",
        &format!("{TWILIO_URL}?venue=north"),
    );
    let answer = post(
        &app,
        "/hooks/twilio/sms?venue=north",
        &[
            ("X-Twilio-Signature".into(), signature.clone()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.content_type.starts_with("text/xml"),
        "{}",
        answer.content_type
    );
    assert!(
        answer.text.contains("<Response></Response>"),
        "{}",
        answer.text
    );
    let received = &app.service.customer_events(sender).await.unwrap()[0];
    assert_eq!(
        (
            received.kind.as_str(),
            received.channel.as_deref(),
            received.reference.as_deref()
        ),
        ("message.received", Some("sms"), None)
    );
    assert_eq!(received.profile.phone.as_deref(), Some(sender));
    assert_eq!(
        received.properties_value()["preview"],
        "Hi, can I move my appointment to Friday?"
    );
    assert_eq!(obligations(&app, sender, "reply").await, [(None, None)]);

    // Signed for another URL (the query is part of what Twilio signs): refused.
    let wrong = post(
        &app,
        "/hooks/twilio/sms",
        &[("X-Twilio-Signature".into(), signature)],
        body,
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);

    // The business's reply, as Twilio's status callback says it went: the promise is kept.
    let (body, signature) = twilio_form("twilio/status_sent.json", TWILIO_URL);
    let sent = post(
        &app,
        "/hooks/twilio/sms",
        &[("X-Twilio-Signature".into(), signature)],
        body,
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(
        obligations(&app, sender, "reply").await,
        [(None, Some(Closure::Kept))]
    );

    // A status Seen does not follow, and a form without the message's id.
    let queued = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("MessageStatus", "queued"),
        ("To", sender),
    ];
    let before = (
        event_count(&app).await,
        health(&app, "sms").await["ignored_today"].as_u64(),
    );
    let (body, signature) = signed_form(&queued);
    let answer = post(
        &app,
        "/hooks/twilio/sms",
        &[("X-Twilio-Signature".into(), signature)],
        body,
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(event_count(&app).await, before.0);
    assert_eq!(
        health(&app, "sms").await["ignored_today"].as_u64(),
        before.1.map(|n| n + 1)
    );
    let (body, signature) = signed_form(&[
        ("SmsStatus", "received"),
        ("From", sender),
        ("Body", "hello"),
    ]);
    let answer = post(
        &app,
        "/hooks/twilio/sms",
        &[("X-Twilio-Signature".into(), signature)],
        body,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.text.contains("MessageSid"), "{}", answer.text);
}

/// A form of `pairs`, signed for the connector's configured URL.
fn signed_form(pairs: &[(&str, &str)]) -> (Vec<u8>, String) {
    signed_form_for(TWILIO_URL, pairs)
}

async fn whatsapp_handshake_messages_and_statuses(backend: Backend) {
    let app = app(backend).await;
    let rita = "+351912345678";
    let handshake = |token: &str| {
        format!(
            "{}/hooks/whatsapp/wa?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            app.address
        )
    };
    let right = app.client.get(handshake(WA_TOKEN)).send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(right.text().await.unwrap(), "1158201444");
    let wrong = app.client.get(handshake("guess")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    // Other sources take no GET; nothing was stored by either.
    let other = app
        .client
        .get(format!("{}/hooks/shopify/shop", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 405);
    assert_eq!((event_count(&app).await, kept(&app, "wa").await), (0, 0));

    let message = deliver(
        &app,
        "whatsapp",
        "wa",
        fixture("whatsapp/message.json"),
        &[],
    )
    .await;
    assert_eq!(message.status, 200, "{}", message.text);
    let received = &app.service.customer_events(rita).await.unwrap()[0];
    assert_eq!(
        (received.kind.as_str(), received.channel.as_deref()),
        ("message.received", Some("whatsapp"))
    );
    assert_eq!(received.at, Timestamp::from_second(1_777_975_200).unwrap());
    let profile = app
        .service
        .customer(rita, Timestamp::now())
        .await
        .unwrap()
        .unwrap()
        .profile;
    assert_eq!(profile.name.as_deref(), Some("Rita Alves"));
    assert_eq!(obligations(&app, rita, "reply").await, [(None, None)]);

    // The business answered (status "sent") and Rita read it.
    let statuses = deliver(
        &app,
        "whatsapp",
        "wa",
        fixture("whatsapp/status_read.json"),
        &[],
    )
    .await;
    assert_eq!(statuses.status, 200, "{}", statuses.text);
    assert_eq!(statuses.body["accepted"], 2);
    let kinds: Vec<String> = events(&app, rita).await.into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["message.received", "message.sent", "message.read"]);
    assert_eq!(
        obligations(&app, rita, "reply").await,
        [(None, Some(Closure::Kept))]
    );

    ignored(
        &app,
        "whatsapp",
        "wa",
        fixture("whatsapp/account_update.json"),
        &[],
    )
    .await;
    refuses(
        &app,
        "whatsapp",
        "wa",
        fixture("whatsapp/message.json"),
        &[],
    )
    .await;
    malformed(
        &app,
        "whatsapp",
        "wa",
        r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"351912345678","timestamp":"1777975200"}]}}]}]}"#,
        &[],
        "entry[0].changes[0].value.messages[0].id",
    )
    .await;
    // An unknown connector, or a known one under another source, is not there.
    let nowhere = deliver(&app, "shopify", "nope", b"{}".to_vec(), &[]).await;
    assert_eq!(nowhere.status, 404);
    let mismatch = deliver(&app, "calcom", "shop", b"{}".to_vec(), &[]).await;
    assert_eq!(mismatch.status, 404);
}

fn seen_cli(db: &str, config: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .env_remove("SEEN_CONFIG")
        .env_remove("SEEN_DATABASE_URL")
        .env("SEEN_LOG", "warn")
        .args(["--db", db, "--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .expect("run seen");
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

async fn generic_mapping_replays_after_a_fix_and_prunes(backend: Backend) {
    let app = app(backend).await;
    let sam = "sam@example.com";
    let opened = deliver(
        &app,
        "generic",
        "crm",
        fixture("generic/ticket_opened.json"),
        &[],
    )
    .await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    let ticket = Some("T-5521".to_string());
    assert_eq!(
        events(&app, sam).await,
        [("message.received".to_string(), ticket.clone())]
    );
    let stored = &app.service.customer_events(sam).await.unwrap()[0];
    assert_eq!(stored.properties_value()["subject"], "Wrong size delivered");
    assert_eq!(
        obligations(&app, sam, "reply").await,
        [(ticket.clone(), None)]
    );

    // The reply is not in the mapping yet: ignored, but kept.
    ignored(
        &app,
        "generic",
        "crm",
        fixture("generic/ticket_replied.json"),
        &[],
    )
    .await;
    assert_eq!(kept(&app, "crm").await, 2);

    // The mapping is fixed; the replay stores what it now understands, once.
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("seen.toml");
    std::fs::write(
        &fixed,
        CONFIG.replace(
            r#"types = { "ticket.opened" = "message.received" }"#,
            r#"types = { "ticket.opened" = "message.received", "ticket.replied" = "message.sent" }"#,
        ),
    )
    .unwrap();
    let out = seen_cli(
        &app.db.url,
        &fixed,
        &[
            "connectors",
            "replay",
            "crm",
            "--since",
            "2026-01-01T00:00:00Z",
        ],
    );
    assert!(out.contains("replayed 2 deliveries"), "{out}");
    assert!(out.contains("1 events accepted, 1 duplicates"), "{out}");
    let out = seen_cli(
        &app.db.url,
        &fixed,
        &[
            "connectors",
            "replay",
            "crm",
            "--since",
            "2026-01-01T00:00:00Z",
        ],
    );
    assert!(out.contains("0 events accepted, 2 duplicates"), "{out}");
    assert_eq!(
        events(&app, sam).await,
        [
            ("message.received".to_string(), ticket.clone()),
            ("message.sent".to_string(), ticket.clone()),
        ]
    );
    assert_eq!(
        obligations(&app, sam, "reply").await,
        [(ticket, Some(Closure::Kept))]
    );

    // Kept bodies go after keep_raw: nothing is left to replay.
    let settings = seen::jobs::retention::RetentionSettings::default()
        .with_keep_raw(Some(SignedDuration::from_hours(14 * 24)));
    let later = Timestamp::now() + SignedDuration::from_hours(15 * 24);
    let report = seen::jobs::retention::run_once(app.service.store().as_ref(), &settings, later)
        .await
        .expect("retention");
    assert_eq!(report.deliveries_pruned, 2);
    assert_eq!(kept(&app, "crm").await, 0);

    refuses(
        &app,
        "generic",
        "crm",
        fixture("generic/ticket_opened.json"),
        &[],
    )
    .await;
    malformed(
        &app,
        "generic",
        "crm",
        r#"{"event":"ticket.opened","id":"e1"}"#,
        &[],
        "contact.email",
    )
    .await;
}

/// A Cal.com booking is confirmed and reminded like any other: with actions on, the confirmation goes out
/// (recorded as `booking.confirmed`, carrying the booking's `starts_at`) and the reminder is scheduled for a
/// day before the booking starts.
async fn a_calcom_booking_is_confirmed_and_reminded(backend: Backend) {
    secrets();
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let text = format!(
        "{CONFIG}\n[email]\ntransport = \"file\"\nfile = {:?}\n\n[actions]\nquiet_hours = \"\"\ndaily_cap = 0\n",
        outbox.to_str().unwrap()
    );
    let config = Config::from_toml(&text, "hooks test").expect("config");
    let app = common::spawn_app_stepped(backend, config).await;
    let now = Timestamp::now();
    let starts = now + SignedDuration::from_hours(72);
    let mut booking: Value =
        serde_json::from_slice(&fixture("calcom/booking_created.json")).unwrap();
    booking["createdAt"] = Value::from(now.to_string());
    booking["payload"]["startTime"] = Value::from(starts.to_string());
    booking["payload"]["endTime"] =
        Value::from((starts + SignedDuration::from_mins(90)).to_string());
    let answer = deliver(&app, "calcom", "cal", booking.to_string().into_bytes(), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    app.run_pending_jobs().await;
    let ana = "ana.reis@example.com";
    let kinds: Vec<String> = events(&app, ana).await.into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["booking.created", "booking.confirmed"]);
    let sent = std::fs::read_to_string(&outbox).expect("the confirmation was written");
    assert!(sent.contains(ana), "{sent}");
    assert_eq!(
        obligations(&app, ana, "confirm-booking").await,
        [(Some("bk-6Tq2Lx".to_string()), Some(Closure::Kept))]
    );
    let reminder: Vec<_> = app
        .service
        .customer_obligations(ana)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| &*o.policy == "booking-reminder")
        .collect();
    assert_eq!(reminder.len(), 1, "{reminder:?}");
    assert_eq!(reminder[0].reference.as_deref(), Some("bk-6Tq2Lx"));
    assert_eq!(reminder[0].closure, None);
    assert_eq!(
        reminder[0].due_at,
        starts - SignedDuration::from_hours(24),
        "the reminder is due a day before the booking starts"
    );
}

/// Erasure takes the kept bodies and the links with the customer.
async fn forgetting_a_customer_removes_their_deliveries(backend: Backend) {
    let app = app(backend).await;
    let priya = "priya.n@example.net";
    let placed = deliver(
        &app,
        "shopify",
        "shop",
        fixture("shopify/orders_create.json"),
        &[
            ("X-Shopify-Topic", "orders/create"),
            ("X-Shopify-Webhook-Id", "f-1"),
        ],
    )
    .await;
    assert_eq!(placed.status, 200, "{}", placed.text);
    assert_eq!(kept(&app, "shop").await, 1);
    let audit = seen::store::NewAudit::new("test", "customer.forgotten", None);
    app.service
        .forget_customer(priya, "forgotten-1", audit)
        .await
        .expect("forget");
    assert_eq!(kept(&app, "shop").await, 0);
    let links = app
        .service
        .recall_links("shop", vec!["order:5821004411".into()])
        .await
        .unwrap();
    assert!(links.is_empty(), "{links:?}");
}

on_both_backends!(
    calcom_bookings_are_confirmed_and_followed_through_reschedules,
    calendly_reschedule_keeps_one_booking,
    shopify_orders_are_followed_to_delivery,
    woocommerce_orders_by_status,
    twilio_sms_is_a_message_to_answer,
    whatsapp_handshake_messages_and_statuses,
    generic_mapping_replays_after_a_fix_and_prunes,
    forgetting_a_customer_removes_their_deliveries,
    a_calcom_booking_is_confirmed_and_reminded,
);

/// `seen connectors test` on a webhook connector: the URL to enter at the provider, whether a delivery's
/// signature verifies, and the events it would become, with nothing written.
#[test]
fn connectors_test_verifies_a_delivery_and_writes_nothing() {
    secrets();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        format!("[actions]\npublic_url = \"https://seen.example.com\"\n{CONFIG}"),
    )
    .expect("config");
    let body = dir.path().join("order.json");
    std::fs::write(&body, fixture("shopify/orders_create.json")).expect("body");
    let db = dir.path().join("never.db");
    let db = db.to_str().expect("path");
    let run = |headers: &[(String, String)]| {
        let mut args = vec![
            "connectors".to_string(),
            "test".into(),
            "shop".into(),
            "--body".into(),
            body.to_str().expect("path").into(),
        ];
        for (name, value) in headers {
            args.extend(["--header".into(), format!("{name}: {value}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        seen_cli(db, &config, &args)
    };
    let mut headers = signed("shopify", &fixture("shopify/orders_create.json"));
    headers.push(("X-Shopify-Topic".into(), "orders/create".into()));
    let out = run(&headers);
    assert!(
        out.contains(
            "shop (shopify): the provider posts to https://seen.example.com/hooks/shopify/shop"
        ),
        "{out}"
    );
    assert!(out.contains("signature: valid"), "{out}");
    assert!(out.contains("would store order.placed \"shop:"), "{out}");
    assert!(out.contains("for \"priya.n@example.net\""), "{out}");
    // Signed with another secret: said, and the mapping still shown.
    let mut headers = signed_with(
        "not-the-secret",
        "shopify",
        &fixture("shopify/orders_create.json"),
    );
    headers.push(("X-Shopify-Topic".into(), "orders/create".into()));
    let out = run(&headers);
    assert!(out.contains("does not verify"), "{out}");
    assert!(out.contains("would store order.placed"), "{out}");
    // A topic Seen does not map is what the provider would get a 202 for.
    let mut headers = signed("shopify", &fixture("shopify/orders_create.json"));
    headers.push(("X-Shopify-Topic".into(), "products/update".into()));
    let out = run(&headers);
    assert!(out.contains("ignored (202)"), "{out}");
    assert!(
        !std::path::Path::new(db).exists(),
        "a test writes nothing, not even a database"
    );
}
