//! Reading obligations on PostgreSQL, and the breach scheduler's claims (each breach by one node).

use async_trait::async_trait;
use jiff::Timestamp;

use super::rows::{obligation_from_row, OBLIGATION_COLUMNS};
use super::{hot, PostgresStore};
use crate::domain::Obligation;
use crate::store::{from_nanos, nanos, ObligationFilter, Obligations, StoreError};

#[async_trait]
impl Obligations for PostgresStore {
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
}
