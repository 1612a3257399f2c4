//! API keys: `Authorization: Bearer KEY`. Keys are random, shown once, and stored only as SHA-256 hashes.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;

pub fn new_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("seen_{}", hex::encode(bytes))
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub async fn require_key(
    State(state): State<AppState>,
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
    match state.service.store.find_api_key(&hash_key(key)).await? {
        Some(name) => {
            tracing::Span::current().record("key", name.as_str());
            Ok(next.run(request).await)
        }
        None => Err(ApiError::unauthorized("unknown or revoked API key")),
    }
}
