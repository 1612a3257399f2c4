//! The HTTP API, spoken to over a real socket.

use crate::common;

use crate::common::{event, spawn_app, Backend};
use serde_json::json;

async fn health_and_openapi_need_no_key_but_everything_else_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let spec: serde_json::Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/events",
        "/v1/invisible",
        "/v1/customers/{id}",
        "/v1/obligations",
        "/v1/summary",
    ] {
        assert!(spec["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(spec["components"]["schemas"]["ObligationView"].is_object());

    for path in [
        "/v1/invisible",
        "/v1/summary",
        "/v1/obligations",
        "/v1/customers/x",
    ] {
        let anonymous = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = anonymous.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        let wrong = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth("seen_not-a-key")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let post = app
        .client
        .post(format!("{}/v1/events", app.address))
        .json(&json!({"type": "x", "customer": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
}

async fn a_batch_keeps_its_valid_items_and_names_the_bad_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let batch = json!([
        event("e1", "message.received", "c1", "2026-01-05T10:00:00Z", Some("T1")),
        {"id": "e2", "type": "message.received", "at": "2026-01-05T10:00:00Z"},
        {"id": "e3", "type": "message.received", "customer": "c2", "at": "last tuesday"},
        event("e4", "message.received", "c2", "2026-01-05T11:00:00Z", None),
        event("e1", "message.received", "c1", "2026-01-05T10:00:00Z", Some("T1")),
        {"id": "e5", "type": "message.received", "customer": "c3", "at": "2026-01-05T11:00:00Z", "extra": 1},
    ]);
    let (status, body) = app.post_events(&batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["rejected"], 3);
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "rejected",
            "rejected",
            "accepted",
            "duplicate",
            "rejected"
        ]
    );
    assert_eq!(results[1]["field"], "customer");
    assert_eq!(results[2]["field"], "at");
    assert!(results[5]["error"].as_str().unwrap().contains("extra"));

    // Sending the same batch again stores nothing new.
    let (_, again) = app.post_events(&batch).await;
    assert_eq!(again["accepted"], 0);
    assert_eq!(again["duplicates"], 3);

    // One object works too, and an id is minted when missing.
    let (status, single) = app
        .post_events(&json!({"type": "app.session", "customer": "c9"}))
        .await;
    assert_eq!(status, 200);
    let id = single["results"][0]["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUIDv7: {id}");

    // All rejected: 422.
    let (status, _) = app.post_events(&json!([{"type": "x"}])).await;
    assert_eq!(status, 422);
}

async fn bad_bodies_get_clear_errors_and_the_server_survives(backend: Backend) {
    let app = spawn_app(backend).await;
    for (body, code) in [
        ("{not json", "invalid_json"),
        ("42", "invalid_json"),
        ("[1, 2]", ""),
        ("", "invalid_json"),
        ("[{\"type\": \"a\", \"customer\": \"c\"}", "invalid_json"),
    ] {
        let response = app
            .post("/v1/events")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap();
        if code.is_empty() {
            assert_eq!(status, 422, "{body}: {json}");
        } else {
            assert_eq!(status, 400, "{body}: {json}");
            assert_eq!(json["error"], code);
            assert!(!json["detail"].as_str().unwrap().is_empty());
        }
    }
    let nested = "[".repeat(100_000);
    let response = app.post("/v1/events").body(nested).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Over the body limit: 413, as JSON.
    let huge = format!(
        "[{}]",
        vec!["{\"type\":\"a\",\"customer\":\"c\"}"; 400_000].join(",")
    );
    assert!(huge.len() > 10 * 1024 * 1024);
    let response = app.post("/v1/events").body(huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["error"], "body_too_large");

    // Over the batch limit: 413 too.
    let many: Vec<serde_json::Value> = (0..10_001)
        .map(|i| json!({"type": "a", "customer": format!("c{i}")}))
        .collect();
    let (status, json) = app.post_events(&json!(many)).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"], "batch_too_large");

    let wrong_method = app
        .client
        .delete(format!("{}/v1/events", app.address))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let json: serde_json::Value = wrong_method.json().await.unwrap();
    assert_eq!(json["error"], "method_not_allowed");
    let nowhere = app.get("/v2/nothing").send().await.unwrap();
    assert_eq!(nowhere.status(), 404);

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still alive");
}

async fn queries_show_invisible_customers_and_obligations(backend: Backend) {
    let app = spawn_app(backend).await;
    let events = json!([
        // Booking never confirmed, customer chases twice: invisible.
        {"id": "b1", "type": "booking.created", "customer": "ann", "customer_name": "Ann <script>", "ref": "BK-1",
         "at": "2026-01-05T10:00:00Z", "properties": {"starts_at": "2026-01-20T09:00:00Z"}},
        event("m1", "message.received", "ann", "2026-01-06T10:00:00Z", Some("BK-1")),
        event("m2", "message.received", "ann", "2026-01-07T10:00:00Z", Some("BK-1")),
        // Order confirmed in time: seen.
        event("o1", "order.placed", "bob", "2026-01-05T10:00:00Z", Some("ORD-1")),
        event("o2", "order.confirmed", "bob", "2026-01-05T10:20:00Z", Some("ORD-1")),
        event("o3", "order.dispatched", "bob", "2026-01-06T10:20:00Z", Some("ORD-1")),
    ]);
    let (status, _) = app.post_events(&events).await;
    assert_eq!(status, 200);

    let as_of = "2026-01-08T12:00:00Z";
    let (status, invisible) = app.get_json(&format!("/v1/invisible?as_of={as_of}")).await;
    assert_eq!(status, 200, "{invisible}");
    assert_eq!(invisible["total"], 1);
    let ann = &invisible["invisible"][0];
    assert_eq!(ann["customer"], "ann");
    // One `customer` key per item (serde_json keeps the last of repeated keys, so count them in the text).
    let raw = app
        .get(&format!("/v1/invisible?as_of={as_of}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.matches("\"customer\":").count(), 1, "{raw}");
    assert_eq!(ann["name"], "Ann <script>");
    let policies: Vec<&str> = ann["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["policy"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["confirm-booking", "reply"]);
    assert_eq!(ann["reasons"][1]["nudges"], 1);
    assert_eq!(ann["reasons"][0]["due_at"], "2026-01-05T11:00:00Z");

    // Before the first breach, nobody was invisible: time travel replays.
    let (_, early) = app
        .get_json("/v1/invisible?as_of=2026-01-05T10:30:00Z")
        .await;
    assert_eq!(early["total"], 0);

    let (status, customer) = app
        .get_json(&format!("/v1/customers/ann?as_of={as_of}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(customer["invisible"], true);
    assert_eq!(customer["events"].as_array().unwrap().len(), 3);
    let (status, missing) = app.get_json("/v1/customers/nobody").await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("not_found"))
    );

    let (_, kept) = app
        .get_json(&format!("/v1/obligations?status=kept&as_of={as_of}"))
        .await;
    let kept: Vec<&str> = kept["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["policy"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["confirm-order", "dispatch-order"]);
    let (_, bob) = app
        .get_json("/v1/obligations?customer=bob&policy=confirm-order")
        .await;
    assert_eq!(bob["obligations"].as_array().unwrap().len(), 1);
    assert_eq!(bob["obligations"][0]["closed_at"], "2026-01-05T10:20:00Z");

    let (status, summary) = app.get_json(&format!("/v1/summary?as_of={as_of}")).await;
    assert_eq!(status, 200);
    assert_eq!(summary["invisible_now"], 1);
    let confirm_order = summary["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == "confirm-order")
        .unwrap();
    assert_eq!(confirm_order["kept_rate"], 1.0);
    assert_eq!(confirm_order["time_to_keep_p50"], 1200);

    for bad in [
        "/v1/obligations?status=lost",
        "/v1/invisible?as_of=yesterday",
        "/v1/summary?bogus=1",
        "/v1/invisible?limit=0",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"], "invalid_query");
    }
}

/// A NUL or other control character in a path or query id is a 400 naming the parameter (PostgreSQL text
/// cannot hold NUL: it used to be a 500), never a 500; an overlong id too.
async fn control_characters_in_ids_are_refused_at_the_edge(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = "x".repeat(201);
    for (path, name) in [
        ("/v1/customers/a%00b".to_string(), "id"),
        ("/v1/customers/a%07b".to_string(), "id"),
        (format!("/v1/customers/{long}"), "id"),
        ("/v1/customers/%20a".to_string(), "id"),
        ("/v1/obligations?customer=a%00b".to_string(), "customer"),
        ("/v1/obligations?policy=%00".to_string(), "policy"),
        ("/v1/outbox?customer=a%00b".to_string(), "customer"),
        ("/v1/outbox?after=k%00".to_string(), "after"),
        (format!("/v1/outbox?after={}", "k".repeat(2_001)), "after"),
        (
            "/v1/invisible?as_of=2026-01-01T00:00:00Z%00".to_string(),
            "as_of",
        ),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("`{name}`")), "{path}: {body}");
    }
    // Not UTF-8 in the path: a JSON 400 too.
    let (status, body) = app.get_json("/v1/customers/%FF").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_path"))
    );
    // Good ids still answer.
    let (status, _) = app.get_json("/v1/outbox?customer=c1&after=x").await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/v1/obligations?customer=c1").await;
    assert_eq!(status, 200);
}

/// `\u0000` inside an event: in ids, the type and profile fields it is a 422 naming the field; inside
/// properties it is stored and read back exactly (no 500 on PostgreSQL).
async fn nul_in_events_is_refused_or_kept_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    for (body, field) in [
        (json!({"type": "x", "customer": "a\u{0}b"}), "customer"),
        (json!({"id": "e\u{0}", "type": "x", "customer": "c"}), "id"),
        (json!({"type": "x\u{0}", "customer": "c"}), "type"),
        (json!({"type": "x", "customer": "c", "ref": "\u{0}"}), "ref"),
        (
            json!({"type": "x", "customer": "c", "customer_name": "A\u{0}"}),
            "customer_name",
        ),
        (
            json!({"type": "x", "customer": "c", "customer_email": "a\u{0}@b.c"}),
            "customer_email",
        ),
    ] {
        let (status, response) = app.post_events(&body).await;
        assert_eq!(status, 422, "{body}: {response}");
        assert_eq!(response["results"][0]["field"], field, "{response}");
    }
    let properties = json!({"note": "a\u{0}b", "k\u{0}": ["\u{0}", 1.5]});
    let (status, response) = app
        .post_events(&json!({"id": "n1", "type": "note", "customer": "c1", "at": "2026-01-05T10:00:00Z", "properties": properties}))
        .await;
    assert_eq!(status, 200, "{response}");
    let (status, customer) = app.get_json("/v1/customers/c1").await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["events"][0]["properties"], properties);
}

/// Properties that would not read back as sent (too deep, a number beyond f64, a lone surrogate) or that
/// are too large are refused with 422 naming the key; the batch's good items are kept.
async fn properties_are_kept_exactly_or_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let deep = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let big = format!(r#"{{"big":"{}"}}"#, "x".repeat(65_536));
    let items = [
        r#"{"id":"p1","type":"x","customer":"c","properties":{"n":1e400}}"#.to_string(),
        r#"{"id":"p2","type":"x","customer":"c","properties":{"s":"\ud800"}}"#.to_string(),
        format!(r#"{{"id":"p3","type":"x","customer":"c","properties":{deep}}}"#),
        format!(r#"{{"id":"p4","type":"x","customer":"c","properties":{big}}}"#),
        r#"{"id":"p5","type":"x","customer":"c","at":"2026-01-05T10:00:00Z","properties":{"n":1e300,"s":"\ud83d\ude00","d":[[[1]]]}}"#.to_string(),
    ];
    let body = format!("[{}]", items.join(","));
    let response = app
        .post("/v1/events")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response: serde_json::Value = response.json().await.unwrap();
    let fields: Vec<&str> = response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(fields[..2], ["properties.n", "properties.s"], "{response}");
    assert!(fields[2].starts_with("properties.a.a.a"), "{response}");
    assert_eq!(fields[3..], ["properties", "-"], "{response}");
    assert_eq!(response["accepted"], 1, "{response}");
    let (_, customer) = app.get_json("/v1/customers/c").await;
    let events = customer["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{customer}");
    assert_eq!(
        events[0]["properties"],
        json!({"n": 1e300, "s": "\u{1f600}", "d": [[[1]]]})
    );
}

/// An id already stored for one customer, sent for another: a `conflict` naming the id (409 when nothing
/// else was stored), and the other customer is not created.
async fn a_repeated_id_for_another_customer_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = app
        .post_events(&event(
            "e1",
            "message.received",
            "ann",
            "2026-01-05T10:00:00Z",
            None,
        ))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post_events(&event(
            "e1",
            "message.received",
            "bob",
            "2026-01-05T10:00:00Z",
            None,
        ))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["conflicts"], 1);
    assert_eq!(body["results"][0]["status"], "conflict");
    assert_eq!(body["results"][0]["field"], "id");
    assert!(
        body["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("\"e1\""),
        "{body}"
    );
    let (status, _) = app.get_json("/v1/customers/bob").await;
    assert_eq!(status, 404);
    // In one batch with a good event: 200, the good one is stored.
    let (status, body) = app
        .post_events(&json!([
            event("e1", "message.received", "cy", "2026-01-05T10:00:00Z", None),
            event(
                "e2",
                "message.received",
                "dee",
                "2026-01-05T10:00:00Z",
                None
            ),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["conflicts"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, _) = app.get_json("/v1/customers/cy").await;
    assert_eq!(status, 404);
    // The same id again for its own customer is still a plain duplicate.
    let (status, body) = app
        .post_events(&event(
            "e1",
            "message.received",
            "ann",
            "2026-01-05T10:00:00Z",
            None,
        ))
        .await;
    assert_eq!(
        (status, body["duplicates"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
}

/// The OpenAPI document says what the server accepts: a typed event body, timestamps with a pattern,
/// limits from 1, the 400 of `/v1/customers/{id}`, 503 with Retry-After; and what its patterns accept, the
/// server accepts (a sample of edge cases against the server itself).
async fn the_openapi_document_describes_what_the_server_accepts(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec: serde_json::Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = &spec["components"]["schemas"]["EventInput"];
    assert_eq!(event["additionalProperties"], false);
    assert_eq!(event["required"], json!(["type", "customer"]));
    assert_eq!(event["properties"]["customer"]["maxLength"], 200);
    let body = &spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(body["oneOf"][0]["$ref"], "#/components/schemas/EventInput");
    assert_eq!(body["oneOf"][1]["minItems"], 1);
    let parameter = |path: &str, name: &str| {
        spec["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} lacks {name}"))["schema"]
            .clone()
    };
    for path in ["/v1/invisible", "/v1/obligations", "/v1/outbox"] {
        let limit = parameter(path, "limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(100_000)),
            "{path}"
        );
    }
    assert_eq!(parameter("/v1/churn/at-risk", "top")["minimum"], 1);
    let timestamp = parameter("/v1/summary", "as_of")["pattern"].clone();
    assert_eq!(timestamp, seen::api::schema::TIMESTAMP_PATTERN);
    assert_eq!(
        parameter("/v1/surveys/summary", "since")["pattern"],
        timestamp
    );
    assert_eq!(parameter("/v1/customers/{id}", "id")["maxLength"], 200);
    let customer = &spec["paths"]["/v1/customers/{id}"]["get"]["responses"];
    assert!(customer["400"].is_object(), "{customer}");
    assert!(
        customer["503"]["headers"]["Retry-After"].is_object(),
        "{customer}"
    );

    // Edge cases of the timestamp grammar: the server answers as the pattern says.
    for (as_of, ok) in [
        ("2024-02-29T00:00:00Z", true),
        ("2026-02-29T00:00:00Z", false),
        ("1970-01-01T00:00:00%2B23:59", true),
        ("2200-12-31T23:59:59.123456789-23:59", true),
        ("1969-12-31T23:59:59Z", false),
        ("2026-03-01T09:30:00%2B24:00", false),
        ("2026-03-01t09:30:00z", false),
    ] {
        let (status, body) = app.get_json(&format!("/v1/summary?as_of={as_of}")).await;
        assert_eq!(status == 200, ok, "{as_of}: {status} {body}");
    }
}

on_both_backends!(
    the_openapi_document_describes_what_the_server_accepts,
    control_characters_in_ids_are_refused_at_the_edge,
    nul_in_events_is_refused_or_kept_exactly,
    properties_are_kept_exactly_or_refused,
    a_repeated_id_for_another_customer_is_a_conflict,
    health_and_openapi_need_no_key_but_everything_else_does,
    a_batch_keeps_its_valid_items_and_names_the_bad_fields,
    bad_bodies_get_clear_errors_and_the_server_survives,
    queries_show_invisible_customers_and_obligations,
);

/// Unmounts the test's tmpfs when dropped (after the server, declared later, was killed).
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem with one file; returns its path.
fn fill_disk(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    path
}

/// A full disk under SQLite: writes answer 503 with Retry-After (nothing stored, the client may retry),
/// reads keep answering, and once space is freed writes work again. Needs `mount -t tmpfs` (root); skipped
/// with a message otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_with_retry_after_and_reads_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("SKIPPED a_full_disk_answers_503_with_retry_after_and_reads_keep_working: cannot mount a tmpfs here ({other:?})");
            return;
        }
    }
    let _mount = Mounted(dir.path().to_path_buf());
    let db = dir.path().join("seen.db");
    let db = db.to_str().unwrap();
    let key = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .args(["--db", db, "keys", "create", "test"])
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let server = common::Server::start(db, std::process::Stdio::null());
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        client
            .post(format!("{}/v1/events", server.address))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let get = |path: &str| {
        client
            .get(format!("{}{path}", server.address))
            .bearer_auth(&key)
            .send()
    };
    let response = post(event(
        "e0",
        "message.received",
        "ann",
        "2026-01-05T10:00:00Z",
        None,
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);

    let filler = fill_disk(dir.path());
    // Batches of ~1.5 MB: the WAL cannot grow; the first or one of the next few fails.
    let mut refused = None;
    for batch in 0..20 {
        let events: Vec<serde_json::Value> = (0..25)
            .map(|i| {
                json!({"id": format!("b{batch}-{i}"), "type": "note", "customer": format!("c{i}"),
                       "at": "2026-01-06T10:00:00Z", "properties": {"text": "x".repeat(60_000)}})
            })
            .collect();
        let response = post(json!(events)).await.unwrap();
        if response.status() != 200 {
            eprintln!("full disk: batch {batch} answered {}", response.status());
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a write on a full disk must fail");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");

    // Reads keep working.
    let response = get("/v1/customers/ann").await.unwrap();
    assert_eq!(response.status(), 200);
    let response = get("/v1/invisible").await.unwrap();
    assert_eq!(response.status(), 200);
    let health = client
        .get(format!("{}/healthz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Space freed: writes work again.
    std::fs::remove_file(filler).unwrap();
    let response = post(event(
        "e1",
        "message.received",
        "ann",
        "2026-01-07T10:00:00Z",
        None,
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let ann: serde_json::Value = get("/v1/customers/ann")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ann["events"].as_array().unwrap().len(), 2, "{ann}");
    drop(server);
}
