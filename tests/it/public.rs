//! The public promise figures (`[public]`): off by default (404), and when on, this month's kept-on-time
//! rate, median and p90 match hand-computed values, the badge is well-formed, escaped SVG, and no customer
//! appears anywhere in either answer. Both backends.

use crate::common::dashboard::client;
use crate::common::{spawn_app_with, Backend, TestApp};
use jiff::{SignedDuration, Timestamp, ToSpan};
use seen::config::Config;
use serde_json::{json, Value};

async fn get(
    app: &TestApp,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = client().get(format!("{}{path}", app.address));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    (
        response.status().as_u16(),
        response.text().await.unwrap(),
        headers,
    )
}

/// A zone in which the current calendar month began at least 6 hours ago (so the fixture fits in it).
fn zone_with_room(now: Timestamp) -> &'static str {
    let month_start = |zone: &str| {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        now.to_zoned(tz)
            .first_of_month()
            .unwrap()
            .start_of_day()
            .unwrap()
            .timestamp()
    };
    if now.duration_since(month_start("UTC")) >= SignedDuration::from_hours(6) {
        "UTC"
    } else {
        "Etc/GMT+12"
    }
}

fn config(enabled: bool, zone: &str) -> Config {
    Config::from_toml(
        &format!(
            r#"
            [server]
            timezone = "{zone}"
            [public]
            enabled = {enabled}
            [[public.promises]]
            policy = "reply"
            label = "messages <answered> & \"read\""
            [[policies]]
            name = "reply"
            kind = "expect"
            trigger = ["message.received"]
            expect = ["message.sent"]
            within = "1h"
            [[policies]]
            name = "callback"
            kind = "expect"
            trigger = ["call.missed"]
            expect = ["call.made"]
            within = "1h"
            "#
        ),
        "test",
    )
    .unwrap()
}

/// Four decided promises this month: kept after 10 and 30 minutes (on time), after 2 hours (late), and
/// one never answered (breached); one more still open.
async fn app_with_promises(backend: Backend, enabled: bool) -> TestApp {
    let now = Timestamp::now();
    let zone = zone_with_room(now);
    let app = spawn_app_with(backend, config(enabled, zone)).await;
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let month_start = now
        .to_zoned(tz)
        .first_of_month()
        .unwrap()
        .start_of_day()
        .unwrap();
    // Early enough that every deadline (an hour) and the late answer (2 hours) are past.
    let base = (month_start.timestamp() + SignedDuration::from_mins(1))
        .max(now - SignedDuration::from_hours(5));
    let at = |mins: i64| (base + SignedDuration::from_mins(mins)).to_string();
    let mut events = Vec::new();
    for (customer, answered_after) in [
        ("cust-a", Some(10)),
        ("cust-b", Some(30)),
        ("cust-c", Some(120)),
        ("cust-d", None),
    ] {
        events.push(json!({ "id": format!("{customer}-in"), "type": "message.received", "customer": customer,
            "customer_name": format!("Name of {customer}"), "customer_email": format!("{customer}@example.com"),
            "customer_phone": "+351 912 345 678", "at": at(0) }));
        if let Some(mins) = answered_after {
            events.push(json!({ "id": format!("{customer}-out"), "type": "message.sent", "customer": customer, "at": at(mins) }));
        }
    }
    events.push(
        json!({ "id": "cust-e-in", "type": "message.received", "customer": "cust-e",
        "customer_name": "Name of cust-e", "at": (now - 10.minutes()).to_string() }),
    );
    events.push(
        json!({ "id": "cust-f-in", "type": "call.missed", "customer": "cust-f", "at": at(0) }),
    );
    let (status, body) = app.post_events(&Value::Array(events)).await;
    assert_eq!(status, 200, "{body}");
    app
}

async fn off_by_default_and_then_everything_is_404(backend: Backend) {
    let app = app_with_promises(backend, false).await;
    for path in [
        "/promises/public",
        "/promises/public?format=json",
        "/promises/badge/reply.svg",
    ] {
        assert_eq!(get(&app, path, None).await.0, 404, "{path}");
    }
    // The defaults too.
    assert!(Config::defaults()
        .unwrap()
        .file
        .dashboard_settings(&Config::defaults().unwrap().engine)
        .unwrap()
        .public
        .is_none());
}

async fn figures_match_the_hand_computed_ones_and_name_no_customer(backend: Backend) {
    let app = app_with_promises(backend, true).await;
    let no_customer = |what: &str, text: &str| {
        for customer in [
            "cust-a",
            "cust-b",
            "cust-c",
            "cust-d",
            "cust-e",
            "cust-f",
            "example.com",
            "912",
            "Name of",
        ] {
            assert!(
                !text.contains(customer),
                "{what} names {customer:?}: {text}"
            );
        }
    };

    // JSON, by Accept or by ?format=json.
    for (path, accept) in [
        ("/promises/public", Some("application/json")),
        ("/promises/public?format=json", None),
    ] {
        let (status, body, headers) = get(&app, path, accept).await;
        assert_eq!(status, 200, "{path}");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(headers["cache-control"], "public, max-age=60");
        no_customer("JSON", &body);
        let figures: Value = serde_json::from_str(&body).unwrap();
        let promises = figures["promises"].as_array().unwrap();
        assert_eq!(promises.len(), 1, "only what is published: {figures}");
        let reply = &promises[0];
        assert_eq!(reply["policy"], "reply");
        assert_eq!(reply["within"], "within 1 h");
        // 2 of 4 decided kept on time (kept late and breached are not; the open one is not decided).
        assert_eq!(reply["decided"], 4, "{reply}");
        assert_eq!(reply["kept_on_time"], 2);
        assert_eq!(reply["kept_rate"], 50.0);
        // Kept after 600, 1800 and 7200 s: nearest-rank median 1800, p90 7200.
        assert_eq!(reply["median_seconds"], 1800);
        assert_eq!(reply["p90_seconds"], 7200);
    }

    // HTML: the sentence, escaped, without JavaScript.
    let (status, html, headers) = get(&app, "/promises/public", Some("text/html")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(!html.contains("<script"));
    no_customer("HTML", &html);
    assert!(html.contains("50 %"), "{html}");
    assert!(
        html.contains("within 1 h; median 30 min, 9 in 10 within 2 h."),
        "{html}"
    );
    assert!(
        html.contains("messages &lt;answered&gt; &amp; &quot;read&quot;"),
        "{html}"
    );
    assert!(!html.contains("<answered>"));
    assert!(html.contains("2 of 4 on time"));

    // The badge: well-formed SVG, the label escaped.
    let (status, svg, headers) = get(&app, "/promises/badge/reply.svg", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml; charset=utf-8");
    no_customer("badge", &svg);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>"));
    assert!(svg.contains("50 % on time"), "{svg}");
    assert!(
        svg.contains("messages &lt;answered&gt; &amp; &quot;read&quot;"),
        "{svg}"
    );
    assert_eq!(svg.matches('<').count(), svg.matches('>').count(), "{svg}");
    let opened =
        svg.matches("<text").count() + svg.matches("<rect").count() + svg.matches("<g ").count();
    let closed =
        svg.matches("</text>").count() + svg.matches("/>").count() + svg.matches("</g>").count();
    assert_eq!(opened, closed, "{svg}");

    // Unpublished, unknown or odd policies: 404.
    for path in [
        "/promises/badge/callback.svg",
        "/promises/badge/nope.svg",
        "/promises/badge/reply",
        "/promises/badge/reply.png",
        "/promises/badge/%3Cscript%3E.svg",
    ] {
        assert_eq!(get(&app, path, None).await.0, 404, "{path}");
    }

    // HEAD answers like GET, without a body, and changes nothing.
    let head = client()
        .head(format!("{}/promises/badge/reply.svg", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let (_, again, _) = get(&app, "/promises/badge/reply.svg", None).await;
    assert_eq!(again, svg);
}

on_both_backends!(
    off_by_default_and_then_everything_is_404,
    figures_match_the_hand_computed_ones_and_name_no_customer
);
