//! The outbox (what Seen sent, will send, or did not send, and why) and one-click unsubscribe links.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::queries::Params;
use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::domain::event::plain_text;
use crate::secrets::verify_unsubscribe_token;
use crate::store::{OutboxFilter, OutboxRow, OutboxStatus, Suppression};

/// Longest paging key `after` (an outbox key joins policy, customer, trigger event, action and recipient).
pub(super) const MAX_OUTBOX_KEY: usize = 2_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxPage {
    pub messages: Vec<OutboxRow>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Messages Seen queued: sent, waiting (and why: quiet hours, retry), or not sent (and why).
#[utoipa::path(get, path = "/v1/outbox",
    params(
        ("customer" = Option<String>, Query, description = "Only this customer's messages"),
        ("status" = Option<String>, Query, description = "pending, sending, sent, skipped, suppressed, capped, failed or dead"),
        ("limit" = Option<usize>, Query, description = "At most this many (default 1000)"),
        ("after" = Option<String>, Query, description = "Resume after this key (`next` of the previous page)"),
    ),
    responses((status = 200, body = OutboxPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn outbox(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<OutboxPage>, ApiError> {
    let params = Params::from(query, &["customer", "status", "limit", "after"])?;
    let status = match params.0.get("status") {
        None => None,
        Some(text) => Some(OutboxStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!(
                    "status {text:?}: expected one of {}",
                    OutboxStatus::ALL.map(OutboxStatus::as_str).join(", ")
                ),
            )
        })?),
    };
    let limit = params.limit()?;
    let after = params
        .0
        .get("after")
        .map(|key| {
            plain_text("after", key, MAX_OUTBOX_KEY)
                .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
        })
        .transpose()?;
    let messages = state
        .service
        .outbox(OutboxFilter {
            customer: params.identifier("customer")?,
            status,
            after,
            limit: Some(limit),
        })
        .await?;
    let next = (messages.len() == limit)
        .then(|| messages.last().map(|m| m.item.key.clone()))
        .flatten();
    Ok(Json(OutboxPage { messages, next }))
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head><body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem\">\
         <h1 style=\"font-size: 1.4rem\">{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

/// The customer a link's token stands for, if it is genuine.
fn customer_of(state: &ApiState, token: &str) -> Option<String> {
    verify_unsubscribe_token(state.link_secret.as_deref()?, token)
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "<p>It may have been copied incompletely. Use the link in the email you received.</p>",
    )
}

/// The unsubscribe page: a button, so that mail scanners following links do not unsubscribe anyone.
pub async fn unsubscribe_page(
    State(state): State<ApiState>,
    Path(token): Path<String>,
) -> Response {
    if customer_of(&state, &token).is_none() {
        return invalid_link();
    }
    page(
        StatusCode::OK,
        "Unsubscribe",
        "<p>Stop reminders and other optional messages? You will still get confirmations of what you \
         book or order.</p><form method=\"post\"><button type=\"submit\" style=\"font-size: 1rem; padding: .5rem 1rem\">\
         Unsubscribe</button></form>",
    )
}

/// One-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`, and the page's button).
pub async fn unsubscribe(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let Some(customer) = customer_of(&state, &token) else {
        return invalid_link();
    };
    let result = state
        .service
        .suppress(Suppression {
            target: customer.clone(),
            reason: "unsubscribed".into(),
            detail: Some("one-click link".into()),
            at: Timestamp::now(),
        })
        .await;
    match result {
        Ok(()) => {
            tracing::info!(customer = %customer, "unsubscribed");
            page(
                StatusCode::OK,
                "You are unsubscribed",
                "<p>We will not send you optional messages any more. Confirmations of what you book or \
                 order still reach you.</p>",
            )
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}
