//! Query-plan guard: every hot statement (ingestion's lookups, the breach scheduler, the planner, the outbox
//! claim, the queue) must be served by its index on both backends, so that a new index cannot silently turn
//! a probe into a walk over every row (as `outbox_by_status` once did to the claim: reminders 20 s late).

use crate::common;

use crate::common::{Backend, TestDb};
use seen::config::Config;
use seen::store::hot::HotQuery;

/// The plan's lines, then the failures of one statement against its rules.
fn check(query: &HotQuery, plan: &[String], backend: Backend) -> Vec<String> {
    let text = plan.join("\n");
    let mut failures = Vec::new();
    let names_index = plan.iter().any(|line| {
        line.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .any(|word| word == query.index)
    });
    if !names_index {
        failures.push(format!("does not use index {}", query.index));
    }
    match backend {
        Backend::Sqlite => {
            // "SCAN t" without an index walks the whole table. (Scanning `json_each` walks the statement's own
            // list parameter, not a table.)
            if let Some(line) = plan.iter().find(|l| {
                l.trim_start().starts_with("SCAN ")
                    && !l.contains(" USING ")
                    && !l.contains("json_each VIRTUAL TABLE")
            }) {
                failures.push(format!("scans a whole table: {line}"));
            }
            if query.ordered && text.contains("TEMP B-TREE FOR ORDER BY") {
                failures.push("sorts every match before its LIMIT".into());
            }
        }
        Backend::Postgres => {
            if let Some(line) = plan.iter().find(|l| l.contains("Seq Scan")) {
                failures.push(format!("scans a whole table: {}", line.trim()));
            }
            if query.ordered && plan.iter().any(|l| l.trim_start().starts_with("->  Sort")) {
                failures.push("sorts every match before its LIMIT".into());
            }
        }
    }
    failures
}

async fn sqlite_plans(db: &TestDb) -> Vec<(HotQuery, Vec<String>)> {
    let conn = rusqlite::Connection::open(&db.url).expect("open the SQLite file");
    seen::store::sqlite::hot::hot_queries()
        .into_iter()
        .map(|q| {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))
                .unwrap_or_else(|e| panic!("{}: cannot prepare: {e}", q.name));
            let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
                .and_then(|rows| rows.collect())
                .unwrap_or_else(|e| panic!("{}: cannot explain: {e}", q.name));
            (q, plan)
        })
        .collect()
}

/// PostgreSQL plans by statistics: fill the tables the way a busy business does (most obligations closed,
/// most outbox rows sent, a large pending backlog, events of many types, half of them messages), ANALYZE, then explain each statement's generic plan —
/// the plan a prepared statement (sqlx) runs whatever its parameters.
async fn postgres_plans(db: &TestDb) -> Vec<(HotQuery, Vec<String>)> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("connect to the test database");
    for fill in [
        "INSERT INTO customers (id, first_at, last_at, events)
         SELECT 'c' || g, g, g, 5 FROM generate_series(1, 20000) g",
        "INSERT INTO events (id, customer, type, at, received_at)
         SELECT 'e' || g, 'c' || (g % 20000 + 1),
                CASE WHEN g % 2 = 0 THEN 'message.received' ELSE 'type.' || (g % 40) END, g, g
         FROM generate_series(1, 100000) g",
        "INSERT INTO obligations (customer, policy, opened_at, due_at, breach_at, closed_at, trigger_event,
                                  planned, noticed_at)
         SELECT 'c' || (g % 20000 + 1), 'reply', g, g + 10, g + 10,
                CASE WHEN g % 20 = 0 THEN NULL ELSE g + 5 END, 'e' || g, g % 20 <> 0 OR g % 40 = 0,
                CASE WHEN g % 40 = 0 THEN g + 10 END
         FROM generate_series(1, 100000) g",
        "INSERT INTO outbox (key, customer, policy, trigger_event, action, step, template, channel, recipient,
                             role, transactional, urgent, due_at, status, next_at, sent_at, created_at, updated_at)
         SELECT 'k' || g, 'c' || (g % 20000 + 1), 'reply', 'e' || g, 'remind', 0, 'reminder', 'email',
                'x@example.com', 'customer', false, false, g,
                CASE WHEN g % 5 < 2 THEN 'pending' ELSE 'sent' END, g,
                CASE WHEN g % 5 < 2 THEN NULL ELSE g END, g, g
         FROM generate_series(1, 100000) g",
        "INSERT INTO connector_links (connector, key, customer, ref, at)
         SELECT 'shop', 'order:' || g, 'c' || (g % 20000 + 1), '#' || g, g FROM generate_series(1, 100000) g",
        "ANALYZE",
        "SET plan_cache_mode = force_generic_plan",
    ] {
        sqlx::query(fill)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("fill the test database: {e}\n{fill}"));
    }
    let mut out = Vec::new();
    for q in seen::store::postgres::hot::hot_queries() {
        let params = (1..=9)
            .take_while(|n| q.sql.contains(&format!("${n}")))
            .map(|_| "NULL")
            .collect::<Vec<_>>();
        sqlx::query(&format!("PREPARE hot AS {}", q.sql))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: cannot prepare: {e}", q.name));
        let explain = if params.is_empty() {
            "EXPLAIN EXECUTE hot".to_string()
        } else {
            format!("EXPLAIN EXECUTE hot({})", params.join(", "))
        };
        let plan: Vec<String> = sqlx::query(&explain)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: cannot explain: {e}", q.name))
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        sqlx::query("DEALLOCATE hot")
            .execute(&mut conn)
            .await
            .expect("deallocate");
        out.push((q, plan));
    }
    out
}

async fn hot_paths_use_their_indexes(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Opening the store creates the schema with every migration.
    let config = Config::defaults().expect("defaults load");
    drop(common::open_store(&db.url, &config).await);
    let plans = match backend {
        Backend::Sqlite => sqlite_plans(&db).await,
        Backend::Postgres => postgres_plans(&db).await,
    };
    assert!(plans.len() >= 10, "every hot path is listed");
    let mut failures = Vec::new();
    for (query, plan) in &plans {
        for failure in check(query, plan, backend) {
            failures.push(format!(
                "{}: {failure}\n  plan:\n    {}",
                query.name,
                plan.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{backend:?} hot paths off their indexes:\n{}",
        failures.join("\n")
    );
}

on_both_backends!(hot_paths_use_their_indexes);
