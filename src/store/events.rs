//! Reading stored events: one by id, a customer's history, events of some types, and the latest time; and
//! what journeys read (events of a few types, frustrating obligations).

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::journey::{Fact, Instance, Journey, JourneyEvent, MatchedFact};
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
    /// Every `visit.*` event with `since <= at < until`, sorted by (at, id): the front desk's board,
    /// estimates and figures (through a partial index of visit events).
    async fn visit_events(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Event>, StoreError>;
    /// Every event of these types with `at <= until`, as journeys read it (customer, ref, type, time), in no
    /// particular order: one pass over the events (no index by type: it would slow every ingestion).
    async fn journey_events(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Vec<JourneyEvent>, StoreError>;
    /// The obligations that frustrated customers between `since` and `until`, as of their stored state:
    /// a `Breach` at the breach time of each one not kept by then (unclosed, or closed after it), and the
    /// `Nudges` of each one opened in the span (at its opening).
    async fn journey_facts(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Fact>, StoreError>;
    /// What a report of `journey` reads, from the progress the store keeps per key (brought up to date
    /// with the stored events first): every instance entered by `until`, as of `until` (without paths), and
    /// the frustrating facts of their keys up to `until` (`Breach`, `Nudges` as in `journey_facts`, and an
    /// `Unhappy` per `survey.unhappy` event), each matched to its instance. `None` when the store keeps
    /// none: the caller computes from `journey_events` and `journey_facts`.
    async fn kept_journey(
        &self,
        _journey: Journey,
        _until: Timestamp,
    ) -> Result<Option<(Vec<Instance>, Vec<MatchedFact>)>, StoreError> {
        Ok(None)
    }
    /// Brings the progress the store keeps for `journey` up to date with the stored events (nothing where
    /// it keeps none): the first report after a large import then need not.
    async fn catch_up_journey(&self, _journey: Journey) -> Result<(), StoreError> {
        Ok(())
    }
}
