//! Churn model and scores on SQLite.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::churn::{purchase_value, Purchases};
use crate::store::churn::{Churn, ChurnScore, StoredChurnModel};
use crate::store::{from_nanos, nanos, StoreError};

const SCORE_COLUMNS: &str = "customer, p_alive, expected_purchases, average_value, value_if_active,
    value_at_risk, frequency, recency, age, last_purchase_at, gone_quiet";

fn score_from_row(r: &Row<'_>) -> rusqlite::Result<ChurnScore> {
    Ok(ChurnScore {
        customer: r.get(0)?,
        p_alive: r.get(1)?,
        expected_purchases: r.get(2)?,
        average_value: r.get(3)?,
        value_if_active: r.get(4)?,
        value_at_risk: r.get(5)?,
        frequency: r.get(6)?,
        recency: r.get(7)?,
        age: r.get(8)?,
        last_purchase_at: from_nanos(r.get(9)?),
        gone_quiet: r.get(10)?,
    })
}

/// Scores per `INSERT`: one statement for many rows spares a step and a reset per row.
const SCORES_PER_INSERT: usize = 256;

fn insert_scores(tx: &Connection, scores: &[ChurnScore]) -> Result<(), StoreError> {
    for chunk in scores.chunks(SCORES_PER_INSERT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO churn_scores ({SCORE_COLUMNS}) VALUES {rows}"
        ))?;
        for (row, s) in chunk.iter().enumerate() {
            let at = row * 11;
            insert.raw_bind_parameter(at + 1, &s.customer)?;
            insert.raw_bind_parameter(at + 2, s.p_alive)?;
            insert.raw_bind_parameter(at + 3, s.expected_purchases)?;
            insert.raw_bind_parameter(at + 4, s.average_value)?;
            insert.raw_bind_parameter(at + 5, s.value_if_active)?;
            insert.raw_bind_parameter(at + 6, s.value_at_risk)?;
            insert.raw_bind_parameter(at + 7, s.frequency)?;
            insert.raw_bind_parameter(at + 8, s.recency)?;
            insert.raw_bind_parameter(at + 9, s.age)?;
            insert.raw_bind_parameter(at + 10, nanos(s.last_purchase_at))?;
            insert.raw_bind_parameter(at + 11, s.gone_quiet)?;
        }
        insert.raw_execute()?;
    }
    Ok(())
}

/// One purchase as read, before grouping: its buyer, time, the position of its type in the list, its
/// value, and where its id sits in the ids read (purchases at one instant are ordered by id, as
/// `ORDER BY at, id` did).
struct PurchaseRow {
    customer: i64,
    at: i64,
    kind: usize,
    value: f64,
    id: std::ops::Range<usize>,
}

/// The purchases in one table scan per type (no join, no SQL sort: ordering 70 000 rows in SQLite's
/// sorter cost more than the scan), grouped by buyer in Rust; the buyers' names in one range scan of
/// `customers`.
fn read_purchases(
    conn: &Connection,
    kinds: &[String],
    until: Timestamp,
) -> Result<Purchases, StoreError> {
    let mut rows = Vec::new();
    let mut ids: Vec<u8> = Vec::new();
    let mut scan = conn.prepare_cached(
        "SELECT customer_seq, at, properties, id FROM events WHERE type = ?1 AND at <= ?2",
    )?;
    for (kind, name) in kinds.iter().enumerate() {
        let mut found = scan.query(params![name, nanos(until)])?;
        while let Some(r) = found.next()? {
            let start = ids.len();
            // Compared as bytes, as SQLite's BINARY collation compares them: no UTF-8 check needed.
            ids.extend_from_slice(bytes(r, 3)?.unwrap_or_default());
            rows.push(PurchaseRow {
                customer: r.get(0)?,
                at: r.get(1)?,
                kind,
                value: purchase_value(text(r, 2)?),
                id: start..ids.len(),
            });
        }
    }
    rows.sort_unstable_by(|a, b| {
        (a.customer, a.at, a.kind)
            .cmp(&(b.customer, b.at, b.kind))
            .then_with(|| ids[a.id.clone()].cmp(&ids[b.id.clone()]))
    });
    let mut purchases = Purchases::with_capacity(rows.len());
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(purchases);
    };
    let mut names = conn
        .prepare_cached("SELECT seq, id FROM customers WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")?;
    let mut customers = names.query(params![first.customer, last.customer])?;
    let mut runs = rows.chunk_by(|a, b| a.customer == b.customer).peekable();
    while let Some(r) = customers.next()? {
        let seq: i64 = r.get(0)?;
        // Purchases of a customer without a row are left out, as the join left them out.
        while runs.next_if(|run| run[0].customer < seq).is_some() {}
        if let Some(run) = runs.next_if(|run| run[0].customer == seq) {
            purchases.push_buyer(r.get(1)?, run.iter().map(|p| (from_nanos(p.at), p.value)));
        }
    }
    Ok(purchases)
}

/// A text column's bytes read in place (no copy, no UTF-8 check), `None` for NULL.
fn bytes<'r>(r: &'r Row<'_>, column: usize) -> rusqlite::Result<Option<&'r [u8]>> {
    r.get_ref(column)?
        .as_bytes_or_null()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e)))
}

/// A text column read in place (no copy), `None` for NULL.
fn text<'r>(r: &'r Row<'_>, column: usize) -> rusqlite::Result<Option<&'r str>> {
    r.get_ref(column)?
        .as_str_or_null()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e)))
}

#[async_trait]
impl Churn for SqliteStore {
    async fn purchases(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Purchases, StoreError> {
        self.run(move |inner| inner.read(|conn| read_purchases(conn, &kinds, until)))
            .await
    }

    async fn stored_event_ids(&self, ids: Vec<String>) -> Result<Vec<bool>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // One statement for all: a probe of `events_by_id` per id, without a step per id.
                let mut stored = vec![false; ids.len()];
                let list = serde_json::Value::from(ids).to_string();
                let mut found = conn.prepare_cached(
                    "SELECT j.key FROM json_each(?1) j
                     WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = j.value)",
                )?;
                let mut rows = found.query([&list])?;
                while let Some(r) = rows.next()? {
                    let index: usize = r.get(0)?;
                    if let Some(slot) = stored.get_mut(index) {
                        *slot = true;
                    }
                }
                Ok(stored)
            })
        })
        .await
    }

    async fn save_churn(
        &self,
        fitted_at: Timestamp,
        model: serde_json::Value,
        scores: Vec<ChurnScore>,
    ) -> Result<(), StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO churn_model (id, fitted_at, model) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET fitted_at = excluded.fitted_at, model = excluded.model",
                params![nanos(fitted_at), model.to_string()],
            )?;
            tx.execute("DELETE FROM churn_scores", [])?;
            insert_scores(&tx, &scores)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn churn_model(&self) -> Result<Option<StoredChurnModel>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let row: Option<(i64, String)> = conn
                    .prepare_cached("SELECT fitted_at, model FROM churn_model WHERE id = 1")?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                row.map(|(at, model)| {
                    Ok(StoredChurnModel {
                        fitted_at: from_nanos(at),
                        model: serde_json::from_str(&model).map_err(|e| StoreError::Corrupt {
                            table: "churn_model",
                            reason: e.to_string(),
                        })?,
                    })
                })
                .transpose()
            })
        })
        .await
    }

    async fn churn_scores(
        &self,
        gone_quiet_only: bool,
        limit: usize,
    ) -> Result<Vec<ChurnScore>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let filter = if gone_quiet_only {
                    "WHERE gone_quiet = 1"
                } else {
                    ""
                };
                let rows = conn
                    .prepare_cached(&format!(
                        "SELECT {SCORE_COLUMNS} FROM churn_scores {filter}
                         ORDER BY value_at_risk DESC, p_alive, customer LIMIT ?1"
                    ))?
                    .query_map([limit as i64], score_from_row)?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
        })
        .await
    }

    async fn churn_score(&self, customer: &str) -> Result<Option<ChurnScore>, StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {SCORE_COLUMNS} FROM churn_scores WHERE customer = ?1"
                    ))?
                    .query_row([customer], score_from_row)
                    .optional()?)
            })
        })
        .await
    }
}
