//! How PostgreSQL rows become records: the column lists and decoders the other files share.

use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::domain::{Closure, Engine, Event, Obligation};
use crate::store::{from_nanos, CustomerRecord};

pub(super) const EVENT_COLUMNS: &str = "id, type, at, channel, ref, properties, profile";
pub(super) const OBLIGATION_COLUMNS: &str =
    "seq, customer, policy, ref, opened_at, due_at, breach_at, closed_at, close_kind,
     closed_by, trigger_event, nudges, last_nudge_at, paused_since, paused_left, paused_total";
pub(super) const CUSTOMER_COLUMNS: &str =
    "id, email, name, phone, timezone, first_at, last_at, events";

/// Rows of `EVENT_COLUMNS` followed by the customer's id (column 7), as events.
pub(super) fn events_with_customer(rows: &[PgRow]) -> Result<Vec<Event>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            let customer: String = r.try_get(7)?;
            event_from_row(r, &customer)
        })
        .collect()
}

pub(super) fn event_from_row(row: &PgRow, customer: &str) -> Result<Event, sqlx::Error> {
    Ok(Event {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        customer: customer.to_string(),
        at: from_nanos(row.try_get(2)?),
        channel: row.try_get(3)?,
        reference: row.try_get(4)?,
        properties: row.try_get(5)?,
        profile: crate::store::parse_profile(row.try_get(6)?),
    })
}

pub(super) fn obligation_from_row(
    row: &PgRow,
    engine: &Engine,
) -> Result<(i64, Obligation), sqlx::Error> {
    let policy: String = row.try_get(2)?;
    let close_kind: Option<String> = row.try_get(8)?;
    let nudges: i32 = row.try_get(11)?;
    Ok((
        row.try_get(0)?,
        Obligation {
            policy: engine.policy_name(&policy),
            customer: row.try_get(1)?,
            reference: row.try_get(3)?,
            opened_at: from_nanos(row.try_get(4)?),
            due_at: from_nanos(row.try_get(5)?),
            breach_at: from_nanos(row.try_get(6)?),
            closed_at: row.try_get::<Option<i64>, _>(7)?.map(from_nanos),
            closure: close_kind.as_deref().and_then(Closure::parse),
            closed_by: row.try_get(9)?,
            trigger_event: row.try_get(10)?,
            nudges: nudges.max(0) as u32,
            last_nudge_at: row.try_get::<Option<i64>, _>(12)?.map(from_nanos),
            paused_since: row.try_get::<Option<i64>, _>(13)?.map(from_nanos),
            paused_left: row
                .try_get::<Option<i64>, _>(14)?
                .map(jiff::SignedDuration::from_nanos),
            paused_total: jiff::SignedDuration::from_nanos(row.try_get(15)?),
        },
    ))
}

pub(super) fn customer_at(row: &PgRow, first: usize) -> Result<CustomerRecord, sqlx::Error> {
    Ok(CustomerRecord {
        id: row.try_get(first)?,
        email: row.try_get(first + 1)?,
        name: row.try_get(first + 2)?,
        phone: row.try_get(first + 3)?,
        timezone: row.try_get(first + 4)?,
        first_seen: Some(from_nanos(row.try_get(first + 5)?)),
        last_seen: Some(from_nanos(row.try_get(first + 6)?)),
        events: row.try_get::<i64, _>(first + 7)?.max(0) as u64,
    })
}
