//! Retention cohorts (`seen retention`, `GET /v1/retention`, `/retention`) on hand-built histories, on both
//! backends: cohort boundaries at month edges, customers with no qualifying event, empty months, inactive
//! months in between, what counts as activity, the churn model's P(alive) beside them; and `seen retention
//! run` still applying `[retention]`.

use std::process::{Command, Output};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::{json, Value};

use crate::common::dashboard::{add_user, client, login};
use crate::common::{event, spawn_app, Backend, TestApp};
use seen::service::cohorts::{CohortSettings, Retention, RetentionQuery};
use seen::store::ChurnScore;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn settings() -> CohortSettings {
    CohortSettings {
        zone: TimeZone::UTC,
        purchase_types: vec!["purchase".into(), "order.placed".into()],
    }
}

const NOW: &str = "2026-04-15T12:00:00Z";

/// The history: customers a, b, e join by purchase; c bought before the first month; d never bought; f buys
/// after "now". Posted in an order that is not the events' order.
async fn history(app: &TestApp) {
    let events = json!([
        // a: the last instant of January; a staff reply in February (not activity); writes in March.
        event("a3", "message.received", "a", "2026-03-05T10:00:00Z", None),
        event("a1", "purchase", "a", "2026-01-31T23:59:59Z", None),
        event("a2", "message.sent", "a", "2026-02-10T09:00:00Z", None),
        // b: an order at February's first instant, buys again at April's first instant.
        event("b2", "purchase", "b", "2026-04-01T00:00:00Z", None),
        event(
            "b1",
            "order.placed",
            "b",
            "2026-02-01T00:00:00Z",
            Some("o-b")
        ),
        // c: first purchase a nanosecond before January: in no cohort, whatever it did later.
        event(
            "c1",
            "purchase",
            "c",
            "2025-12-31T23:59:59.999999999Z",
            None
        ),
        event("c2", "purchase", "c", "2026-01-15T00:00:00Z", None),
        // d: visits, never buys.
        event("d1", "visit.arrived", "d", "2026-01-10T12:00:00Z", None),
        event("d2", "message.received", "d", "2026-02-11T12:00:00Z", None),
        // e: buys in January; then only things the business does (a survey sent, Seen's gone-quiet).
        event("e1", "purchase", "e", "2026-01-05T08:00:00Z", None),
        event("e2", "survey.sent", "e", "2026-02-03T08:00:00Z", None),
        event(
            "e3",
            "customer.gone_quiet",
            "e",
            "2026-03-01T08:00:00Z",
            None
        ),
        // f: buys after "now".
        event("f1", "purchase", "f", "2026-04-16T00:00:00Z", None),
    ]);
    let (status, body) = app.post_events(&events).await;
    assert_eq!(status, 200, "{body}");
}

fn score(customer: &str, p_alive: f64) -> ChurnScore {
    ChurnScore {
        customer: customer.into(),
        p_alive,
        expected_purchases: 1.0,
        average_value: None,
        value_if_active: None,
        value_at_risk: None,
        frequency: 0.0,
        recency: 0.0,
        age: 1.0,
        last_purchase_at: t("2026-01-31T23:59:59Z"),
        gone_quiet: false,
    }
}

async fn report(app: &TestApp, by: &str, active: Option<&str>) -> Retention {
    let now = t(NOW);
    let query = RetentionQuery::parse(&TimeZone::UTC, Some(by), Some("2026-01"), None, active, now)
        .unwrap();
    app.service
        .retention(&settings(), &query, now)
        .await
        .unwrap()
}

fn actives(r: &Retention, month: &str) -> Vec<u64> {
    let c = r.cohorts.iter().find(|c| c.month == month).unwrap();
    c.months.iter().map(|m| m.active).collect()
}

fn customers(r: &Retention) -> Vec<(String, u64)> {
    r.cohorts
        .iter()
        .map(|c| (c.month.clone(), c.customers))
        .collect()
}

async fn cohorts_by_first_purchase_on_hand_built_histories(backend: Backend) {
    let app = spawn_app(backend).await;
    history(&app).await;
    let r = report(&app, "purchase", None).await;
    assert_eq!(r.joined_by, ["purchase", "order.placed"]);
    assert_eq!(
        customers(&r),
        [
            ("2026-01".to_string(), 2), // a, e (not c: it first bought in December)
            ("2026-02".to_string(), 1), // b, at February's first instant
            ("2026-03".to_string(), 0), // nobody: an empty month is still a row
            ("2026-04".to_string(), 0), // f's purchase is after now
        ]
    );
    // January: both in month 0; nobody in February (a reply and a survey sent are not the customer's doing);
    // a is back in March; April so far nobody.
    assert_eq!(actives(&r, "2026-01"), [2, 0, 1, 0]);
    let jan = &r.cohorts[0];
    assert_eq!(jan.months[2].share, Some(0.5));
    assert!(jan.months[2].complete);
    assert!(!jan.months[3].complete, "April is in progress");
    // February: b in month 0 and in April (month 2), not in March.
    assert_eq!(actives(&r, "2026-02"), [1, 0, 1]);
    assert!(r.cohorts[2].months.iter().all(|m| m.share.is_none()));
    assert_eq!(r.cohorts[3].months.len(), 1);
    // No churn fit yet: no forecast.
    assert_eq!(r.churn_fitted_at, None);
    assert!(r.cohorts.iter().all(|c| c.p_alive.is_none()));
    // All cohorts: month 0 = 3/3; month 1 = 0/3; month 2 = (1 + 1)/3 (January and February reached it).
    assert_eq!(r.average[0], Some(1.0));
    assert_eq!(r.average[1], Some(0.0));
    assert!((r.average[2].unwrap() - 2.0 / 3.0).abs() < 1e-12);

    // The churn model's scores: January's mean P(alive) over a and e; c is scored but in no cohort.
    app.service
        .store()
        .save_churn(
            t("2026-04-10T00:00:00Z"),
            json!({"usable": true}),
            vec![score("a", 0.9), score("e", 0.3), score("c", 0.1)],
        )
        .await
        .unwrap();
    let r = report(&app, "purchase", None).await;
    assert_eq!(r.churn_fitted_at, Some(t("2026-04-10T00:00:00Z")));
    assert_eq!(r.cohorts[0].scored, 2);
    assert!((r.cohorts[0].p_alive.unwrap() - 0.6).abs() < 1e-12);
    assert_eq!((r.cohorts[1].scored, r.cohorts[1].p_alive), (0, None));
}

async fn activity_and_cohort_types_can_be_chosen(backend: Backend) {
    let app = spawn_app(backend).await;
    history(&app).await;
    // Active = a purchase: a's March message no longer counts; b's April purchase does.
    let r = report(&app, "purchase", Some("purchase")).await;
    assert_eq!(r.active.as_deref(), Some(&["purchase".to_string()][..]));
    assert!(r.not_active.is_empty());
    assert_eq!(actives(&r, "2026-01"), [2, 0, 0, 0]);
    assert_eq!(
        actives(&r, "2026-02"),
        [0, 0, 1],
        "order.placed is not `purchase`"
    );
    // By first visit: d only, in January; its February message counts.
    let r = report(&app, "visit", None).await;
    assert_eq!(r.joined_by, ["visit.arrived"]);
    assert_eq!(customers(&r)[0], ("2026-01".to_string(), 1));
    assert_eq!(actives(&r, "2026-01"), [1, 1, 0, 0]);
    // By a type of one's choosing: the first survey sent (e in February). Activity stays the default.
    let r = report(&app, "survey.sent", None).await;
    assert_eq!(
        customers(&r),
        [
            ("2026-01".to_string(), 0),
            ("2026-02".to_string(), 1),
            ("2026-03".to_string(), 0),
            ("2026-04".to_string(), 0)
        ]
    );
    assert_eq!(actives(&r, "2026-02"), [0, 0, 0]);
}

/// The first month of the current year… relative to the real clock, for the HTTP doors (they use "now").
fn months_ago(n: i64) -> Timestamp {
    let now = Timestamp::now().to_zoned(TimeZone::UTC);
    let first = now.date().first_of_month();
    first
        .checked_sub(n.months())
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp()
}

async fn live_history(app: &TestApp) {
    let hour = SignedDuration::from_hours(1);
    let events = json!([
        event(
            "p1",
            "purchase",
            "x",
            &(months_ago(2) + hour).to_string(),
            None
        ),
        event(
            "p2",
            "message.received",
            "x",
            &(months_ago(1) + hour).to_string(),
            None
        ),
        event(
            "p3",
            "purchase",
            "y",
            &(months_ago(2) + hour * 2).to_string(),
            None
        ),
    ]);
    let (status, body) = app.post_events(&events).await;
    assert_eq!(status, 200, "{body}");
}

async fn the_api_answers_the_table_and_names_bad_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    live_history(&app).await;
    let (status, body) = app.get_json("/v1/retention").await;
    assert_eq!(status, 200, "{body}");
    let cohorts = body["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 12, "the last twelve months by default");
    let two_ago = &cohorts[9];
    assert_eq!(two_ago["customers"], 2, "{body}");
    assert_eq!(two_ago["months"][0]["share"], 1.0);
    assert_eq!(two_ago["months"][1]["active"], 1);
    assert_eq!(two_ago["months"][1]["share"], 0.5);
    assert_eq!(two_ago["months"][2]["complete"], false);
    assert_eq!(body["by"], "purchase");
    assert_eq!(
        body["timezone"], "UTC",
        "the dashboard's zone ([calendars.office])"
    );
    assert!(body["not_active"]
        .as_array()
        .unwrap()
        .contains(&json!("message.sent")));
    let month = |t: Timestamp| t.to_zoned(TimeZone::UTC).strftime("%Y-%m").to_string();
    let (status, body) = app
        .get_json(&format!(
            "/v1/retention?by=purchase&from={}&to={}&active=purchase",
            month(months_ago(2)),
            month(months_ago(1))
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cohorts"].as_array().unwrap().len(), 1);
    assert_eq!(body["cohorts"][0]["months"][1]["active"], 0);
    for (query, field) in [
        ("by=bad%20type", "by"),
        ("from=yesterday", "from"),
        ("from=1990-01", "from"),
        ("to=2000-01", "to"),
        ("active=", "active"),
        ("active=a,%01", "active"),
        ("colour=blue", "colour"),
    ] {
        let (status, body) = app.get_json(&format!("/v1/retention?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.to_string().contains(field),
            "{query}: the error names {field}: {body}"
        );
    }
    let (_, doc) = app.get_json("/openapi.json").await;
    assert!(
        doc["paths"]["/v1/retention"]["get"].is_object(),
        "documented"
    );
    assert!(doc["components"]["schemas"]["Retention"].is_object());
}

async fn the_dashboard_page_shows_the_heatmap_and_p_alive(backend: Backend) {
    let app = spawn_app(backend).await;
    live_history(&app).await;
    add_user(&app, "agent@example.com", seen::store::Role::Agent).await;
    add_user(&app, "boss@example.com", seen::store::Role::Manager).await;
    let manager = login(&app, "boss@example.com").await;
    let agent = login(&app, "agent@example.com").await;
    let get = |session: String, path: String| {
        let address = app.address.clone();
        async move {
            let response = client()
                .get(format!("{address}{path}"))
                .header("cookie", format!("seen_session={session}"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = get(manager.clone(), "/retention".into()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>Retention</h1>"));
    assert!(
        html.contains(r#"href="/retention" class="here""#),
        "in the nav"
    );
    let month = months_ago(2)
        .to_zoned(TimeZone::UTC)
        .strftime("%Y-%m")
        .to_string();
    let row = html
        .split("<tr>")
        .find(|r| r.contains(&format!(r#"<th scope="row">{month}</th>"#)))
        .unwrap_or_else(|| panic!("a row for {month}: {html}"));
    assert!(row.contains(r#"<td class="num">2</td>"#), "{row}");
    assert!(
        row.contains(r#"class="num heat heat-10""#),
        "month 0: everyone: {row}"
    );
    assert!(row.contains(">100%<"), "{row}");
    assert!(
        row.contains(r#"class="num heat heat-5""#),
        "month 1: half: {row}"
    );
    assert!(
        row.contains(">50%<"),
        "the number is shown, not only the colour: {row}"
    );
    assert!(html.contains("no churn model yet"));
    // A narrower question through the form; a bad one is refused with its field named.
    let (status, html) = get(
        manager.clone(),
        "/retention?by=visit&from=&to=&active=".into(),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("first visit (visit.arrived)"), "{html}");
    let (status, body) = get(manager.clone(), "/retention?from=soon".into()).await;
    assert_eq!(status, 400);
    assert!(body.contains("from"), "{body}");
    // Managers only.
    let (status, _) = get(agent, "/retention".into()).await;
    assert_eq!(status, 403);
}

on_both_backends!(
    cohorts_by_first_purchase_on_hand_built_histories,
    activity_and_cohort_types_can_be_chosen,
    the_api_answers_the_table_and_names_bad_parameters,
    the_dashboard_page_shows_the_heatmap_and_p_alive,
);

// ---------------------------------------------------------------------------------------------------
// The command line: `seen retention [flags]` shows cohorts; `seen retention run` applies [retention].

fn seen(db: &str, args: &[&str], config: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("seen"));
    command
        .env_remove("SEEN_CONFIG")
        .env_remove("SEEN_DATABASE_URL")
        .env("SEEN_LOG", "warn")
        .args(["--db", db]);
    if let Some(config) = config {
        command.args(["--config", config.to_str().unwrap()]);
    }
    command.args(args).output().expect("run seen")
}

fn text(output: &Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_cohorts_and_still_runs_retention() {
    let app = spawn_app(Backend::Sqlite).await;
    live_history(&app).await;
    let db = app.db.url.clone();
    let (ok, out, err) = text(&seen(&db, &["retention", "--format", "json"], None));
    assert!(ok, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["cohorts"].as_array().unwrap().len(), 12);
    assert_eq!(body["cohorts"][9]["customers"], 2, "{out}");
    assert_eq!(body["cohorts"][9]["months"][1]["active"], 1);

    let (ok, out, err) = text(&seen(&db, &["retention", "--by", "purchase"], None));
    assert!(ok, "{err}");
    let month = months_ago(2)
        .to_zoned(TimeZone::UTC)
        .strftime("%Y-%m")
        .to_string();
    let line = out
        .lines()
        .find(|l| l.starts_with(&month))
        .unwrap_or_else(|| panic!("a line for {month}: {out}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        [month.as_str(), "2", "-", "100%", "50%"],
        "{out}"
    );
    assert!(
        out.contains("active: any event except message.sent"),
        "{out}"
    );

    let (ok, _, err) = text(&seen(&db, &["retention", "--from", "next tuesday"], None));
    assert!(!ok);
    assert!(err.contains("--from"), "{err}");

    // `run` is as it was: it applies [retention] (the defaults, then a setting) and says what it cleared.
    let (ok, out, err) = text(&seen(&db, &["retention", "run"], None));
    assert!(ok, "{err}");
    assert!(
        out.starts_with("cleared the properties of 0 events"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(&config, "[retention]\nevents_properties = \"400d\"\n").unwrap();
    let (ok, out, err) = text(&seen(&db, &["retention", "run"], Some(&config)));
    assert!(ok, "{err}");
    assert!(out.contains("properties of 0 events"), "{out}");
    // Flags belong to the cohorts, not to `run`.
    let (ok, _, err) = text(&seen(&db, &["retention", "--by", "visit", "run"], None));
    assert!(!ok, "{err}");
}
