//! The read routes. Every one takes `as_of` (RFC 3339; default now).

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::domain::event::{identifier, parse_timestamp};
use crate::domain::Status;
use crate::service::{CustomerView, InvisibleView, ObligationView, Summary};
use crate::store::ObligationFilter;

const DEFAULT_LIMIT: usize = 1_000;
const MAX_LIMIT: usize = 100_000;

/// Query parameters, checked: unknown names are an error rather than silently ignored.
pub(super) struct Params(pub(super) HashMap<String, String>);

impl Params {
    pub(super) fn from(
        query: Result<Query<HashMap<String, String>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Params, ApiError> {
        let Query(map) =
            query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown parameter {unknown:?} (allowed: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Params(map))
    }

    pub(super) fn as_of(&self) -> Result<Timestamp, ApiError> {
        match self.0.get("as_of") {
            None => Ok(Timestamp::now()),
            Some(text) => parse_timestamp("as_of", text)
                .map_err(|e| ApiError::bad_request("invalid_query", e.to_string())),
        }
    }

    pub(super) fn limit(&self) -> Result<usize, ApiError> {
        match self.0.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("limit must be 1 to {MAX_LIMIT}"),
                    )
                }),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// An id-like parameter (`customer`, `policy`), checked as ids are everywhere; empty means absent.
    pub(super) fn identifier(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|value| {
                identifier(name, &value)
                    .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
            })
            .transpose()
    }
}

/// A customer id from the URL path, checked as ids are everywhere.
pub(super) fn path_identifier(
    path: Result<Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
    identifier("id", &id).map_err(|e| ApiError::bad_request("invalid_path", e.to_string()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvisibleResponse {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// How many customers are invisible (the list may be cut at `limit`).
    pub total: usize,
    pub invisible: Vec<InvisibleView>,
}

/// Invisible customers as of a moment, longest wait first, each with the reasons.
#[utoipa::path(get, path = "/v1/invisible",
    params(("as_of" = Option<String>, Query, description = "RFC 3339; default now"), ("limit" = Option<usize>, Query, description = "default 1000")),
    responses((status = 200, body = InvisibleResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn invisible(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<InvisibleResponse>, ApiError> {
    let params = Params::from(query, &["as_of", "limit"])?;
    let as_of = params.as_of()?;
    let (total, invisible) = state
        .service
        .invisible_first(as_of, params.limit()?)
        .await?;
    Ok(Json(InvisibleResponse {
        as_of,
        total,
        invisible,
    }))
}

/// One customer: profile, timeline and obligations.
#[utoipa::path(get, path = "/v1/customers/{id}",
    params(("id" = String, Path, description = "The customer's id"), ("as_of" = Option<String>, Query, description = "RFC 3339; default now")),
    responses((status = 200, body = CustomerView), (status = 400, body = ErrorBody, description = "An id or as_of that is not valid"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn customer(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<CustomerView>, ApiError> {
    let id = path_identifier(path)?;
    let params = Params::from(query, &["as_of"])?;
    match state.service.customer(&id, params.as_of()?).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::not_found(format!("no customer {id:?}"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObligationsResponse {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// True when more obligations matched than `limit`.
    pub truncated: bool,
    pub obligations: Vec<ObligationView>,
}

/// Obligations with their status, filtered.
#[utoipa::path(get, path = "/v1/obligations",
    params(
        ("status" = Option<String>, Query, description = "open, kept, kept_late, cancelled or breached"),
        ("policy" = Option<String>, Query), ("customer" = Option<String>, Query),
        ("as_of" = Option<String>, Query, description = "RFC 3339; default now"),
        ("limit" = Option<usize>, Query, description = "default 1000, at most 100000")),
    responses((status = 200, body = ObligationsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn obligations(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<ObligationsResponse>, ApiError> {
    let params = Params::from(query, &["status", "policy", "customer", "as_of", "limit"])?;
    let as_of = params.as_of()?;
    let limit = params.limit()?;
    let status = match params.get("status") {
        None => None,
        Some(text) => Some(Status::parse(&text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("status {text:?}: expected open, kept, kept_late, cancelled or breached"),
            )
        })?),
    };
    let filter = ObligationFilter {
        policy: params.identifier("policy")?,
        customer: params.identifier("customer")?,
        ..Default::default()
    };
    let mut obligations = Vec::new();
    let mut truncated = false;
    state
        .service
        .for_each_obligation(filter, status, as_of, |o| {
            if obligations.len() == limit {
                truncated = true;
                return false;
            }
            obligations.push(o);
            true
        })
        .await?;
    Ok(Json(ObligationsResponse {
        as_of,
        truncated,
        obligations,
    }))
}

/// Invisible now, kept-rate per policy, reply time p50/p90.
#[utoipa::path(get, path = "/v1/summary",
    params(("as_of" = Option<String>, Query, description = "RFC 3339; default now")),
    responses((status = 200, body = Summary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let params = Params::from(query, &["as_of"])?;
    Ok(Json(state.service.summary(params.as_of()?).await?))
}
