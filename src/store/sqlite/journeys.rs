//! Journeys kept per key on SQLite (`journey_keys`, migration 12): each journey's progress per key, brought
//! up to date from the events stored since the last read (`seq > through_seq`) before each read, so that a
//! report reads one row per journey instead of every event. The rows are derived: a changed definition
//! (its fingerprint) rebuilds them, an erased customer's are recomputed from what is left of their events.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use rustc_hash::FxHashMap;

use super::{hot, lock, Inner};
use crate::domain::journey::{
    FactKind, Instance, Journey, Key, MatchedFact, Per, Progress, Stepper,
};
use crate::store::{from_nanos, nanos, StoreError};

/// Events read per transaction while catching up (the writer is free between them).
const CHUNK: i64 = 200_000;
const NOT_REACHED: i64 = i64::MIN;

/// A key as stored: the customer's seq and the ref (`""` for a journey per customer).
type StoredKey = (i64, String);

/// A key's events of the journey's types: time and type (the journey's own text).
type KeyEvents<'a> = Vec<(Timestamp, &'a str)>;

fn encode(reached: &[Option<Timestamp>]) -> Vec<u8> {
    reached
        .iter()
        .flat_map(|r| r.map(nanos).unwrap_or(NOT_REACHED).to_le_bytes())
        .collect()
}

fn decode(blob: &[u8], steps: usize) -> Vec<Option<Timestamp>> {
    let mut out: Vec<Option<Timestamp>> = blob
        .chunks_exact(8)
        .map(|b| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(b);
            let n = i64::from_le_bytes(bytes);
            (n != NOT_REACHED).then(|| from_nanos(n))
        })
        .collect();
    out.resize(steps, None);
    out
}

/// The definition as the rows were computed for it.
fn fingerprint(journey: &Journey) -> String {
    serde_json::to_string(journey).unwrap_or_default()
}

impl Inner {
    /// What a report of `journey` reads, after bringing its rows up to date: every instance entered by
    /// `until`, as of `until` (without paths), and the frustrating facts of their keys up to `until`
    /// (breaches at their breach time, nudges at the opening, unhappy answers). The facts are read by
    /// customer seq, without the join to `customers`: a customer's id comes from the journey's own rows.
    pub(super) fn kept_journey(
        &self,
        journey: &Journey,
        until: Timestamp,
    ) -> Result<(Vec<Instance>, Vec<MatchedFact>), StoreError> {
        self.catch_up_journey(journey)?;
        let steps = journey.steps.len();
        let per_ref = journey.per == Per::Ref;
        // The keys and the facts on two read connections at once (two cores).
        let (kept, raw) = std::thread::scope(|scope| {
            let facts = scope.spawn(|| self.read(|conn| read_facts(conn, until)));
            let kept = self.read(|conn| {
                let mut stmt = conn.prepare_cached(hot::KEPT_JOURNEY)?;
                let rows = stmt.query_map(params![journey.name, nanos(until)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        decode(r.get_ref(3)?.as_blob()?, steps),
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            });
            let facts = facts
                .join()
                .unwrap_or_else(|_| Err(StoreError::Task("reading a journey's facts".into())));
            (kept, facts)
        });
        let (kept, raw) = (kept?, raw?);
        // The instances entered by `until`, each key's place among them, then the facts matched to them.
        let mut seqs = Vec::with_capacity(kept.len());
        let mut instances = Vec::with_capacity(kept.len());
        for (seq, customer, reference, reached) in kept {
            let key = Key {
                customer,
                reference: per_ref.then_some(reference),
            };
            if let Some(instance) = Instance::from_progress(key, reached, until) {
                seqs.push(seq);
                instances.push(instance);
            }
        }
        let mut place: FxHashMap<(i64, &str), usize> = FxHashMap::default();
        place.reserve(instances.len());
        for (n, (seq, instance)) in seqs.iter().zip(&instances).enumerate() {
            place.insert((*seq, instance.key.reference.as_deref().unwrap_or("")), n);
        }
        let facts = raw
            .iter()
            .filter_map(|f| {
                let key_ref = if per_ref { f.reference.as_deref()? } else { "" };
                Some(MatchedFact {
                    instance: *place.get(&(f.customer_seq, key_ref))?,
                    at: from_nanos(f.at),
                    kind: f.kind,
                })
            })
            .collect();
        drop(place);
        // Hundreds of thousands of small allocations: freed beside the answer, not before it.
        std::thread::spawn(move || drop(raw));
        Ok((instances, facts))
    }

    /// Counts every event stored since the journey's last read into its rows, a chunk per transaction.
    pub(super) fn catch_up_journey(&self, journey: &Journey) -> Result<(), StoreError> {
        let stepper = Stepper::new(journey);
        let kinds = serde_json::to_string(&journey.event_types()).unwrap_or_else(|_| "[]".into());
        let fingerprint = fingerprint(journey);
        let mut target: Option<i64> = None;
        loop {
            let mut conn = lock(&self.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state: Option<(String, i64)> = tx
                .prepare_cached(
                    "SELECT fingerprint, through_seq FROM journey_state WHERE journey = ?1",
                )?
                .query_row([&journey.name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let mut through = match state {
                Some((stored, through)) if stored == fingerprint => through,
                _ => {
                    tx.execute(
                        "DELETE FROM journey_keys WHERE journey = ?1",
                        [&journey.name],
                    )?;
                    tx.execute(
                        "DELETE FROM journey_stale WHERE journey = ?1",
                        [&journey.name],
                    )?;
                    0
                }
            };
            recount_stale(&tx, journey, &stepper)?;
            let stored: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
            // Up to the events stored when the report asked (so a steady stream of new ones cannot keep it
            // counting), and never past those stored now (an erasure may have freed the last seqs).
            let last = (*target.get_or_insert(stored)).min(stored);
            let done = through >= last;
            if !done {
                let upto = last.min(through.saturating_add(CHUNK));
                count_events(&tx, journey, &stepper, &kinds, through, upto)?;
                through = upto;
            }
            tx.prepare_cached(
                "INSERT INTO journey_state (journey, fingerprint, through_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (journey) DO UPDATE SET fingerprint = excluded.fingerprint,
                 through_seq = excluded.through_seq",
            )?
            .execute(params![journey.name, fingerprint, through])?;
            tx.commit()?;
            if done {
                return Ok(());
            }
        }
    }
}

/// A frustrating fact as read, by customer seq.
struct RawFact {
    customer_seq: i64,
    reference: Option<String>,
    at: i64,
    kind: FactKind,
}

/// Every frustrating fact up to `until` (breaches at their breach time, nudges at the opening, unhappy
/// answers), by customer seq: no join to `customers`, each from a covering index but the few nudged.
fn read_facts(conn: &rusqlite::Connection, until: Timestamp) -> Result<Vec<RawFact>, StoreError> {
    let until = nanos(until);
    let mut out = Vec::new();
    for (sql, kind) in [
        (hot::KEPT_BREACHED_OPEN, None),
        (hot::KEPT_BREACHED_LATE, None),
        (hot::KEPT_UNHAPPY, Some(FactKind::Unhappy)),
        (hot::KEPT_NUDGED, Some(FactKind::Nudges(0))),
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([until])?;
        while let Some(r) = rows.next()? {
            out.push(RawFact {
                customer_seq: r.get(0)?,
                reference: r.get(1)?,
                at: r.get(2)?,
                kind: match kind {
                    None => FactKind::Breach,
                    Some(FactKind::Nudges(_)) => FactKind::Nudges(r.get(3)?),
                    Some(other) => other,
                },
            });
        }
    }
    Ok(out)
}

/// Counts the journey's events with `through < seq <= upto` into the rows of their keys.
fn count_events(
    tx: &Transaction<'_>,
    journey: &Journey,
    stepper: &Stepper<'_>,
    kinds: &str,
    through: i64,
    upto: i64,
) -> Result<(), StoreError> {
    let mut by_key: HashMap<StoredKey, KeyEvents<'_>> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT customer_seq, ref, type, at FROM events
             WHERE seq > ?1 AND seq <= ?2 AND type IN (SELECT value FROM json_each(?3))",
        )?;
        let mut rows = stmt.query(params![through, upto, kinds])?;
        while let Some(r) = rows.next()? {
            let reference: Option<String> = r.get(1)?;
            let key = match (journey.per, reference) {
                (Per::Customer, _) => (r.get(0)?, String::new()),
                (Per::Ref, Some(reference)) => (r.get(0)?, reference),
                (Per::Ref, None) => continue,
            };
            let text = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            let Some(kind) = stepper.kind(text) else {
                continue;
            };
            by_key
                .entry(key)
                .or_default()
                .push((from_nanos(r.get(3)?), kind));
        }
    }
    for (key, mut events) in by_key {
        events.sort_by(|a, b| stepper.order(*a, *b));
        let mut progress = load(tx, journey, &key)?.unwrap_or_else(|| stepper.start());
        let in_order = events
            .iter()
            .all(|(at, kind)| stepper.advance(&mut progress, kind, *at));
        if !in_order {
            progress = replay(tx, journey, stepper, &key)?;
        }
        store(tx, journey, &key, &progress)?;
    }
    Ok(())
}

fn load(
    tx: &Transaction<'_>,
    journey: &Journey,
    key: &StoredKey,
) -> Result<Option<Progress>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT last_at, reached FROM journey_keys WHERE journey = ?1 AND customer_seq = ?2 AND ref = ?3",
        )?
        .query_row(params![journey.name, key.0, key.1], |r| {
            Ok(Progress {
                last_at: Some(from_nanos(r.get(0)?)),
                reached: decode(r.get_ref(1)?.as_blob()?, journey.steps.len()),
            })
        })
        .optional()?)
}

fn store(
    tx: &Transaction<'_>,
    journey: &Journey,
    key: &StoredKey,
    progress: &Progress,
) -> Result<(), StoreError> {
    let Some(last_at) = progress.last_at else {
        tx.prepare_cached(
            "DELETE FROM journey_keys WHERE journey = ?1 AND customer_seq = ?2 AND ref = ?3",
        )?
        .execute(params![journey.name, key.0, key.1])?;
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO journey_keys (journey, customer_seq, ref, last_at, entered_at, reached)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (journey, customer_seq, ref) DO UPDATE SET last_at = excluded.last_at,
         entered_at = excluded.entered_at, reached = excluded.reached",
    )?
    .execute(params![
        journey.name,
        key.0,
        key.1,
        nanos(last_at),
        progress.reached.first().copied().flatten().map(nanos),
        encode(&progress.reached)
    ])?;
    Ok(())
}

/// Every stored event of the customer that the journey follows, by key.
fn customer_events<'a>(
    tx: &Transaction<'_>,
    journey: &Journey,
    stepper: &Stepper<'a>,
    customer_seq: i64,
) -> Result<HashMap<String, KeyEvents<'a>>, StoreError> {
    let mut out: HashMap<String, KeyEvents<'a>> = HashMap::new();
    let mut stmt = tx.prepare_cached("SELECT ref, type, at FROM events WHERE customer_seq = ?1")?;
    let mut rows = stmt.query([customer_seq])?;
    while let Some(r) = rows.next()? {
        let text = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let Some(kind) = stepper.kind(text) else {
            continue;
        };
        let key = match (journey.per, r.get::<_, Option<String>>(0)?) {
            (Per::Customer, _) => String::new(),
            (Per::Ref, Some(reference)) => reference,
            (Per::Ref, None) => continue,
        };
        out.entry(key)
            .or_default()
            .push((from_nanos(r.get(2)?), kind));
    }
    Ok(out)
}

/// One key's progress from all its stored events.
fn replay(
    tx: &Transaction<'_>,
    journey: &Journey,
    stepper: &Stepper<'_>,
    key: &StoredKey,
) -> Result<Progress, StoreError> {
    let events = customer_events(tx, journey, stepper, key.0)?
        .remove(&key.1)
        .unwrap_or_default();
    Ok(stepper.replay(&events))
}

/// Recomputes the rows of customers whose events were erased since the journey's last read.
fn recount_stale(
    tx: &Transaction<'_>,
    journey: &Journey,
    stepper: &Stepper<'_>,
) -> Result<(), StoreError> {
    let stale: Vec<i64> = {
        let mut stmt =
            tx.prepare_cached("SELECT customer_seq FROM journey_stale WHERE journey = ?1")?;
        let rows = stmt.query_map([&journey.name], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for customer_seq in stale {
        tx.execute(
            "DELETE FROM journey_keys WHERE journey = ?1 AND customer_seq = ?2",
            params![journey.name, customer_seq],
        )?;
        for (reference, events) in customer_events(tx, journey, stepper, customer_seq)? {
            store(
                tx,
                journey,
                &(customer_seq, reference),
                &stepper.replay(&events),
            )?;
        }
        tx.execute(
            "DELETE FROM journey_stale WHERE journey = ?1 AND customer_seq = ?2",
            params![journey.name, customer_seq],
        )?;
    }
    Ok(())
}

/// After a customer's events were erased (in the same transaction): their rows are recomputed before the
/// next read, and a seq freed at the end of the table is counted again when SQLite hands it out anew.
pub(super) fn events_erased(tx: &Transaction<'_>, customer_seq: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO journey_stale (journey, customer_seq) SELECT journey, ?1 FROM journey_state",
        [customer_seq],
    )?;
    tx.execute(
        "UPDATE journey_state SET through_seq = min(through_seq, (SELECT coalesce(max(seq), 0) FROM events))",
        [],
    )?;
    Ok(())
}
