//! Kept webhook deliveries and connectors' links on SQLite.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::store::deliveries::{Deliveries, Delivery, Link};
use crate::store::{from_nanos, nanos, StoreError};

fn headers_json(headers: &BTreeMap<String, String>) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "{}".to_string())
}

fn headers_from(text: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table: "deliveries",
        reason: format!("headers: {e}"),
    })
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn keep_delivery(&self, delivery: Delivery) -> Result<bool, StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO deliveries (connector, id, received_at, customer, headers, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (connector, id) DO NOTHING",
                )?
                .execute(params![
                    delivery.connector,
                    delivery.id,
                    nanos(delivery.received_at),
                    delivery.customer,
                    headers_json(&delivery.headers),
                    delivery.body,
                ])?;
            Ok(inserted > 0)
        })
        .await
    }

    async fn kept_deliveries(
        &self,
        connector: &str,
        since: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let connector = connector.to_string();
        let (after_at, after_id) = match after {
            Some((at, id)) => (nanos(at), id),
            None => (i64::MIN, String::new()),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, received_at, customer, headers, body FROM deliveries
                     WHERE connector = ?1 AND received_at >= ?2 AND (received_at, id) > (?3, ?4)
                     ORDER BY received_at, id LIMIT ?5",
                )?;
                let mut rows =
                    stmt.query(params![connector, nanos(since), after_at, after_id, limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let headers: String = r.get(3)?;
                    out.push(Delivery {
                        connector: connector.clone(),
                        id: r.get(0)?,
                        received_at: from_nanos(r.get(1)?),
                        customer: r.get(2)?,
                        headers: headers_from(&headers)?,
                        body: r.get(4)?,
                    });
                }
                Ok(out)
            })
        })
        .await
    }

    async fn prune_deliveries(
        &self,
        before: Timestamp,
        links_before: Timestamp,
    ) -> Result<u64, StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let pruned = conn.execute(
                "DELETE FROM deliveries WHERE received_at < ?1",
                [nanos(before)],
            )?;
            conn.execute(
                "DELETE FROM connector_links WHERE at < ?1",
                [nanos(links_before)],
            )?;
            Ok(pruned as u64)
        })
        .await
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
        let connector = connector.to_string();
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO connector_links (connector, key, customer, ref, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (connector, key) DO UPDATE SET customer = excluded.customer,
                       ref = excluded.ref, at = max(connector_links.at, excluded.at)",
                )?;
                for link in &links {
                    stmt.execute(params![
                        connector,
                        link.key,
                        link.customer,
                        link.reference,
                        nanos(at)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn recall_links(
        &self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Link>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let connector = connector.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(super::hot::LINK_BY_KEY)?;
                let mut out = Vec::new();
                for key in &keys {
                    let link = stmt
                        .query_row(params![connector, key], |r| {
                            Ok(Link {
                                key: r.get(0)?,
                                customer: r.get(1)?,
                                reference: r.get(2)?,
                            })
                        })
                        .optional()?;
                    out.extend(link);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn forget_deliveries(&self, customer: &str) -> Result<u64, StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let deliveries =
                conn.execute("DELETE FROM deliveries WHERE customer = ?1", [&customer])?;
            let links = conn.execute(
                "DELETE FROM connector_links WHERE customer = ?1",
                [&customer],
            )?;
            Ok((deliveries + links) as u64)
        })
        .await
    }
}
