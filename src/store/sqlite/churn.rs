//! Churn model and scores on SQLite.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::churn::Transaction;
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

#[async_trait]
impl Churn for SqliteStore {
    async fn purchases(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Vec<Transaction>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT c.id, e.at, e.properties FROM events e JOIN customers c ON c.seq = e.customer_seq
                     WHERE e.type = ?1 AND e.at <= ?2 ORDER BY e.at, e.id",
                )?;
                let mut out = Vec::new();
                for kind in &kinds {
                    let mut rows = stmt.query(params![kind, nanos(until)])?;
                    while let Some(r) = rows.next()? {
                        let properties: Option<String> = r.get(2)?;
                        out.push(Transaction::from_event(
                            r.get(0)?,
                            from_nanos(r.get(1)?),
                            properties.as_deref(),
                        ));
                    }
                }
                // Each type was read in order; together they are in (at) order, as one query would give.
                if kinds.len() > 1 {
                    out.sort_by_key(|t| t.at);
                }
                Ok(out)
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
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO churn_scores ({SCORE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))?;
                for s in &scores {
                    insert.execute(params![
                        s.customer,
                        s.p_alive,
                        s.expected_purchases,
                        s.average_value,
                        s.value_if_active,
                        s.value_at_risk,
                        s.frequency,
                        s.recency,
                        s.age,
                        nanos(s.last_purchase_at),
                        s.gone_quiet
                    ])?;
                }
            }
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
