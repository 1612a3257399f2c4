//! `GET /v1/retention`: customers by the month they joined and the share still active in each later month,
//! beside the churn model's mean P(alive) per cohort (the same table as `seen retention --format json`).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use jiff::Timestamp;

use super::queries::Params;
use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::service::cohorts::{Retention, RetentionError, RetentionQuery};

fn invalid(e: crate::domain::cohort::CohortError) -> ApiError {
    ApiError::bad_request("invalid_query", e.to_string())
}

/// Retention cohorts: customers grouped by the month (in the business's time zone) of their first purchase,
/// first visit or first event of a type; for each cohort, how many were active in month 0, 1, 2… since, and
/// the churn model's mean P(alive) of its scored buyers.
#[utoipa::path(get, path = "/v1/retention",
    params(
        ("by" = Option<String>, Query, description = "purchase (default; [churn] purchase_types), visit (visit.arrived), or an event type"),
        ("from" = Option<String>, Query, description = "First cohort: a month (2026-01), a day or an RFC 3339 time; default: eleven months before this one"),
        ("to" = Option<String>, Query, description = "Cohorts of the months starting before this (same forms; default now)"),
        ("active" = Option<String>, Query, description = "Comma-separated event types that count as activity; default every type but `not_active`"),
    ),
    responses((status = 200, body = Retention), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retention(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Retention>, ApiError> {
    let params = Params::from(query, &["by", "from", "to", "active"])?;
    let get = |name: &str| params.0.get(name).map(String::as_str);
    let now = Timestamp::now();
    let settings = &state.cohorts;
    let query = RetentionQuery::parse(
        &settings.zone,
        get("by"),
        get("from"),
        get("to"),
        get("active"),
        now,
    )
    .map_err(invalid)?;
    match state.service.retention(settings, &query, now).await {
        Ok(report) => Ok(Json(report)),
        Err(RetentionError::Invalid(e)) => Err(invalid(e)),
        Err(RetentionError::Store(e)) => Err(e.into()),
    }
}
