//! Churn model and scores on PostgreSQL.

use async_trait::async_trait;
use futures::TryStreamExt;
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresStore;
use crate::churn::{purchase_value, Purchases};
use crate::store::churn::{Churn, ChurnScore, StoredChurnModel};
use crate::store::{from_nanos, nanos, StoreError};

const SCORE_COLUMNS: &str = "customer, p_alive, expected_purchases, average_value, value_if_active,
    value_at_risk, frequency, recency, age, last_purchase_at, gone_quiet";

fn score_from_row(r: &PgRow) -> Result<ChurnScore, sqlx::Error> {
    Ok(ChurnScore {
        customer: r.try_get(0)?,
        p_alive: r.try_get(1)?,
        expected_purchases: r.try_get(2)?,
        average_value: r.try_get(3)?,
        value_if_active: r.try_get(4)?,
        value_at_risk: r.try_get(5)?,
        frequency: r.try_get(6)?,
        recency: r.try_get(7)?,
        age: r.try_get(8)?,
        last_purchase_at: from_nanos(r.try_get(9)?),
        gone_quiet: r.try_get(10)?,
    })
}

#[async_trait]
impl Churn for PostgresStore {
    async fn save_churn(
        &self,
        fitted_at: Timestamp,
        model: serde_json::Value,
        scores: Vec<ChurnScore>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO churn_model (id, fitted_at, model) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET fitted_at = excluded.fitted_at, model = excluded.model",
        )
        .bind(nanos(fitted_at))
        .bind(model.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM churn_scores")
            .execute(&mut *tx)
            .await?;
        for chunk in scores.chunks(10_000) {
            let col = |f: &dyn Fn(&ChurnScore) -> f64| chunk.iter().map(f).collect::<Vec<_>>();
            let opt =
                |f: &dyn Fn(&ChurnScore) -> Option<f64>| chunk.iter().map(f).collect::<Vec<_>>();
            sqlx::query(&format!(
                "INSERT INTO churn_scores ({SCORE_COLUMNS})
                 SELECT * FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[],
                     $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::int8[], $11::bool[])"
            ))
            .bind(chunk.iter().map(|s| s.customer.clone()).collect::<Vec<_>>())
            .bind(col(&|s| s.p_alive))
            .bind(col(&|s| s.expected_purchases))
            .bind(opt(&|s| s.average_value))
            .bind(opt(&|s| s.value_if_active))
            .bind(opt(&|s| s.value_at_risk))
            .bind(col(&|s| s.frequency))
            .bind(col(&|s| s.recency))
            .bind(col(&|s| s.age))
            .bind(
                chunk
                    .iter()
                    .map(|s| nanos(s.last_purchase_at))
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|s| s.gone_quiet).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purchases(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<Purchases, StoreError> {
        // Streamed, grouped by buyer: each row becomes two columns' entries before the next is read.
        let mut rows = sqlx::query(
            "SELECT customer, at, properties FROM events WHERE type = ANY($1) AND at <= $2
             ORDER BY customer, at, id",
        )
        .bind(&kinds)
        .bind(nanos(until))
        .fetch(&self.pool);
        let mut purchases = Purchases::new();
        let mut buyer: Option<String> = None;
        let mut bought: Vec<(Timestamp, f64)> = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let customer: &str = r.try_get(0)?;
            if buyer.as_deref() != Some(customer) {
                if let Some(done) = buyer.replace(customer.to_owned()) {
                    purchases.push_buyer(done, bought.drain(..));
                }
            }
            let properties: Option<&str> = r.try_get(2)?;
            bought.push((from_nanos(r.try_get(1)?), purchase_value(properties)));
        }
        if let Some(done) = buyer {
            purchases.push_buyer(done, bought.drain(..));
        }
        Ok(purchases)
    }

    async fn stored_event_ids(&self, ids: Vec<String>) -> Result<Vec<bool>, StoreError> {
        let stored: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT id FROM events WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        Ok(ids.iter().map(|id| stored.contains(id)).collect())
    }

    async fn churn_model(&self) -> Result<Option<StoredChurnModel>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT fitted_at, model FROM churn_model WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
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
    }

    async fn churn_scores(
        &self,
        gone_quiet_only: bool,
        limit: usize,
    ) -> Result<Vec<ChurnScore>, StoreError> {
        let filter = if gone_quiet_only {
            "WHERE gone_quiet"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {SCORE_COLUMNS} FROM churn_scores {filter}
             ORDER BY value_at_risk DESC NULLS LAST, p_alive, customer LIMIT $1"
        ))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(score_from_row).collect::<Result<_, _>>()?)
    }

    async fn churn_score(&self, customer: &str) -> Result<Option<ChurnScore>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SCORE_COLUMNS} FROM churn_scores WHERE customer = $1"
        ))
        .bind(customer)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(score_from_row).transpose()?)
    }
}
