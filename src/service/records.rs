//! Stored records the edges show or change as they are, with no question to answer on top: a customer's
//! events and obligations, outbox rows and suppressions, survey events, the churn fit, counts.

use std::collections::HashMap;

use jiff::Timestamp;

use super::Service;
use crate::domain::{Event, Obligation};
use crate::store::{
    ChurnScore, OutboxFilter, OutboxRow, OutboxStatus, StoreCounts, StoreError, StoredChurnModel,
    Suppression,
};

impl Service {
    /// How many customers and events are stored (`/healthz` also uses it to see the database answer).
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.store.counts().await
    }

    /// A customer's stored events, in time order.
    pub async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        self.store.customer_events(id).await
    }

    /// A customer's stored obligations, as of now.
    pub async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError> {
        self.store.customer_obligations(id).await
    }

    /// Events of these types (all customers), optionally since a time, in time order.
    pub async fn events_of_types(
        &self,
        kinds: Vec<String>,
        since: Option<Timestamp>,
    ) -> Result<Vec<Event>, StoreError> {
        self.store.events_of_types(kinds, since).await
    }

    /// Outbox rows, newest due first within a customer, in key order otherwise.
    pub async fn outbox(&self, filter: OutboxFilter) -> Result<Vec<OutboxRow>, StoreError> {
        self.store.outbox(filter).await
    }

    /// How many messages are in each status, and the latest `limit` rows (by due time, newest first) of
    /// one status or of all.
    pub async fn recent_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: usize,
    ) -> Result<(HashMap<OutboxStatus, u64>, Vec<OutboxRow>), StoreError> {
        let counts: HashMap<OutboxStatus, u64> =
            self.store.outbox_counts().await?.into_iter().collect();
        let mut rows = Vec::new();
        for s in OutboxStatus::ALL {
            if status.is_none_or(|want| want == s) && counts.get(&s).copied().unwrap_or(0) > 0 {
                rows.extend(self.store.recent_outbox(s, limit).await?);
            }
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.item.due_at));
        rows.truncate(limit);
        Ok((counts, rows))
    }

    /// No message goes to this customer or address any more.
    pub async fn suppress(&self, suppression: Suppression) -> Result<(), StoreError> {
        self.store.suppress(suppression).await
    }

    /// The stored churn fit, if any.
    pub async fn churn_model(&self) -> Result<Option<StoredChurnModel>, StoreError> {
        self.store.churn_model().await
    }

    /// Churn scores by value at risk, highest first (`gone_quiet_only`: only those flagged).
    pub async fn churn_scores(
        &self,
        gone_quiet_only: bool,
        limit: usize,
    ) -> Result<Vec<ChurnScore>, StoreError> {
        self.store.churn_scores(gone_quiet_only, limit).await
    }
}
