//! Dashboard aggregates on PostgreSQL (see `store::insights`).

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::outbox::{outbox_from_row, OUTBOX_COLUMNS};
use super::rows::{events_with_customer, EVENT_COLUMNS};
use super::PostgresStore;
use crate::domain::survey::FEELS_IGNORED;
use crate::domain::trend::Window;
use crate::domain::Event;
use crate::store::insights::{
    status_columns, Attribution, BucketCustomers, Insights, PromiseCounts, UnseenSpan, UNSEEN,
};
use crate::store::{from_nanos, nanos, StoreError};
use crate::store::{OutboxRow, OutboxStatus};

fn step_nanos(window: &Window) -> i64 {
    i64::try_from(window.step.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1)
}

fn count(r: &sqlx::postgres::PgRow, i: usize) -> Result<u64, sqlx::Error> {
    Ok(r.try_get::<i64, _>(i)?.max(0) as u64)
}

fn bucket(r: &sqlx::postgres::PgRow, i: usize) -> Result<u32, sqlx::Error> {
    Ok(u32::try_from(r.try_get::<i64, _>(i)?).unwrap_or(u32::MAX))
}

#[async_trait]
impl Insights for PostgresStore {
    async fn promise_counts(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<PromiseCounts>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT policy, (breach_at - $2) / $4, {} FROM obligations
             WHERE policy = ANY($1) AND breach_at >= $2 AND breach_at < $3 GROUP BY 1, 2",
            status_columns("$5")
        ))
        .bind(&policies)
        .bind(nanos(window.from))
        .bind(nanos(window.to()))
        .bind(step_nanos(&window))
        .bind(nanos(window.now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PromiseCounts {
                    policy: r.try_get(0)?,
                    bucket: bucket(r, 1)?,
                    kept: count(r, 2)?,
                    late: count(r, 3)?,
                    breached: count(r, 4)?,
                    cancelled: count(r, 5)?,
                    open: count(r, 6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn bucket_customers(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<BucketCustomers>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT (breach_at - $2) / $4, COUNT(DISTINCT customer), COUNT(DISTINCT customer) FILTER (WHERE {})
             FROM obligations WHERE policy = ANY($1) AND breach_at >= $2 AND breach_at < $3 GROUP BY 1",
            UNSEEN.replace("{now}", "$5")
        ))
        .bind(&policies)
        .bind(nanos(window.from))
        .bind(nanos(window.to()))
        .bind(step_nanos(&window))
        .bind(nanos(window.now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BucketCustomers {
                    bucket: bucket(r, 0)?,
                    customers: count(r, 1)?,
                    unseen: count(r, 2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn kept_durations(
        &self,
        window: Window,
        policy: String,
    ) -> Result<Vec<(u32, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT (breach_at - $2) / $4, (closed_at - opened_at) / 1000000000 FROM obligations
             WHERE policy = $1 AND breach_at >= $2 AND breach_at < $3 AND close_kind = 'kept'",
        )
        .bind(&policy)
        .bind(nanos(window.from))
        .bind(nanos(window.to()))
        .bind(step_nanos(&window))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((bucket(r, 0)?, r.try_get::<i64, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn unseen_spans(&self, window: Window) -> Result<Vec<UnseenSpan>, StoreError> {
        let upto = nanos(window.to().min(window.now));
        let rows = sqlx::query(
            "SELECT customer, breach_at, closed_at FROM obligations
             WHERE closed_at > breach_at AND closed_at > $1 AND breach_at < $2
             UNION ALL
             SELECT customer, breach_at, NULL FROM obligations WHERE closed_at IS NULL AND breach_at < $2",
        )
        .bind(nanos(window.from))
        .bind(upto)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UnseenSpan {
                    customer: r.try_get(0)?,
                    from: from_nanos(r.try_get(1)?),
                    until: r.try_get::<Option<i64>, _>(2)?.map(from_nanos),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn attribution(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<Attribution>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT o.policy, t.channel,
                    COALESCE(c.properties::jsonb ->> 'agent', c.properties::jsonb ->> 'by',
                             CASE WHEN c.properties::jsonb ->> 'automated' = 'true' THEN 'Seen' END),
                    {}
             FROM obligations o
             LEFT JOIN events t ON t.id = o.trigger_event
             LEFT JOIN events c ON c.id = o.closed_by
             WHERE o.policy = ANY($1) AND o.breach_at >= $2 AND o.breach_at < $3 GROUP BY 1, 2, 3",
            status_columns("$4")
        ))
        .bind(&policies)
        .bind(nanos(window.from))
        .bind(nanos(window.to()))
        .bind(nanos(window.now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Attribution {
                    policy: r.try_get(0)?,
                    channel: r.try_get(1)?,
                    agent: r.try_get(2)?,
                    kept: count(r, 3)?,
                    late: count(r, 4)?,
                    breached: count(r, 5)?,
                    cancelled: count(r, 6)?,
                    open: count(r, 7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn feels_ignored(&self, since: Option<Timestamp>) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS}, customer FROM events
             WHERE type = '{FEELS_IGNORED}' AND at >= $1 ORDER BY at, id"
        ))
        .bind(since.map(nanos).unwrap_or(i64::MIN))
        .fetch_all(&self.pool)
        .await?;
        Ok(events_with_customer(&rows)?)
    }

    async fn recent_outbox(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = $1 ORDER BY due_at DESC LIMIT $2"
        ))
        .bind(status.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(outbox_from_row).collect::<Result<_, _>>()?)
    }
}
