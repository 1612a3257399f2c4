//! The few figures `GET /metrics` reads from the database: each is one indexed query (a seek or a range of
//! a partial index), never a scan of the history, so a scrape stays cheap however many events are stored.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// Counts for the metrics' gauges, as of `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GaugeCounts {
    /// Unclosed obligations not yet breached.
    pub obligations_open: u64,
    /// Unclosed obligations past their breach time (the reasons customers are invisible).
    pub obligations_breached: u64,
    /// Outbox rows due now and not yet finished: the sender's backlog (later reminders are not counted).
    pub outbox_due: u64,
}

/// Database connections of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: u64,
    pub idle: u64,
    /// The most the pool opens (SQLite: the writer and the pooled readers).
    pub max: u64,
}

#[async_trait]
pub trait Gauges {
    async fn gauge_counts(&self, now: Timestamp) -> Result<GaugeCounts, StoreError>;
    fn pool_usage(&self) -> PoolUsage;
}
