//! Inbound webhook deliveries, kept as received for `[connectors] keep_raw` so that a mapping fix can be
//! replayed over them (`seen connectors replay`), and the links connectors remember from a provider's object
//! (a booking, an order, an invitee) to the customer and the `ref` its events were stored under: a later
//! delivery that names only the object (a Shopify delivery event, a Cal.com reschedule) finds them there.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// A delivery as received, after its signature held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The connector's name (`[[connectors.hooks]] name`).
    pub connector: String,
    /// The provider's delivery id, or a digest of the body: a provider's retry has the same one.
    pub id: String,
    pub received_at: Timestamp,
    /// The customer the delivery is about, when the mapping knew it (erasure removes their deliveries).
    pub customer: Option<String>,
    /// The request headers the mapping reads (lower-case names), never the signature.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Where a provider's object led: its customer and the `ref` its events carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The provider's object, e.g. `order:450789469`.
    pub key: String,
    pub customer: String,
    pub reference: Option<String>,
}

#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Keeps a delivery; `false` when one with the same connector and id is already kept (nothing changes).
    async fn keep_delivery(&self, delivery: Delivery) -> Result<bool, StoreError>;
    /// A connector's kept deliveries received at or after `since`, oldest first: at most `limit` after the
    /// position `after` (the `received_at` and `id` of the last one of the previous page).
    async fn kept_deliveries(
        &self,
        connector: &str,
        since: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Removes deliveries received before `before`, and links last remembered before `links_before`.
    async fn prune_deliveries(
        &self,
        before: Timestamp,
        links_before: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Remembers (or refreshes) links of a connector, as of `at` (a link's time only moves forward: a replay
    /// of old deliveries does not age it).
    async fn remember_links(
        &self,
        connector: &str,
        links: Vec<Link>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The links of a connector among `keys` (unknown keys are left out).
    async fn recall_links(
        &self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Link>, StoreError>;
    /// Erasure: every kept delivery and link of one customer goes. Returns the rows removed.
    async fn forget_deliveries(&self, customer: &str) -> Result<u64, StoreError>;
}
