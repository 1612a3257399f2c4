//! Reading customers on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use super::hot::{SEARCH_BY_EMAIL, SEARCH_BY_ID, SEARCH_BY_NAME, SEARCH_BY_PHONE};
use super::rows::{customer_at, event_from_row, CUSTOMER_COLUMNS, EVENT_COLUMNS};
use super::PostgresStore;
use crate::domain::Event;
use crate::store::{
    nanos, CustomerHit, CustomerRecord, CustomerSearch, CustomerSearchResult, Customers,
    HistoryPage, StoreError,
};

#[async_trait]
impl Customers for PostgresStore {
    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| customer_at(&r, 0)).transpose()?)
    }

    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| customer_at(r, 0))
            .collect::<Result<_, _>>()?)
    }

    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT seq, {CUSTOMER_COLUMNS} FROM customers WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after.unwrap_or(0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let customers: Vec<(i64, CustomerRecord)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, customer_at(r, 1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let ids: Vec<&str> = customers.iter().map(|(_, c)| c.id.as_str()).collect();
        let mut by_customer: HashMap<String, Vec<Event>> = HashMap::new();
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS}, customer FROM events WHERE customer = ANY($1) ORDER BY customer, at, id"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let customer: String = row.try_get(7)?;
            let event = event_from_row(row, &customer)?;
            by_customer.entry(customer).or_default().push(event);
        }
        let next = (customers.len() == limit)
            .then(|| customers.last().map(|(seq, _)| *seq))
            .flatten();
        let histories = customers
            .into_iter()
            .map(|(_, c)| {
                let events = by_customer.remove(&c.id).unwrap_or_default();
                (c, events)
            })
            .collect();
        Ok(HistoryPage { histories, next })
    }

    async fn search_customers(
        &self,
        search: &CustomerSearch,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<CustomerSearchResult, StoreError> {
        let mut ranges = vec![
            (SEARCH_BY_ID.as_str(), search.text.as_str()),
            (SEARCH_BY_EMAIL.as_str(), search.lower.as_str()),
            (SEARCH_BY_NAME.as_str(), search.lower.as_str()),
        ];
        if let Some(digits) = &search.digits {
            ranges.push((SEARCH_BY_PHONE.as_str(), digits.as_str()));
        }
        let mut lists = Vec::with_capacity(ranges.len());
        for (sql, prefix) in ranges {
            let rows = sqlx::query(sql)
                .bind(prefix)
                .bind(CustomerSearch::upper(prefix))
                .bind(nanos(now))
                .bind(limit as i64 + 1)
                .fetch_all(&self.pool)
                .await?;
            let hits = rows
                .iter()
                .map(|r| {
                    Ok(CustomerHit {
                        customer: customer_at(r, 0)?,
                        invisible: r.try_get(8)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            lists.push(hits);
        }
        Ok(search.merge(lists, limit))
    }
}
