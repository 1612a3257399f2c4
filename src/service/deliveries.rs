//! Inbound webhook deliveries kept for replay, and connectors' links from a provider's object to its
//! customer and ref (`store::deliveries`): what the hooks edge and `seen connectors replay` ask for.

use jiff::Timestamp;

use super::Service;
use crate::store::{Delivery, Link, StoreError};

impl Service {
    /// Keeps a delivery as received; `false` when the same one (connector and id) is already kept.
    pub async fn keep_delivery(&self, delivery: Delivery) -> Result<bool, StoreError> {
        self.store.keep_delivery(delivery).await
    }

    /// A page of a connector's kept deliveries received at or after `since`, oldest first.
    pub async fn kept_deliveries(
        &self,
        connector: &str,
        since: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.store
            .kept_deliveries(connector, since, after, limit)
            .await
    }

    /// Remembers where a connector's objects led (customer and ref).
    pub async fn remember_links(
        &self,
        connector: &str,
        links: Vec<Link>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.remember_links(connector, links, at).await
    }

    /// The remembered links of a connector among `keys`.
    pub async fn recall_links(
        &self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Link>, StoreError> {
        self.store.recall_links(connector, keys).await
    }
}
