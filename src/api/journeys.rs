//! `GET /v1/journeys` (the definitions) and `GET /v1/journeys/{name}` (one journey's report per step, the
//! same JSON as `seen journeys report --format json`).

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use jiff::Timestamp;

use super::queries::Params;
use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::domain::event::{identifier, parse_timestamp};
use crate::domain::journey::{Journey, Report};
use crate::service::journeys::{JourneyError, Period};

/// The journeys defined (`[[journeys]]`), with their steps; spans in seconds.
#[utoipa::path(get, path = "/v1/journeys",
    responses((status = 200, body = Vec<Journey>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<Journey>> {
    Json(state.service.journeys().to_vec())
}

/// One journey over the journeys entered in `[from, to)`, seeing the events up to `as_of`: per step
/// reached, conversion, p50/p90 time from the previous step, time share, completion if slow or fast,
/// breaches, nudges and unhappy answers; and who is stuck.
#[utoipa::path(get, path = "/v1/journeys/{name}",
    params(
        ("name" = String, Path, description = "The journey's name"),
        ("from" = Option<String>, Query, description = "RFC 3339: journeys entered at or after; default the first"),
        ("to" = Option<String>, Query, description = "RFC 3339: journeys entered before; default as_of"),
        ("as_of" = Option<String>, Query, description = "RFC 3339; default now"),
    ),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody, description = "A parameter that is not valid (named)"),
        (status = 404, body = ErrorBody, description = "No journey of that name"), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let Path(name) = path.map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
    let name = identifier("name", &name)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()))?;
    let params = Params::from(query, &["from", "to", "as_of"])?;
    let time = |field: &str| -> Result<Option<Timestamp>, ApiError> {
        params
            .0
            .get(field)
            .map(|text| {
                parse_timestamp(field, text)
                    .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
            })
            .transpose()
    };
    let period = Period {
        from: time("from")?,
        to: time("to")?,
        as_of: params.as_of()?,
    };
    match state.service.journey_report(&name, period).await {
        Ok(report) => Ok(Json(report)),
        Err(JourneyError::Unknown(name)) => {
            Err(ApiError::not_found(format!("no journey {name:?}")))
        }
        Err(e @ JourneyError::EmptyPeriod { .. }) => {
            Err(ApiError::bad_request("invalid_query", e.to_string()))
        }
        Err(JourneyError::Store(e)) => Err(e.into()),
    }
}
