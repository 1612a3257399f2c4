//! SQLite's migrations: `migrations/NNNN_name.sql`, applied in order; `PRAGMA user_version` is the number
//! applied (the layout of `store::migrations`). A database made by any earlier version opens and upgrades.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::migrations::Migration;

/// Each brings the schema to its version from the one before.
pub(crate) const MIGRATIONS: [Migration; 13] = [
    Migration::new(1, "init", include_str!("migrations/0001_init.sql")),
    Migration::new(2, "outbox", include_str!("migrations/0002_outbox.sql")),
    Migration::new(
        3,
        "dashboard",
        include_str!("migrations/0003_dashboard.sql"),
    ),
    Migration::new(4, "churn", include_str!("migrations/0004_churn.sql")),
    Migration::new(5, "admin", include_str!("migrations/0005_admin.sql")),
    Migration::new(
        6,
        "mailboxes",
        include_str!("migrations/0006_mailboxes.sql"),
    ),
    Migration::new(
        7,
        "deliveries",
        include_str!("migrations/0007_deliveries.sql"),
    ),
    Migration::new(8, "pauses", include_str!("migrations/0008_pauses.sql")),
    Migration::new(
        9,
        "status_links",
        include_str!("migrations/0009_status_links.sql"),
    ),
    Migration::new(
        10,
        "customer_search",
        include_str!("migrations/0010_customer_search.sql"),
    ),
    Migration::new(11, "journeys", include_str!("migrations/0011_journeys.sql")),
    Migration::new(
        12,
        "journey_keys",
        include_str!("migrations/0012_journey_keys.sql"),
    ),
    Migration::new(13, "visits", include_str!("migrations/0013_visits.sql")),
];
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Applies the migrations after the database's version, in one exclusive transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    // Another process may have migrated while we waited for the lock.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
        tx.execute_batch(migration.sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::SCHEMA_VERSION;
    use crate::domain::{Closure, Engine, Event};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Customers, Events, Gauges, Ingested, Ingestion, Obligations, Secrets};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sqlite")
            .join(name)
    }

    fn engine() -> Arc<Engine> {
        crate::config::Config::defaults().unwrap().engine
    }

    /// Every table, index and trigger with its SQL, and the version.
    fn schema(path: &Path) -> (Vec<(String, String, Option<String>)>, i64) {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let version = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        (rows, version)
    }

    async fn fresh_schema(dir: &Path) -> (Vec<(String, String, Option<String>)>, i64) {
        let path = dir.join("fresh.db");
        SqliteStore::open(path.to_str().unwrap(), engine(), false)
            .await
            .unwrap();
        schema(&path)
    }

    #[tokio::test]
    async fn a_database_of_every_earlier_schema_version_opens_upgraded_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = fresh_schema(dir.path()).await;
        assert_eq!(fresh.1, SCHEMA_VERSION);
        for version in 1..SCHEMA_VERSION {
            let path = dir.path().join(format!("v{version}.db"));
            let dump = std::fs::read_to_string(fixture(&format!("v{version}.sql"))).unwrap();
            Connection::open(&path)
                .unwrap()
                .execute_batch(&dump)
                .unwrap();
            assert_eq!(schema(&path).1, version);

            let store = SqliteStore::open(path.to_str().unwrap(), engine(), false)
                .await
                .unwrap();
            assert_eq!(schema(&path), fresh, "from version {version}");
            let customer = store.customer("c1").await.unwrap().unwrap();
            assert_eq!(customer.email.as_deref(), Some("ann@example.com"));
            assert_eq!(customer.events, 1);
            assert_eq!(store.customer_events("c1").await.unwrap().len(), 1);
            assert_eq!(
                store.find_api_key("abc123").await.unwrap().as_deref(),
                Some("ci")
            );
            assert_eq!(
                store.latest_event_at().await.unwrap(),
                Some("2026-01-05T10:00:00Z".parse().unwrap())
            );

            // The stored obligation goes on: the answer keeps it.
            let answer = Event {
                id: "e2".into(),
                kind: "message.sent".into(),
                customer: "c1".into(),
                at: "2026-01-05T10:30:00Z".parse().unwrap(),
                channel: None,
                reference: Some("T1".into()),
                properties: None,
                profile: Default::default(),
            };
            assert_eq!(
                store.ingest(vec![answer]).await.unwrap(),
                [Ingested::Accepted]
            );
            let obligations = store.customer_obligations("c1").await.unwrap();
            assert_eq!(obligations.len(), 1, "from version {version}");
            assert_eq!(obligations[0].trigger_event, "e1");
            assert_eq!(obligations[0].closure, Some(Closure::Kept));
            assert_eq!(obligations[0].closed_by.as_deref(), Some("e2"));
        }
    }

    #[tokio::test]
    async fn a_database_made_by_the_previous_layout_opens_upgraded() {
        // Made by `seen demo` before the migrations were renumbered (schema version 5): it opens, upgraded
        // to the current version like any other.
        let dir = tempfile::tempdir().unwrap();
        let fresh = fresh_schema(dir.path()).await;
        let path = dir.path().join("demo.db");
        std::fs::copy(fixture("v5-demo.db"), &path).unwrap();
        let v5 = dir.path().join("v5.db");
        let dump = std::fs::read_to_string(fixture("v5.sql")).unwrap();
        Connection::open(&v5).unwrap().execute_batch(&dump).unwrap();
        assert_eq!(schema(&path), schema(&v5));
        assert_eq!(schema(&path).1, 5);

        let store = SqliteStore::open(path.to_str().unwrap(), engine(), false)
            .await
            .unwrap();
        let counts = store.counts().await.unwrap();
        assert!(counts.customers > 0 && counts.events > 0 && counts.obligations > 0);
        assert!(store.latest_event_at().await.unwrap().is_some());
        assert_eq!(schema(&path), fresh);
    }
}
