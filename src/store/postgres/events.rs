//! Reading events on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::rows::{event_from_row, events_with_customer, EVENT_COLUMNS};
use super::{hot, PostgresStore};
use crate::domain::journey::{Fact, FactKind, JourneyEvent};
use crate::domain::Event;
use crate::store::{from_nanos, nanos, Events, StoreError};

#[async_trait]
impl Events for PostgresStore {
    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let latest: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'latest_at'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(latest.and_then(|v| v.parse::<i64>().ok()).map(from_nanos))
    }

    async fn event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        let row = sqlx::query(&hot::EVENT_BY_ID)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let customer: String = r.try_get(7)?;
                Ok(Some(event_from_row(&r, &customer)?))
            }
        }
    }

    async fn events_by_ids(&self, ids: Vec<String>) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS}, customer FROM events WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(events_with_customer(&rows)?)
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

    async fn events_of_types(
        &self,
        kinds: Vec<String>,
        since: Option<Timestamp>,
    ) -> Result<Vec<Event>, StoreError> {
        // Survey events have a partial index of their own; its literal term lets PostgreSQL use it.
        let surveys = if kinds.iter().all(|k| k.starts_with("survey.")) {
            " AND type LIKE 'survey.%'"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS}, customer FROM events WHERE type = ANY($1) AND at >= $2{surveys} ORDER BY at, id"
        ))
        .bind(&kinds)
        .bind(since.map(nanos).unwrap_or(i64::MIN))
        .fetch_all(&self.pool)
        .await?;
        Ok(events_with_customer(&rows)?)
    }

    async fn visit_events(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&hot::VISIT_EVENTS)
            .bind(nanos(since))
            .bind(nanos(until))
            .fetch_all(&self.pool)
            .await?;
        let mut out = events_with_customer(&rows)?;
        out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Ok(out)
    }

    async fn journey_events(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Vec<JourneyEvent>, StoreError> {
        let rows = sqlx::query(hot::JOURNEY_EVENTS)
            .bind(&kinds)
            .bind(nanos(until))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(JourneyEvent {
                customer: r.try_get(0)?,
                reference: r.try_get(1)?,
                kind: r.try_get(2)?,
                at: from_nanos(r.try_get(3)?),
            });
        }
        Ok(out)
    }

    async fn journey_facts(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Fact>, StoreError> {
        let mut out = Vec::new();
        for sql in [hot::JOURNEY_BREACHED_OPEN, hot::JOURNEY_BREACHED_LATE] {
            for r in sqlx::query(sql)
                .bind(nanos(since))
                .bind(nanos(until))
                .fetch_all(&self.pool)
                .await?
            {
                out.push(Fact {
                    customer: r.try_get(0)?,
                    reference: r.try_get(1)?,
                    at: from_nanos(r.try_get(2)?),
                    kind: FactKind::Breach,
                });
            }
        }
        for r in sqlx::query(hot::JOURNEY_NUDGED)
            .bind(nanos(since))
            .bind(nanos(until))
            .fetch_all(&self.pool)
            .await?
        {
            let nudges: i32 = r.try_get(3)?;
            out.push(Fact {
                customer: r.try_get(0)?,
                reference: r.try_get(1)?,
                at: from_nanos(r.try_get(2)?),
                kind: FactKind::Nudges(u32::try_from(nudges).unwrap_or(0)),
            });
        }
        Ok(out)
    }
}
