//! Figures about the database as a whole. The few `GET /metrics` reads are each one indexed query (a seek or
//! a range of a partial index), never a scan of the history, so a scrape stays cheap however many events are
//! stored; `counts` (status, health, reports) counts whole tables and is not for scrapes.

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

/// How much is stored (health checks, status, reports).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreCounts {
    pub customers: u64,
    pub events: u64,
    pub obligations: u64,
}

#[async_trait]
pub trait Gauges {
    async fn gauge_counts(&self, now: Timestamp) -> Result<GaugeCounts, StoreError>;
    /// Rows of customers, events and obligations (a count of each table).
    async fn counts(&self) -> Result<StoreCounts, StoreError>;
    fn pool_usage(&self) -> PoolUsage;
}
