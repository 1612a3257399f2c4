//! Writing events: a batch is stored and the obligations of the customers it touches brought up to date in
//! one transaction (the decisions in `fold`, the statements in each backend's `ingest.rs`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Event;

/// What happened to one event of an ingested batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Accepted,
    /// The id is already stored for this customer (a retry): nothing changed.
    Duplicate,
    /// The id is already stored for *another* customer: nothing was stored or created.
    Conflict,
}

#[async_trait]
pub trait Ingestion: Send + Sync {
    /// How many batches of *different* customers are worth storing at once (bulk import splits its input
    /// into this many lanes by customer). SQLite has one writer: 1.
    fn parallel_writers(&self) -> usize {
        1
    }

    /// Stores new events (a repeated id is a no-op reported as `Duplicate`, or `Conflict` when the stored
    /// event belongs to another customer) and brings the obligations of the customers they touch up to date,
    /// all in one transaction: when it returns, it is durable. A customer is created only with an event.
    async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError>;

    /// Like `ingest`, for bulk import: the caller already sends large batches of disjoint customers in
    /// parallel (see `parallel_writers`), so the batch goes straight to its own transaction instead of being
    /// merged with concurrent callers' (group commit would serialise the lanes again).
    async fn ingest_bulk(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        self.ingest(events).await
    }

    /// Recomputes every obligation from the events (after a policy change). Returns how many customers.
    async fn recompute_all(&self) -> Result<u64, StoreError>;
}
