//! PostgreSQL restarted while events are posted: the API answers 503 with Retry-After while it is down,
//! reconnects by itself, and loses nothing it acknowledged. Each test holds the server exclusively
//! (`PostgresTurn::exclusive`): no other test uses PostgreSQL while it is stopped or restarted, and these two
//! take turns.
//!
//! The control command is `SEEN_TEST_POSTGRES_CTL` (default: the local cluster via pg_ctlcluster).

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::db::PostgresTurn;
use crate::common::{Server, TestDb};

/// `action` is restart, stop or start; `SEEN_TEST_POSTGRES_CTL` overrides the command (ACTION is replaced).
fn postgres(action: &str) {
    let command = std::env::var("SEEN_TEST_POSTGRES_CTL")
        .unwrap_or_else(|_| {
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main ACTION"
                .into()
        })
        .replace("ACTION", action);
    let status = Command::new("bash")
        .args(["-c", &command])
        .status()
        .expect("run the PostgreSQL control command");
    assert!(status.success(), "PostgreSQL {action} failed: {command}");
    if action != "stop" {
        for _ in 0..100 {
            if Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-q"])
                .status()
                .is_ok_and(|s| s.success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_a_postgres_restart() {
    let turn = PostgresTurn::exclusive().await;
    let pg = TestDb::postgres_during(&turn).await;
    let seen = assert_cmd::cargo::cargo_bin("seen");
    let key = Command::new(&seen)
        .args(["--db", &pg.url, "keys", "create", "restart"])
        .output()
        .unwrap();
    assert!(key.status.success());
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let mut server = Server::start(&pg.url, Stdio::null());
    let address = server.address.clone();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let unavailable = Arc::new(Mutex::new(Vec::<(u16, Option<String>)>::new()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (client, address, key) = (client.clone(), address.clone(), key.clone());
        let (acknowledged, unavailable) = (acknowledged.clone(), unavailable.clone());
        writers.push(tokio::spawn(async move {
            for batch in 0..400 {
                let ids: Vec<String> = (0..100).map(|i| format!("w{writer}-b{batch}-e{i}")).collect();
                let events: Vec<serde_json::Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        serde_json::json!({"id": id, "type": "message.received", "customer": format!("c{writer}-{batch}-{}", i % 10),
                                           "at": "2026-01-05T10:00:00Z", "ref": id})
                    })
                    .collect();
                // Retry until acknowledged, as a client honouring Retry-After would.
                for _ in 0..600 {
                    match client.post(format!("{address}/v1/events")).bearer_auth(&key).json(&events).send().await {
                        Ok(r) if r.status().is_success() => {
                            acknowledged.lock().unwrap().extend(ids.iter().cloned());
                            break;
                        }
                        Ok(r) => {
                            let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                            unavailable.lock().unwrap().push((r.status().as_u16(), retry));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 20_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    postgres("restart");
    for writer in writers {
        writer.await.unwrap();
    }
    server.kill();

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(
        acknowledged.len(),
        3 * 400 * 100,
        "every batch was eventually acknowledged"
    );
    let unavailable = unavailable.lock().unwrap().clone();
    assert!(
        unavailable
            .iter()
            .all(|(status, retry)| *status == 503 && retry.is_some()),
        "while PostgreSQL was down the API answered 503 with Retry-After: {unavailable:?}"
    );
    eprintln!(
        "{} requests answered 503 during the restart",
        unavailable.len()
    );

    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM events")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let lost = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .count();
    assert_eq!(lost, 0, "acknowledged events lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_the_api_answers_503_then_recovers_by_itself() {
    let turn = PostgresTurn::exclusive().await;
    let pg = TestDb::postgres_during(&turn).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seen.toml");
    std::fs::write(
        &config,
        "[storage]\nretries = 1\nretry_backoff = \"1s\"\nacquire_timeout = \"2s\"\n",
    )
    .unwrap();
    let seen = assert_cmd::cargo::cargo_bin("seen");
    let key = Command::new(&seen)
        .args(["--db", &pg.url, "keys", "create", "down"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let server = Server::start_with(&pg.url, Stdio::null(), Some(&config));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let post = |id: &'static str| {
        client
            .post(format!("{}/v1/events", server.address))
            .bearer_auth(&key)
            .json(&serde_json::json!({"id": id, "type": "message.received", "customer": "c1", "at": "2026-01-05T10:00:00Z"}))
            .send()
    };
    assert_eq!(post("before").await.unwrap().status(), 200);

    postgres("stop");
    let down = post("during").await;
    postgres("start");
    let down = down.unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "1");
    let body: serde_json::Value = down.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");

    // Back up: the same request now succeeds, on fresh connections.
    let mut status = 0;
    for _ in 0..50 {
        status = post("during")
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);
    let health = client
        .get(format!("{}/healthz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
