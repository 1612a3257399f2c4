//! `POST /v1/events`: one event or an array; each item accepted, duplicate or rejected with the reason.
//! The valid items of a batch are stored even when others are rejected.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::domain::event::parse_event_json;
use crate::ingest::new_event_id;
use crate::store::Ingested;

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub accepted: u64,
    /// Ids already stored for the same customer (retries): nothing changed.
    pub duplicates: u64,
    /// Ids already stored for another customer: nothing was stored or created.
    pub conflicts: u64,
    pub rejected: u64,
    /// One entry per item, in the order sent.
    pub results: Vec<ItemResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    /// The event's id (minted when none was sent); absent for rejected items without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `accepted`, `duplicate`, `conflict` or `rejected`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a body is not one event or an array of them (a 400 `invalid_json`).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("send one event as a JSON object, or an array of them")]
    NotObjectOrArray,
    #[error("{0}")]
    InvalidJson(#[from] serde_json::Error),
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> ApiError {
        ApiError::bad_request("invalid_json", err.to_string())
    }
}

/// The items of a `POST /v1/events` body: `[` starts an array of raw items, `{` one item; anything else
/// is refused before any parsing. Each item is parsed and validated on its own afterwards, so one bad
/// item never stops the others. (The `event` fuzz target calls this too.)
pub fn split_body(text: &str) -> Result<Vec<&RawValue>, BodyError> {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => Ok(serde_json::from_str(text)?),
        Some(b'{') => Ok(vec![serde_json::from_str(text)?]),
        _ => Err(BodyError::NotObjectOrArray),
    }
}

/// Ingest one event (a JSON object) or a batch (an array of up to `max_batch` objects).
#[utoipa::path(
    post, path = "/v1/events",
    request_body(content = serde_json::Value, description = "An event object or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "Per-item results; at least one item was valid", body = IngestResponse),
        (status = 409, description = "No item was stored: each was rejected or its id is already stored for another customer", body = IngestResponse),
        (status = 422, description = "Every item was rejected", body = IngestResponse),
        (status = 400, description = "Not JSON, or not an object or array", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 413, description = "Body or batch too large", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post_events(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body exceeds {} bytes", state.server.max_body_bytes),
            )
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_utf8", "the body is not UTF-8"))?;
    let items = split_body(text)?;
    if items.len() > state.server.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} events in one batch; the limit is {}",
                items.len(),
                state.server.max_batch
            ),
        ));
    }
    let now = Timestamp::now();
    let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    let mut positions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match parse_event_json(item.get())
            .and_then(|input| input.validate(now, &mut new_event_id))
            .and_then(|event| state.service.check_event(&event).map(|()| event))
        {
            Ok(event) => {
                positions.push(index);
                results.push(ItemResult {
                    index,
                    id: Some(event.id.clone()),
                    status: "accepted",
                    field: None,
                    error: None,
                });
                events.push(event);
            }
            Err(error) => results.push(ItemResult {
                index,
                id: None,
                status: "rejected",
                field: Some(error.field.clone()),
                error: Some(error.to_string()),
            }),
        }
    }
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        state.service.ingest(events).await?
    };
    for (position, outcome) in positions.into_iter().zip(outcomes) {
        let result = &mut results[position];
        match outcome {
            Ingested::Accepted => {}
            Ingested::Duplicate => result.status = "duplicate",
            Ingested::Conflict => {
                result.status = "conflict";
                result.field = Some("id".into());
                result.error = Some(format!(
                    "id {:?} is already stored for another customer; nothing was stored",
                    result.id.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    state.ingested.ingested();
    let count = |status: &str| results.iter().filter(|r| r.status == status).count() as u64;
    let response = IngestResponse {
        accepted: count("accepted"),
        duplicates: count("duplicate"),
        conflicts: count("conflict"),
        rejected: count("rejected"),
        results,
    };
    crate::metrics::events_ingested(response.accepted, response.duplicates, response.rejected);
    let items = response.results.len() as u64;
    let status = if items > 0 && response.rejected == items {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if response.rejected + response.conflicts == items {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}
