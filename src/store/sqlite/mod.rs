//! The embedded default: one SQLite file in WAL mode. One writer connection (SQLite has one writer at a
//! time anyway) and a small pool of readers; every call runs on tokio's blocking pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{
    named_params, params, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};

use super::group::{await_answer, GroupCommit, LeaderGuard};
use super::{
    from_nanos, nanos, parse_profile, profile_json, ApiKey, CustomerRecord, HistoryPage, Ingested,
    ObligationFilter, Store, StoreCounts, StoreError,
};
use crate::domain::{Closure, Engine, Event, Obligation, ProfileUpdate};

mod accounts;
mod admin;
pub mod backup;
mod churn;
pub mod gauges;
pub mod hot;
mod insights;
mod outbox;

/// Each entry brings the schema from its index to the next version.
const MIGRATIONS: [&str; 5] = [
    include_str!("schema.sql"),
    include_str!("outbox.sql"),
    include_str!("dashboard.sql"),
    include_str!("churn.sql"),
    include_str!("admin.sql"),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
const NO_LATEST: i64 = i64::MIN;
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
                 PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;
                 PRAGMA wal_autocheckpoint = 8192;",
                if synchronous_full { "FULL" } else { "NORMAL" }
            ))
            .map_err(|e| open_err(e.to_string()))?;
        // The ingest path alone uses more than rusqlite's default 16 statements.
        writer.set_prepared_statement_cache_capacity(64);
        migrate(&mut writer).map_err(|e| open_err(e.to_string()))?;
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

    /// The group-commit leader: commits queued batches, a group per transaction, until none is left.
    fn lead_group_commits(&self) {
        let _guard = LeaderGuard(&self.group);
        while let Some(group) = self.group.next_group() {
            let result = self.ingest(&group.events);
            group.answer(result);
        }
    }

    fn ingest(&self, events: &[Event]) -> Result<Vec<Ingested>, StoreError> {
        let received_at = nanos(Timestamp::now());
        let mut results = vec![Ingested::Duplicate; events.len()];
        let order = super::customer_order(events);
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut latest = NO_LATEST;
        for group in order.chunk_by(|&a, &b| events[a].customer == events[b].customer) {
            let customer = &events[group[0]].customer;
            let existing: Option<(i64, i64)> = tx
                .prepare_cached(hot::CUSTOMER_BY_ID)?
                .query_row([customer], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let seq = match existing {
                Some((seq, _)) => seq,
                // first/last are set from the accepted events below; a customer none of whose events is
                // accepted (all duplicates) is removed again.
                None => tx
                    .prepare_cached(
                        "INSERT INTO customers (id, first_at, last_at, events) VALUES (?1, ?2, ?3, 0) RETURNING seq",
                    )?
                    .query_row(params![customer, i64::MAX, i64::MIN], |r| r.get(0))?,
            };
            let mut accepted: Vec<&Event> = Vec::with_capacity(group.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO events (id, customer_seq, type, at, channel, ref, properties, profile, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
                )?;
                for &i in group {
                    let e = &events[i];
                    let inserted = insert.execute(params![
                        e.id,
                        seq,
                        e.kind,
                        nanos(e.at),
                        e.channel,
                        e.reference,
                        e.properties,
                        profile_json(&e.profile),
                        received_at
                    ])?;
                    if inserted == 1 {
                        results[i] = Ingested::Accepted;
                        accepted.push(e);
                    } else if stored_for_other(&tx, &e.id, seq)? {
                        results[i] = Ingested::Conflict;
                    }
                }
            }
            let Some(last) = accepted.last() else {
                if existing.is_none() {
                    tx.prepare_cached("DELETE FROM customers WHERE seq = ?1")?
                        .execute([seq])?;
                }
                continue;
            };
            latest = latest.max(nanos(last.at));
            update_customer(&tx, seq, &accepted)?;

            let relevant: Vec<&Event> = accepted
                .into_iter()
                .filter(|e| self.engine.is_relevant(&e.kind))
                .collect();
            let Some(earliest) = relevant.first() else {
                continue;
            };
            match existing {
                // A late arrival: replay the customer's whole history, the oracle path.
                Some((_, last_at)) if nanos(earliest.at) <= last_at => {
                    self.replay_customer(&tx, seq, customer)?;
                }
                Some(_) => {
                    let loaded: Vec<(i64, Obligation)> = tx
                        .prepare_cached(&hot::UNCLOSED_OF_CUSTOMER)?
                        .query_map(params![seq], |r| obligation_from_row(r, &self.engine))?
                        .collect::<Result<_, _>>()?;
                    let rows: Vec<i64> = loaded.iter().map(|(row, _)| *row).collect();
                    let before: Vec<Obligation> = loaded.into_iter().map(|(_, o)| o).collect();
                    let mut state = before.clone();
                    self.engine.apply(&mut state, &relevant);
                    for (i, obligation) in state.iter().enumerate() {
                        match rows.get(i) {
                            Some(&row) if before[i] != *obligation => {
                                update_obligation(&tx, row, obligation)?
                            }
                            Some(_) => {}
                            None => insert_obligation(&tx, seq, obligation, None)?,
                        }
                    }
                }
                None => {
                    for obligation in self.engine.evaluate(&relevant) {
                        insert_obligation(&tx, seq, &obligation, None)?;
                    }
                }
            }
        }
        if latest != NO_LATEST {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('latest_at', ?1) ON CONFLICT (key) DO UPDATE
                 SET value = CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
            )?
            .execute([latest.to_string()])?;
        }
        tx.commit()?;
        if latest != NO_LATEST {
            self.latest_at.fetch_max(latest, Ordering::SeqCst);
        }
        Ok(results)
    }

    /// Recomputes one customer's obligations from all their events, keeping what the scheduler noticed.
    fn replay_customer(
        &self,
        conn: &Connection,
        seq: i64,
        customer: &str,
    ) -> Result<(), StoreError> {
        let events = load_events(conn, seq, customer)?;
        let mut noticed: HashMap<(String, String), i64> = HashMap::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT policy, trigger_event, noticed_at FROM obligations
                 WHERE customer_seq = ?1 AND noticed_at IS NOT NULL",
            )?;
            let rows = stmt.query_map([seq], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
            for row in rows {
                let (key, at) = row?;
                noticed.insert(key, at);
            }
        }
        conn.prepare_cached("DELETE FROM obligations WHERE customer_seq = ?1")?
            .execute([seq])?;
        let replayed = super::replay_history(&self.engine, &events, |o| {
            noticed
                .get(&(o.policy.to_string(), o.trigger_event.clone()))
                .copied()
        });
        for (obligation, noticed_at) in replayed {
            insert_obligation(conn, seq, &obligation, noticed_at)?;
        }
        Ok(())
    }

    fn recompute_all(&self) -> Result<u64, StoreError> {
        let mut conn = lock(&self.writer);
        let customers: Vec<(i64, String)> = {
            let mut stmt = conn
                .prepare("SELECT seq, id FROM customers WHERE forgotten_at IS NULL ORDER BY seq")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for chunk in customers.chunks(2_000) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (seq, id) in chunk {
                self.replay_customer(&tx, *seq, id)?;
            }
            tx.commit()?;
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('fingerprint', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [self.engine.fingerprint()],
        )?;
        Ok(customers.len() as u64)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    // Another process may have migrated while we waited for the lock.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for migration in MIGRATIONS.iter().skip(version.max(0) as usize) {
        tx.execute_batch(migration)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()
}

/// Whether the stored event with this id belongs to a customer other than `seq`.
fn stored_for_other(conn: &Connection, id: &str, seq: i64) -> Result<bool, StoreError> {
    let owner: Option<i64> = conn
        .prepare_cached("SELECT customer_seq FROM events WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(owner.is_some_and(|owner| owner != seq))
}

/// Activity counts and the profile in one statement. Each profile field takes the value of the latest
/// event that carries it, whatever the arrival order. `accepted` is sorted by (at, id).
fn update_customer(conn: &Connection, seq: i64, accepted: &[&Event]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (accepted.first(), accepted.last()) else {
        return Ok(());
    };
    let latest = |get: fn(&ProfileUpdate) -> &Option<String>| {
        accepted
            .iter()
            .rev()
            .find_map(|e| get(&e.profile).as_deref().map(|v| (v, nanos(e.at))))
            .unzip()
    };
    let (email, email_at) = latest(|p| &p.email);
    let (name, name_at) = latest(|p| &p.name);
    let (phone, phone_at) = latest(|p| &p.phone);
    let (timezone, timezone_at) = latest(|p| &p.timezone);
    conn.prepare_cached(
        "UPDATE customers SET events = events + ?2, first_at = min(first_at, ?3), last_at = max(last_at, ?4),
           email = CASE WHEN ?6 >= coalesce(email_at, ?6) THEN coalesce(?5, email) ELSE email END,
           email_at = CASE WHEN ?6 >= coalesce(email_at, ?6) THEN coalesce(?6, email_at) ELSE email_at END,
           name = CASE WHEN ?8 >= coalesce(name_at, ?8) THEN coalesce(?7, name) ELSE name END,
           name_at = CASE WHEN ?8 >= coalesce(name_at, ?8) THEN coalesce(?8, name_at) ELSE name_at END,
           phone = CASE WHEN ?10 >= coalesce(phone_at, ?10) THEN coalesce(?9, phone) ELSE phone END,
           phone_at = CASE WHEN ?10 >= coalesce(phone_at, ?10) THEN coalesce(?10, phone_at) ELSE phone_at END,
           timezone = CASE WHEN ?12 >= coalesce(timezone_at, ?12) THEN coalesce(?11, timezone) ELSE timezone END,
           timezone_at = CASE WHEN ?12 >= coalesce(timezone_at, ?12) THEN coalesce(?12, timezone_at) ELSE timezone_at END
         WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        accepted.len() as i64,
        nanos(first.at),
        nanos(last.at),
        email,
        email_at,
        name,
        name_at,
        phone,
        phone_at,
        timezone,
        timezone_at
    ])?;
    Ok(())
}

fn event_from_row(row: &Row<'_>, customer: &str) -> rusqlite::Result<Event> {
    Ok(Event {
        id: row.get(0)?,
        kind: row.get(1)?,
        customer: customer.to_string(),
        at: from_nanos(row.get(2)?),
        channel: row.get(3)?,
        reference: row.get(4)?,
        properties: row.get(5)?,
        profile: parse_profile(row.get(6)?),
    })
}

const EVENT_COLUMNS: &str = "id, type, at, channel, ref, properties, profile";

/// One customer's events, sorted by (at, id).
fn load_events(conn: &Connection, seq: i64, customer: &str) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(&hot::EVENTS_OF_CUSTOMER)?;
    let rows = stmt.query_map([seq], |r| event_from_row(r, customer))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const OBLIGATION_COLUMNS: &str =
    "o.seq, c.id, o.policy, o.ref, o.opened_at, o.due_at, o.breach_at, o.closed_at,
     o.close_kind, o.closed_by, o.trigger_event, o.nudges, o.last_nudge_at";

fn obligation_from_row(row: &Row<'_>, engine: &Engine) -> rusqlite::Result<(i64, Obligation)> {
    let policy: String = row.get(2)?;
    let close_kind: Option<String> = row.get(8)?;
    let obligation = Obligation {
        policy: engine.policy_name(&policy),
        customer: row.get(1)?,
        reference: row.get(3)?,
        opened_at: from_nanos(row.get(4)?),
        due_at: from_nanos(row.get(5)?),
        breach_at: from_nanos(row.get(6)?),
        closed_at: row.get::<_, Option<i64>>(7)?.map(from_nanos),
        closure: close_kind.as_deref().and_then(Closure::parse),
        closed_by: row.get(9)?,
        trigger_event: row.get(10)?,
        nudges: row.get(11)?,
        last_nudge_at: row.get::<_, Option<i64>>(12)?.map(from_nanos),
    };
    Ok((row.get(0)?, obligation))
}

fn load_obligations(
    conn: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
    engine: &Engine,
) -> Result<Vec<(i64, Obligation)>, StoreError> {
    let sql = format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations o JOIN customers c ON c.seq = o.customer_seq {clause}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| obligation_from_row(r, engine))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn insert_obligation(
    conn: &Connection,
    seq: i64,
    o: &Obligation,
    noticed_at: Option<i64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO obligations (customer_seq, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
             closed_by, trigger_event, nudges, last_nudge_at, noticed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        seq,
        &*o.policy,
        o.reference,
        nanos(o.opened_at),
        nanos(o.due_at),
        nanos(o.breach_at),
        o.closed_at.map(nanos),
        o.closure.map(Closure::as_str),
        o.closed_by,
        o.trigger_event,
        o.nudges,
        o.last_nudge_at.map(nanos),
        noticed_at
    ])?;
    Ok(())
}

fn update_obligation(conn: &Connection, row: i64, o: &Obligation) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE obligations SET closed_at = ?2, close_kind = ?3, closed_by = ?4, nudges = ?5, last_nudge_at = ?6
         WHERE seq = ?1",
    )?
    .execute(params![
        row,
        o.closed_at.map(nanos),
        o.closure.map(Closure::as_str),
        o.closed_by,
        o.nudges,
        o.last_nudge_at.map(nanos)
    ])?;
    Ok(())
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<CustomerRecord> {
    customer_at(row, 0)
}

/// A `CUSTOMER_COLUMNS` record starting at column `first`.
fn customer_at(row: &Row<'_>, first: usize) -> rusqlite::Result<CustomerRecord> {
    Ok(CustomerRecord {
        id: row.get(first)?,
        email: row.get(first + 1)?,
        name: row.get(first + 2)?,
        phone: row.get(first + 3)?,
        timezone: row.get(first + 4)?,
        first_seen: Some(from_nanos(row.get(first + 5)?)),
        last_seen: Some(from_nanos(row.get(first + 6)?)),
        events: row.get::<_, i64>(first + 7)?.max(0) as u64,
    })
}

const CUSTOMER_COLUMNS: &str = "id, email, name, phone, timezone, first_at, last_at, events";

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let (answer, lead) = self.inner.group.enqueue(events);
        if lead {
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || inner.lead_group_commits());
        }
        await_answer(answer).await
    }

    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let latest = self.inner.latest_at.load(Ordering::SeqCst);
        Ok((latest != NO_LATEST).then(|| from_nanos(latest)))
    }

    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
                    ))?
                    .query_row([&id], customer_from_row)
                    .optional()?)
            })
        })
        .await
    }

    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
                ))?;
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(c) = stmt.query_row([id], customer_from_row).optional()? {
                        out.push(c);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let seq: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM customers WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))
                    .optional()?;
                match seq {
                    Some(seq) => load_events(conn, seq, &id),
                    None => Ok(Vec::new()),
                }
            })
        })
        .await
    }

    async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let rows = load_obligations(
                    conn,
                    "WHERE c.id = ?1 ORDER BY o.opened_at, o.seq",
                    params![id],
                    &inner.engine,
                )?;
                Ok(rows.into_iter().map(|(_, o)| o).collect())
            })
        })
        .await
    }

    async fn unclosed_breached(&self, before: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // Closed columns are NULL by the WHERE: naming them as literals keeps the index covering.
                let mut stmt = conn.prepare_cached(hot::UNCLOSED_BREACHED)?;
                let rows =
                    stmt.query_map([nanos(before)], |r| obligation_from_row(r, &inner.engine))?;
                rows.map(|row| row.map(|(_, o)| o).map_err(StoreError::from))
                    .collect()
            })
        })
        .await
    }

    async fn obligations(
        &self,
        filter: ObligationFilter,
    ) -> Result<Vec<(i64, Obligation)>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let limit = filter.limit.map_or(-1, |l| l as i64);
                load_obligations(
                    conn,
                    "WHERE o.seq > :after AND (:policy IS NULL OR o.policy = :policy)
                       AND (:customer IS NULL OR c.id = :customer)
                     ORDER BY o.seq LIMIT :limit",
                    named_params! {
                        ":after": filter.after.unwrap_or(0),
                        ":policy": filter.policy,
                        ":customer": filter.customer,
                        ":limit": limit,
                    },
                    &inner.engine,
                )
            })
        })
        .await
    }

    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT seq, {CUSTOMER_COLUMNS} FROM customers WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))?;
                let customers: Vec<(i64, CustomerRecord)> = stmt
                    .query_map(params![after.unwrap_or(0), limit as i64], |r| Ok((r.get(0)?, customer_at(r, 1)?)))?
                    .collect::<Result<_, _>>()?;
                let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
                    return Ok(HistoryPage {
                        histories: Vec::new(),
                        next: None,
                    });
                };
                let (first_seq, last_seq) = (first.0, last.0);
                let mut by_seq: HashMap<i64, Vec<Event>> = HashMap::new();
                let index: HashMap<i64, &str> = customers.iter().map(|(s, c)| (*s, c.id.as_str())).collect();
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, customer_seq FROM events
                     WHERE customer_seq BETWEEN ?1 AND ?2 ORDER BY customer_seq, at, id"
                ))?;
                let mut rows = stmt.query(params![first_seq, last_seq])?;
                while let Some(row) = rows.next()? {
                    let seq: i64 = row.get(7)?;
                    let customer = index.get(&seq).copied().unwrap_or_default();
                    by_seq.entry(seq).or_default().push(event_from_row(row, customer)?);
                }
                let next = (customers.len() == limit).then_some(last_seq);
                let histories = customers
                    .into_iter()
                    .map(|(seq, c)| (c, by_seq.remove(&seq).unwrap_or_default()))
                    .collect();
                Ok(HistoryPage { histories, next })
            })
        })
        .await
    }

    async fn recompute_all(&self) -> Result<u64, StoreError> {
        self.run(|inner| inner.recompute_all()).await
    }

    async fn next_unnoticed_breach(&self) -> Result<Option<Timestamp>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let next: Option<i64> = conn
                    .prepare_cached(hot::NEXT_UNNOTICED_BREACH)?
                    .query_row([], |r| r.get(0))?;
                Ok(next.map(from_nanos))
            })
        })
        .await
    }

    async fn notice_breaches(&self, now: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let now = nanos(now);
            let rows: Vec<i64> = conn
                .prepare_cached(hot::NOTICE_BREACHES)?
                .query_map([now], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.extend(
                    load_obligations(&conn, "WHERE o.seq = ?1", params![row], &inner.engine)?
                        .into_iter()
                        .map(|(_, o)| o),
                );
            }
            Ok(out)
        })
        .await
    }

    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let exists: bool = conn.query_row(
                "SELECT count(*) > 0 FROM api_keys WHERE name = ?1 AND revoked_at IS NULL",
                [&name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Conflict(format!("an API key named {name:?} already exists")));
            }
            conn.execute(
                "INSERT INTO api_keys (name, hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at,
                   revoked_at = NULL",
                params![name, hash, nanos(Timestamp::now())],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let hash = hash.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT name FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
                    )?
                    .query_row([&hash], |r| r.get(0))
                    .optional()?)
            })
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT name, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY name",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(ApiKey {
                        name: r.get(0)?,
                        created_at: from_nanos(r.get(1)?),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
        .await
    }

    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let n = conn.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, nanos(Timestamp::now())],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let count = |table: &str| -> Result<u64, StoreError> {
                    let n: i64 =
                        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                    Ok(n.max(0) as u64)
                };
                Ok(StoreCounts {
                    customers: count("customers")?,
                    events: count("events")?,
                    obligations: count("obligations")?,
                })
            })
        })
        .await
    }
}
