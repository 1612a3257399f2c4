//! What the churn models concluded: the latest fit and every buyer's score (probability still active,
//! expected purchases and value), so that queries, the API and the dashboard need not refit.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// One buyer as the latest fit sees them. Periods are the fit's unit (e.g. weeks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChurnScore {
    pub customer: String,
    /// Probability that the customer is still active (has not quietly left).
    pub p_alive: f64,
    /// Expected purchases in the fit's horizon (accounts for the chance they have left).
    pub expected_purchases: f64,
    /// Expected value of one purchase (Gamma-Gamma, or the customer's mean spend without a spend model).
    pub average_value: Option<f64>,
    /// What the horizon is worth if they are still active: what a win-back could recover.
    pub value_if_active: Option<f64>,
    /// `(1 − p_alive) × value_if_active`: the at-risk list is ordered by it.
    pub value_at_risk: Option<f64>,
    /// Repeat purchase occasions, time from first to last purchase, and age (first purchase to the fit).
    pub frequency: f64,
    pub recency: f64,
    pub age: f64,
    #[schema(value_type = String)]
    pub last_purchase_at: Timestamp,
    /// Below the probability threshold while worth enough: made invisible as "gone quiet".
    pub gone_quiet: bool,
}

/// The stored fit: when, and the model's own JSON (parameters, likelihood, unit, options).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChurnModel {
    pub fitted_at: Timestamp,
    pub model: serde_json::Value,
}

#[async_trait]
pub trait Churn {
    /// Every event of the given types at or before `until`, as purchases in columns grouped by buyer: each
    /// buyer's in time order, purchases at one instant in the order `ORDER BY at, id` gave them (SQLite: a
    /// type listed earlier first). Read into that lean form: the refit never holds an object per purchase.
    async fn purchases(
        &self,
        kinds: Vec<String>,
        until: Timestamp,
    ) -> Result<crate::churn::Purchases, StoreError>;
    /// Whether each of these event ids is stored (for any customer): a refit records only the gone-quiet
    /// events it has not recorded before, which ingestion would find to be duplicates anyway.
    async fn stored_event_ids(&self, ids: Vec<String>) -> Result<Vec<bool>, StoreError>;
    /// Replaces the stored fit and all scores in one transaction.
    async fn save_churn(
        &self,
        fitted_at: Timestamp,
        model: serde_json::Value,
        scores: Vec<ChurnScore>,
    ) -> Result<(), StoreError>;
    async fn churn_model(&self) -> Result<Option<StoredChurnModel>, StoreError>;
    /// Scores by value at risk, highest first (`gone_quiet_only`: only those flagged).
    async fn churn_scores(
        &self,
        gone_quiet_only: bool,
        limit: usize,
    ) -> Result<Vec<ChurnScore>, StoreError>;
    async fn churn_score(&self, customer: &str) -> Result<Option<ChurnScore>, StoreError>;
}
