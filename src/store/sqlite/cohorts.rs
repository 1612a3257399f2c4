//! Retention cohorts on SQLite: one pass over the events up to "now" (each row's first-event and
//! activity parts noted as it is read, no row kept), then the stored churn scores of the members.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::params;
use rusqlite::types::ValueRef;

use super::SqliteStore;
use crate::domain::cohort::{month_index, ActiveMonths, Member};
use crate::store::cohorts::{CohortScan, Cohorts};
use crate::store::{from_nanos, nanos, StoreError};

/// Per customer: their first `joined_by` event so far, and their active months.
#[derive(Default)]
struct Seen {
    joined: Option<i64>,
    active: ActiveMonths,
}

#[async_trait]
impl Cohorts for SqliteStore {
    async fn cohort_members(&self, scan: CohortScan) -> Result<Vec<Member>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let bounds: Vec<i64> = scan.boundaries.iter().map(|t| nanos(*t)).collect();
                let (Some(&first), Some(&end)) = (bounds.first(), bounds.last()) else {
                    return Ok(Vec::new());
                };
                let mut customers: HashMap<i64, Seen> = HashMap::new();
                let mut stmt = conn
                    .prepare_cached("SELECT customer_seq, type, at FROM events WHERE at <= ?1")?;
                let mut rows = stmt.query(params![nanos(scan.until)])?;
                while let Some(r) = rows.next()? {
                    let at: i64 = r.get(2)?;
                    let kind = match r.get_ref(1)? {
                        ValueRef::Text(bytes) => std::str::from_utf8(bytes).unwrap_or(""),
                        _ => "",
                    };
                    let joins = scan.joined_by.iter().any(|t| t == kind);
                    let month = (at >= first && at < end && scan.active.counts(kind))
                        .then(|| month_index(&bounds, at))
                        .flatten();
                    if !joins && month.is_none() {
                        continue;
                    }
                    let seen = customers.entry(r.get(0)?).or_default();
                    if joins {
                        seen.joined = Some(seen.joined.map_or(at, |j| j.min(at)));
                    }
                    if let Some(month) = month {
                        seen.active.insert(month);
                    }
                }
                let scores = p_alive_by_customer(conn)?;
                Ok(customers
                    .into_iter()
                    .filter_map(|(seq, seen)| {
                        let joined = seen.joined.filter(|j| (first..end).contains(j))?;
                        Some(Member {
                            joined: from_nanos(joined),
                            active: seen.active,
                            p_alive: scores.get(&seq).copied(),
                        })
                    })
                    .collect())
            })
        })
        .await
    }
}

/// The stored P(alive) of every scored customer, by customer seq.
fn p_alive_by_customer(conn: &rusqlite::Connection) -> Result<HashMap<i64, f64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.seq, s.p_alive FROM churn_scores s JOIN customers c ON c.id = s.customer",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        out.insert(r.get(0)?, r.get(1)?);
    }
    Ok(out)
}
