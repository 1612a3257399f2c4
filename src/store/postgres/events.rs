//! Reading events on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::rows::{event_from_row, EVENT_COLUMNS};
use super::{hot, PostgresStore};
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
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let customer: String = r.try_get(7)?;
            out.push(event_from_row(r, &customer)?);
        }
        Ok(out)
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
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let customer: String = r.try_get(7)?;
            out.push(event_from_row(r, &customer)?);
        }
        Ok(out)
    }
}
