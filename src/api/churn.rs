//! What the churn model says: buyers at risk of having quietly left, and the model itself.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::queries::Params;
use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::store::ChurnScore;

#[derive(Debug, Serialize, ToSchema)]
pub struct AtRiskResponse {
    /// When the scores were computed (`seen churn fit`, or `seen serve`'s refit schedule).
    #[schema(value_type = String, format = DateTime)]
    pub fitted_at: Timestamp,
    /// False when the last fit flags nobody (see `unusable_because`): the scores are then for reading only.
    pub usable: bool,
    pub unusable_because: Vec<String>,
    pub customers: Vec<ChurnScore>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelResponse {
    #[schema(value_type = String, format = DateTime)]
    pub fitted_at: Timestamp,
    /// `{ model: { kind, params, log_likelihood, customers, iterations, converged, period }, spend, settings,
    /// purchases, usable, unusable_because, data_ends, typical_gap_days }`. A fit with `usable: false` (it
    /// did not converge, or the data ended long before the fit) flags nobody; `unusable_because` says why.
    #[schema(value_type = Object)]
    pub model: serde_json::Value,
}

/// A stored fit's verdict; fits stored before the check existed count as usable.
fn usability(stored: &serde_json::Value) -> (bool, Vec<String>) {
    let reasons: Vec<String> = stored["unusable_because"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (
        stored["usable"].as_bool().unwrap_or(reasons.is_empty()),
        reasons,
    )
}

fn no_model() -> ApiError {
    ApiError::not_found("no churn model yet: run `seen churn fit` (or wait for seen serve's refit)")
}

/// Buyers most at risk of having quietly stopped buying, by value at risk (highest first). By default only
/// those flagged as gone quiet; `all=true` lists every scored buyer.
#[utoipa::path(get, path = "/v1/churn/at-risk",
    params(
        ("top" = Option<usize>, Query, description = "How many (default 100, at most 10 000)"),
        ("all" = Option<bool>, Query, description = "Every scored buyer, not only those gone quiet"),
    ),
    responses((status = 200, body = AtRiskResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No model fitted yet")),
    security(("bearer" = [])))]
pub async fn at_risk(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<AtRiskResponse>, ApiError> {
    let params = Params::from(query, &["top", "all"])?;
    let top = match params.0.get("top") {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_request("invalid_query", "top must be 1 to 10000"))?,
    };
    let all = match params.0.get("all").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("all {other:?}: expected true or false"),
            ))
        }
    };
    let model = state.service.churn_model().await?.ok_or_else(no_model)?;
    let customers = state.service.churn_scores(!all, top).await?;
    let (usable, unusable_because) = usability(&model.model);
    Ok(Json(AtRiskResponse {
        fitted_at: model.fitted_at,
        usable,
        unusable_because,
        customers,
    }))
}

/// The stored churn model: kind, parameters, log-likelihood, period unit and settings.
#[utoipa::path(get, path = "/v1/churn/model",
    responses((status = 200, body = ModelResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No model fitted yet")),
    security(("bearer" = [])))]
pub async fn model(State(state): State<ApiState>) -> Result<Json<ModelResponse>, ApiError> {
    let stored = state.service.churn_model().await?.ok_or_else(no_model)?;
    Ok(Json(ModelResponse {
        fitted_at: stored.fitted_at,
        model: stored.model,
    }))
}
