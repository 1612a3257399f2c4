//! The outbox and suppressions on SQLite (one writer: a claim is a transaction, so nothing is claimed twice).

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::rows::{load_obligations, obligation_from_row};
use super::{hot, lock, SqliteStore};
use crate::domain::action::ActionKind;
use crate::domain::Obligation;
use crate::store::outbox::{
    Outbox, OutboxFilter, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, Suppression,
};
use crate::store::{from_nanos, nanos, StoreError};

pub(super) const OUTBOX_COLUMNS: &str = "key, customer, policy, trigger_event, ref, action, step, template, channel,
     recipient, recipient_name, role, transactional, urgent, records, due_at, status, attempts, next_at,
     detail, sent_at, created_at, updated_at, survey";

/// A claim renewed: only while the lease `?2` is still the row's.
const RENEW: &str =
    "UPDATE outbox SET next_at = ?3 WHERE key = ?1 AND status = 'sending' AND next_at = ?2";

/// The obligation a row is for: its customer, policy and trigger event.
const OBLIGATION_BY_TRIGGER: &str =
    "WHERE o.customer_seq = (SELECT seq FROM customers WHERE id = ?1)
     AND o.policy = ?2 AND o.trigger_event = ?3";

/// The suppression of a customer (unsubscribed) or of an address (bounced), the oldest first.
const SUPPRESSION: &str =
    "SELECT target, reason, detail, at FROM suppressions WHERE target = ?1 OR target = ?2 ORDER BY at LIMIT 1";

fn corrupt(reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt {
            table: "outbox",
            reason,
        }),
    )
}

pub(super) fn outbox_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let action: String = r.get(5)?;
    let status: String = r.get(16)?;
    Ok(OutboxRow {
        item: OutboxItem {
            key: r.get(0)?,
            customer: r.get(1)?,
            policy: r.get(2)?,
            trigger_event: r.get(3)?,
            reference: r.get(4)?,
            action: ActionKind::parse(&action)
                .ok_or_else(|| corrupt(format!("unknown action {action:?}")))?,
            step: r.get(6)?,
            template: r.get(7)?,
            channel: r.get(8)?,
            recipient: r.get(9)?,
            recipient_name: r.get(10)?,
            role: r.get(11)?,
            transactional: r.get(12)?,
            urgent: r.get(13)?,
            records: r.get(14)?,
            due_at: from_nanos(r.get(15)?),
            survey: r.get(23)?,
        },
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown status {status:?}")))?,
        attempts: r.get(17)?,
        next_at: from_nanos(r.get(18)?),
        detail: r.get(19)?,
        sent_at: r.get::<_, Option<i64>>(20)?.map(from_nanos),
        created_at: from_nanos(r.get(21)?),
        updated_at: from_nanos(r.get(22)?),
        was: None,
    })
}

fn insert_items(conn: &Connection, items: &[OutboxItem], now: i64) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (key, customer, policy, trigger_event, ref, action, step, template, channel,
             recipient, recipient_name, role, transactional, urgent, records, due_at, status, next_at,
             created_at, updated_at, survey)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'pending', ?16, ?17, ?17, ?18)
         ON CONFLICT (key) DO NOTHING",
    )?;
    let mut new = 0;
    for i in items {
        new += stmt.execute(params![
            i.key,
            i.customer,
            i.policy,
            i.trigger_event,
            i.reference,
            i.action.as_str(),
            i.step,
            i.template,
            i.channel,
            i.recipient,
            i.recipient_name,
            i.role,
            i.transactional,
            i.urgent,
            i.records,
            nanos(i.due_at),
            now,
            i.survey
        ])? as u64;
    }
    Ok(new)
}

fn suppression_from_row(r: &Row<'_>) -> rusqlite::Result<Suppression> {
    Ok(Suppression {
        target: r.get(0)?,
        reason: r.get(1)?,
        detail: r.get(2)?,
        at: from_nanos(r.get(3)?),
    })
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn unplanned_obligations(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, Obligation)>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&hot::UNPLANNED)?;
                let rows = stmt.query_map(params![limit as i64], |r| {
                    obligation_from_row(r, &inner.engine)
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
        .await
    }

    async fn enqueue(
        &self,
        mut items: Vec<OutboxItem>,
        planned: Vec<i64>,
    ) -> Result<u64, StoreError> {
        // In key order: the inserts walk the key index forwards instead of jumping about it.
        items.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let new = insert_items(&tx, &items, nanos(Timestamp::now()))?;
            {
                let mut mark =
                    tx.prepare_cached("UPDATE obligations SET planned = 1 WHERE seq = ?1")?;
                for seq in &planned {
                    mark.execute([seq])?;
                }
            }
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn next_outbox_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let next: Option<i64> = conn
                    .prepare_cached(hot::NEXT_OUTBOX_AT)?
                    .query_row([], |r| r.get(0))?;
                Ok(next.map(from_nanos))
            })
        })
        .await
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut rows: Vec<OutboxRow> = tx
                .prepare_cached(&hot::CLAIM_OUTBOX)?
                .query_map(params![nanos(now), limit as i64], outbox_from_row)?
                .collect::<Result<_, _>>()?;
            {
                let mut claim = tx.prepare_cached(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_at = ?2, updated_at = ?3
                     WHERE key = ?1",
                )?;
                for row in &mut rows {
                    claim.execute(params![row.item.key, nanos(lease_until), nanos(now)])?;
                    row.was = Some(row.status);
                    row.status = OutboxStatus::Sending;
                    row.attempts += 1;
                    row.next_at = lease_until;
                    row.updated_at = now;
                }
            }
            tx.commit()?;
            Ok(rows)
        })
        .await
    }

    async fn renew_outbox_many(
        &self,
        held: Vec<(String, Timestamp)>,
        until: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut renewed = Vec::with_capacity(held.len());
            {
                let mut renew = tx.prepare_cached(RENEW)?;
                for (key, lease) in held {
                    if renew.execute(params![key, nanos(lease), nanos(until)])? == 1 {
                        renewed.push(key);
                    }
                }
            }
            tx.commit()?;
            Ok(renewed)
        })
        .await
    }

    async fn obligations_by_triggers(
        &self,
        triggers: Vec<(String, String, String)>,
    ) -> Result<Vec<Option<Obligation>>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut out = Vec::with_capacity(triggers.len());
                for (customer, policy, trigger) in &triggers {
                    let found = load_obligations(
                        conn,
                        OBLIGATION_BY_TRIGGER,
                        params![customer, policy, trigger],
                        &inner.engine,
                    )?;
                    out.push(found.into_iter().next().map(|(_, o)| o));
                }
                Ok(out)
            })
        })
        .await
    }

    async fn suppressions_of(
        &self,
        targets: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Option<Suppression>>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(SUPPRESSION)?;
                let mut out = Vec::with_capacity(targets.len());
                for (customer, email) in &targets {
                    let email = email.as_deref().map(str::to_lowercase);
                    out.push(
                        stmt.query_row(params![customer, email], suppression_from_row)
                            .optional()?,
                    );
                }
                Ok(out)
            })
        })
        .await
    }

    async fn sent_to_customers_since(
        &self,
        customers: Vec<String>,
        since: Timestamp,
    ) -> Result<Vec<u64>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(hot::SENT_TO_CUSTOMER_SINCE)?;
                let mut out = Vec::with_capacity(customers.len());
                for customer in &customers {
                    let n: i64 = stmt.query_row(params![customer, nanos(since)], |r| r.get(0))?;
                    out.push(n.max(0) as u64);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn finish_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<(), StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let now = nanos(Timestamp::now());
                let mut stmt = tx.prepare_cached(
                    "UPDATE outbox SET status = ?2, next_at = coalesce(?3, next_at), detail = ?4,
                         sent_at = coalesce(?5, sent_at), updated_at = ?6
                     WHERE key = ?1 AND (?7 IS NULL OR next_at = ?7)",
                )?;
                for u in &updates {
                    stmt.execute(params![
                        u.key,
                        u.status.as_str(),
                        u.next_at.map(nanos),
                        u.detail,
                        u.sent_at.map(nanos),
                        now,
                        u.held.map(nanos)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn outbox(&self, filter: OutboxFilter) -> Result<Vec<OutboxRow>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // Only the conditions given, so that SQLite can use the customer or status index (an
                // `?1 IS NULL OR customer = ?1` form scans the whole table).
                let mut conditions = Vec::new();
                let mut values: Vec<rusqlite::types::Value> = Vec::new();
                if let Some(customer) = filter.customer {
                    conditions.push("customer = ?");
                    values.push(customer.into());
                }
                if let Some(status) = filter.status {
                    conditions.push("status = ?");
                    values.push(status.as_str().to_string().into());
                }
                if let Some(after) = filter.after {
                    conditions.push("key > ?");
                    values.push(after.into());
                }
                values.push((filter.limit.unwrap_or(1_000) as i64).into());
                let condition = if conditions.is_empty() {
                    String::new()
                } else {
                    format!("WHERE {}", conditions.join(" AND "))
                };
                let sql =
                    format!("SELECT {OUTBOX_COLUMNS} FROM outbox {condition} ORDER BY key LIMIT ?");
                let rows = conn
                    .prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(values), outbox_from_row)?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
        })
        .await
    }

    async fn escalations_sent(
        &self,
        customers: Vec<String>,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT customer, policy, trigger_event FROM outbox INDEXED BY outbox_by_customer
                     WHERE customer = ?1 AND action = 'escalate' AND status = 'sent'",
                )?;
                let mut out = Vec::new();
                for customer in &customers {
                    for row in stmt.query_map([customer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                        out.push(row?);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn sent_to_customer_since(
        &self,
        customer: &str,
        since: Timestamp,
    ) -> Result<u64, StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let n: i64 = conn
                    .prepare_cached(hot::SENT_TO_CUSTOMER_SINCE)?
                    .query_row(params![customer, nanos(since)], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            })
        })
        .await
    }

    async fn surveys_sent_since(
        &self,
        customer: &str,
        since: Timestamp,
    ) -> Result<u64, StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let n: i64 = conn
                    .prepare_cached(
                        "SELECT count(*) FROM outbox WHERE customer = ?1 AND status = 'sent' AND sent_at > ?2
                         AND survey IS NOT NULL AND step = 0",
                    )?
                    .query_row(params![customer, nanos(since)], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            })
        })
        .await
    }

    async fn suppression(
        &self,
        customer: &str,
        email: Option<&str>,
    ) -> Result<Option<Suppression>, StoreError> {
        let customer = customer.to_string();
        let email = email.map(str::to_lowercase);
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(SUPPRESSION)?
                    .query_row(params![customer, email], suppression_from_row)
                    .optional()?)
            })
        })
        .await
    }

    async fn suppress(&self, s: Suppression) -> Result<(), StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            conn.execute(
                "INSERT INTO suppressions (target, reason, detail, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (target) DO NOTHING",
                params![s.target, s.reason, s.detail, nanos(s.at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT target, reason, detail, at FROM suppressions ORDER BY at",
                    )?
                    .query_map([], suppression_from_row)?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
        })
        .await
    }

    async fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let rows: Vec<(String, i64)> = conn
                    .prepare_cached("SELECT status, count(*) FROM outbox GROUP BY status")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(s, n)| Some((OutboxStatus::parse(&s)?, n.max(0) as u64)))
                    .collect())
            })
        })
        .await
    }
}
