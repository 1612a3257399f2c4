//! Reading customers: profiles and activity, and their whole histories page by page for replays.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::Event;

/// A customer's profile and activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerRecord {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen: Option<Timestamp>,
    pub events: u64,
}

/// One page of histories for a replay: customers with their events (sorted), in a stable order.
pub struct HistoryPage {
    pub histories: Vec<(CustomerRecord, Vec<Event>)>,
    /// Pass as `after` for the next page; `None` when this was the last.
    pub next: Option<i64>,
}

#[async_trait]
pub trait Customers: Send + Sync {
    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError>;
    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError>;
    /// Histories for replays as of an earlier time.
    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError>;
}
