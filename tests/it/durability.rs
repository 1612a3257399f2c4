//! Acknowledged writes survive `kill -9`: the API's 2xx answers and import's committed batches.

use crate::common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn seen_bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("seen")
}

fn stored_ids(db: &std::path::Path) -> std::collections::HashSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM events").unwrap();
    let ids = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    ids.map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acknowledged_by_the_api_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seen.db");
    let key_output = Command::new(seen_bin())
        .args(["--db", db.to_str().unwrap(), "keys", "create", "test"])
        .output()
        .unwrap();
    assert!(key_output.status.success());
    let key = String::from_utf8(key_output.stdout)
        .unwrap()
        .trim()
        .to_string();

    let mut server = common::Server::start(db.to_str().unwrap(), Stdio::null());
    let address = server.address.clone();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (client, address, key, acknowledged) = (
            client.clone(),
            address.clone(),
            key.clone(),
            acknowledged.clone(),
        );
        writers.push(tokio::spawn(async move {
            for batch in 0..10_000 {
                let ids: Vec<String> = (0..200).map(|i| format!("w{writer}-b{batch}-e{i}")).collect();
                let events: Vec<serde_json::Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        serde_json::json!({"id": id, "type": "message.received", "customer": format!("c{}", i % 50),
                                           "at": "2026-01-05T10:00:00Z", "ref": id})
                    })
                    .collect();
                let response = client.post(format!("{address}/v1/events")).bearer_auth(&key).json(&events).send().await;
                match response {
                    Ok(r) if r.status().is_success() => acknowledged.lock().unwrap().extend(ids),
                    _ => return,
                }
            }
        }));
    }
    // Let some batches through, then kill without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acknowledged.lock().unwrap().len() >= 6_000 {
            break;
        }
    }
    server.kill(); // SIGKILL
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 6_000);
    let stored = stored_ids(&db);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );

    // And the database reopens cleanly with consistent obligations.
    let status = Command::new(seen_bin())
        .args(["--db", db.to_str().unwrap(), "report", "--format", "json"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn import_killed_midway_keeps_whole_batches_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let file = std::fs::File::create(&events).unwrap();
    let status = Command::new(seen_bin())
        .args([
            "demo",
            "--events-only",
            "--customers",
            "6000",
            "--end",
            "2026-06-30T17:00:00Z",
        ])
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success());
    let total = std::fs::read_to_string(&events).unwrap().lines().count();
    let db = dir.path().join("seen.db");
    let mut import = Command::new(seen_bin())
        .args([
            "--db",
            db.to_str().unwrap(),
            "import",
            "--quiet",
            "--batch-size",
            "1000",
            events.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some batches are committed but long before the end.
    let mut committed = 0;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(25));
        if db.exists() {
            if let Ok(conn) = rusqlite::Connection::open(&db) {
                committed = conn
                    .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    .unwrap_or(0);
            }
        }
        if committed >= 3_000 {
            break;
        }
    }
    import.kill().unwrap();
    import.wait().unwrap();
    let after_kill = stored_ids(&db).len();
    assert!(
        after_kill >= 3_000 && after_kill < total,
        "killed midway: {after_kill} of {total}"
    );
    assert_eq!(after_kill % 1000, 0, "only whole batches are committed");

    // Resuming stores the rest; what was stored counts as duplicates.
    let output = Command::new(seen_bin())
        .args([
            "--db",
            db.to_str().unwrap(),
            "import",
            "--quiet",
            events.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "imported {} events ({} duplicates, 0 rejected)",
            total - after_kill,
            after_kill
        )),
        "{stderr}"
    );
    assert_eq!(stored_ids(&db).len(), total);
}
