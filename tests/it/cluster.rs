//! Several `seen serve` nodes on one PostgreSQL: 100 000 events posted across three nodes, one of them
//! killed midway. Every event is stored exactly once, every obligation equals a single-node SQLite replay,
//! and every breach is claimed by exactly one node.

use crate::common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::db::PostgresTurn;
use crate::common::{Backend, Server, TestDb};

const END: &str = "2026-06-30T17:00:00Z";

fn seen() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("seen"));
    cmd.env_remove("SEEN_DATABASE_URL")
        .env_remove("SEEN_CONFIG");
    cmd
}

fn obligations_jsonl(db: &str) -> Vec<serde_json::Value> {
    let output = seen()
        .args([
            "--db",
            db,
            "obligations",
            "--format",
            "jsonl",
            "--as-of",
            END,
        ])
        .output()
        .expect("seen obligations");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rows: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    rows.sort_by_key(|o| o.to_string());
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_one_killed_store_every_event_once_and_agree_with_a_single_node() {
    // The heaviest PostgreSQL load of the suite (three nodes, six clients): alone on the server, as it was in
    // a test binary of its own, so that neither it nor the others wait on each other's load.
    let turn = PostgresTurn::exclusive().await;
    let pg = TestDb::postgres_during(&turn).await;
    let dir = tempfile::tempdir().unwrap();

    // ~100 000 events of the demo business.
    let events_path = dir.path().join("events.jsonl");
    let status = seen()
        .args(["demo", "--events-only", "--customers", "4400", "--end", END])
        .stdout(std::fs::File::create(&events_path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let lines: Vec<String> = std::fs::read_to_string(&events_path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 95_000, "{} events", lines.len());

    let key = seen()
        .args(["--db", &pg.url, "keys", "create", "cluster"])
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();

    let mut nodes: Vec<Server> = (0..3)
        .map(|_| Server::start(&pg.url, Stdio::null()))
        .collect();
    let addresses: Vec<String> = nodes.iter().map(|n| n.address.clone()).collect();
    let dead = Arc::new(AtomicBool::new(false));
    let batches: Vec<String> = lines
        .chunks(500)
        .map(|c| format!("[{}]", c.join(",")))
        .collect();
    let total_batches = batches.len();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let batches = Arc::new(batches);

    // Six clients, each posting its share round-robin over the nodes; a batch that gets no 2xx answer is
    // retried on the next node, as a real client would.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut clients = Vec::new();
    for worker in 0..6 {
        let (client, key, addresses, batches, acknowledged, dead) = (
            client.clone(),
            key.clone(),
            addresses.clone(),
            batches.clone(),
            acknowledged.clone(),
            dead.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut retries = 0;
            for (n, body) in batches.iter().enumerate().skip(worker).step_by(6) {
                let mut target = n % 3;
                loop {
                    if dead.load(Ordering::SeqCst) && target == 1 {
                        target = 2;
                    }
                    let response = client
                        .post(format!("{}/v1/events", addresses[target]))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => break,
                        _ => {
                            retries += 1;
                            assert!(retries < 1_000, "too many retries");
                            target = (target + 1) % 3;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            retries
        }));
    }
    // Kill node 1 without warning once about 40 % is in.
    while acknowledged.load(Ordering::SeqCst) < total_batches * 2 / 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes[1].kill();
    dead.store(true, Ordering::SeqCst);
    let mut retries = 0;
    for c in clients {
        retries += c.await.unwrap();
    }
    assert_eq!(acknowledged.load(Ordering::SeqCst), total_batches);

    // Every event exactly once.
    let counts = seen()
        .args([
            "--db", &pg.url, "report", "--format", "json", "--as-of", END,
        ])
        .output()
        .unwrap();
    assert!(counts.status.success());
    let mut conn = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&pg.url).await.unwrap()
    };
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stored as usize,
        lines.len(),
        "every event stored ({retries} retried requests)"
    );
    assert_eq!(distinct, stored, "and only once");

    // The surviving nodes' schedulers claim every breach, each exactly once. (A breach noticed and later
    // closed by a late event keeps its `noticed_at`: what must hold is that no unclosed breach is left.)
    let unclosed_breached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND breach_at < (extract(epoch from now()) * 1e9)::bigint",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        unclosed_breached > 100,
        "the demo has broken promises: {unclosed_breached}"
    );
    let mut unnoticed = -1;
    for _ in 0..100 {
        unnoticed = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND noticed_at IS NULL
               AND breach_at < (extract(epoch from now()) * 1e9)::bigint",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if unnoticed == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unnoticed, 0, "every breach noticed by a live node");
    drop(nodes);

    // The same events replayed on one SQLite node give the same obligations.
    let sqlite = dir.path().join("replay.db");
    let sqlite = sqlite.to_str().unwrap();
    let status = seen()
        .args([
            "--db",
            sqlite,
            "import",
            "--quiet",
            events_path.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let cluster = obligations_jsonl(&pg.url);
    let single = obligations_jsonl(sqlite);
    assert!(cluster.len() > 10_000, "{} obligations", cluster.len());
    assert_eq!(cluster.len(), single.len());
    assert!(
        cluster == single,
        "cluster and single-node obligations differ"
    );
}

/// Nodes claiming due breaches at the same moment never claim the same one twice, and miss none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_take_each_breach_exactly_once() {
    let pg = TestDb::new(Backend::Postgres).await;
    let config = seen::config::Config::defaults().unwrap();
    let now = jiff::Timestamp::now();
    let queued = (now - jiff::SignedDuration::from_hours(1)).to_string();
    let events: Vec<seen::domain::Event> = (0..3_000)
        .map(|i| {
            let json = format!(
                r#"{{"id":"q{i}","type":"visit.queued","customer":"c{i}","ref":"V{i}","at":"{queued}"}}"#
            );
            seen::domain::event::parse_event_json(&json).unwrap().validate(now, &mut || unreachable!()).unwrap()
        })
        .collect();
    let first = common::open_store(&pg.url, &config).await;
    first.ingest(events).await.unwrap();
    let mut nodes = vec![first];
    for _ in 0..3 {
        nodes.push(common::open_store(&pg.url, &config).await);
    }
    let mut claims = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            let store = node.store().clone();
            claims.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..20 {
                    let claimed = store.notice_breaches(jiff::Timestamp::now()).await.unwrap();
                    mine.extend(claimed.into_iter().map(|o| o.trigger_event));
                }
                mine
            }));
        }
    }
    let mut all = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap());
    }
    let distinct: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a breach was claimed twice");
    assert_eq!(all.len(), 3_000, "every breach claimed");
}
