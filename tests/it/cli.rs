//! The real `seen` binary, end to end.

use crate::common;

use assert_cmd::Command;
use predicates::prelude::*;

fn seen(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::cargo_bin("seen").unwrap();
    cmd.current_dir(dir.path())
        .env_remove("SEEN_DATABASE_URL")
        .env_remove("SEEN_CONFIG");
    cmd
}

#[test]
fn demo_builds_a_business_and_reports_invisible_customers() {
    let dir = tempfile::tempdir().unwrap();
    let output = seen(&dir)
        .args([
            "demo",
            "--customers",
            "300",
            "--end",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "customers invisible as of 2026-06-30 17:00 UTC",
        ))
        .stdout(predicate::str::contains("booking-reminder"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    let invisible: usize = text
        .lines()
        .find(|l| l.contains("customers invisible"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        (10..300).contains(&invisible),
        "some but not all invisible: {invisible}"
    );
    assert!(dir.path().join("seen-demo.db").exists());

    // The same seed gives the same business; JSON report as of the demo's end.
    let report = seen(&dir)
        .args([
            "--db",
            "seen-demo.db",
            "report",
            "--format",
            "json",
            "--as-of",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    let list = report["invisible"].as_array().unwrap();
    assert_eq!(list.len(), invisible);
    let waits: Vec<i64> = list
        .iter()
        .map(|c| c["waiting"].as_i64().unwrap())
        .collect();
    assert!(waits.windows(2).all(|w| w[0] >= w[1]), "longest wait first");
    let first = list[0]["customer"].as_str().unwrap();

    seen(&dir)
        .args([
            "--db",
            "seen-demo.db",
            "explain",
            first,
            "--as-of",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("INVISIBLE"))
        .stdout(predicate::str::contains("Timeline"));

    // Replacing the demo database gives identical results.
    seen(&dir)
        .args([
            "demo",
            "--customers",
            "300",
            "--end",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success();
    let again = seen(&dir)
        .args([
            "--db",
            "seen-demo.db",
            "report",
            "--format",
            "json",
            "--as-of",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again).unwrap(),
        report
    );
}

#[test]
fn import_keeps_good_rows_and_reports_bad_ones_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = [
        r#"{"id":"1","type":"message.received","customer":"ann","at":"2026-01-05T10:00:00Z","ref":"T1"}"#,
        r#"{"id":"2","type":"message.received","customer":"ann","at":"not-a-time"}"#,
        r#"{"id":"3","type":"message.received","at":"2026-01-05T10:00:00Z"}"#,
        r#"{"id":"4","type": broken"#,
        r#"{"id":"5","type":"message.sent","customer":"ann","at":"2026-01-05T11:00:00Z","ref":"T1"}"#,
        r#"{"id":"6","type":"message.received","customer":"bob","at":"2026-01-05T10:00:00+01:00"}"#,
    ]
    .join("\n");
    std::fs::write(dir.path().join("events.jsonl"), jsonl).unwrap();
    seen(&dir)
        .args(["import", "events.jsonl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "events.jsonl:2: rejected: field `at`",
        ))
        .stderr(predicate::str::contains(
            "events.jsonl:3: rejected: field `customer`",
        ))
        .stderr(predicate::str::contains("events.jsonl:4: rejected"))
        .stderr(predicate::str::contains(
            "imported 3 events (0 duplicates, 3 rejected)",
        ));

    // Importing again: everything valid is a duplicate.
    seen(&dir)
        .args(["import", "events.jsonl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "imported 0 events (3 duplicates, 3 rejected)",
        ));

    // CSV, from stdin.
    let csv = "id,type,customer,at,ref\n7,message.received,cy,2026-01-05T10:00:00Z,T9\n";
    seen(&dir)
        .args(["import", "--format", "csv", "-"])
        .write_stdin(csv)
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 1 events"));

    let lines = seen(&dir)
        .args([
            "obligations",
            "--format",
            "jsonl",
            "--as-of",
            "2026-01-07T00:00:00Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let obligations: Vec<serde_json::Value> = String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(obligations.len(), 3);
    let ann = obligations.iter().find(|o| o["customer"] == "ann").unwrap();
    assert_eq!(ann["status"], "kept");
    assert_eq!(ann["policy"], "reply");
    assert_eq!(ann["ref"], "T1");
    assert_eq!(ann["opened_at"], "2026-01-05T10:00:00Z");
    assert_eq!(
        ann["due_at"], "2026-01-06T10:00:00Z",
        "8h30m of office time: 7h30m on Monday, 1h on Tuesday"
    );
    assert_eq!(ann["closed_at"], "2026-01-05T11:00:00Z");
    assert_eq!(ann["nudges"], 0);
    let bob = obligations.iter().find(|o| o["customer"] == "bob").unwrap();
    assert_eq!(
        bob["opened_at"], "2026-01-05T09:00:00Z",
        "times are printed in UTC"
    );
    assert_eq!(bob["status"], "breached");
    assert!(bob["closed_at"].is_null());

    seen(&dir)
        .args(["report", "--as-of", "2026-01-07T00:00:00Z"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 of 3 customers invisible"))
        .stdout(predicate::str::contains("bob"));
}

/// A large import sets the read side's indexes aside and builds them at its end: what it stores is what an
/// import keeping every index stores, and the schema is whole again afterwards.
#[test]
fn a_bulk_import_stores_the_same_as_one_keeping_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let events = seen(&dir)
        .args([
            "demo",
            "--events-only",
            "--customers",
            "150",
            "--end",
            "2026-06-30T17:00:00Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
    seen(&dir)
        .args(["--db", "bulk.db", "import", "events.jsonl"])
        .assert()
        .success()
        .stderr(predicate::str::contains("built 13 indexes"));
    seen(&dir)
        .args([
            "--db",
            "kept.db",
            "import",
            "--keep-indexes",
            "events.jsonl",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("indexes").not());
    // Into a database holding more than the file: nothing is set aside.
    seen(&dir)
        .args(["--db", "bulk.db", "import", "--quiet", "events.jsonl"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("0 events (").and(predicate::str::contains("indexes").not()),
        );

    let contents = |db: &str| {
        let conn = rusqlite::Connection::open(dir.path().join(db)).unwrap();
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let columns = stmt.column_count();
            stmt.query_map([], |r| {
                Ok((0..columns)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        (
            rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"),
            rows("SELECT key FROM meta ORDER BY key"),
            rows("SELECT * FROM customers ORDER BY seq"),
            rows("SELECT seq, id, customer_seq, type, at, channel, ref, properties, profile FROM events ORDER BY seq"),
            rows("SELECT * FROM obligations ORDER BY seq"),
        )
    };
    let (bulk, kept) = (contents("bulk.db"), contents("kept.db"));
    assert!(bulk.3.len() > 1_000 && bulk.4.len() > 100, "a real history");
    assert_eq!(bulk.0, kept.0, "the same schema, every index");
    assert_eq!(bulk.1, kept.1, "no note left behind");
    assert_eq!(bulk.2, kept.2, "the same customers");
    assert_eq!(bulk.3, kept.3, "the same events");
    assert_eq!(bulk.4, kept.4, "the same obligations");
}

/// One stray quote in a CSV costs its own line, not every line after it; quoted fields may still span lines.
#[test]
fn import_csv_with_a_stray_quote_keeps_every_later_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,type,customer,at,properties.note\n");
    csv.push_str("broken,message.received,ann,2026-01-05T10:00:00Z,\"she said hi\n");
    for i in 0..1_000 {
        csv.push_str(&format!(
            "e{i},message.received,c{i},2026-01-05T10:00:00Z,note {i}\n"
        ));
    }
    // A legitimate quoted field over two lines, before the stray quote.
    csv.insert_str(
        csv.find('\n').unwrap() + 1,
        "multi,message.received,zoe,2026-01-05T10:00:00Z,\"line one\nline \"\"two\"\"\"\n",
    );
    std::fs::write(dir.path().join("events.csv"), csv).unwrap();
    seen(&dir)
        .args(["import", "events.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "events.csv:4: rejected: field `(csv)`",
        ))
        .stderr(predicate::str::contains("quote"))
        .stderr(predicate::str::contains(
            "imported 1001 events (0 duplicates, 1 rejected)",
        ));
    // Every valid line after the stray quote, and the record whose quoted field spans two lines, are stored.
    let lines = seen(&dir)
        .args([
            "obligations",
            "--format",
            "jsonl",
            "--as-of",
            "2026-01-05T10:00:01Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let customers: std::collections::BTreeSet<String> = String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["customer"].to_string())
        .collect();
    assert_eq!(customers.len(), 1_001);
    assert!(customers.contains("\"c0\"") && customers.contains("\"c999\""));
    assert!(customers.contains("\"zoe\"") && !customers.contains("\"ann\""));
}

/// A backfill of old history whose promises are all long broken: `seen serve` logs them in one summary line
/// per policy, not one line each; a live breach afterwards still gets its own line.
#[test]
fn serve_summarises_a_backfill_of_broken_promises() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let events: String = (0..2_000)
        .map(|i| {
            format!(
                "{{\"id\":\"m{i}\",\"type\":\"message.received\",\"customer\":\"c{i}\",\"at\":\"2025-01-06T10:00:00Z\"}}\n"
            )
        })
        .collect();
    std::fs::write(dir.path().join("history.jsonl"), events).unwrap();
    std::fs::write(
        dir.path().join("seen.toml"),
        "[actions]\nenabled = false\n\n\
         [[policies]]\nname = \"reply\"\nkind = \"expect\"\ntrigger = [\"message.received\"]\n\
         expect = [\"message.sent\"]\nwithin = \"1h\"\n\n\
         [[policies]]\nname = \"callback\"\nkind = \"expect\"\ntrigger = [\"call.missed\"]\n\
         expect = [\"call.returned\"]\nwithin = \"1s\"\n",
    )
    .unwrap();
    seen(&dir)
        .env("SEEN_CONFIG", dir.path().join("seen.toml"))
        .args(["--db", "seen.db", "import", "history.jsonl"])
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 2000 events"));
    let key = String::from_utf8(
        seen(&dir)
            .args(["--db", "seen.db", "keys", "create", "test"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let key = key.trim().rsplit(' ').next().unwrap().to_string();

    let db = dir.path().join("seen.db");
    let mut server = common::Server::start_with(
        db.to_str().unwrap(),
        std::process::Stdio::piped(),
        Some(&dir.path().join("seen.toml")),
    );
    let stderr = server.child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let wait_for = |log: &mut Vec<String>, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !log.iter().any(|l| l.contains(what)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => log.push(line),
                Err(_) => panic!("no {what:?} in the log within a minute: {log:#?}"),
            }
        }
    };
    // A live breach, a second after the backfill's are noticed: one line of its own, naming the customer.
    let posted = reqwest::blocking::Client::new()
        .post(format!("{}/v1/events", server.address))
        .bearer_auth(&key)
        .json(
            &serde_json::json!([{ "id": "live-1", "type": "call.missed", "customer": "live-caller",
            "at": jiff::Timestamp::now().to_string() }]),
        )
        .send()
        .unwrap();
    assert_eq!(posted.status(), 200);
    wait_for(&mut log, "live-caller");
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.kill();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(2)) {
        log.push(line);
    }
    let broken: Vec<&String> = log.iter().filter(|l| l.contains("broken")).collect();
    assert_eq!(
        broken.len(),
        2,
        "one summary, one live breach: {:#?}",
        &broken[..broken.len().min(5)]
    );
    assert!(
        broken
            .iter()
            .any(|l| l
                .contains("promises broken: 2000 of policy reply (2000 customers now invisible")),
        "{broken:#?}"
    );
    assert!(
        broken.iter().any(|l| l.contains("live-caller")),
        "{broken:#?}"
    );
    assert!(log.len() < 10, "{log:#?}");
}

#[test]
fn bad_configuration_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seen.toml"),
        "[[policies]]\nname = 'x'\nkind = 'expect'\ntrigger = ['a']\nexpect = ['b']\n",
    )
    .unwrap();
    seen(&dir)
        .args(["report"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("seen.toml"))
        .stderr(predicate::str::contains("needs `within`"));
    std::fs::remove_file(dir.path().join("seen.toml")).unwrap();
    seen(&dir)
        .args(["import", "nope.jsonl"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nope.jsonl"));
    seen(&dir)
        .args(["report", "--as-of", "tuesday"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--as-of"));
    seen(&dir)
        .args(["config", "--defaults"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[[policies]]"))
        .stdout(predicate::str::contains("booking-reminder"));
}

#[test]
fn keys_are_shown_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let out = seen(&dir)
        .args(["keys", "create", "ci"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let key = String::from_utf8(out).unwrap().trim().to_string();
    assert!(key.starts_with("seen_") && key.len() > 40, "{key}");
    let db = std::fs::read(dir.path().join("seen.db")).unwrap();
    let wal = std::fs::read(dir.path().join("seen.db-wal")).unwrap_or_default();
    let needle = key.as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the key itself is never stored"
        );
    }
    seen(&dir)
        .args(["keys", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ci"));
    seen(&dir)
        .args(["keys", "create", "ci"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists"));
    seen(&dir).args(["keys", "revoke", "ci"]).assert().success();
    seen(&dir).args(["keys", "revoke", "ci"]).assert().code(1);
}

#[test]
fn templates_list_and_render_an_event_in_the_customers_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let listed = seen(&dir).args(["templates", "list"]).output().unwrap();
    assert!(listed.status.success());
    let names = String::from_utf8(listed.stdout).unwrap();
    for name in [
        "booking-confirmation",
        "booking-reminder",
        "order-confirmation",
        "apology",
        "warn",
        "breach-alert",
        "escalation",
    ] {
        assert!(
            names.lines().any(|l| l == name),
            "{name} missing from {names}"
        );
    }
    let event = dir.path().join("booking.json");
    std::fs::write(
        &event,
        r#"{"type":"booking.confirmed","customer":"c9","customer_name":"Maria Costa","customer_timezone":"America/Sao_Paulo","ref":"B-77","properties":{"starts_at":"2026-12-03T18:30:00Z","room":"Douro"}}"#,
    )
    .unwrap();
    let rendered = seen(&dir)
        .args(["templates", "render", "booking-reminder", "--event"])
        .arg(&event)
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{rendered:?}");
    let text = String::from_utf8(rendered.stdout).unwrap();
    assert!(text.starts_with("Subject: "), "{text}");
    assert!(text.contains("Hi Maria"), "{text}");
    assert!(text.contains("B-77") && text.contains("Douro"), "{text}");
    // 18:30 UTC is 15:30 in São Paulo.
    assert!(text.contains("15:30"), "{text}");
    let unknown = seen(&dir)
        .args(["templates", "render", "nope"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("booking-reminder"));
}

#[test]
fn journeys_report_the_demo_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let end = "2026-06-30T17:00:00Z";
    seen(&dir)
        .args(["demo", "--customers", "300", "--end", end])
        .assert()
        .success();
    seen(&dir)
        .args(["journeys", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("booking (per ref, window 60d)"))
        .stdout(predicate::str::contains("packed"))
        .stdout(predicate::str::contains("backstage"));
    let json = |name: &str| -> serde_json::Value {
        let out = seen(&dir)
            .args(["--db", "seen-demo.db", "journeys", "report", name])
            .args(["--as-of", end, "--format", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    for (name, steps) in [("booking", 4), ("order", 6), ("visit", 4)] {
        let r = json(name);
        let keys: std::collections::BTreeSet<&str> =
            r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "as_of",
                "completed",
                "entered",
                "from",
                "journey",
                "steps",
                "stuck",
                "to"
            ]
            .into_iter()
            .collect(),
            "{name}"
        );
        let list = r["steps"].as_array().unwrap();
        assert_eq!(list.len(), steps, "{name}");
        let step_keys: std::collections::BTreeSet<&str> = list[1]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            step_keys,
            [
                "name",
                "customer_sees",
                "reached",
                "conversion_from_previous",
                "conversion_from_entry",
                "drop_off",
                "median_seconds_from_previous",
                "p90_seconds_from_previous",
                "time_share",
                "completion_if_slow",
                "completion_if_fast",
                "breaches",
                "nudges",
                "unhappy",
            ]
            .into_iter()
            .collect()
        );
        // A believable map: many enter, every step is reached by some, and fewer finish than enter.
        let reached: Vec<u64> = list
            .iter()
            .map(|s| s["reached"].as_u64().unwrap())
            .collect();
        assert!(reached[0] > 20, "{name}: {reached:?}");
        assert!(reached.iter().all(|n| *n > 0), "{name}: {reached:?}");
        assert!(
            reached.windows(2).all(|w| w[0] >= w[1]),
            "{name}: {reached:?}"
        );
        assert!(reached[steps - 1] < reached[0], "{name}: {reached:?}");
        assert!(
            list.iter().any(|s| s["customer_sees"] == false),
            "{name}: a backstage step"
        );
    }
    seen(&dir)
        .args([
            "--db",
            "seen-demo.db",
            "journeys",
            "report",
            "order",
            "--as-of",
            end,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("packed"))
        .stdout(predicate::str::contains("backstage"));
    seen(&dir)
        .args([
            "--db",
            "seen-demo.db",
            "journeys",
            "paths",
            "order",
            "--top",
            "3",
        ])
        .args(["--as-of", end])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "order.placed → order.confirmed → order.packed",
        ));
    seen(&dir)
        .args(["--db", "seen-demo.db", "journeys", "report", "nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no journey named \"nope\""));
}
