//! Reading events on SQLite.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::rows::{event_from_row, load_events, prefixed, EVENT_COLUMNS};
use super::{hot, SqliteStore, NO_LATEST};
use crate::domain::journey::{Fact, FactKind, Instance, Journey, JourneyEvent, MatchedFact};
use crate::domain::Event;
use crate::store::{from_nanos, nanos, Events, StoreError};

#[async_trait]
impl Events for SqliteStore {
    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let latest = self.inner.latest_at.load(Ordering::SeqCst);
        Ok((latest != NO_LATEST).then(|| from_nanos(latest)))
    }

    async fn event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let found: Option<(String, Event)> = conn
                    .prepare_cached(&hot::EVENT_BY_ID)?
                    .query_row([&id], |r| {
                        let customer: String = r.get(7)?;
                        Ok((customer.clone(), event_from_row(r, &customer)?))
                    })
                    .optional()?;
                Ok(found.map(|(_, e)| e))
            })
        })
        .await
    }

    async fn events_by_ids(&self, ids: Vec<String>) -> Result<Vec<Event>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let columns = prefixed(EVENT_COLUMNS, "e");
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {columns}, c.id FROM events e JOIN customers c ON c.seq = e.customer_seq WHERE e.id = ?1"
                ))?;
                let mut seen = HashMap::new();
                for id in ids {
                    if seen.contains_key(&id) {
                        continue;
                    }
                    let mut rows = stmt.query_map([&id], |r| {
                        let customer: String = r.get(7)?;
                        event_from_row(r, &customer)
                    })?;
                    if let Some(event) = rows.next() {
                        seen.insert(id, event?);
                    }
                }
                Ok(seen.into_values().collect())
            })
        })
        .await
    }

    async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let seq: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM customers WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))
                    .optional()?;
                match seq {
                    Some(seq) => load_events(conn, seq, &id),
                    None => Ok(Vec::new()),
                }
            })
        })
        .await
    }

    async fn events_of_types(
        &self,
        kinds: Vec<String>,
        since: Option<Timestamp>,
    ) -> Result<Vec<Event>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let columns = prefixed(EVENT_COLUMNS, "e");
                // Survey events have a partial index of their own; its literal term lets SQLite use it.
                let surveys = if kinds.iter().all(|k| k.starts_with("survey.")) {
                    " AND e.type GLOB 'survey.*'"
                } else {
                    ""
                };
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {columns}, c.id FROM events e JOIN customers c ON c.seq = e.customer_seq
                     WHERE e.type = ?1 AND e.at >= ?2{surveys} ORDER BY e.at, e.id"
                ))?;
                let mut out = Vec::new();
                for kind in &kinds {
                    let rows =
                        stmt.query_map(params![kind, since.map(nanos).unwrap_or(i64::MIN)], |r| {
                            let customer: String = r.get(7)?;
                            event_from_row(r, &customer)
                        })?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                Ok(out)
            })
        })
        .await
    }

    async fn visit_events(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Event>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&hot::VISIT_EVENTS)?;
                let rows = stmt.query_map(params![nanos(since), nanos(until)], |r| {
                    let customer: String = r.get(7)?;
                    event_from_row(r, &customer)
                })?;
                let mut out = rows.collect::<Result<Vec<_>, _>>()?;
                out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                Ok(out)
            })
        })
        .await
    }

    async fn journey_events(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Vec<JourneyEvent>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let list = serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into());
                let mut stmt = conn.prepare_cached(hot::JOURNEY_EVENTS)?;
                let rows = stmt.query_map(params![list, nanos(until)], |r| {
                    Ok(JourneyEvent {
                        customer: r.get(0)?,
                        reference: r.get(1)?,
                        kind: r.get(2)?,
                        at: from_nanos(r.get(3)?),
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await
    }

    async fn kept_journey(
        &self,
        journey: Journey,
        until: Timestamp,
    ) -> Result<Option<(Vec<Instance>, Vec<MatchedFact>)>, StoreError> {
        self.run(move |inner| inner.kept_journey(&journey, until).map(Some))
            .await
    }

    async fn catch_up_journey(&self, journey: Journey) -> Result<(), StoreError> {
        self.run(move |inner| inner.catch_up_journey(&journey))
            .await
    }

    async fn journey_facts(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Fact>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let (since, until) = (nanos(since), nanos(until));
                let mut out = Vec::new();
                for sql in [hot::JOURNEY_BREACHED_OPEN, hot::JOURNEY_BREACHED_LATE] {
                    let mut stmt = conn.prepare_cached(sql)?;
                    let rows = stmt.query_map(params![since, until], |r| {
                        Ok(Fact {
                            customer: r.get(0)?,
                            reference: r.get(1)?,
                            at: from_nanos(r.get(2)?),
                            kind: FactKind::Breach,
                        })
                    })?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                let mut stmt = conn.prepare_cached(hot::JOURNEY_NUDGED)?;
                let rows = stmt.query_map(params![since, until], |r| {
                    Ok(Fact {
                        customer: r.get(0)?,
                        reference: r.get(1)?,
                        at: from_nanos(r.get(2)?),
                        kind: FactKind::Nudges(r.get(3)?),
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
                Ok(out)
            })
        })
        .await
    }
}
