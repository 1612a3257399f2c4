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

    /// A bulk load of about `expected_events` events (unknown: `None`) starts: the backend may set aside
    /// the indexes only readers use until `end_bulk` builds them again (SQLite does, when the load is at
    /// least twice as large as what is stored). Answers whether it did. A load killed in between leaves them
    /// to be built when the store is next opened. Nothing stored differs either way.
    async fn begin_bulk(&self, _expected_events: Option<u64>) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// The bulk load ended (or failed): builds again what `begin_bulk` set aside. Answers how many indexes.
    async fn end_bulk(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Recomputes every obligation from the events (after a policy change). Returns how many customers.
    async fn recompute_all(&self) -> Result<u64, StoreError>;
}
