//! Reading customers on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::hot::{SEARCH_BY_EMAIL, SEARCH_BY_ID, SEARCH_BY_NAME, SEARCH_BY_PHONE};
use super::rows::{
    customer_at, customer_from_row, event_from_row, CUSTOMER_COLUMNS, EVENT_COLUMNS,
};
use super::SqliteStore;
use crate::domain::Event;
use crate::store::nanos;
use crate::store::{
    CustomerHit, CustomerRecord, CustomerSearch, CustomerSearchResult, Customers, HistoryPage,
    StoreError,
};

#[async_trait]
impl Customers for SqliteStore {
    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let id = id.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
                    ))?
                    .query_row([&id], customer_from_row)
                    .optional()?)
            })
        })
        .await
    }

    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // One read transaction for every lookup: outside one, each statement takes and releases
                // its own WAL read lock (a system call each: most of the time for 50 000 ids).
                let tx = conn.unchecked_transaction()?;
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
                ))?;
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(c) = stmt.query_row([id], customer_from_row).optional()? {
                        out.push(c);
                    }
                }
                drop(stmt);
                tx.finish()?;
                Ok(out)
            })
        })
        .await
    }

    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT seq, {CUSTOMER_COLUMNS} FROM customers WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))?;
                let customers: Vec<(i64, CustomerRecord)> = stmt
                    .query_map(params![after.unwrap_or(0), limit as i64], |r| Ok((r.get(0)?, customer_at(r, 1)?)))?
                    .collect::<Result<_, _>>()?;
                let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
                    return Ok(HistoryPage {
                        histories: Vec::new(),
                        next: None,
                    });
                };
                let (first_seq, last_seq) = (first.0, last.0);
                let mut by_seq: HashMap<i64, Vec<Event>> = HashMap::new();
                let index: HashMap<i64, &str> = customers.iter().map(|(s, c)| (*s, c.id.as_str())).collect();
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, customer_seq FROM events
                     WHERE customer_seq BETWEEN ?1 AND ?2 ORDER BY customer_seq, at, id"
                ))?;
                let mut rows = stmt.query(params![first_seq, last_seq])?;
                while let Some(row) = rows.next()? {
                    let seq: i64 = row.get(7)?;
                    let customer = index.get(&seq).copied().unwrap_or_default();
                    by_seq.entry(seq).or_default().push(event_from_row(row, customer)?);
                }
                let next = (customers.len() == limit).then_some(last_seq);
                let histories = customers
                    .into_iter()
                    .map(|(seq, c)| (c, by_seq.remove(&seq).unwrap_or_default()))
                    .collect();
                Ok(HistoryPage { histories, next })
            })
        })
        .await
    }

    async fn search_customers(
        &self,
        search: &CustomerSearch,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<CustomerSearchResult, StoreError> {
        let search = search.clone();
        self.run(move |inner| {
            inner.read(|conn| {
                let mut ranges = vec![
                    (SEARCH_BY_ID.as_str(), search.text.clone()),
                    (SEARCH_BY_EMAIL.as_str(), search.lower.clone()),
                    (SEARCH_BY_NAME.as_str(), search.lower.clone()),
                ];
                if let Some(digits) = &search.digits {
                    ranges.push((SEARCH_BY_PHONE.as_str(), digits.clone()));
                }
                let mut lists = Vec::with_capacity(ranges.len());
                for (sql, prefix) in ranges {
                    let mut stmt = conn.prepare_cached(sql)?;
                    let upper = CustomerSearch::upper(&prefix);
                    let hits = stmt
                        .query_map(params![prefix, upper, nanos(now), limit as i64 + 1], |r| {
                            Ok(CustomerHit {
                                customer: customer_from_row(r)?,
                                invisible: r.get(8)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    lists.push(hits);
                }
                Ok(search.merge(lists, limit))
            })
        })
        .await
    }
}
