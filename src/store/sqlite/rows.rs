//! How SQLite rows become records: the column lists and decoders the other files share.

use rusqlite::{Connection, Row};

use super::hot;
use crate::domain::{Closure, Engine, Event, Obligation};
use crate::store::{from_nanos, parse_profile, CustomerRecord, StoreError};

pub(super) const CUSTOMER_COLUMNS: &str =
    "id, email, name, phone, timezone, first_at, last_at, events";
pub(super) const EVENT_COLUMNS: &str = "id, type, at, channel, ref, properties, profile";
/// `columns` (a `, `-separated list) each qualified by a table alias: `prefixed("id, at", "e")` = "e.id, e.at".
pub(super) fn prefixed(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) const OBLIGATION_COLUMNS: &str =
    "o.seq, c.id, o.policy, o.ref, o.opened_at, o.due_at, o.breach_at, o.closed_at,
     o.close_kind, o.closed_by, o.trigger_event, o.nudges, o.last_nudge_at,
     o.paused_since, o.paused_left, o.paused_total";

pub(super) fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<CustomerRecord> {
    customer_at(row, 0)
}

/// A `CUSTOMER_COLUMNS` record starting at column `first`.
pub(super) fn customer_at(row: &Row<'_>, first: usize) -> rusqlite::Result<CustomerRecord> {
    Ok(CustomerRecord {
        id: row.get(first)?,
        email: row.get(first + 1)?,
        name: row.get(first + 2)?,
        phone: row.get(first + 3)?,
        timezone: row.get(first + 4)?,
        first_seen: Some(from_nanos(row.get(first + 5)?)),
        last_seen: Some(from_nanos(row.get(first + 6)?)),
        events: row.get::<_, i64>(first + 7)?.max(0) as u64,
    })
}

pub(super) fn event_from_row(row: &Row<'_>, customer: &str) -> rusqlite::Result<Event> {
    Ok(Event {
        id: row.get(0)?,
        kind: row.get(1)?,
        customer: customer.to_string(),
        at: from_nanos(row.get(2)?),
        channel: row.get(3)?,
        reference: row.get(4)?,
        properties: row.get(5)?,
        profile: parse_profile(row.get(6)?),
    })
}

/// One customer's events, sorted by (at, id).
pub(super) fn load_events(
    conn: &Connection,
    seq: i64,
    customer: &str,
) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(&hot::EVENTS_OF_CUSTOMER)?;
    let rows = stmt.query_map([seq], |r| event_from_row(r, customer))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn obligation_from_row(
    row: &Row<'_>,
    engine: &Engine,
) -> rusqlite::Result<(i64, Obligation)> {
    let policy: String = row.get(2)?;
    let close_kind: Option<String> = row.get(8)?;
    let obligation = Obligation {
        policy: engine.policy_name(&policy),
        customer: row.get(1)?,
        reference: row.get(3)?,
        opened_at: from_nanos(row.get(4)?),
        due_at: from_nanos(row.get(5)?),
        breach_at: from_nanos(row.get(6)?),
        closed_at: row.get::<_, Option<i64>>(7)?.map(from_nanos),
        closure: close_kind.as_deref().and_then(Closure::parse),
        closed_by: row.get(9)?,
        trigger_event: row.get(10)?,
        nudges: row.get(11)?,
        last_nudge_at: row.get::<_, Option<i64>>(12)?.map(from_nanos),
        paused_since: row.get::<_, Option<i64>>(13)?.map(from_nanos),
        paused_left: row
            .get::<_, Option<i64>>(14)?
            .map(jiff::SignedDuration::from_nanos),
        paused_total: jiff::SignedDuration::from_nanos(row.get(15)?),
    };
    Ok((row.get(0)?, obligation))
}

pub(super) fn load_obligations(
    conn: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
    engine: &Engine,
) -> Result<Vec<(i64, Obligation)>, StoreError> {
    let sql = format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations o JOIN customers c ON c.seq = o.customer_seq {clause}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| obligation_from_row(r, engine))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
