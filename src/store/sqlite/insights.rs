//! Dashboard aggregates on SQLite (see `store::insights`).

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::params;

use super::outbox::{outbox_from_row, OUTBOX_COLUMNS};
use super::rows::{event_from_row, EVENT_COLUMNS};
use super::SqliteStore;
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

fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

fn bucket(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u32> {
    Ok(u32::try_from(r.get::<_, i64>(i)?).unwrap_or(u32::MAX))
}

#[async_trait]
impl Insights for SqliteStore {
    async fn promise_counts(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<PromiseCounts>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT (breach_at - ?2) / ?4, {} FROM obligations
                     WHERE policy = ?1 AND breach_at >= ?2 AND breach_at < ?3 GROUP BY 1",
                    status_columns("?5")
                ))?;
                let mut out = Vec::new();
                for policy in &policies {
                    let rows = stmt.query_map(
                        params![
                            policy,
                            nanos(window.from),
                            nanos(window.to()),
                            step_nanos(&window),
                            nanos(window.now)
                        ],
                        |r| {
                            Ok(PromiseCounts {
                                policy: policy.clone(),
                                bucket: bucket(r, 0)?,
                                kept: count(r, 1)?,
                                late: count(r, 2)?,
                                breached: count(r, 3)?,
                                cancelled: count(r, 4)?,
                                open: count(r, 5)?,
                            })
                        },
                    )?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn bucket_customers(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<BucketCustomers>, StoreError> {
        if policies.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |inner| {
            inner.read(|conn| {
                let list = (0..policies.len()).map(|i| format!("?{}", i + 5)).collect::<Vec<_>>().join(", ");
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT (breach_at - ?1) / ?3, COUNT(DISTINCT customer_seq),
                            COUNT(DISTINCT customer_seq) FILTER (WHERE {unseen})
                     FROM obligations WHERE policy IN ({list}) AND breach_at >= ?1 AND breach_at < ?2 GROUP BY 1",
                    unseen = UNSEEN.replace("{now}", "?4"),
                ))?;
                let mut values: Vec<rusqlite::types::Value> = vec![
                    nanos(window.from).into(),
                    nanos(window.to()).into(),
                    step_nanos(&window).into(),
                    nanos(window.now).into(),
                ];
                values.extend(policies.iter().map(|p| rusqlite::types::Value::from(p.clone())));
                let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
                    Ok(BucketCustomers { bucket: bucket(r, 0)?, customers: count(r, 1)?, unseen: count(r, 2)? })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await
    }

    async fn kept_durations(
        &self,
        window: Window,
        policy: String,
    ) -> Result<Vec<(u32, i64)>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT (breach_at - ?2) / ?4, (closed_at - opened_at) / 1000000000 FROM obligations
                     WHERE policy = ?1 AND breach_at >= ?2 AND breach_at < ?3 AND close_kind = 'kept'",
                )?;
                let rows = stmt.query_map(
                    params![policy, nanos(window.from), nanos(window.to()), step_nanos(&window)],
                    |r| Ok((bucket(r, 0)?, r.get::<_, i64>(1)?)),
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await
    }

    async fn unseen_spans(&self, window: Window) -> Result<Vec<UnseenSpan>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let upto = nanos(window.to().min(window.now));
                let mut out = Vec::new();
                let mut ended = conn.prepare_cached(
                    "SELECT customer_seq, breach_at, closed_at FROM obligations
                     WHERE closed_at > breach_at AND closed_at > ?1 AND breach_at < ?2",
                )?;
                for row in ended.query_map(params![nanos(window.from), upto], |r| {
                    Ok(UnseenSpan {
                        customer: r.get::<_, i64>(0)?.to_string(),
                        from: from_nanos(r.get(1)?),
                        until: Some(from_nanos(r.get(2)?)),
                    })
                })? {
                    out.push(row?);
                }
                let mut open = conn.prepare_cached(
                    "SELECT customer_seq, breach_at FROM obligations WHERE closed_at IS NULL AND breach_at < ?1",
                )?;
                for row in open.query_map(params![upto], |r| {
                    Ok(UnseenSpan { customer: r.get::<_, i64>(0)?.to_string(), from: from_nanos(r.get(1)?), until: None })
                })? {
                    out.push(row?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn attribution(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<Attribution>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT t.channel,
                            COALESCE(json_extract(c.properties, '$.agent'), json_extract(c.properties, '$.by'),
                                     CASE WHEN json_extract(c.properties, '$.automated') THEN 'Seen' END),
                            {}
                     FROM obligations o
                     LEFT JOIN events t ON t.id = o.trigger_event
                     LEFT JOIN events c ON c.id = o.closed_by
                     WHERE o.policy = ?1 AND o.breach_at >= ?2 AND o.breach_at < ?3 GROUP BY 1, 2",
                    status_columns("?4")
                ))?;
                let mut out = Vec::new();
                for policy in &policies {
                    let rows = stmt.query_map(
                        params![policy, nanos(window.from), nanos(window.to()), nanos(window.now)],
                        |r| {
                            Ok(Attribution {
                                policy: policy.clone(),
                                channel: r.get(0)?,
                                agent: r.get::<_, Option<rusqlite::types::Value>>(1)?.and_then(|v| match v {
                                    rusqlite::types::Value::Text(s) => Some(s),
                                    rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                                    rusqlite::types::Value::Real(f) => Some(f.to_string()),
                                    _ => None,
                                }),
                                kept: count(r, 2)?,
                                late: count(r, 3)?,
                                breached: count(r, 4)?,
                                cancelled: count(r, 5)?,
                                open: count(r, 6)?,
                            })
                        },
                    )?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn feels_ignored(&self, since: Option<Timestamp>) -> Result<Vec<Event>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let columns = super::rows::prefixed(EVENT_COLUMNS, "e");
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {columns}, c.id FROM events e JOIN customers c ON c.seq = e.customer_seq
                     WHERE e.type = '{FEELS_IGNORED}' AND e.at >= ?1 ORDER BY e.at, e.id"
                ))?;
                let rows = stmt.query_map(params![since.map(nanos).unwrap_or(i64::MIN)], |r| {
                    let customer: String = r.get(7)?;
                    event_from_row(r, &customer)
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await
    }

    async fn recent_outbox(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = ?1 ORDER BY due_at DESC LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![status.as_str(), limit as i64], outbox_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await
    }
}
