//! Kept webhook deliveries and connectors' links on PostgreSQL.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::PostgresStore;
use crate::store::deliveries::{Deliveries, Delivery, Link};
use crate::store::{from_nanos, nanos, StoreError};

#[async_trait]
impl Deliveries for PostgresStore {
    async fn keep_delivery(&self, delivery: Delivery) -> Result<bool, StoreError> {
        let headers = serde_json::to_string(&delivery.headers).unwrap_or_else(|_| "{}".to_string());
        let done = sqlx::query(
            "INSERT INTO deliveries (connector, id, received_at, customer, headers, body)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, id) DO NOTHING",
        )
        .bind(&delivery.connector)
        .bind(&delivery.id)
        .bind(nanos(delivery.received_at))
        .bind(&delivery.customer)
        .bind(headers)
        .bind(&delivery.body)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn kept_deliveries(
        &self,
        connector: &str,
        since: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (after_at, after_id) = match after {
            Some((at, id)) => (nanos(at), id),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(
            "SELECT id, received_at, customer, headers, body FROM deliveries
             WHERE connector = $1 AND received_at >= $2 AND (received_at, id) > ($3, $4)
             ORDER BY received_at, id LIMIT $5",
        )
        .bind(connector)
        .bind(nanos(since))
        .bind(after_at)
        .bind(after_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let headers: String = r.try_get(3)?;
                let headers: BTreeMap<String, String> =
                    serde_json::from_str(&headers).map_err(|e| StoreError::Corrupt {
                        table: "deliveries",
                        reason: format!("headers: {e}"),
                    })?;
                Ok(Delivery {
                    connector: connector.to_string(),
                    id: r.try_get(0)?,
                    received_at: from_nanos(r.try_get(1)?),
                    customer: r.try_get(2)?,
                    headers,
                    body: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn prune_deliveries(
        &self,
        before: Timestamp,
        links_before: Timestamp,
    ) -> Result<u64, StoreError> {
        let pruned = sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
            .bind(nanos(before))
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM connector_links WHERE at < $1")
            .bind(nanos(links_before))
            .execute(&self.pool)
            .await?;
        Ok(pruned.rows_affected())
    }

    async fn remember_links(
        &self,
        connector: &str,
        links: Vec<Link>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if links.is_empty() {
            return Ok(());
        }
        // Several links of one delivery may name the same key: the last wins, as one by one would.
        let mut latest: BTreeMap<&str, &Link> = BTreeMap::new();
        for link in &links {
            latest.insert(&link.key, link);
        }
        let keys: Vec<&str> = latest.keys().copied().collect();
        let customers: Vec<&str> = latest.values().map(|l| l.customer.as_str()).collect();
        let refs: Vec<Option<&str>> = latest.values().map(|l| l.reference.as_deref()).collect();
        sqlx::query(
            "INSERT INTO connector_links (connector, key, customer, ref, at)
             SELECT $1, k, c, r, $5 FROM UNNEST($2::text[], $3::text[], $4::text[]) AS t (k, c, r)
             ON CONFLICT (connector, key) DO UPDATE SET customer = excluded.customer, ref = excluded.ref,
               at = GREATEST(connector_links.at, excluded.at)",
        )
        .bind(connector)
        .bind(&keys)
        .bind(&customers)
        .bind(&refs)
        .bind(nanos(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recall_links(
        &self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Link>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(super::hot::LINKS_BY_KEYS)
            .bind(connector)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Link {
                    key: r.try_get(0)?,
                    customer: r.try_get(1)?,
                    reference: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn forget_deliveries(&self, customer: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deliveries = sqlx::query("DELETE FROM deliveries WHERE customer = $1")
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        let links = sqlx::query("DELETE FROM connector_links WHERE customer = $1")
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deliveries.rows_affected() + links.rows_affected())
    }
}
