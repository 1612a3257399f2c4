//! Bulk loads on SQLite: the indexes only readers use are set aside while a large import writes, and built
//! again at its end. One sorted build of an index costs a fraction of millions of random inserts into it
//! (and of the deletes a partial index of unclosed obligations sees when they close).
//!
//! Their definitions are read from the schema and kept in `meta` under `deferred_indexes` in the same
//! transaction that drops them, so a load that is killed leaves a note: the next open builds them again
//! before anything reads. Ingestion needs none of them (its lookups use the primary keys,
//! `events_by_id`, `events_by_customer`, `obligations_by_customer`, `obligations_open_by_ref`), so what
//! is stored is the same with or without them.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{lock, Inner};
use crate::store::StoreError;

/// The read side's indexes: the breach scheduler's and the planner's, the invisible list, the dashboard's
/// figures, journeys, the front desk and customer search.
const DEFERRABLE: &[&str] = &[
    "obligations_unclosed",
    "obligations_unnoticed",
    "obligations_unplanned",
    "obligations_by_policy_due",
    "obligations_late",
    "obligations_nudged",
    "events_surveys",
    "events_feels_ignored",
    "events_unhappy",
    "events_visits",
    "customers_by_email",
    "customers_by_name",
    "customers_by_phone",
];

const NOTE: &str = "deferred_indexes";

impl Inner {
    /// Sets the read side's indexes aside when the load is at least twice as large as what is stored, or
    /// of unknown size into an empty store. Measured on the demo: keeping them up to date costs ~6 µs per
    /// imported event, building them ~2.4 µs per stored one, so the break-even is near 0.7× what is
    /// stored; twice leaves room for a rough estimate. Answers whether it did.
    pub(super) fn begin_bulk(&self, expected_events: Option<u64>) -> Result<bool, StoreError> {
        let mut conn = lock(&self.writer);
        let stored: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let stored = u64::try_from(stored).unwrap_or(0);
        let large = match expected_events {
            Some(expected) => expected >= stored.saturating_mul(2).max(1),
            None => stored == 0,
        };
        if !large || note(&conn)?.is_some() {
            return Ok(false);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut definitions = Vec::new();
        for name in DEFERRABLE {
            let sql: Option<String> = tx
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(sql) = sql {
                definitions.push(sql);
                tx.execute_batch(&format!("DROP INDEX {name}"))?;
            }
        }
        let text = serde_json::to_string(&definitions).map_err(|e| StoreError::Corrupt {
            table: "meta",
            reason: format!("deferred index list: {e}"),
        })?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [NOTE, &text],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Builds again the indexes a bulk load set aside (the end of the load, or the open after a load that
    /// was killed). Nothing to do when none are set aside. Answers how many were built.
    pub(super) fn end_bulk(&self) -> Result<usize, StoreError> {
        let mut conn = lock(&self.writer);
        rebuild(&mut conn)
    }
}

/// The note a bulk load left: the definitions of the indexes it set aside.
fn note(conn: &Connection) -> Result<Option<Vec<String>>, StoreError> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [NOTE], |r| {
            r.get(0)
        })
        .optional()?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "meta",
            reason: format!("{NOTE}: {e}"),
        })
    })
    .transpose()
}

/// Creates the set-aside indexes and removes the note, in one transaction.
pub(super) fn rebuild(conn: &mut Connection) -> Result<usize, StoreError> {
    let Some(definitions) = note(conn)? else {
        return Ok(0);
    };
    // The index builds sort in temporary storage on disk, not in memory as every other statement's (the
    // sort of 5 M events' keys would otherwise be held in the process), and SQLite's sorter keeps as much
    // in memory as the page cache may hold: a smaller cache for the build keeps the import's peak memory
    // where ingestion left it (measured: +52 MB at 6.5 M events with the writer's 64 MiB).
    conn.execute_batch("PRAGMA temp_store = FILE; PRAGMA cache_size = -16384")?;
    let built = create(conn, &definitions);
    conn.execute_batch(&format!(
        "PRAGMA temp_store = MEMORY; PRAGMA cache_size = {}",
        super::WRITER_CACHE
    ))?;
    built
}

fn create(conn: &mut Connection, definitions: &[String]) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for sql in definitions {
        // `IF NOT EXISTS` is not in the stored text; an index built by an earlier, interrupted
        // rebuild cannot exist because that rebuild's transaction rolled back.
        tx.execute_batch(sql)?;
    }
    tx.execute("DELETE FROM meta WHERE key = ?1", [NOTE])?;
    tx.commit()?;
    Ok(definitions.len())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::DEFERRABLE;
    use crate::domain::{Engine, Event};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Ingested, Ingestion, Obligations};

    fn engine() -> Arc<Engine> {
        crate::config::Config::defaults().unwrap().engine
    }

    /// Every index with its SQL, and whether a bulk load's note is present.
    fn indexes(path: &Path) -> (Vec<(String, Option<String>)>, bool) {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let note: i64 = conn
            .query_row(
                "SELECT count(*) FROM meta WHERE key = 'deferred_indexes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (rows, note == 1)
    }

    fn message(id: &str, customer: &str, at: &str) -> Event {
        Event {
            id: id.into(),
            kind: "message.received".into(),
            customer: customer.into(),
            at: at.parse().unwrap(),
            channel: Some("email".into()),
            reference: Some("T1".into()),
            properties: None,
            profile: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_large_load_sets_the_read_indexes_aside_and_a_killed_one_gets_them_back_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulk.db");
        let name = path.to_str().unwrap();
        let store = SqliteStore::open(name, engine(), false).await.unwrap();
        let all = indexes(&path);
        assert!(!all.1);
        for index in DEFERRABLE {
            assert!(all.0.iter().any(|(n, _)| n == index), "{index} exists");
        }
        let first = vec![
            message("e1", "c1", "2026-01-05T10:00:00Z"),
            message("e2", "c2", "2026-01-05T10:01:00Z"),
        ];
        assert_eq!(
            store.ingest(first).await.unwrap(),
            [Ingested::Accepted, Ingested::Accepted]
        );

        // Smaller than what is stored: everything is kept.
        assert!(!store.begin_bulk(Some(3)).await.unwrap());
        assert_eq!(indexes(&path), all);

        // Larger: set aside, noted, and ingestion goes on without them.
        assert!(store.begin_bulk(Some(100)).await.unwrap());
        let (during, noted) = indexes(&path);
        assert!(noted);
        assert_eq!(during.len(), all.0.len() - DEFERRABLE.len());
        assert!(!store.begin_bulk(Some(100)).await.unwrap(), "once");
        assert_eq!(
            store
                .ingest(vec![message("e3", "c3", "2026-01-05T10:02:00Z")])
                .await
                .unwrap(),
            [Ingested::Accepted]
        );
        assert_eq!(store.end_bulk().await.unwrap(), DEFERRABLE.len());
        assert_eq!(indexes(&path), all);
        assert_eq!(store.end_bulk().await.unwrap(), 0);

        // Killed in the middle of a load (the store dropped without `end_bulk`): the next open builds them.
        assert!(store.begin_bulk(None).await.is_ok());
        assert!(store.begin_bulk(Some(1_000)).await.unwrap());
        drop(store);
        assert!(indexes(&path).1);
        let store = SqliteStore::open(name, engine(), false).await.unwrap();
        assert_eq!(indexes(&path), all);
        let obligations = store.customer_obligations("c3").await.unwrap();
        assert_eq!(obligations.len(), 1);
        assert!(obligations[0].closed_at.is_none());
    }
}
