//! Reading stored events: one by id, a customer's history, events of some types, and the latest time.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::Event;

#[async_trait]
pub trait Events: Send + Sync {
    /// The latest `at` of any stored event: stored obligations answer any "as of" at or after it.
    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError>;
    /// One stored event by id.
    async fn event(&self, id: &str) -> Result<Option<Event>, StoreError>;
    /// These events (unknown ids are left out).
    async fn events_by_ids(&self, ids: Vec<String>) -> Result<Vec<Event>, StoreError>;
    /// The customer's events sorted by (at, id).
    async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError>;
    /// Events of these types (all customers), optionally since a time, in time order: survey metrics.
    async fn events_of_types(
        &self,
        kinds: Vec<String>,
        since: Option<Timestamp>,
    ) -> Result<Vec<Event>, StoreError>;
}
