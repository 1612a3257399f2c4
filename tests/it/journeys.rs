//! Journeys on hand-built histories through the store, the service and the API, on both backends: steps in
//! order (an early later step waits), the window, per ref and per customer, ties at one instant, empty
//! periods, frustration by step, who is stuck; arrival order never changes a report; the CLI.

use serde_json::{json, Value};

use crate::common::{event, spawn_app_with, Backend, TestApp};
use seen::config::Config;

const CONFIG: &str = r#"
[[policies]]
name = "confirm"
kind = "expect"
trigger = ["booking.created"]
expect = ["booking.confirmed"]
within = "2h"

[[journeys]]
name = "booking"
per = "ref"
window = "10d"
steps = [
  { name = "booked",    events = ["booking.created"] },
  { name = "confirmed", events = ["booking.confirmed"] },
  { name = "prepared",  events = ["room.prepared"], customer_sees = false, tell_customer_after = "2d" },
  { name = "feedback",  events = ["survey.answered"] },
]

[[journeys]]
name = "life"
per = "customer"
window = "30d"
steps = [
  { name = "booked",    events = ["booking.created"] },
  { name = "confirmed", events = ["booking.confirmed"] },
  { name = "prepared",  events = ["room.prepared"], customer_sees = false },
  { name = "feedback",  events = ["survey.answered"] },
]
"#;

/// (id, type, customer, at, ref).
const HISTORY: &[(&str, &str, &str, &str, &str)] = &[
    // A1: every step; 1 h, 2 h, 27 h apart. An unhappy answer at feedback.
    ("a1", "booking.created", "a", "2026-03-02T09:00:00Z", "A1"),
    ("a2", "booking.confirmed", "a", "2026-03-02T10:00:00Z", "A1"),
    ("a3", "room.prepared", "a", "2026-03-02T12:00:00Z", "A1"),
    ("a4", "survey.answered", "a", "2026-03-03T15:00:00Z", "A1"),
    ("a5", "survey.unhappy", "a", "2026-03-03T15:00:00Z", "A1"),
    // A2: the same customer's second booking, confirmed only.
    ("a6", "booking.created", "a", "2026-03-04T09:00:00Z", "A2"),
    ("a7", "booking.confirmed", "a", "2026-03-04T10:00:00Z", "A2"),
    // B1: prepared before it was confirmed (does not count then), confirmed late (a breach), prepared again.
    ("b1", "booking.created", "b", "2026-03-02T09:00:00Z", "B1"),
    ("b2", "room.prepared", "b", "2026-03-02T11:00:00Z", "B1"),
    ("b3", "booking.confirmed", "b", "2026-03-02T14:00:00Z", "B1"),
    ("b4", "room.prepared", "b", "2026-03-02T15:00:00Z", "B1"),
    // C1: three steps at one instant, feedback two days later.
    ("c1", "booking.created", "c", "2026-03-03T09:00:00Z", "C1"),
    ("c2", "booking.confirmed", "c", "2026-03-03T09:00:00Z", "C1"),
    ("c3", "room.prepared", "c", "2026-03-03T09:00:00Z", "C1"),
    ("c4", "survey.answered", "c", "2026-03-05T09:00:00Z", "C1"),
    // D1: confirmed 11 days later, after its 10-day window (a breach too).
    ("d1", "booking.created", "d", "2026-03-05T09:00:00Z", "D1"),
    ("d2", "booking.confirmed", "d", "2026-03-16T09:00:00Z", "D1"),
    // E1 entered before the period, F1 after it.
    ("e1", "booking.created", "e", "2026-02-20T09:00:00Z", "E1"),
    ("e2", "booking.confirmed", "e", "2026-03-02T09:00:00Z", "E1"),
    ("f1", "booking.created", "f", "2026-03-09T09:00:00Z", "F1"),
];

const PERIOD: &str = "from=2026-03-01T00:00:00Z&to=2026-03-08T00:00:00Z";

fn config() -> Config {
    Config::from_toml(CONFIG, "journeys test").expect("the test configuration loads")
}

async fn app_with(backend: Backend, order: impl Fn(&mut Vec<Value>)) -> TestApp {
    let app = spawn_app_with(backend, config()).await;
    let mut events: Vec<Value> = HISTORY
        .iter()
        .map(|(id, kind, customer, at, r)| event(id, kind, customer, at, Some(r)))
        .collect();
    order(&mut events);
    // Batches of three, so later batches arrive late for some customers.
    for batch in events.chunks(3) {
        let (status, body) = app.post_events(&json!(batch)).await;
        assert_eq!(status, 200, "{body}");
    }
    app.run_pending_jobs().await;
    app
}

async fn report(app: &TestApp, name: &str, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("/v1/journeys/{name}?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn column(report: &Value, field: &str) -> Vec<Value> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s[field].clone())
        .collect()
}

async fn a_booking_journey_step_by_step(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let r = report(
        &app,
        "booking",
        &format!("{PERIOD}&as_of=2026-03-20T00:00:00Z"),
    )
    .await;
    assert_eq!(r["journey"], "booking");
    assert_eq!(r["from"], "2026-03-01T00:00:00Z");
    assert_eq!(r["entered"], 5, "{r}");
    assert_eq!(r["completed"], 2);
    assert_eq!(
        column(&r, "name"),
        json!(["booked", "confirmed", "prepared", "feedback"])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(
        column(&r, "customer_sees"),
        vec![json!(true), json!(true), json!(false), json!(true)]
    );
    assert_eq!(
        column(&r, "reached"),
        vec![json!(5), json!(4), json!(3), json!(2)]
    );
    assert_eq!(
        column(&r, "drop_off"),
        vec![json!(0), json!(1), json!(1), json!(1)]
    );
    assert_eq!(
        column(&r, "conversion_from_previous"),
        vec![json!(1.0), json!(0.8), json!(0.75), json!(2.0 / 3.0)]
    );
    assert_eq!(column(&r, "conversion_from_entry")[3], json!(0.4));
    // confirmed: 0, 1 h, 1 h, 5 h; prepared: 0, 1 h, 2 h; feedback: 27 h, 48 h (nearest rank).
    assert_eq!(
        column(&r, "median_seconds_from_previous"),
        vec![Value::Null, json!(3_600), json!(3_600), json!(97_200)]
    );
    assert_eq!(
        column(&r, "p90_seconds_from_previous"),
        vec![Value::Null, json!(18_000), json!(7_200), json!(172_800)]
    );
    // serde_json parses floats to within one ulp (no `float_roundtrip`): compare within 1e-12.
    let share = column(&r, "time_share")[3].as_f64().expect("time_share");
    assert!((share - 97_200.0 / 104_400.0).abs() < 1e-12, "{share}");
    // Confirmed in at most 1 h: A1, A2, C1 (two completed); slower: B1 (not).
    assert_eq!(column(&r, "completion_if_fast")[1], json!(2.0 / 3.0));
    assert_eq!(column(&r, "completion_if_slow")[1], json!(0.0));
    // B1 and D1 breached the 2-hour confirmation while booked; A1's unhappy answer came at feedback.
    assert_eq!(
        column(&r, "breaches"),
        vec![json!(2), json!(0), json!(0), json!(0)]
    );
    assert_eq!(
        column(&r, "unhappy"),
        vec![json!(0), json!(0), json!(0), json!(1)]
    );
    assert_eq!(r["stuck"], json!([]), "every window ended by as_of");

    // Per customer: a's two bookings are one journey; d's late confirmation is inside 30 days.
    let life = report(
        &app,
        "life",
        &format!("{PERIOD}&as_of=2026-03-20T00:00:00Z"),
    )
    .await;
    assert_eq!(life["entered"], 4);
    assert_eq!(
        column(&life, "reached"),
        vec![json!(4), json!(4), json!(3), json!(2)]
    );
}

async fn who_is_stuck_and_an_empty_period(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let r = report(
        &app,
        "booking",
        &format!("{PERIOD}&as_of=2026-03-06T09:00:00Z"),
    )
    .await;
    // As of then: B1 waits at prepared for 90 h (feedback's p90 is 48 h), A2 at confirmed for 47 h
    // (prepared's p90 is 2 h), D1 at booked for 24 h (confirmed's p90 is 5 h).
    let stuck: Vec<(String, String, String)> = r["stuck"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["ref"].as_str().unwrap().to_string(),
                s["step"].as_str().unwrap().to_string(),
                s["since"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stuck,
        vec![
            (
                "B1".into(),
                "prepared".into(),
                "2026-03-02T15:00:00Z".into()
            ),
            (
                "A2".into(),
                "confirmed".into(),
                "2026-03-04T10:00:00Z".into()
            ),
            ("D1".into(), "booked".into(), "2026-03-05T09:00:00Z".into()),
        ]
    );
    assert_eq!(r["stuck"][0]["customer"], "b");

    let empty = report(
        &app,
        "booking",
        "from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z",
    )
    .await;
    assert_eq!(empty["entered"], 0);
    assert_eq!(column(&empty, "reached"), vec![json!(0); 4]);
    assert_eq!(
        column(&empty, "conversion_from_previous"),
        vec![Value::Null; 4]
    );
    assert_eq!(
        column(&empty, "median_seconds_from_previous"),
        vec![Value::Null; 4]
    );

    // Where one customer is.
    let mine = app
        .service
        .customer_journeys("a", "2026-03-06T09:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let rows: Vec<(&str, Option<&str>, &str, bool, bool)> = mine
        .iter()
        .map(|j| {
            (
                j.journey.as_str(),
                j.reference.as_deref(),
                j.step.as_str(),
                j.completed,
                j.stuck,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("booking", Some("A1"), "feedback", true, false),
            ("booking", Some("A2"), "confirmed", false, true),
            ("life", None, "feedback", true, false),
        ]
    );
}

async fn arrival_order_never_changes_a_report(backend: Backend) {
    let query = format!("{PERIOD}&as_of=2026-03-20T00:00:00Z");
    let sorted = app_with(backend, |_| {}).await;
    let expected = report(&sorted, "booking", &query).await;
    let expected_life = report(&sorted, "life", &query).await;
    drop(sorted);
    for order in [
        (|e: &mut Vec<Value>| e.reverse()) as fn(&mut Vec<Value>),
        |e: &mut Vec<Value>| e.rotate_left(7),
    ] {
        let app = app_with(backend, order).await;
        assert_eq!(report(&app, "booking", &query).await, expected);
        assert_eq!(report(&app, "life", &query).await, expected_life);
    }
}

async fn the_api_lists_journeys_and_names_bad_parameters(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let (status, list) = app.get_json("/v1/journeys").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "booking");
    assert_eq!(list[0]["window"], 864_000);
    assert_eq!(list[0]["steps"][2]["tell_customer_after"], 172_800);
    assert_eq!(list[1]["per"], "customer");
    let (status, body) = app.get_json("/v1/journeys/nope").await;
    assert_eq!(status, 404, "{body}");
    for (query, named) in [
        ("from=yesterday", "field `from`"),
        ("to=2026-13-01T00:00:00Z", "field `to`"),
        ("as_of=x", "field `as_of`"),
        ("since=2026-01-01T00:00:00Z", "unknown parameter \"since\""),
    ] {
        let (status, body) = app.get_json(&format!("/v1/journeys/booking?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(named), "{query}: {body}");
    }
    let (status, body) = app
        .get_json("/v1/journeys/booking?from=2026-03-08T00:00:00Z&to=2026-03-01T00:00:00Z")
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, spec) = app.get_json("/openapi.json").await;
    assert!(spec["paths"]["/v1/journeys/{name}"]["get"].is_object());
    // Paths through the service: A1 and C1 took every step in order.
    let paths = app
        .service
        .journey_paths(
            "booking",
            seen::service::journeys::Period {
                from: Some("2026-03-01T00:00:00Z".parse().unwrap()),
                to: Some("2026-03-08T00:00:00Z".parse().unwrap()),
                as_of: "2026-03-20T00:00:00Z".parse().unwrap(),
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(paths.entered, 5);
    assert_eq!(
        paths.paths[0].path,
        vec![
            "booking.created",
            "booking.confirmed",
            "room.prepared",
            "survey.answered"
        ]
    );
    assert_eq!((paths.paths[0].journeys, paths.paths[0].completed), (2, 2));
}

/// Both ways a report is computed, on one app: `journey_report` (from the progress SQLite keeps per key)
/// and the report of `journey_overview` (always one pass over the events).
async fn both_ways(service: &seen::service::Service, name: &str) -> (Value, Value) {
    let period = seen::service::journeys::Period {
        from: Some("2026-02-01T00:00:00Z".parse().unwrap()),
        to: Some("2026-03-10T00:00:00Z".parse().unwrap()),
        as_of: "2026-03-12T00:00:00Z".parse().unwrap(),
    };
    let kept = service.journey_report(name, period).await.unwrap();
    let overview = service.journey_overview(name, period, 5).await.unwrap();
    (json!(kept), json!(overview.report))
}

async fn kept_progress_is_the_report_of_the_events_at_every_step(backend: Backend) {
    let app = spawn_app_with(backend, config()).await;
    let mut events: Vec<Value> = HISTORY
        .iter()
        .map(|(id, kind, customer, at, r)| event(id, kind, customer, at, Some(r)))
        .collect();
    // Late arrivals for most keys, several events at one instant, a report after every batch.
    events.rotate_left(9);
    events.swap(0, 13);
    let mut reports = 0;
    for batch in events.chunks(2) {
        let (status, body) = app.post_events(&json!(batch)).await;
        assert_eq!(status, 200, "{body}");
        for name in ["booking", "life"] {
            let (kept, computed) = both_ways(&app.service, name).await;
            assert_eq!(
                kept,
                computed,
                "{name} after {} events",
                reports / 2 * 2 + 2
            );
            reports += 1;
        }
    }
    let (kept, _) = both_ways(&app.service, "booking").await;
    assert_eq!(kept["entered"], 7, "{kept}");
    assert_eq!(kept["steps"][3]["unhappy"], 1, "{kept}");

    // A changed definition (same name) is computed anew, not from the old one's progress.
    let journeys: Vec<seen::domain::journey::Journey> = config()
        .journeys
        .iter()
        .map(|j| {
            let mut j = j.clone();
            j.window = jiff::SignedDuration::from_hours(26);
            j
        })
        .collect();
    let shorter = app
        .service
        .clone()
        .with_journeys(std::sync::Arc::new(journeys));
    for name in ["booking", "life"] {
        let (kept, computed) = both_ways(&shorter, name).await;
        assert_eq!(kept, computed, "{name} with a 26 h window");
    }
    let (kept, _) = both_ways(&shorter, "booking").await;
    assert_eq!(kept["steps"][3]["reached"], 0, "{kept}");
    let (kept, _) = both_ways(&app.service, "booking").await;
    assert_eq!(kept["steps"][3]["reached"], 2, "{kept}");

    // An erased customer's journeys go; events arriving after the erasure still count.
    let audit = seen::store::NewAudit::new("test", "customer.forgotten", None);
    app.service
        .forget_customer("a", "forgotten-a", audit)
        .await
        .expect("forget");
    let (status, body) = app
        .post_events(&json!([
            event(
                "g1",
                "booking.created",
                "g",
                "2026-03-06T09:00:00Z",
                Some("G1")
            ),
            event(
                "g2",
                "booking.confirmed",
                "g",
                "2026-03-06T09:30:00Z",
                Some("G1")
            ),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    for name in ["booking", "life"] {
        let (kept, computed) = both_ways(&app.service, name).await;
        assert_eq!(kept, computed, "{name} after an erasure");
    }
    let (kept, _) = both_ways(&app.service, "booking").await;
    assert_eq!(kept["entered"], 6, "{kept}");
}

on_both_backends!(
    a_booking_journey_step_by_step,
    who_is_stuck_and_an_empty_period,
    arrival_order_never_changes_a_report,
    the_api_lists_journeys_and_names_bad_parameters,
    kept_progress_is_the_report_of_the_events_at_every_step,
);
