//! Retention cohorts on PostgreSQL: one statement does the work where the data is — each member's first
//! event, their active months as two 64-bit masks (`width_bucket` over the month boundaries), and their
//! stored P(alive) — so one row per member crosses the wire.

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::Row;

use super::PostgresStore;
use crate::domain::cohort::{ActiveMonths, Member};
use crate::store::cohorts::{CohortScan, Cohorts};
use crate::store::{from_nanos, nanos, StoreError};

const MEMBERS: &str = "
WITH members AS (
    SELECT customer, MIN(at) AS joined FROM events
    WHERE type = ANY($1) AND at <= $2
    GROUP BY customer
    HAVING MIN(at) >= $3 AND MIN(at) < $4
), active AS (
    SELECT e.customer, width_bucket(e.at, $5::int8[]) - 1 AS month
    FROM events e JOIN members m ON m.customer = e.customer
    WHERE e.at >= $3 AND e.at < $4 AND e.at <= $2 AND (e.type = ANY($6)) = $7
    GROUP BY 1, 2
), masks AS (
    SELECT customer,
           bit_or(CASE WHEN month < 64 THEN (1::int8 << month) ELSE 0 END) AS low,
           bit_or(CASE WHEN month >= 64 THEN (1::int8 << (month - 64)) ELSE 0 END) AS high
    FROM active GROUP BY customer
)
SELECT m.joined, COALESCE(a.low, 0), COALESCE(a.high, 0), s.p_alive
FROM members m
LEFT JOIN masks a ON a.customer = m.customer
LEFT JOIN churn_scores s ON s.customer = m.customer";

#[async_trait]
impl Cohorts for PostgresStore {
    async fn cohort_members(&self, scan: CohortScan) -> Result<Vec<Member>, StoreError> {
        let bounds: Vec<i64> = scan.boundaries.iter().map(|t| nanos(*t)).collect();
        let (Some(&first), Some(&end)) = (bounds.first(), bounds.last()) else {
            return Ok(Vec::new());
        };
        let (types, only) = scan.active.parts();
        let mut rows = sqlx::query(MEMBERS)
            .bind(&scan.joined_by)
            .bind(nanos(scan.until))
            .bind(first)
            .bind(end)
            .bind(&bounds)
            .bind(types)
            .bind(only)
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let (low, high): (i64, i64) = (r.try_get(1)?, r.try_get(2)?);
            out.push(Member {
                joined: from_nanos(r.try_get(0)?),
                active: ActiveMonths::from_bits(((high as u64 as u128) << 64) | low as u64 as u128),
                p_alive: r.try_get(3)?,
            });
        }
        Ok(out)
    }
}
