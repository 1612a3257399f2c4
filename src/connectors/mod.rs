//! Connectors: where Seen listens by itself (`[connectors]` in `seen.toml`). Each turns what a source says
//! into ordinary `EventInput`s and hands them to the service, so promises, actions and reports work on them
//! unchanged; every event carries `properties.connector` (the connector's name).
//!
//! `Health` is each connector's state as this node sees it (connected, last event, last error, events
//! brought today), shown on `/healthz`, the dashboard and `seen connectors status`.
//!
//! `hooks`: providers' inbound webhooks (`POST /hooks/{source}/{name}`), an edge with its own router.

pub mod hooks;

pub mod imap;
pub mod nats;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;

/// One connector's state on this node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConnectorHealth {
    pub kind: String,
    /// `starting`, `connected`, `retrying` (after an error, waiting to try again) or `idle` (a webhook
    /// connector between deliveries).
    pub state: String,
    pub last_event_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Events brought since the start of the current UTC day.
    pub events_today: u64,
    /// Items read but not turned into events (auto-replies, unmapped webhook types, …) today.
    pub ignored_today: u64,
    #[serde(skip)]
    day: Option<jiff::civil::Date>,
}

/// Every connector's health on this node; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<BTreeMap<String, ConnectorHealth>>>,
}

impl Health {
    fn update(&self, name: &str, kind: &str, f: impl FnOnce(&mut ConnectorHealth)) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry(name.to_string())
            .or_insert_with(|| ConnectorHealth {
                kind: kind.to_string(),
                state: "starting".to_string(),
                ..Default::default()
            });
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        if entry.day != Some(today) {
            entry.day = Some(today);
            entry.events_today = 0;
            entry.ignored_today = 0;
        }
        f(entry);
    }

    /// A connector is configured (state `starting`).
    pub fn register(&self, name: &str, kind: &str) {
        self.update(name, kind, |_| {});
    }

    pub fn set_state(&self, name: &str, kind: &str, state: &str) {
        self.update(name, kind, |h| h.state = state.to_string());
    }

    /// `events` new events were stored, the latest at `last`.
    pub fn brought(&self, name: &str, kind: &str, events: u64, last: Option<Timestamp>) {
        self.update(name, kind, |h| {
            h.events_today += events;
            if last.is_some() {
                h.last_event_at = last.max(h.last_event_at);
            }
        });
    }

    pub fn ignored(&self, name: &str, kind: &str, items: u64) {
        self.update(name, kind, |h| h.ignored_today += items);
    }

    /// An error: the connector retries (state `retrying`).
    pub fn failed(&self, name: &str, kind: &str, error: &str) {
        self.update(name, kind, |h| {
            h.state = "retrying".to_string();
            h.last_error = Some(error.to_string());
            h.last_error_at = Some(Timestamp::now());
        });
    }

    pub fn snapshot(&self) -> BTreeMap<String, ConnectorHealth> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_counts_and_keeps_the_last_error() {
        let health = Health::default();
        health.register("hello", "imap");
        assert_eq!(health.snapshot()["hello"].state, "starting");
        health.brought("hello", "imap", 3, Some(Timestamp::UNIX_EPOCH));
        health.brought("hello", "imap", 2, None);
        health.failed("hello", "imap", "connection refused");
        let h = &health.snapshot()["hello"];
        assert_eq!((h.events_today, h.state.as_str()), (5, "retrying"));
        assert_eq!(h.last_event_at, Some(Timestamp::UNIX_EPOCH));
        assert_eq!(h.last_error.as_deref(), Some("connection refused"));
        health.set_state("hello", "imap", "connected");
        assert_eq!(health.snapshot()["hello"].state, "connected");
    }
}
