//! The scheduler sleeps until the next breach time of an unclosed obligation, or until ingestion wakes it
//! (a new event may bring an earlier deadline). No polling interval: lateness is bounded by the work.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::domain::span::format_span;
use crate::store::Store;

/// Longest single sleep: bounds the damage of a clock jump; not a polling period.
const MAX_SLEEP: Duration = Duration::from_secs(3_600);
/// After a database error, wait before trying again.
const RETRY: Duration = Duration::from_secs(1);

pub async fn run(store: Arc<dyn Store>, wake: Arc<Notify>, shutdown: Arc<Notify>) {
    loop {
        let started = std::time::Instant::now();
        let sleep = match tick(store.as_ref()).await {
            Ok(Some(next)) => Timestamp::now()
                .until(next)
                .ok()
                .and_then(|span| Duration::try_from(span).ok())
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(err) => {
                tracing::warn!(error = %err, "scheduler: database error; retrying");
                RETRY
            }
        };
        crate::metrics::job_ran("scheduler", started);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
            _ = shutdown.notified() => return,
        }
    }
}

/// Notices every breach that is due, and returns when the next one falls due.
pub async fn tick(store: &dyn Store) -> Result<Option<Timestamp>, crate::store::StoreError> {
    let now = Timestamp::now();
    for o in store.notice_breaches(now).await? {
        tracing::warn!(
            customer = %o.customer,
            policy = %o.policy,
            reference = o.reference.as_deref().unwrap_or("-"),
            due_at = %o.due_at,
            nudges = o.nudges,
            late = %format_span(now.duration_since(o.breach_at)),
            "promise broken: customer is now invisible"
        );
    }
    // Deadlines a hair in the future are handled on the next turn; the sleep is then ~0.
    store.next_unnoticed_breach().await
}
