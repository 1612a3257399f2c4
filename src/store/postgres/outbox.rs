//! The outbox and suppressions on PostgreSQL. Several nodes share it: a claim is one statement with
//! `FOR UPDATE SKIP LOCKED`, so each message is claimed by one node, and a node that dies mid-send leaves a
//! lease that expires.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::rows::{obligation_from_row, OBLIGATION_COLUMNS};
use super::{hot, PostgresStore};
use crate::domain::action::ActionKind;
use crate::domain::Obligation;
use crate::store::outbox::{
    Outbox, OutboxFilter, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, Suppression,
};
use crate::store::{from_nanos, nanos, StoreError};

pub(super) const OUTBOX_COLUMNS: &str = "key, customer, policy, trigger_event, ref, action, step, template, channel,
     recipient, recipient_name, role, transactional, urgent, records, due_at, status, attempts, next_at,
     detail, sent_at, created_at, updated_at, survey";

fn corrupt(reason: String) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(StoreError::Corrupt {
        table: "outbox",
        reason,
    }))
}

pub(super) fn outbox_from_row(r: &PgRow) -> Result<OutboxRow, sqlx::Error> {
    let action: String = r.try_get(5)?;
    let status: String = r.try_get(16)?;
    let step: i32 = r.try_get(6)?;
    let attempts: i32 = r.try_get(17)?;
    Ok(OutboxRow {
        item: OutboxItem {
            key: r.try_get(0)?,
            customer: r.try_get(1)?,
            policy: r.try_get(2)?,
            trigger_event: r.try_get(3)?,
            reference: r.try_get(4)?,
            action: ActionKind::parse(&action)
                .ok_or_else(|| corrupt(format!("unknown action {action:?}")))?,
            step: step.max(0) as u32,
            template: r.try_get(7)?,
            channel: r.try_get(8)?,
            recipient: r.try_get(9)?,
            recipient_name: r.try_get(10)?,
            role: r.try_get(11)?,
            transactional: r.try_get(12)?,
            urgent: r.try_get(13)?,
            records: r.try_get(14)?,
            due_at: from_nanos(r.try_get(15)?),
            survey: r.try_get(23)?,
        },
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown status {status:?}")))?,
        attempts: attempts.max(0) as u32,
        next_at: from_nanos(r.try_get(18)?),
        detail: r.try_get(19)?,
        sent_at: r.try_get::<Option<i64>, _>(20)?.map(from_nanos),
        created_at: from_nanos(r.try_get(21)?),
        updated_at: from_nanos(r.try_get(22)?),
        was: None,
    })
}

fn suppression_from_row(r: &PgRow) -> Result<Suppression, sqlx::Error> {
    Ok(Suppression {
        target: r.try_get(0)?,
        reason: r.try_get(1)?,
        detail: r.try_get(2)?,
        at: from_nanos(r.try_get(3)?),
    })
}

#[async_trait]
impl Outbox for PostgresStore {
    async fn unplanned_obligations(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, Obligation)>, StoreError> {
        let rows = sqlx::query(&hot::UNPLANNED)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| obligation_from_row(r, &self.engine))
            .collect::<Result<_, _>>()?)
    }

    async fn enqueue(&self, items: Vec<OutboxItem>, planned: Vec<i64>) -> Result<u64, StoreError> {
        let now = nanos(Timestamp::now());
        let mut tx = self.pool.begin().await?;
        let col = |f: &dyn Fn(&OutboxItem) -> String| items.iter().map(f).collect::<Vec<_>>();
        let opt =
            |f: &dyn Fn(&OutboxItem) -> Option<String>| items.iter().map(f).collect::<Vec<_>>();
        let new = sqlx::query(
            "INSERT INTO outbox (key, customer, policy, trigger_event, ref, action, step, template, channel,
                 recipient, recipient_name, role, transactional, urgent, records, due_at, status, next_at,
                 created_at, updated_at, survey)
             SELECT k, c, p, t, r, a, s, tpl, ch, rc, rn, ro, tr, ur, rec, d, 'pending', d, $17, $17, sv
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                 $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::bool[],
                 $15::text[], $16::bigint[], $18::text[])
               AS u(k, c, p, t, r, a, s, tpl, ch, rc, rn, ro, tr, ur, rec, d, sv)
             ORDER BY k
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(col(&|i| i.key.clone()))
        .bind(col(&|i| i.customer.clone()))
        .bind(col(&|i| i.policy.clone()))
        .bind(col(&|i| i.trigger_event.clone()))
        .bind(opt(&|i| i.reference.clone()))
        .bind(col(&|i| i.action.as_str().to_string()))
        .bind(items.iter().map(|i| i.step as i32).collect::<Vec<_>>())
        .bind(col(&|i| i.template.clone()))
        .bind(col(&|i| i.channel.clone()))
        .bind(col(&|i| i.recipient.clone()))
        .bind(opt(&|i| i.recipient_name.clone()))
        .bind(col(&|i| i.role.clone()))
        .bind(items.iter().map(|i| i.transactional).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.urgent).collect::<Vec<_>>())
        .bind(opt(&|i| i.records.clone()))
        .bind(items.iter().map(|i| nanos(i.due_at)).collect::<Vec<_>>())
        .bind(now)
        .bind(opt(&|i| i.survey.clone()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE obligations SET planned = true WHERE seq = ANY($1)")
            .bind(&planned)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn next_outbox_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(hot::NEXT_OUTBOX_AT)
            .fetch_one(&self.pool)
            .await?;
        Ok(next.map(from_nanos))
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&hot::CLAIM_OUTBOX)
            .bind(nanos(now))
            .bind(nanos(lease_until))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = outbox_from_row(r)?;
            let was: String = r.try_get(24)?;
            row.was = OutboxStatus::parse(&was);
            out.push(row);
        }
        out.sort_by_key(|r| r.next_at);
        Ok(out)
    }

    async fn renew_outbox_many(
        &self,
        held: Vec<(String, Timestamp)>,
        until: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let renewed: Vec<String> = sqlx::query_scalar(
            "UPDATE outbox o SET next_at = $3
             FROM UNNEST($1::text[], $2::bigint[]) AS h(key, held)
             WHERE o.key = h.key AND o.status = 'sending' AND o.next_at = h.held
             RETURNING o.key",
        )
        .bind(held.iter().map(|(key, _)| key.clone()).collect::<Vec<_>>())
        .bind(held.iter().map(|(_, at)| nanos(*at)).collect::<Vec<_>>())
        .bind(nanos(until))
        .fetch_all(&self.pool)
        .await?;
        Ok(renewed)
    }

    async fn obligations_by_triggers(
        &self,
        triggers: Vec<(String, String, String)>,
    ) -> Result<Vec<Option<Obligation>>, StoreError> {
        if triggers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT {OBLIGATION_COLUMNS} FROM obligations
             WHERE customer = ANY($1) AND trigger_event = ANY($2)"
        ))
        .bind(triggers.iter().map(|t| t.0.clone()).collect::<Vec<_>>())
        .bind(triggers.iter().map(|t| t.2.clone()).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        let mut found: HashMap<(String, String, String), Obligation> = HashMap::new();
        for r in &rows {
            let (_, o) = obligation_from_row(r, &self.engine)?;
            let key = (
                o.customer.clone(),
                o.policy.to_string(),
                o.trigger_event.clone(),
            );
            found.entry(key).or_insert(o);
        }
        Ok(triggers.iter().map(|t| found.get(t).cloned()).collect())
    }

    async fn suppressions_of(
        &self,
        targets: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Option<Suppression>>, StoreError> {
        let wanted: Vec<String> = targets
            .iter()
            .flat_map(|(customer, email)| {
                std::iter::once(customer.clone()).chain(email.as_deref().map(str::to_lowercase))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT target, reason, detail, at FROM suppressions WHERE target = ANY($1) ORDER BY at",
        )
        .bind(&wanted)
        .fetch_all(&self.pool)
        .await?;
        let mut by_target: HashMap<String, Suppression> = HashMap::new();
        for r in &rows {
            let s = suppression_from_row(r)?;
            by_target.entry(s.target.clone()).or_insert(s);
        }
        Ok(targets
            .iter()
            .map(|(customer, email)| {
                let of_email = email
                    .as_deref()
                    .and_then(|e| by_target.get(&e.to_lowercase()));
                // The oldest of the two, as `suppression` orders them.
                match (by_target.get(customer), of_email) {
                    (Some(a), Some(b)) if b.at < a.at => Some(b.clone()),
                    (Some(a), _) => Some(a.clone()),
                    (None, b) => b.cloned(),
                }
            })
            .collect())
    }

    async fn sent_to_customers_since(
        &self,
        customers: Vec<String>,
        since: Timestamp,
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::with_capacity(customers.len());
        for customer in &customers {
            out.push(self.sent_to_customer_since(customer, since).await?);
        }
        Ok(out)
    }

    async fn finish_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox o SET status = u.status, next_at = coalesce(u.next_at, o.next_at), detail = u.detail,
                 sent_at = coalesce(u.sent_at, o.sent_at), updated_at = $6
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $7::bigint[])
               AS u(key, status, next_at, detail, sent_at, held)
             WHERE o.key = u.key AND (u.held IS NULL OR o.next_at = u.held)",
        )
        .bind(updates.iter().map(|u| u.key.clone()).collect::<Vec<_>>())
        .bind(updates.iter().map(|u| u.status.as_str()).collect::<Vec<_>>())
        .bind(updates.iter().map(|u| u.next_at.map(nanos)).collect::<Vec<_>>())
        .bind(updates.iter().map(|u| u.detail.clone()).collect::<Vec<_>>())
        .bind(updates.iter().map(|u| u.sent_at.map(nanos)).collect::<Vec<_>>())
        .bind(nanos(Timestamp::now()))
        .bind(updates.iter().map(|u| u.held.map(nanos)).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn outbox(&self, filter: OutboxFilter) -> Result<Vec<OutboxRow>, StoreError> {
        // Only the conditions given, so that the plan can use the customer or status index (a generic plan
        // of `$1 IS NULL OR customer = $1` scans the whole table).
        let mut sql =
            sqlx::QueryBuilder::new(format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE TRUE"));
        if let Some(customer) = filter.customer {
            sql.push(" AND customer = ").push_bind(customer);
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = filter.after {
            sql.push(" AND key > ").push_bind(after);
        }
        sql.push(" ORDER BY key LIMIT ")
            .push_bind(filter.limit.unwrap_or(1_000) as i64);
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(outbox_from_row).collect::<Result<_, _>>()?)
    }

    async fn escalations_sent(
        &self,
        customers: Vec<String>,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT customer, policy, trigger_event FROM outbox
             WHERE customer = ANY($1) AND action = 'escalate' AND status = 'sent'",
        )
        .bind(&customers)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn sent_to_customer_since(
        &self,
        customer: &str,
        since: Timestamp,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(hot::SENT_TO_CUSTOMER_SINCE)
            .bind(customer)
            .bind(nanos(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn surveys_sent_since(
        &self,
        customer: &str,
        since: Timestamp,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE customer = $1 AND status = 'sent' AND sent_at > $2
             AND survey IS NOT NULL AND step = 0",
        )
        .bind(customer)
        .bind(nanos(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn suppression(
        &self,
        customer: &str,
        email: Option<&str>,
    ) -> Result<Option<Suppression>, StoreError> {
        let row = sqlx::query(
            "SELECT target, reason, detail, at FROM suppressions WHERE target = $1 OR target = $2
             ORDER BY at LIMIT 1",
        )
        .bind(customer)
        .bind(email.map(str::to_lowercase))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(suppression_from_row).transpose()?)
    }

    async fn suppress(&self, s: Suppression) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO suppressions (target, reason, detail, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (target) DO NOTHING",
        )
        .bind(&s.target)
        .bind(&s.reason)
        .bind(&s.detail)
        .bind(nanos(s.at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        let rows = sqlx::query("SELECT target, reason, detail, at FROM suppressions ORDER BY at")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(suppression_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM outbox GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((OutboxStatus::parse(&s)?, n.max(0) as u64)))
            .collect())
    }
}
