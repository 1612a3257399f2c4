//! PostgreSQL, for when one machine is not enough: several `seen` nodes share one database.
//!
//! Ingestion is set-based (a fixed number of statements per batch, arrays through `UNNEST`), and customers
//! touched by a batch are row-locked in id order, so nodes ingesting the same customer serialise while the
//! rest proceed in parallel. The scheduler claims breaches with `FOR UPDATE SKIP LOCKED`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgPool, Postgres, Row, Transaction};

use super::group::{await_answer, GroupCommit, LeaderGuard};
use super::{
    from_nanos, nanos, ApiKey, CustomerRecord, HistoryPage, Ingested, ObligationFilter, Store,
    StoreCounts, StoreError, StoreOptions,
};
use crate::domain::{Closure, Engine, Event, Obligation, ProfileUpdate};

mod accounts;
mod admin;
mod churn;
pub mod gauges;
pub mod hot;
mod insights;
mod outbox;

/// The migrations, compiled into the binary.
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(vec![
                Migration::new(
                    1,
                    "init".into(),
                    MigrationType::Simple,
                    include_str!("migrations/0001_init.sql").into(),
                    false,
                ),
                Migration::new(
                    2,
                    "outbox".into(),
                    MigrationType::Simple,
                    include_str!("migrations/0002_outbox.sql").into(),
                    false,
                ),
                Migration::new(
                    3,
                    "dashboard".into(),
                    MigrationType::Simple,
                    include_str!("migrations/0003_dashboard.sql").into(),
                    false,
                ),
                Migration::new(
                    4,
                    "churn".into(),
                    MigrationType::Simple,
                    include_str!("migrations/0004_churn.sql").into(),
                    false,
                ),
                Migration::new(
                    5,
                    "admin".into(),
                    MigrationType::Simple,
                    include_str!("migrations/0005_admin.sql").into(),
                    false,
                ),
            ])
        })
    }
}

/// Serialises policy-change recomputes across nodes starting together.
const RECOMPUTE_LOCK: i64 = 0x5EE4_0001;

/// A handle on the shared state (cheap to clone into the group-commit leader task).
pub struct PostgresStore {
    shared: Arc<PgShared>,
}

pub struct PgShared {
    pool: PgPool,
    engine: Arc<Engine>,
    retries: u32,
    retry_backoff: std::time::Duration,
    group: GroupCommit,
}

impl std::ops::Deref for PostgresStore {
    type Target = PgShared;
    fn deref(&self) -> &PgShared {
        &self.shared
    }
}

impl PostgresStore {
    pub async fn open(
        url: &str,
        engine: Arc<Engine>,
        options: &StoreOptions,
    ) -> Result<PostgresStore, StoreError> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = url
            .parse::<PgConnectOptions>()
            .map_err(|e| StoreError::Open {
                path: super::redact_url(url),
                reason: e.to_string(),
            })?
            .options([("statement_timeout", timeout_ms.as_str())])
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Open {
                path: super::redact_url(url),
                reason: e.to_string(),
            })?;
        let store = PostgresStore {
            shared: Arc::new(PgShared {
                pool,
                engine,
                retries: options.retries,
                retry_backoff: options.retry_backoff,
                group: GroupCommit::default(),
            }),
        };
        store.migrate().await?;
        store.check_fingerprint().await?;
        Ok(store)
    }
}

impl PgShared {
    /// Applies pending migrations under sqlx's advisory lock: nodes starting together never race.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = Migrator::new(Embedded)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    async fn check_fingerprint(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(RECOMPUTE_LOCK)
            .execute(&mut *conn)
            .await?;
        let result = async {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'fingerprint'")
                    .fetch_optional(&mut *conn)
                    .await?;
            if stored.as_deref() == Some(self.engine.fingerprint()) {
                return Ok(());
            }
            if let Some(old) = &stored {
                tracing::info!("policies changed since the last run: recomputing every obligation");
                let customers = self.recompute().await?;
                admin::insert_audit(
                    &mut conn,
                    &super::admin::policies_changed(old, self.engine.fingerprint(), customers),
                )
                .await?;
            }
            self.set_fingerprint().await
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RECOMPUTE_LOCK)
            .execute(&mut *conn)
            .await?;
        result
    }

    async fn set_fingerprint(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('fingerprint', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(self.engine.fingerprint())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recompute(&self) -> Result<u64, StoreError> {
        let mut after = 0i64;
        let mut total = 0u64;
        loop {
            let rows =
                sqlx::query("SELECT seq, id FROM customers WHERE seq > $1 AND forgotten_at IS NULL ORDER BY seq LIMIT 1000")
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?;
            let Some(last) = rows.last() else {
                return Ok(total);
            };
            after = last.try_get(0)?;
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get(1))
                .collect::<Result<_, _>>()?;
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT 1 FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
            let mut writes = Writes::default();
            self.replay(&mut tx, &ids, &mut writes).await?;
            writes.flush(&mut tx).await?;
            tx.commit().await?;
            total += ids.len() as u64;
        }
    }

    /// Replays the customers' whole histories into `writes` (deleting their stored obligations, keeping
    /// what the scheduler already noticed).
    async fn replay(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ids: &[String],
        writes: &mut Writes,
    ) -> Result<(), StoreError> {
        let mut histories: HashMap<String, Vec<Event>> = HashMap::new();
        let rows = sqlx::query(&hot::EVENTS_OF_CUSTOMERS)
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
        for row in &rows {
            let customer: String = row.try_get(7)?;
            let event = event_from_row(row, &customer)?;
            histories.entry(customer).or_default().push(event);
        }
        let noticed: HashMap<(String, String, String), i64> = sqlx::query(
            "SELECT customer, policy, trigger_event, noticed_at FROM obligations
             WHERE customer = ANY($1) AND noticed_at IS NOT NULL",
        )
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?), r.try_get(3)?)))
        .collect::<Result<_, sqlx::Error>>()?;
        sqlx::query("DELETE FROM obligations WHERE customer = ANY($1)")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        for events in histories.values() {
            writes
                .inserts
                .extend(super::replay_history(&self.engine, events, |o| {
                    noticed
                        .get(&(
                            o.customer.clone(),
                            o.policy.to_string(),
                            o.trigger_event.clone(),
                        ))
                        .copied()
                }));
        }
        Ok(())
    }

    /// One (group) batch; a transient failure rolled it back, and ids make the retry idempotent.
    async fn ingest_with_retries(&self, events: &[Event]) -> Result<Vec<Ingested>, StoreError> {
        let mut attempt = 0;
        loop {
            match self.ingest_batch(events).await {
                Err(err) if err.is_transient() && attempt < self.retries => {
                    let backoff = self.retry_backoff.saturating_mul(1 << attempt.min(10));
                    let jitter = backoff.mul_f64(rand::random::<f64>() * 0.5);
                    tracing::warn!(error = %err, attempt = attempt + 1, "transient database error; retrying the batch");
                    tokio::time::sleep(backoff + jitter).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn ingest_batch(&self, events: &[Event]) -> Result<Vec<Ingested>, StoreError> {
        let mut results = vec![Ingested::Duplicate; events.len()];
        if events.is_empty() {
            return Ok(results);
        }
        let received_at = nanos(Timestamp::now());
        let order = super::customer_order(events);
        let groups: Vec<&[usize]> = order
            .chunk_by(|&a, &b| events[a].customer == events[b].customer)
            .collect();
        let ids: Vec<&str> = groups
            .iter()
            .map(|g| events[g[0]].customer.as_str())
            .collect();

        let mut tx = self.pool.begin().await?;
        // Create missing customers, then lock every touched one, both in id order (no deadlocks). first/last
        // are set from the accepted events below; a new customer none of whose events is accepted (all
        // duplicates) is removed again before the commit, so no other transaction ever sees it.
        let created: Vec<String> = sqlx::query_scalar(
            "INSERT INTO customers (id, first_at, last_at, events)
             SELECT id, $2, $3, 0 FROM UNNEST($1::text[]) AS t(id)
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(&ids)
        .bind(i64::MAX)
        .bind(i64::MIN)
        .fetch_all(&mut *tx)
        .await?;
        let mut last_seen: HashMap<String, Option<i64>> = HashMap::new();
        for row in sqlx::query(hot::LOCK_CUSTOMERS)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
        {
            let events: i64 = row.try_get(2)?;
            // A customer row without events has no history yet: its batch is evaluated from nothing.
            let last: Option<i64> = (events > 0).then(|| row.try_get(1)).transpose()?;
            last_seen.insert(row.try_get(0)?, last);
        }

        // Events: duplicates by id (also across nodes) are skipped; the first occurrence wins.
        let columns = EventArrays::new(events, &order);
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO events (customer, id, type, at, channel, ref, properties, profile, received_at)
             SELECT c, i, t, a, ch, r, p, pr, $9
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[])
               AS u(c, i, t, a, ch, r, p, pr)
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(&columns.customer)
        .bind(&columns.id)
        .bind(&columns.kind)
        .bind(&columns.at)
        .bind(&columns.channel)
        .bind(&columns.reference)
        .bind(&columns.properties)
        .bind(&columns.profile)
        .bind(received_at)
        .fetch_all(&mut *tx)
        .await?;
        let mut inserted: HashSet<String> = inserted.into_iter().collect();
        for &i in &order {
            if inserted.remove(&events[i].id) {
                results[i] = Ingested::Accepted;
            }
        }
        self.mark_conflicts(&mut tx, events, &mut results).await?;
        let with_events: HashSet<&str> = events
            .iter()
            .zip(&results)
            .filter(|(_, r)| **r == Ingested::Accepted)
            .map(|(e, _)| e.customer.as_str())
            .collect();
        let empty: Vec<&str> = created
            .iter()
            .map(String::as_str)
            .filter(|id| !with_events.contains(id))
            .collect();
        if !empty.is_empty() {
            sqlx::query("DELETE FROM customers WHERE id = ANY($1)")
                .bind(&empty)
                .execute(&mut *tx)
                .await?;
        }

        // Customers: counts and profile, one statement for the batch.
        let mut updates = CustomerArrays::default();
        let mut writes = Writes::default();
        let mut fast: Vec<(String, Vec<&Event>)> = Vec::new();
        let mut replay: Vec<String> = Vec::new();
        let mut latest = i64::MIN;
        for group in &groups {
            let accepted: Vec<&Event> = group
                .iter()
                .filter(|&&i| results[i] == Ingested::Accepted)
                .map(|&i| &events[i])
                .collect();
            let Some(last) = accepted.last() else {
                continue;
            };
            latest = latest.max(nanos(last.at));
            updates.push(&accepted);
            let relevant: Vec<&Event> = accepted
                .into_iter()
                .filter(|e| self.engine.is_relevant(&e.kind))
                .collect();
            let Some(earliest) = relevant.first() else {
                continue;
            };
            let customer = earliest.customer.clone();
            match last_seen.get(&customer).copied().flatten() {
                None => writes.inserts.extend(
                    self.engine
                        .evaluate(&relevant)
                        .into_iter()
                        .map(|o| (o, None)),
                ),
                Some(last_at) if nanos(earliest.at) <= last_at => replay.push(customer),
                Some(_) => fast.push((customer, relevant)),
            }
        }
        updates.execute(&mut tx).await?;

        // Obligations: continue from the unclosed ones (fast path), or replay late arrivals.
        if !fast.is_empty() {
            let customers: Vec<&str> = fast.iter().map(|(c, _)| c.as_str()).collect();
            let rows = sqlx::query(&hot::UNCLOSED_OF_CUSTOMERS)
                .bind(&customers)
                .fetch_all(&mut *tx)
                .await?;
            let mut loaded: HashMap<String, Vec<(i64, Obligation)>> = HashMap::new();
            for row in &rows {
                let (seq, obligation) = obligation_from_row(row, &self.engine)?;
                loaded
                    .entry(obligation.customer.clone())
                    .or_default()
                    .push((seq, obligation));
            }
            for (customer, relevant) in &fast {
                let before = loaded.remove(customer).unwrap_or_default();
                let mut state: Vec<Obligation> = before.iter().map(|(_, o)| o.clone()).collect();
                self.engine.apply(&mut state, relevant);
                for (i, obligation) in state.into_iter().enumerate() {
                    match before.get(i) {
                        Some((seq, old)) if *old != obligation => {
                            writes.updates.push((*seq, obligation))
                        }
                        Some(_) => {}
                        None => writes.inserts.push((obligation, None)),
                    }
                }
            }
        }
        if !replay.is_empty() {
            self.replay(&mut tx, &replay, &mut writes).await?;
        }
        writes.flush(&mut tx).await?;
        if latest != i64::MIN {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('latest_at', $1::text) ON CONFLICT (key) DO UPDATE
                 SET value = GREATEST(meta.value::bigint, excluded.value::bigint)::text",
            )
            .bind(latest.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

impl PgShared {
    /// Marks as `Conflict` the events not inserted whose id is stored for another customer.
    async fn mark_conflicts(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[Event],
        results: &mut [Ingested],
    ) -> Result<(), StoreError> {
        let skipped: Vec<&str> = events
            .iter()
            .zip(results.iter())
            .filter(|(_, r)| **r != Ingested::Accepted)
            .map(|(e, _)| e.id.as_str())
            .collect();
        if skipped.is_empty() {
            return Ok(());
        }
        let owners: HashMap<String, String> =
            sqlx::query("SELECT id, customer FROM events WHERE id = ANY($1)")
                .bind(&skipped)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?;
        for (event, result) in events.iter().zip(results.iter_mut()) {
            if *result != Ingested::Accepted
                && owners
                    .get(&event.id)
                    .is_some_and(|owner| *owner != event.customer)
            {
                *result = Ingested::Conflict;
            }
        }
        Ok(())
    }
}

/// The batch's events as column arrays, in `order`.
struct EventArrays<'a> {
    customer: Vec<&'a str>,
    id: Vec<&'a str>,
    kind: Vec<&'a str>,
    at: Vec<i64>,
    channel: Vec<Option<&'a str>>,
    reference: Vec<Option<&'a str>>,
    properties: Vec<Option<&'a str>>,
    profile: Vec<Option<String>>,
}

impl<'a> EventArrays<'a> {
    /// Borrows the batch's strings (no copies): bound as text[] arrays.
    fn new(events: &'a [Event], order: &[usize]) -> EventArrays<'a> {
        let column = |f: fn(&'a Event) -> &'a str| order.iter().map(|&i| f(&events[i])).collect();
        let optional =
            |f: fn(&'a Event) -> Option<&'a str>| order.iter().map(|&i| f(&events[i])).collect();
        EventArrays {
            customer: column(|e| &e.customer),
            id: column(|e| &e.id),
            kind: column(|e| &e.kind),
            at: order.iter().map(|&i| nanos(events[i].at)).collect(),
            channel: optional(|e| e.channel.as_deref()),
            reference: optional(|e| e.reference.as_deref()),
            properties: optional(|e| e.properties.as_deref()),
            profile: order
                .iter()
                .map(|&i| super::profile_json(&events[i].profile))
                .collect(),
        }
    }
}

/// One profile field's latest values and their times, per customer.
type FieldColumns = (Vec<Option<String>>, Vec<Option<i64>>);

/// Per customer of the batch: counts, first/last, and the latest value of each profile field.
#[derive(Default)]
struct CustomerArrays {
    id: Vec<String>,
    count: Vec<i64>,
    first: Vec<i64>,
    last: Vec<i64>,
    fields: [FieldColumns; 4],
}

impl CustomerArrays {
    fn push(&mut self, accepted: &[&Event]) {
        let (Some(first), Some(last)) = (accepted.first(), accepted.last()) else {
            return;
        };
        self.id.push(first.customer.clone());
        self.count.push(accepted.len() as i64);
        self.first.push(nanos(first.at));
        self.last.push(nanos(last.at));
        let getters: [fn(&ProfileUpdate) -> &Option<String>; 4] =
            [|p| &p.email, |p| &p.name, |p| &p.phone, |p| &p.timezone];
        for (get, (values, ats)) in getters.iter().zip(self.fields.iter_mut()) {
            let latest = accepted
                .iter()
                .rev()
                .find_map(|e| get(&e.profile).clone().map(|v| (v, nanos(e.at))));
            values.push(latest.as_ref().map(|(v, _)| v.clone()));
            ats.push(latest.map(|(_, at)| at));
        }
    }

    async fn execute(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
        if self.id.is_empty() {
            return Ok(());
        }
        let field = |name: &str, n: usize| {
            let (v, a) = (2 * n + 5, 2 * n + 6);
            format!(
                "{name} = CASE WHEN u.{name}_at >= COALESCE(c.{name}_at, u.{name}_at) THEN u.{name} ELSE c.{name} END,
                 {name}_at = CASE WHEN u.{name}_at >= COALESCE(c.{name}_at, u.{name}_at) THEN u.{name}_at ELSE c.{name}_at END /* ${v} ${a} */"
            )
        };
        let sql = format!(
            "UPDATE customers c SET events = c.events + u.n, first_at = LEAST(c.first_at, u.first_at),
               last_at = GREATEST(c.last_at, u.last_at), {}, {}, {}, {}
             FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::text[],
                         $8::int8[], $9::text[], $10::int8[], $11::text[], $12::int8[])
               AS u(id, n, first_at, last_at, email, email_at, name, name_at, phone, phone_at, timezone, timezone_at)
             WHERE c.id = u.id",
            field("email", 0),
            field("name", 1),
            field("phone", 2),
            field("timezone", 3)
        );
        let mut query = sqlx::query(&sql)
            .bind(&self.id)
            .bind(&self.count)
            .bind(&self.first)
            .bind(&self.last);
        for (values, ats) in &self.fields {
            query = query.bind(values).bind(ats);
        }
        query.execute(&mut **tx).await?;
        Ok(())
    }
}

/// Obligation changes of one batch, written with two statements.
#[derive(Default)]
struct Writes {
    updates: Vec<(i64, Obligation)>,
    inserts: Vec<(Obligation, Option<i64>)>,
}

impl Writes {
    async fn flush(self, tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
        if !self.updates.is_empty() {
            let u = &self.updates;
            sqlx::query(
                "UPDATE obligations o SET closed_at = u.closed_at, close_kind = u.close_kind, closed_by = u.closed_by,
                   nudges = u.nudges, last_nudge_at = u.last_nudge_at
                 FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int4[], $6::int8[])
                   AS u(seq, closed_at, close_kind, closed_by, nudges, last_nudge_at)
                 WHERE o.seq = u.seq",
            )
            .bind(u.iter().map(|(seq, _)| *seq).collect::<Vec<_>>())
            .bind(u.iter().map(|(_, o)| o.closed_at.map(nanos)).collect::<Vec<_>>())
            .bind(u.iter().map(|(_, o)| o.closure.map(|c| c.as_str().to_string())).collect::<Vec<_>>())
            .bind(u.iter().map(|(_, o)| o.closed_by.clone()).collect::<Vec<_>>())
            .bind(u.iter().map(|(_, o)| o.nudges as i32).collect::<Vec<_>>())
            .bind(u.iter().map(|(_, o)| o.last_nudge_at.map(nanos)).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        if !self.inserts.is_empty() {
            let n = &self.inserts;
            sqlx::query(
                "INSERT INTO obligations (customer, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
                   closed_by, trigger_event, nudges, last_nudge_at, noticed_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[],
                   $7::int8[], $8::text[], $9::text[], $10::text[], $11::int4[], $12::int8[], $13::int8[])",
            )
            .bind(n.iter().map(|(o, _)| o.customer.clone()).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.policy.to_string()).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.reference.clone()).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| nanos(o.opened_at)).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| nanos(o.due_at)).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| nanos(o.breach_at)).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.closed_at.map(nanos)).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.closure.map(|c| c.as_str().to_string())).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.closed_by.clone()).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.trigger_event.clone()).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.nudges as i32).collect::<Vec<_>>())
            .bind(n.iter().map(|(o, _)| o.last_nudge_at.map(nanos)).collect::<Vec<_>>())
            .bind(n.iter().map(|(_, noticed)| *noticed).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

const EVENT_COLUMNS: &str = "id, type, at, channel, ref, properties, profile";
const OBLIGATION_COLUMNS: &str =
    "seq, customer, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
     closed_by, trigger_event, nudges, last_nudge_at";
const CUSTOMER_COLUMNS: &str = "id, email, name, phone, timezone, first_at, last_at, events";

fn event_from_row(row: &PgRow, customer: &str) -> Result<Event, sqlx::Error> {
    Ok(Event {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        customer: customer.to_string(),
        at: from_nanos(row.try_get(2)?),
        channel: row.try_get(3)?,
        reference: row.try_get(4)?,
        properties: row.try_get(5)?,
        profile: super::parse_profile(row.try_get(6)?),
    })
}

fn obligation_from_row(row: &PgRow, engine: &Engine) -> Result<(i64, Obligation), sqlx::Error> {
    let policy: String = row.try_get(2)?;
    let close_kind: Option<String> = row.try_get(8)?;
    let nudges: i32 = row.try_get(11)?;
    Ok((
        row.try_get(0)?,
        Obligation {
            policy: engine.policy_name(&policy),
            customer: row.try_get(1)?,
            reference: row.try_get(3)?,
            opened_at: from_nanos(row.try_get(4)?),
            due_at: from_nanos(row.try_get(5)?),
            breach_at: from_nanos(row.try_get(6)?),
            closed_at: row.try_get::<Option<i64>, _>(7)?.map(from_nanos),
            closure: close_kind.as_deref().and_then(Closure::parse),
            closed_by: row.try_get(9)?,
            trigger_event: row.try_get(10)?,
            nudges: nudges.max(0) as u32,
            last_nudge_at: row.try_get::<Option<i64>, _>(12)?.map(from_nanos),
        },
    ))
}

fn customer_at(row: &PgRow, first: usize) -> Result<CustomerRecord, sqlx::Error> {
    Ok(CustomerRecord {
        id: row.try_get(first)?,
        email: row.try_get(first + 1)?,
        name: row.try_get(first + 2)?,
        phone: row.try_get(first + 3)?,
        timezone: row.try_get(first + 4)?,
        first_seen: Some(from_nanos(row.try_get(first + 5)?)),
        last_seen: Some(from_nanos(row.try_get(first + 6)?)),
        events: row.try_get::<i64, _>(first + 7)?.max(0) as u64,
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn parallel_writers(&self) -> usize {
        // One backend per lane; more than the pool would only queue.
        (self.pool.options().get_max_connections() as usize).clamp(1, 3)
    }

    async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let (answer, lead) = self.group.enqueue(events);
        if lead {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let _guard = LeaderGuard(&shared.group);
                while let Some(group) = shared.group.next_group() {
                    let result = shared.ingest_with_retries(&group.events).await;
                    group.answer(result);
                }
            });
        }
        await_answer(answer).await
    }

    async fn ingest_bulk(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        self.ingest_with_retries(&events).await
    }

    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let latest: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'latest_at'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(latest.and_then(|v| v.parse::<i64>().ok()).map(from_nanos))
    }

    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| customer_at(&r, 0)).transpose()?)
    }

    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| customer_at(r, 0))
            .collect::<Result<_, _>>()?)
    }

    async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE customer = $1 ORDER BY at, id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| event_from_row(r, id))
            .collect::<Result<_, _>>()?)
    }

    async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OBLIGATION_COLUMNS} FROM obligations WHERE customer = $1 ORDER BY opened_at, seq"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| obligation_from_row(r, &self.engine).map(|(_, o)| o))
            .collect::<Result<_, _>>()?)
    }

    async fn unclosed_breached(&self, before: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        let rows = sqlx::query(&hot::UNCLOSED_BREACHED)
            .bind(nanos(before))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| obligation_from_row(r, &self.engine).map(|(_, o)| o))
            .collect::<Result<_, _>>()?)
    }

    async fn obligations(
        &self,
        filter: ObligationFilter,
    ) -> Result<Vec<(i64, Obligation)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OBLIGATION_COLUMNS} FROM obligations
             WHERE seq > $1 AND ($2::text IS NULL OR policy = $2) AND ($3::text IS NULL OR customer = $3)
             ORDER BY seq LIMIT $4"
        ))
        .bind(filter.after.unwrap_or(0))
        .bind(filter.policy)
        .bind(filter.customer)
        .bind(filter.limit.map_or(i64::MAX, |l| l as i64))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| obligation_from_row(r, &self.engine))
            .collect::<Result<_, _>>()?)
    }

    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT seq, {CUSTOMER_COLUMNS} FROM customers WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after.unwrap_or(0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let customers: Vec<(i64, CustomerRecord)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, customer_at(r, 1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let ids: Vec<&str> = customers.iter().map(|(_, c)| c.id.as_str()).collect();
        let mut by_customer: HashMap<String, Vec<Event>> = HashMap::new();
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS}, customer FROM events WHERE customer = ANY($1) ORDER BY customer, at, id"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let customer: String = row.try_get(7)?;
            let event = event_from_row(row, &customer)?;
            by_customer.entry(customer).or_default().push(event);
        }
        let next = (customers.len() == limit)
            .then(|| customers.last().map(|(seq, _)| *seq))
            .flatten();
        let histories = customers
            .into_iter()
            .map(|(_, c)| {
                let events = by_customer.remove(&c.id).unwrap_or_default();
                (c, events)
            })
            .collect();
        Ok(HistoryPage { histories, next })
    }

    async fn recompute_all(&self) -> Result<u64, StoreError> {
        let n = self.recompute().await?;
        self.set_fingerprint().await?;
        Ok(n)
    }

    async fn next_unnoticed_breach(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(hot::NEXT_UNNOTICED_BREACH)
            .fetch_one(&self.pool)
            .await?;
        Ok(next.map(from_nanos))
    }

    async fn notice_breaches(&self, now: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        // Each breach is claimed by exactly one node: rows another node is claiming are skipped.
        let rows = sqlx::query(&hot::NOTICE_BREACHES)
            .bind(nanos(now))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| obligation_from_row(r, &self.engine).map(|(_, o)| o))
            .collect::<Result<_, _>>()?)
    }

    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let created = sqlx::query(
            "INSERT INTO api_keys (name, hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, revoked_at = NULL
             WHERE api_keys.revoked_at IS NOT NULL",
        )
        .bind(name)
        .bind(hash)
        .bind(nanos(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        if created.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "an API key named {name:?} already exists"
            )));
        }
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT name FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(ApiKey {
                    name: r.try_get(0)?,
                    created_at: from_nanos(r.try_get(1)?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(nanos(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM events), (SELECT count(*) FROM obligations)",
        )
        .fetch_one(&self.pool)
        .await?;
        let get = |i: usize| row.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
        Ok(StoreCounts {
            customers: get(0)?,
            events: get(1)?,
            obligations: get(2)?,
        })
    }
}
