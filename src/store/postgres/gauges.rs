//! The metrics' gauges on PostgreSQL (counts over the partial indexes of unclosed obligations and due
//! outbox rows), the sqlx pool's own figures, and whole-table counts.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::PostgresStore;
use crate::store::gauges::{GaugeCounts, Gauges, PoolUsage, StoreCounts};
use crate::store::{nanos, StoreError};

/// Each reads a range of a partial index (`obligations_unclosed`, `outbox_due`); `tests/ops.rs` checks the
/// plans. The same three questions as on SQLite.
pub const GAUGE_QUERIES: [&str; 3] = [
    "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND breach_at <= $1",
    "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND breach_at > $1",
    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending') AND next_at <= $1",
];

#[async_trait]
impl Gauges for PostgresStore {
    async fn gauge_counts(&self, now: Timestamp) -> Result<GaugeCounts, StoreError> {
        let now = nanos(now);
        let mut counts = [0u64; 3];
        for (count, query) in counts.iter_mut().zip(GAUGE_QUERIES) {
            let n: i64 = sqlx::query_scalar(query)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
            *count = n.max(0) as u64;
        }
        Ok(GaugeCounts {
            obligations_breached: counts[0],
            obligations_open: counts[1],
            outbox_due: counts[2],
        })
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM events), (SELECT count(*) FROM obligations)",
        )
        .fetch_one(&self.pool)
        .await?;
        let get = |i: usize| row.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
        Ok(StoreCounts {
            customers: get(0)?,
            events: get(1)?,
            obligations: get(2)?,
        })
    }

    fn pool_usage(&self) -> PoolUsage {
        let size = u64::from(self.pool.size());
        let idle = self.pool.num_idle() as u64;
        PoolUsage {
            in_use: size.saturating_sub(idle),
            idle,
            max: u64::from(self.pool.options().get_max_connections()),
        }
    }
}
