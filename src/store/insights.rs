//! Read-only aggregates for the dashboard: promise counts per policy and period bucket, durations of kept
//! promises, the spans during which customers were unseen, who kept what, and outbox counts. Each is one
//! or two indexed queries; the arithmetic on top (rates, percentiles, distinct customers per moment) lives
//! in `domain::trend`.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;
use crate::domain::trend::Window;

/// Promises of one policy falling due (`breach_at`) in one bucket, by status as of the window's `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromiseCounts {
    pub policy: String,
    pub bucket: u32,
    pub kept: u64,
    pub late: u64,
    pub breached: u64,
    pub cancelled: u64,
    pub open: u64,
}

/// Customers with a promise falling due in a bucket, and how many of them were left unseen by one
/// (breached, or kept late).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketCustomers {
    pub bucket: u32,
    pub customers: u64,
    pub unseen: u64,
}

/// A time during which one customer was invisible because of one promise: from its breach until it was
/// closed (still open: `until = None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnseenSpan {
    /// Any key that tells customers apart.
    pub customer: String,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

/// Promise counts in a window by policy, the trigger's channel and whoever kept it (the keeping event's
/// `properties.agent`, else `properties.by`; "Seen" for automated messages).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub policy: String,
    pub channel: Option<String>,
    pub agent: Option<String>,
    pub kept: u64,
    pub late: u64,
    pub breached: u64,
    pub cancelled: u64,
    pub open: u64,
}

#[async_trait]
pub trait Insights: Send + Sync {
    /// Counts per (policy, bucket) of the given policies' promises falling due in the window.
    async fn promise_counts(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<PromiseCounts>, StoreError>;
    /// Distinct customers per bucket over the given policies.
    async fn bucket_customers(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<BucketCustomers>, StoreError>;
    /// `(bucket, seconds from trigger to keeping)` of kept promises of one policy falling due in the window.
    async fn kept_durations(
        &self,
        window: Window,
        policy: String,
    ) -> Result<Vec<(u32, i64)>, StoreError>;
    /// Every span of invisibility overlapping the window (and not after `now`).
    async fn unseen_spans(&self, window: Window) -> Result<Vec<UnseenSpan>, StoreError>;
    /// Promise counts by policy, channel and agent, falling due in the window.
    async fn attribution(
        &self,
        window: Window,
        policies: Vec<String>,
    ) -> Result<Vec<Attribution>, StoreError>;
    /// The `customer.feels_ignored` events at or after `since`, in (at, id) order: the survey figures count
    /// each as a "yes, I felt invisible" (`domain::survey::FEELS_IGNORED`). Its own query, apart from the
    /// survey events' (which `events_surveys` serves), with the type as a literal so that a partial index
    /// on it would serve it.
    async fn feels_ignored(
        &self,
        since: Option<Timestamp>,
    ) -> Result<Vec<crate::domain::Event>, StoreError>;
    /// The latest outbox rows of one status (by due time, newest first).
    async fn recent_outbox(
        &self,
        status: crate::store::OutboxStatus,
        limit: usize,
    ) -> Result<Vec<crate::store::OutboxRow>, StoreError>;
}

/// The status of a stored obligation as of `now` (`$now`), as SQL filters shared by both backends.
pub(crate) const KEPT: &str = "close_kind = 'kept' AND closed_at <= breach_at";
pub(crate) const LATE: &str = "close_kind = 'kept' AND closed_at > breach_at";
pub(crate) const CANCELLED: &str = "close_kind = 'cancelled' AND closed_at <= breach_at";
/// `{now}` is replaced by the backend's placeholder.
pub(crate) const BREACHED: &str =
    "(closed_at IS NULL AND breach_at < {now}) OR (close_kind = 'cancelled' AND closed_at > breach_at)";
pub(crate) const OPEN: &str = "closed_at IS NULL AND breach_at >= {now}";
/// Left unseen by this promise, at least for a while.
pub(crate) const UNSEEN: &str =
    "(closed_at IS NULL AND breach_at < {now}) OR closed_at > breach_at";

/// The aggregate columns of a promise count, with `{now}` bound to `now`.
pub(crate) fn status_columns(now: &str) -> String {
    [KEPT, LATE, BREACHED, CANCELLED, OPEN]
        .iter()
        .map(|f| format!("COUNT(*) FILTER (WHERE {})", f.replace("{now}", now)))
        .collect::<Vec<_>>()
        .join(", ")
}
