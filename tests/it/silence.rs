//! Noticing silence end to end, on both backends: CDNOW purchases stored as events → `jobs::churn::refit`
//! (RFM from the store, the fit, scores saved) → `GET /v1/churn/model|at-risk` → the buyers who went quiet
//! are invisible with the reason `gone-quiet` → a new purchase makes one visible again.

use crate::common;

use crate::common::{spawn_app, Backend, TestApp};
use seen::churn::ModelKind;
use seen::config::Config;
use seen::jobs::churn::{refit, ChurnJobError, ChurnSettings};
use serde_json::{json, Value};

const CALIBRATION_END: &str = "1997-10-01T00:00:00Z";

/// The CDNOW sample's calibration period (tests/fixtures/churn, from lifetimes 0.11.3) as purchase events, as
/// `seen import --format cdnow` makes them.
fn cdnow_events() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/churn/CDNOW_sample.txt"
    ))
    .expect("fixture");
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [id, _, date, items, value] = f.as_slice() else {
                return None;
            };
            // The 39 calibration weeks only: what a business would have known on 1 October 1997.
            if *date >= "19971001" {
                return None;
            }
            let at = format!("{}-{}-{}T12:00:00Z", &date[..4], &date[4..6], &date[6..]);
            Some(json!({
                "id": format!("cdnow-{id}-{date}-{i}"),
                "type": "purchase",
                "customer": format!("cdnow-{id}"),
                "at": at,
                "properties": { "value": value.parse::<f64>().unwrap(), "items": items.parse::<u64>().unwrap() },
            }))
        })
        .collect()
}

async fn load_cdnow(app: &TestApp) -> usize {
    let events = cdnow_events();
    for chunk in events.chunks(5_000) {
        let (status, body) = app.post_events(&json!(chunk)).await;
        assert_eq!(status, 200, "{body}");
    }
    events.len()
}

fn settings(kind: ModelKind) -> ChurnSettings {
    let mut settings =
        ChurnSettings::parse(&Config::defaults().unwrap().file.churn).expect("default [churn]");
    settings.kind = kind;
    settings
}

/// The same to three significant digits.
fn sig3(actual: f64, published: f64) -> bool {
    let scale = 10f64.powi(2 - published.abs().log10().floor() as i32);
    (actual * scale).round() == (published * scale).round()
}

async fn gone_quiet_is_visible_and_a_purchase_clears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    // Nothing fitted yet.
    let (status, body) = app.get_json("/v1/churn/model").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get_json("/v1/churn/at-risk").await;
    assert_eq!(status, 404);

    let purchases = load_cdnow(&app).await;
    assert!(purchases > 4_000 && purchases < 6_919, "{purchases}");
    let as_of: jiff::Timestamp = CALIBRATION_END.parse().unwrap();
    let outcome = refit(&app.service, &settings(ModelKind::BgNbd), as_of)
        .await
        .expect("refit");
    // The published BG/NBD fit (Fader, Hardie & Lee 2005), through the store and the job.
    assert_eq!(outcome.customers, 2_357);
    assert_eq!(outcome.purchases, purchases);
    let params = &outcome.model["model"]["params"];
    for (name, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        let value = params[name].as_f64().unwrap();
        assert!(
            sig3(value, published),
            "{name} = {value}, published {published}"
        );
    }
    assert!(
        outcome.gone_quiet > 0 && outcome.gone_quiet < 2_357,
        "{}",
        outcome.gone_quiet
    );
    assert_eq!(outcome.newly_flagged, outcome.gone_quiet);

    // The API serves the stored model and the at-risk list, highest value at risk first.
    let (status, model) = app.get_json("/v1/churn/model").await;
    assert_eq!(status, 200, "{model}");
    assert_eq!(model["model"]["model"]["kind"], "bgnbd");
    assert_eq!(model["model"]["settings"]["unit"], "week");
    assert_eq!(model["fitted_at"], "1997-10-01T00:00:00Z");
    let (status, risk) = app.get_json("/v1/churn/at-risk?top=5").await;
    assert_eq!(status, 200, "{risk}");
    let customers = risk["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 5);
    let at_risk: Vec<f64> = customers
        .iter()
        .map(|c| c["value_at_risk"].as_f64().unwrap())
        .collect();
    assert!(at_risk.windows(2).all(|w| w[0] >= w[1]), "{at_risk:?}");
    for c in customers {
        assert_eq!(c["gone_quiet"], true);
        let p = c["p_alive"].as_f64().unwrap();
        assert!((0.0..0.3).contains(&p), "{c}");
    }
    let (status, everyone) = app.get_json("/v1/churn/at-risk?top=10000&all=true").await;
    assert_eq!(status, 200);
    assert_eq!(everyone["customers"].as_array().unwrap().len(), 2_357);
    for bad in ["top=0", "top=x", "all=maybe", "nope=1"] {
        let (status, body) = app.get_json(&format!("/v1/churn/at-risk?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // Every buyer who went quiet is invisible, with that reason (purchases open no other promise).
    let (status, invisible) = app.get_json("/v1/invisible?limit=10000").await;
    assert_eq!(status, 200);
    assert_eq!(invisible["total"], outcome.gone_quiet as u64);
    let top = customers[0]["customer"].as_str().unwrap().to_string();
    let listed = invisible["invisible"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["customer"] == top.as_str())
        .expect("the top buyer at risk is invisible");
    assert_eq!(listed["reasons"][0]["policy"], "gone-quiet");

    // The same verdict again records nothing new.
    let again = refit(&app.service, &settings(ModelKind::BgNbd), as_of)
        .await
        .expect("refit");
    assert_eq!(again.gone_quiet, outcome.gone_quiet);
    assert_eq!(again.newly_flagged, 0);

    // They buy again: the promise is kept (late), and they are no longer invisible.
    let (status, _) = app
        .post_events(
            &json!([{ "id": "back-1", "type": "purchase", "customer": top,
            "at": "1997-10-02T10:00:00Z", "properties": { "value": 20.0 } }]),
        )
        .await;
    assert_eq!(status, 200);
    let (_, invisible) = app.get_json("/v1/invisible?limit=10000").await;
    assert_eq!(invisible["total"], outcome.gone_quiet as u64 - 1);
    assert!(invisible["invisible"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["customer"] != top.as_str()));

    // Pareto/NBD on the same events: the published fit (Schmittlein, Morrison & Colombo; Fader & Hardie).
    let pareto = refit(&app.service, &settings(ModelKind::ParetoNbd), as_of)
        .await
        .expect("pareto refit");
    let params = &pareto.model["model"]["params"];
    for (name, published) in [
        ("r", 0.553),
        ("alpha", 10.58),
        ("s", 0.606),
        ("beta", 11.67),
    ] {
        let value = params[name].as_f64().unwrap();
        assert!(
            sig3(value, published),
            "{name} = {value}, published {published}"
        );
    }
}

async fn too_little_data_is_a_clear_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = app
        .post_events(&json!([
            { "id": "p1", "type": "purchase", "customer": "only", "at": "2026-01-05T10:00:00Z", "properties": { "value": 10 } },
            { "id": "p2", "type": "purchase", "customer": "only", "at": "2026-02-05T10:00:00Z", "properties": { "value": "12.5" } },
        ]))
        .await;
    assert_eq!(status, 200);
    let err = refit(
        &app.service,
        &settings(ModelKind::ParetoNbd),
        "2026-03-01T00:00:00Z".parse().unwrap(),
    )
    .await
    .expect_err("one customer cannot be fitted");
    assert!(matches!(err, ChurnJobError::Model(_)), "{err:?}");
    assert!(err.to_string().contains("too few"), "{err}");
    // Nothing was stored.
    let (status, _) = app.get_json("/v1/churn/model").await;
    assert_eq!(status, 404);
}

on_both_backends!(
    gone_quiet_is_visible_and_a_purchase_clears_it,
    too_little_data_is_a_clear_error
);

#[test]
fn churn_settings_are_validated() {
    let mut config = Config::defaults().unwrap().file.churn;
    config.model = "weibull".into();
    let err = ChurnSettings::parse(&config).unwrap_err().to_string();
    assert!(err.contains("model") && err.contains("weibull"), "{err}");
    let mut config = Config::defaults().unwrap().file.churn;
    config.gone_quiet_below = 1.5;
    assert!(ChurnSettings::parse(&config)
        .unwrap_err()
        .to_string()
        .contains("gone_quiet_below"));
    let mut config = Config::defaults().unwrap().file.churn;
    config.refit_every = "0s".into();
    assert!(ChurnSettings::parse(&config).unwrap().refit_every.is_none());
}

/// The documented import command, then `seen serve` refits on its schedule by itself.
#[test]
fn serve_refits_on_its_schedule_after_a_cdnow_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db");
    let db = db.to_str().unwrap();
    let seen = || {
        let mut cmd = assert_cmd::Command::cargo_bin("seen").unwrap();
        cmd.env_remove("SEEN_CONFIG")
            .env_remove("SEEN_DATABASE_URL");
        cmd
    };
    let import = seen()
        .args(["--db", db, "import", "--format", "cdnow"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/churn/CDNOW_sample.txt"
        ))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&import.get_output().stdout).to_string()
        + &String::from_utf8_lossy(&import.get_output().stderr);
    assert!(text.contains("imported 6919 events"), "{text}");
    let key = String::from_utf8(
        seen()
            .args(["--db", db, "keys", "create", "test"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let key = key.trim().rsplit(' ').next().unwrap().to_string();
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        "[actions]\nenabled = false\n\n[churn]\nrefit_every = \"1s\"\n",
    )
    .unwrap();
    // `seen churn fit` as of today: the data ended in 1998, so the fit flags nobody and says why.
    let fit = seen()
        .env("SEEN_CONFIG", &config)
        .args(["--db", db, "churn", "fit"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&fit.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&fit.get_output().stderr).to_string();
    assert!(
        stdout.contains("nobody flagged") && stdout.contains("the data ends"),
        "{stdout}"
    );
    assert!(
        stderr.contains("churn fit as of") && stderr.contains("not used"),
        "{stderr}"
    );
    let model = seen()
        .args(["--db", db, "churn", "model"])
        .assert()
        .success();
    let model: Value = serde_json::from_slice(&model.get_output().stdout).unwrap();
    assert_eq!(model["model"]["usable"], false, "{model:#}");
    assert_eq!(model["model"]["data_ends"], "1998-06-30T12:00:00Z");
    let invisible = seen()
        .args(["--db", db, "report", "--format", "json"])
        .assert()
        .success();
    let invisible: Value = serde_json::from_slice(&invisible.get_output().stdout).unwrap();
    assert_eq!(
        invisible["invisible"].as_array().map(Vec::len),
        Some(0),
        "{invisible:#}"
    );

    let mut server = common::Server::start_with(db, std::process::Stdio::piped(), Some(&config));
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let response = client
            .get(format!("{}{path}", server.address))
            .bearer_auth(&key)
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
        )
    };
    // The CLI's fit is in the store; wait for the server's own (a later `fitted_at`).
    let (status, first) = get("/v1/churn/model");
    assert_eq!(status, 200, "{first}");
    let started = std::time::Instant::now();
    let model = loop {
        let (status, body) = get("/v1/churn/model");
        assert_eq!(status, 200, "{body}");
        if body["fitted_at"] != first["fitted_at"] {
            break body;
        }
        assert!(started.elapsed().as_secs() < 60, "no refit within a minute");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(model["model"]["model"]["kind"], "pareto");
    assert_eq!(model["model"]["model"]["customers"], 2_357);
    // Seen from today, CDNOW's data ended in 1998: the refit says so and flags nobody (it used to make every
    // one of the 2 357 buyers invisible as "gone quiet").
    assert_eq!(model["model"]["usable"], false, "{model:#}");
    let reasons = model["model"]["unusable_because"].to_string();
    assert!(reasons.contains("the data ends"), "{reasons}");
    let (status, at_risk) = get("/v1/churn/at-risk");
    assert_eq!(status, 200, "{at_risk}");
    assert_eq!(at_risk["usable"], false);
    assert_eq!(at_risk["customers"].as_array().map(Vec::len), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let (_, invisible) = get("/v1/invisible?limit=1");
    assert_eq!(invisible["total"], 0, "{invisible}");
    let mut stderr = server.child.stderr.take().unwrap();
    server.kill();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(log.contains("not used: nobody is flagged"), "{log}");
}
