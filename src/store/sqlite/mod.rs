//! The embedded default: one SQLite file in WAL mode. One writer connection (SQLite has one writer at a
//! time anyway) and a small pool of readers; every call runs on tokio's blocking pool. This file opens the
//! database (pragmas, migrations, the policies' fingerprint) and hands out connections; each store trait is
//! implemented in the file of its name, ingestion in `ingest.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::group::GroupCommit;
use super::StoreError;
use crate::domain::Engine;

mod accounts;
mod admin;
pub mod backup;
mod bulk;
mod churn;
mod cohorts;
mod customers;
mod deliveries;
mod events;
pub mod gauges;
pub mod hot;
mod ingest;
mod insights;
mod journeys;
mod mailboxes;
pub(crate) mod migrate;
mod obligations;
mod outbox;
mod rows;
mod secrets;

use migrate::migrate;

const NO_LATEST: i64 = i64::MIN;
/// The writer's page cache (`PRAGMA cache_size`: negative is KiB).
const WRITER_CACHE: i64 = -65536;
/// Idle read connections kept for reuse.
const READERS_KEPT: usize = 8;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Read connections in use now (for the metrics' pool gauge).
    reading: AtomicUsize,
    engine: Arc<Engine>,
    /// Cache of the latest event `at` (nanoseconds), `NO_LATEST` when there are no events.
    latest_at: AtomicI64,
    /// Group commit: concurrent ingests share one transaction.
    group: GroupCommit,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions roll back on drop).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    pub async fn open(
        path: &str,
        engine: Arc<Engine>,
        synchronous_full: bool,
    ) -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(path);
        let inner =
            tokio::task::spawn_blocking(move || Inner::open(path, engine, synchronous_full))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(SqliteStore {
            inner: Arc::new(inner),
        })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

impl Inner {
    fn open(
        path: PathBuf,
        engine: Arc<Engine>,
        synchronous_full: bool,
    ) -> Result<Inner, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                return Err(open_err(format!(
                    "folder {} does not exist",
                    parent.display()
                )));
            }
        }
        let mut writer = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        writer
            .execute_batch(&format!(
                "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000;
                 PRAGMA cache_size = {WRITER_CACHE}; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;
                 PRAGMA wal_autocheckpoint = 8192;",
                if synchronous_full { "FULL" } else { "NORMAL" }
            ))
            .map_err(|e| open_err(e.to_string()))?;
        // The ingest path alone uses more than rusqlite's default 16 statements.
        writer.set_prepared_statement_cache_capacity(64);
        migrate(&mut writer).map_err(|e| open_err(e.to_string()))?;
        // A bulk import that was killed left its read-side indexes set aside: build them before any read.
        let rebuilt = bulk::rebuild(&mut writer).map_err(|e| open_err(e.to_string()))?;
        if rebuilt > 0 {
            tracing::info!(
                "built again {rebuilt} indexes an interrupted bulk import had set aside"
            );
        }
        // Kept in `meta` by every ingest: a max() over all events would scan them on every start.
        let mut latest: Option<i64> = writer
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'latest_at'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if latest.is_none() {
            latest = writer.query_row("SELECT max(at) FROM events", [], |r| r.get(0))?;
            if let Some(at) = latest {
                writer.execute(
                    "INSERT INTO meta (key, value) VALUES ('latest_at', ?1)",
                    [at.to_string()],
                )?;
            }
        }
        let inner = Inner {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            reading: AtomicUsize::new(0),
            engine,
            latest_at: AtomicI64::new(latest.unwrap_or(NO_LATEST)),
            group: GroupCommit::default(),
        };
        inner.check_fingerprint()?;
        Ok(inner)
    }

    /// Obligations stored under other policies are recomputed from the events.
    fn check_fingerprint(&self) -> Result<(), StoreError> {
        let stored: Option<String> = {
            let conn = lock(&self.writer);
            conn.query_row(
                "SELECT value FROM meta WHERE key = 'fingerprint'",
                [],
                |r| r.get(0),
            )
            .optional()?
        };
        if stored.as_deref() == Some(self.engine.fingerprint()) {
            return Ok(());
        }
        if let Some(old) = &stored {
            tracing::info!("policies changed since the last run: recomputing every obligation");
            let customers = self.recompute_all()?;
            admin::insert_audit(
                &lock(&self.writer),
                &super::admin::policies_changed(old, self.engine.fingerprint(), customers),
            )?;
        }
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('fingerprint', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [self.engine.fingerprint()],
        )?;
        Ok(())
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.execute_batch(
                    "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768; PRAGMA mmap_size = 4294967296;",
                )?;
                conn.set_prepared_statement_cache_capacity(64);
                conn
            }
        };
        self.reading.fetch_add(1, Ordering::Relaxed);
        let result = f(&conn);
        self.reading.fetch_sub(1, Ordering::Relaxed);
        let mut pool = lock(&self.readers);
        if pool.len() < READERS_KEPT {
            pool.push(conn);
        }
        result
    }
}
