//! Ingestion on PostgreSQL: set-based, a fixed number of statements per batch whatever its size (arrays
//! through `UNNEST`). The batch's customers are created if new and row-locked in id order, so nodes
//! ingesting the same customer serialise while the rest proceed in parallel; what each customer's
//! obligations need is decided in `fold`, and loaded and written here for the whole batch at once.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{Postgres, Row, Transaction};

use super::rows::{event_from_row, obligation_from_row};
use super::{hot, PgShared, PostgresStore};
use crate::domain::{Event, Obligation};
use crate::store::fold::{self, Activity, Noticed, Step, Writes, PROFILE_FIELDS};
use crate::store::group::{await_answer, LeaderGuard};
use crate::store::{duration_nanos, nanos, profile_json, Ingested, Ingestion, StoreError};

#[async_trait]
impl Ingestion for PostgresStore {
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

    async fn recompute_all(&self) -> Result<u64, StoreError> {
        let n = self.recompute().await?;
        self.set_fingerprint().await?;
        Ok(n)
    }
}

impl PgShared {
    pub(super) async fn recompute(&self) -> Result<u64, StoreError> {
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
            flush(&mut tx, writes).await?;
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
        let mut noticed = Noticed::default();
        for row in sqlx::query(
            "SELECT customer, policy, trigger_event, noticed_at FROM obligations
             WHERE customer = ANY($1) AND noticed_at IS NOT NULL",
        )
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?
        {
            noticed.insert(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
        }
        sqlx::query("DELETE FROM obligations WHERE customer = ANY($1)")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        for history in ids.iter().filter_map(|id| histories.get(id)) {
            writes.replay(&self.engine, history, &noticed);
        }
        Ok(())
    }

    /// Continues the fold of these customers from their unclosed obligations, loaded in one statement.
    async fn onward(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        onward: Vec<(&str, Vec<&Event>)>,
        history: &HashMap<String, i64>,
        writes: &mut Writes,
    ) -> Result<(), StoreError> {
        if onward.is_empty() {
            return Ok(());
        }
        // Customers some of whose events name no ref: every unclosed obligation; the others: only those
        // their events' refs can touch (`fold::touched_refs`).
        let mut everything: Vec<&str> = Vec::new();
        let (mut pair_customers, mut pair_refs, mut by_refs): (Vec<&str>, Vec<String>, Vec<&str>) =
            Default::default();
        for (customer, relevant) in &onward {
            match fold::touched_refs(relevant) {
                None => everything.push(customer),
                Some(refs) => {
                    by_refs.push(customer);
                    for r in refs {
                        pair_customers.push(customer);
                        pair_refs.push(r);
                    }
                }
            }
        }
        let mut rows = Vec::new();
        if !everything.is_empty() {
            rows.extend(
                sqlx::query(&hot::UNCLOSED_OF_CUSTOMERS)
                    .bind(&everything)
                    .fetch_all(&mut **tx)
                    .await?,
            );
        }
        if !by_refs.is_empty() {
            rows.extend(
                sqlx::query(&hot::UNCLOSED_BY_REFS)
                    .bind(&pair_customers)
                    .bind(&pair_refs)
                    .bind(&by_refs)
                    .fetch_all(&mut **tx)
                    .await?,
            );
        }
        let mut unclosed: HashMap<String, Vec<(i64, Obligation)>> = HashMap::new();
        for row in &rows {
            let (seq, obligation) = obligation_from_row(row, &self.engine)?;
            unclosed
                .entry(obligation.customer.clone())
                .or_default()
                .push((seq, obligation));
        }
        let before = writes.inserts.len();
        for (customer, relevant) in &onward {
            let mut stored = unclosed.remove(*customer).unwrap_or_default();
            stored.sort_unstable_by_key(|(seq, _)| *seq);
            writes.onward(&self.engine, stored, relevant);
        }
        // Customers this batch opened new obligations for, with more events than the warning's limit (none
        // with fewer can have more open): are they past it?
        let limit = self.engine.open_warning();
        let mut opened: Vec<&str> = writes.inserts[before..]
            .iter()
            .map(|(o, _)| o.customer.as_str())
            .filter(|c| {
                let before = history.get(*c).copied().unwrap_or(0);
                usize::try_from(before).unwrap_or(0) + writes.inserts.len() > limit
            })
            .collect();
        opened.sort_unstable();
        opened.dedup();
        if !opened.is_empty() {
            let counts: Vec<(String, i64)> = sqlx::query_as(hot::OPEN_OF_CUSTOMERS)
                .bind(&opened)
                .fetch_all(&mut **tx)
                .await?;
            for (customer, open) in counts {
                let open = usize::try_from(open).unwrap_or(0);
                if open > limit {
                    fold::warn_open(&customer, open, limit);
                }
            }
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
        let order = fold::customer_order(events);
        let runs: Vec<&[usize]> = fold::by_customer(events, &order).collect();
        let ids: Vec<&str> = runs
            .iter()
            .map(|run| events[run[0]].customer.as_str())
            .collect();

        let mut tx = self.pool.begin().await?;
        let (created, last_seen, history) = lock_customers(&mut tx, &ids).await?;
        insert_events(&mut tx, events, &order, received_at, &mut results).await?;
        self.mark_conflicts(&mut tx, events, &mut results).await?;
        remove_empty(&mut tx, events, &results, &created).await?;

        // Customers: counts and profile, one statement for the batch; obligations as the fold decides.
        let mut updates = CustomerArrays::default();
        let mut writes = Writes::default();
        let mut onward: Vec<(&str, Vec<&Event>)> = Vec::new();
        let mut replay: Vec<String> = Vec::new();
        let mut latest = i64::MIN;
        for run in &runs {
            let accepted = fold::accepted(events, run, &results);
            let Some(activity) = Activity::of(&accepted) else {
                continue;
            };
            let customer = accepted[0].customer.as_str();
            latest = latest.max(activity.last_at);
            updates.push(customer, &activity);
            let last_at = last_seen.get(customer).copied().flatten();
            match Step::decide(&self.engine, last_at, &accepted) {
                Step::Unchanged => {}
                Step::New(relevant) => writes.new_history(&self.engine, &relevant),
                Step::Onward(relevant) => onward.push((customer, relevant)),
                Step::Replay => replay.push(customer.to_string()),
            }
        }
        updates.execute(&mut tx).await?;
        self.onward(&mut tx, onward, &history, &mut writes).await?;
        if !replay.is_empty() {
            self.replay(&mut tx, &replay, &mut writes).await?;
        }
        flush(&mut tx, writes).await?;
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

/// Creates the batch's missing customers, then locks every one, both in id order (no deadlocks). Returns
/// the ids created and each customer's last event time (`None`: no history yet). first/last are set from
/// the accepted events later; a new customer none of whose events is accepted (all duplicates) is removed
/// again before the commit (`remove_empty`), so no other transaction ever sees it.
/// The batch's customers, created where new and locked: the ids created, each one's latest event time
/// (`None` without history) and how many events each had before the batch.
#[allow(clippy::type_complexity)]
async fn lock_customers(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[&str],
) -> Result<
    (
        Vec<String>,
        HashMap<String, Option<i64>>,
        HashMap<String, i64>,
    ),
    StoreError,
> {
    let created: Vec<String> = sqlx::query_scalar(
        "INSERT INTO customers (id, first_at, last_at, events)
         SELECT id, $2, $3, 0 FROM UNNEST($1::text[]) AS t(id)
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(ids)
    .bind(i64::MAX)
    .bind(i64::MIN)
    .fetch_all(&mut **tx)
    .await?;
    let mut last_seen: HashMap<String, Option<i64>> = HashMap::new();
    let mut history: HashMap<String, i64> = HashMap::new();
    for row in sqlx::query(hot::LOCK_CUSTOMERS)
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?
    {
        let events: i64 = row.try_get(2)?;
        let id: String = row.try_get(0)?;
        // A customer row without events has no history yet: its batch is evaluated from nothing.
        let last: Option<i64> = (events > 0).then(|| row.try_get(1)).transpose()?;
        history.insert(id.clone(), events);
        last_seen.insert(id, last);
    }
    Ok((created, last_seen, history))
}

/// Events: duplicates by id (also across nodes) are skipped; the first occurrence wins.
async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Event],
    order: &[usize],
    received_at: i64,
    results: &mut [Ingested],
) -> Result<(), StoreError> {
    let columns = EventArrays::new(events, order);
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
    .fetch_all(&mut **tx)
    .await?;
    let mut inserted: HashSet<String> = inserted.into_iter().collect();
    for &i in order {
        if inserted.remove(&events[i].id) {
            results[i] = Ingested::Accepted;
        }
    }
    Ok(())
}

/// Removes the customers this batch created but stored no event for.
async fn remove_empty(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Event],
    results: &[Ingested],
    created: &[String],
) -> Result<(), StoreError> {
    let with_events: HashSet<&str> = events
        .iter()
        .zip(results)
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
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
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
                .map(|&i| profile_json(&events[i].profile))
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
    fn push(&mut self, customer: &str, activity: &Activity<'_>) {
        self.id.push(customer.to_string());
        self.count.push(activity.events);
        self.first.push(activity.first_at);
        self.last.push(activity.last_at);
        for (field, (values, ats)) in activity.fields.iter().zip(self.fields.iter_mut()) {
            values.push(field.map(|(value, _)| value.to_string()));
            ats.push(field.map(|(_, at)| at));
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
               last_at = GREATEST(c.last_at, u.last_at), {}
             FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::text[],
                         $8::int8[], $9::text[], $10::int8[], $11::text[], $12::int8[])
               AS u(id, n, first_at, last_at, email, email_at, name, name_at, phone, phone_at, timezone, timezone_at)
             WHERE c.id = u.id",
            PROFILE_FIELDS
                .iter()
                .enumerate()
                .map(|(n, name)| field(name, n))
                .collect::<Vec<_>>()
                .join(", ")
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

/// The fold's rows for the batch, two statements.
async fn flush(tx: &mut Transaction<'_, Postgres>, writes: Writes) -> Result<(), StoreError> {
    if !writes.updates.is_empty() {
        let u = &writes.updates;
        sqlx::query(
            "UPDATE obligations o SET closed_at = u.closed_at, close_kind = u.close_kind, closed_by = u.closed_by,
               nudges = u.nudges, last_nudge_at = u.last_nudge_at,
               planned = o.planned AND o.due_at = u.due_at AND o.breach_at = u.breach_at,
               due_at = u.due_at, breach_at = u.breach_at, paused_since = u.paused_since,
               paused_left = u.paused_left, paused_total = u.paused_total
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int4[], $6::int8[], $7::int8[],
               $8::int8[], $9::int8[], $10::int8[], $11::int8[])
               AS u(seq, closed_at, close_kind, closed_by, nudges, last_nudge_at, due_at, breach_at, paused_since,
                    paused_left, paused_total)
             WHERE o.seq = u.seq",
        )
        .bind(u.iter().map(|(seq, _)| *seq).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.closed_at.map(nanos)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.closure.map(|c| c.as_str().to_string())).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.closed_by.clone()).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.nudges as i32).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.last_nudge_at.map(nanos)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| nanos(o.due_at)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| nanos(o.breach_at)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.paused_since.map(nanos)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| o.paused_left.map(duration_nanos)).collect::<Vec<_>>())
        .bind(u.iter().map(|(_, o)| duration_nanos(o.paused_total)).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !writes.moved.is_empty() {
        let m = &writes.moved;
        sqlx::query(
            "UPDATE outbox o SET status = 'skipped', detail = $5, next_at = $6, updated_at = $6
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS m(customer, policy, trigger_event, keep)
             WHERE o.customer = m.customer AND o.policy = m.policy AND o.trigger_event = m.trigger_event
               AND o.status = 'pending' AND o.action IN ('warn', 'breach', 'escalate')
               AND (m.keep IS NULL OR o.key NOT LIKE m.keep)",
        )
        .bind(m.iter().map(|x| x.customer.clone()).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.policy.clone()).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.trigger_event.clone()).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.keep_pattern()).collect::<Vec<_>>())
        .bind(crate::store::fold::MOVED_DETAIL)
        .bind(nanos(jiff::Timestamp::now()))
        .execute(&mut **tx)
        .await?;
    }
    if !writes.inserts.is_empty() {
        let n = &writes.inserts;
        sqlx::query(
            "INSERT INTO obligations (customer, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
               closed_by, trigger_event, nudges, last_nudge_at, noticed_at, paused_since, paused_left, paused_total)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[],
               $7::int8[], $8::text[], $9::text[], $10::text[], $11::int4[], $12::int8[], $13::int8[],
               $14::int8[], $15::int8[], $16::int8[])",
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
        .bind(n.iter().map(|(o, _)| o.paused_since.map(nanos)).collect::<Vec<_>>())
        .bind(n.iter().map(|(o, _)| o.paused_left.map(duration_nanos)).collect::<Vec<_>>())
        .bind(n.iter().map(|(o, _)| duration_nanos(o.paused_total)).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
