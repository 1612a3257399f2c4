//! API keys: `Authorization: Bearer KEY`. Keys are random, shown once, and stored only as SHA-256 hashes
//! (`secrets`); the service looks a presented key up.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::ApiState;
use crate::app::error::ApiError;

pub async fn require_key(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::unauthorized("send an API key as `Authorization: Bearer KEY` (create one with `seen keys create NAME`)"))?;
    match state.service.api_key_name(key).await? {
        Some(name) => {
            tracing::Span::current().record("key", name.as_str());
            Ok(next.run(request).await)
        }
        None => Err(ApiError::unauthorized("unknown or revoked API key")),
    }
}
