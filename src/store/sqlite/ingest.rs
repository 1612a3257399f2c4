//! Ingestion on SQLite. One writer, so concurrent batches share a transaction (group commit) and each
//! customer of a group is handled in turn: its row, its events, then what `fold` decides for its
//! obligations, written at once. The decisions are not here: only the statements.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::rows::{load_events, obligation_from_row};
use super::{hot, lock, Inner, SqliteStore, NO_LATEST};
use crate::domain::{Closure, Event, Obligation};
use crate::store::fold::{self, Activity, Noticed, Step, Writes};
use crate::store::group::{await_answer, LeaderGuard};
use crate::store::{duration_nanos, nanos, profile_json, Ingested, Ingestion, StoreError};

#[async_trait]
impl Ingestion for SqliteStore {
    async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let (answer, lead) = self.inner.group.enqueue(events);
        if lead {
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || inner.lead_group_commits());
        }
        await_answer(answer).await
    }

    async fn recompute_all(&self) -> Result<u64, StoreError> {
        self.run(|inner| inner.recompute_all()).await
    }

    async fn begin_bulk(&self, expected_events: Option<u64>) -> Result<bool, StoreError> {
        self.run(move |inner| inner.begin_bulk(expected_events))
            .await
    }

    async fn end_bulk(&self) -> Result<usize, StoreError> {
        self.run(|inner| inner.end_bulk()).await
    }
}

impl Inner {
    /// The group-commit leader: commits queued batches, a group per transaction, until none is left.
    fn lead_group_commits(&self) {
        let _guard = LeaderGuard(&self.group);
        while let Some(group) = self.group.next_group() {
            let result = self.ingest(&group.events);
            group.answer(result);
        }
    }

    /// One transaction: every customer of the batch in turn, then the latest event time.
    fn ingest(&self, events: &[Event]) -> Result<Vec<Ingested>, StoreError> {
        let received_at = nanos(Timestamp::now());
        let mut results = vec![Ingested::Duplicate; events.len()];
        let order = fold::customer_order(events);
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut latest = NO_LATEST;
        for run in fold::by_customer(events, &order) {
            if let Some(last_at) =
                self.ingest_customer(&tx, events, run, received_at, &mut results)?
            {
                latest = latest.max(last_at);
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

    /// One customer's run of the batch (positions in `events`, in fold order): the customer's row, the
    /// events, the obligations. Returns the latest accepted `at`, `None` when nothing was accepted.
    fn ingest_customer(
        &self,
        tx: &Connection,
        events: &[Event],
        run: &[usize],
        received_at: i64,
        results: &mut [Ingested],
    ) -> Result<Option<i64>, StoreError> {
        let customer = &events[run[0]].customer;
        let found: Option<(i64, i64, i64)> = tx
            .prepare_cached(hot::CUSTOMER_BY_ID)?
            .query_row([customer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let history = found.map_or(0, |(_, _, events)| events);
        let existing = found.map(|(seq, last_at, _)| (seq, last_at));
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
        insert_events(tx, seq, events, run, received_at, results)?;
        let accepted = fold::accepted(events, run, results);
        let Some(activity) = Activity::of(&accepted) else {
            if existing.is_none() {
                tx.prepare_cached("DELETE FROM customers WHERE seq = ?1")?
                    .execute([seq])?;
            }
            return Ok(None);
        };
        update_customer(tx, seq, &activity)?;
        let mut writes = Writes::default();
        let last_at = existing.map(|(_, last_at)| last_at);
        match Step::decide(&self.engine, last_at, &accepted) {
            Step::Unchanged => {}
            Step::New(relevant) => writes.new_history(&self.engine, &relevant),
            Step::Onward(relevant) => {
                let mut unclosed: Vec<(i64, Obligation)> = match fold::touched_refs(&relevant) {
                    Some(refs) => tx
                        .prepare_cached(&hot::UNCLOSED_OF_CUSTOMER_BY_REFS)?
                        .query_map(
                            params![seq, serde_json::Value::from(refs).to_string()],
                            |r| obligation_from_row(r, &self.engine),
                        )?
                        .collect::<Result<_, _>>()?,
                    None => tx
                        .prepare_cached(&hot::UNCLOSED_OF_CUSTOMER)?
                        .query_map(params![seq], |r| obligation_from_row(r, &self.engine))?
                        .collect::<Result<_, _>>()?,
                };
                unclosed.sort_unstable_by_key(|(row, _)| *row);
                writes.onward(&self.engine, unclosed, &relevant);
                // Only a customer with more events than the limit can have more obligations open.
                let limit = self.engine.open_warning();
                let most = usize::try_from(history).unwrap_or(0) + writes.inserts.len();
                if !writes.inserts.is_empty() && most > limit {
                    let open: i64 = tx
                        .prepare_cached(hot::OPEN_OF_CUSTOMER)?
                        .query_row([seq], |r| r.get(0))?;
                    let open = usize::try_from(open).unwrap_or(0);
                    if open > limit {
                        fold::warn_open(customer, open, limit);
                    }
                }
            }
            Step::Replay => self.replay_customer(tx, seq, customer)?,
        }
        write_obligations(tx, seq, writes)?;
        Ok(Some(activity.last_at))
    }

    /// Recomputes one customer's obligations from all their events, keeping what the scheduler noticed.
    fn replay_customer(
        &self,
        conn: &Connection,
        seq: i64,
        customer: &str,
    ) -> Result<(), StoreError> {
        let events = load_events(conn, seq, customer)?;
        let mut noticed = Noticed::default();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT policy, trigger_event, noticed_at FROM obligations
                 WHERE customer_seq = ?1 AND noticed_at IS NOT NULL",
            )?;
            let rows = stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            for row in rows {
                let (policy, trigger_event, at) = row?;
                noticed.insert(customer.to_string(), policy, trigger_event, at);
            }
        }
        conn.prepare_cached("DELETE FROM obligations WHERE customer_seq = ?1")?
            .execute([seq])?;
        let mut writes = Writes::default();
        writes.replay(&self.engine, &events, &noticed);
        write_obligations(conn, seq, writes)
    }

    pub(super) fn recompute_all(&self) -> Result<u64, StoreError> {
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

/// Inserts the run's events under customer `seq`, marking each accepted, or (already stored) a conflict
/// when its id belongs to another customer.
fn insert_events(
    tx: &Connection,
    seq: i64,
    events: &[Event],
    run: &[usize],
    received_at: i64,
    results: &mut [Ingested],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (id, customer_seq, type, at, channel, ref, properties, profile, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
    )?;
    for &i in run {
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
        } else if stored_for_other(tx, &e.id, seq)? {
            results[i] = Ingested::Conflict;
        }
    }
    Ok(())
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
/// event that carries it, whatever the arrival order.
fn update_customer(conn: &Connection, seq: i64, activity: &Activity<'_>) -> Result<(), StoreError> {
    let [(email, email_at), (name, name_at), (phone, phone_at), (timezone, timezone_at)] =
        activity.fields.map(Option::unzip);
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
        activity.events,
        activity.first_at,
        activity.last_at,
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

/// The fold's rows for customer `seq`: updates in place, then inserts.
fn write_obligations(conn: &Connection, seq: i64, writes: Writes) -> Result<(), StoreError> {
    for (row, obligation) in &writes.updates {
        update_obligation(conn, *row, obligation)?;
    }
    for (obligation, noticed_at) in &writes.inserts {
        insert_obligation(conn, seq, obligation, *noticed_at)?;
    }
    for moved in &writes.moved {
        conn.prepare_cached(
            "UPDATE outbox SET status = 'skipped', detail = ?5, next_at = ?6, updated_at = ?6
             WHERE customer = ?1 AND policy = ?2 AND trigger_event = ?3 AND status = 'pending'
               AND action IN ('warn', 'breach', 'escalate') AND (?4 IS NULL OR key NOT LIKE ?4)",
        )?
        .execute(params![
            moved.customer,
            moved.policy,
            moved.trigger_event,
            moved.keep_pattern(),
            fold::MOVED_DETAIL,
            nanos(Timestamp::now()),
        ])?;
    }
    Ok(())
}

fn insert_obligation(
    conn: &Connection,
    seq: i64,
    o: &Obligation,
    noticed_at: Option<i64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO obligations (customer_seq, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
             closed_by, trigger_event, nudges, last_nudge_at, noticed_at, paused_since, paused_left, paused_total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
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
        noticed_at,
        o.paused_since.map(nanos),
        o.paused_left.map(duration_nanos),
        duration_nanos(o.paused_total),
    ])?;
    Ok(())
}

fn update_obligation(conn: &Connection, row: i64, o: &Obligation) -> Result<(), StoreError> {
    // A pause or a resume moves the deadlines: the planner plans the obligation's actions again (the old
    // times' rows are skipped as moved when they come due).
    conn.prepare_cached(
        "UPDATE obligations SET closed_at = ?2, close_kind = ?3, closed_by = ?4, nudges = ?5, last_nudge_at = ?6,
             planned = planned * (due_at = ?7 AND breach_at = ?8), due_at = ?7, breach_at = ?8,
             paused_since = ?9, paused_left = ?10, paused_total = ?11
         WHERE seq = ?1",
    )?
    .execute(params![
        row,
        o.closed_at.map(nanos),
        o.closure.map(Closure::as_str),
        o.closed_by,
        o.nudges,
        o.last_nudge_at.map(nanos),
        nanos(o.due_at),
        nanos(o.breach_at),
        o.paused_since.map(nanos),
        o.paused_left.map(duration_nanos),
        duration_nanos(o.paused_total),
    ])?;
    Ok(())
}
