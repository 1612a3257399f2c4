//! The metrics' gauges on SQLite (counts over the partial indexes of unclosed obligations and due outbox
//! rows), the pool's usage, and whole-table counts.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{lock, SqliteStore, READERS_KEPT};
use crate::store::gauges::{GaugeCounts, Gauges, PoolUsage, StoreCounts};
use crate::store::{nanos, StoreError};

/// Each uses a partial index (`obligations_unclosed`, `outbox_due`); `tests/ops.rs` checks the plans.
pub const GAUGE_QUERIES: [&str; 3] = [
    "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND breach_at <= ?1",
    "SELECT count(*) FROM obligations WHERE closed_at IS NULL AND breach_at > ?1",
    "SELECT count(*) FROM outbox INDEXED BY outbox_due
     WHERE status IN ('pending', 'sending') AND next_at <= ?1",
];

#[async_trait]
impl Gauges for SqliteStore {
    async fn gauge_counts(&self, now: Timestamp) -> Result<GaugeCounts, StoreError> {
        let now = nanos(now);
        self.run(move |inner| {
            inner.read(|conn| {
                let count = |query: &str| -> Result<u64, StoreError> {
                    let n: i64 = conn.prepare_cached(query)?.query_row([now], |r| r.get(0))?;
                    Ok(n.max(0) as u64)
                };
                Ok(GaugeCounts {
                    obligations_breached: count(GAUGE_QUERIES[0])?,
                    obligations_open: count(GAUGE_QUERIES[1])?,
                    outbox_due: count(GAUGE_QUERIES[2])?,
                })
            })
        })
        .await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let count = |table: &str| -> Result<u64, StoreError> {
                    let n: i64 =
                        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                    Ok(n.max(0) as u64)
                };
                Ok(StoreCounts {
                    customers: count("customers")?,
                    events: count("events")?,
                    obligations: count("obligations")?,
                })
            })
        })
        .await
    }

    fn pool_usage(&self) -> PoolUsage {
        let idle_readers = lock(&self.inner.readers).len() as u64;
        let writer_busy = u64::from(self.inner.writer.try_lock().is_err());
        PoolUsage {
            in_use: self.inner.reading.load(Ordering::Relaxed) as u64 + writer_busy,
            idle: idle_readers + (1 - writer_busy),
            max: READERS_KEPT as u64 + 1,
        }
    }
}
