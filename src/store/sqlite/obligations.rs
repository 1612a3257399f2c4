//! Reading obligations on SQLite, and the breach scheduler's claims (the single writer marks them).

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{named_params, params};

use super::rows::{load_obligations, obligation_from_row};
use super::{hot, lock, SqliteStore};
use crate::domain::Obligation;
use crate::store::{from_nanos, nanos, ObligationFilter, Obligations, StoreError};

#[async_trait]
impl Obligations for SqliteStore {
    async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let rows = load_obligations(
                    conn,
                    "WHERE c.id = ?1 ORDER BY o.opened_at, o.seq",
                    params![id],
                    &inner.engine,
                )?;
                Ok(rows.into_iter().map(|(_, o)| o).collect())
            })
        })
        .await
    }

    async fn obligations(
        &self,
        filter: ObligationFilter,
    ) -> Result<Vec<(i64, Obligation)>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let limit = filter.limit.map_or(-1, |l| l as i64);
                load_obligations(
                    conn,
                    "WHERE o.seq > :after AND (:policy IS NULL OR o.policy = :policy)
                       AND (:customer IS NULL OR c.id = :customer)
                     ORDER BY o.seq LIMIT :limit",
                    named_params! {
                        ":after": filter.after.unwrap_or(0),
                        ":policy": filter.policy,
                        ":customer": filter.customer,
                        ":limit": limit,
                    },
                    &inner.engine,
                )
            })
        })
        .await
    }

    async fn unclosed_breached(&self, before: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // Closed columns are NULL by the WHERE: naming them as literals keeps the index covering.
                let mut stmt = conn.prepare_cached(hot::UNCLOSED_BREACHED)?;
                let rows =
                    stmt.query_map([nanos(before)], |r| obligation_from_row(r, &inner.engine))?;
                rows.map(|row| row.map(|(_, o)| o).map_err(StoreError::from))
                    .collect()
            })
        })
        .await
    }

    async fn next_unnoticed_breach(&self) -> Result<Option<Timestamp>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let next: Option<i64> = conn
                    .prepare_cached(hot::NEXT_UNNOTICED_BREACH)?
                    .query_row([], |r| r.get(0))?;
                Ok(next.map(from_nanos))
            })
        })
        .await
    }

    async fn notice_breaches(&self, now: Timestamp) -> Result<Vec<Obligation>, StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let now = nanos(now);
            let rows: Vec<i64> = conn
                .prepare_cached(hot::NOTICE_BREACHES)?
                .query_map([now], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.extend(
                    load_obligations(&conn, "WHERE o.seq = ?1", params![row], &inner.engine)?
                        .into_iter()
                        .map(|(_, o)| o),
                );
            }
            Ok(out)
        })
        .await
    }
}
