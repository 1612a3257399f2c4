//! The customer's own status page (`/c/{token}`) and "Nobody got back to me". No login: the link is the
//! key (signed, expiring, revocable; `service::status` checks it). No `GET` or `HEAD` records anything —
//! mail scanners open every link — so the message footer's "nobody got back to me" link shows a one-tap
//! confirmation whose button `POST`s, and only the `POST` records `customer.feels_ignored`.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use jiff::Timestamp;
use minijinja::{context, Environment};
use serde::Deserialize;

use super::ApiState;
use crate::app::error::ApiError;
use crate::config::customer_page::CustomerPage;
use crate::domain::{Event, ProfileUpdate};
use crate::secrets::{StatusLink, StatusLinkError};
use crate::service::status::{feels_ignored_is_new, FEELS_IGNORED};
use crate::store::short_hash;

/// Longest comment kept.
const MAX_COMMENT: usize = 4_000;

/// What the customer pages need besides the service.
#[derive(Clone)]
pub struct PageSettings {
    pub business: String,
    /// Customers without a zone of their own see times in this one (`[actions] timezone`).
    pub zone: String,
    pub customer_page: Arc<CustomerPage>,
}

/// No script, this origin's stylesheet only, forms only to this origin, never framed; the token is in the
/// URL, so no referrer and no caching.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in [
            ("status.html", include_str!("pages/status.html")),
            ("page.html", include_str!("pages/page.html")),
            ("message.html", include_str!("pages/message.html")),
            ("kiosk.html", include_str!("pages/kiosk.html")),
            ("visit.html", include_str!("pages/visit.html")),
            ("visit_now.html", include_str!("pages/visit_now.html")),
            ("display.html", include_str!("pages/display.html")),
            ("display_now.html", include_str!("pages/display_now.html")),
        ] {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(error = %err, template = name, "customer page template");
            }
        }
        env
    })
}

fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    render_with(status, name, ctx, CONTENT_SECURITY_POLICY)
}

/// A page's (or a live fragment's) HTML.
pub(super) fn html(name: &str, ctx: minijinja::Value) -> String {
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, template = name, "rendering a customer page");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_string()
        })
}

/// A customer page under `csp` (the live front-desk pages allow this origin's script).
pub(super) fn render_with(
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
    csp: &'static str,
) -> Response {
    let mut response = (status, Html(html(name, ctx))).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

/// A page of a few paragraphs (errors, thanks), optionally with the confirm or comment form.
pub(super) fn message(
    state: &ApiState,
    status: StatusCode,
    title: &str,
    paragraphs: &[&str],
    form: Option<(&str, &str)>,
) -> Response {
    let (token, kind) = form.unwrap_or(("", ""));
    render(
        status,
        "message.html",
        context! {
            business => state.pages.business,
            title,
            paragraphs,
            token,
            confirm => kind.starts_with("confirm"),
            via => kind.strip_prefix("confirm:").unwrap_or(""),
            comment => kind == "comment",
            max_comment => MAX_COMMENT,
        },
    )
}

/// A link that shows nothing: the same answer whether it was tampered with, signed by a retired key, revoked
/// or names a customer we do not know, so a guess learns nothing.
pub(super) fn not_valid(state: &ApiState) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "This link is not valid",
        &["It may have been copied incompletely, or replaced by a newer one. Please use the link in the \
           latest message we sent you, or reply to that message."],
        None,
    )
}

/// The verified link, or the page to show instead (nothing recorded).
pub(super) async fn checked(state: &ApiState, token: &str) -> Result<StatusLink, Response> {
    match state.service.check_status_link(token, Timestamp::now()).await {
        Ok(Ok(link)) => Ok(link),
        Ok(Err(StatusLinkError::Expired(at))) => Err(message(
            state,
            StatusCode::GONE,
            "This link has expired",
            &[&format!(
                "It worked until {}. The latest message we sent you has a fresh one; or just reply to it.",
                at.strftime("%-d %B %Y")
            )],
            None,
        )),
        Ok(Err(StatusLinkError::Invalid | StatusLinkError::Revoked)) => Err(not_valid(state)),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

/// `GET /c/{token}` (and `HEAD`): the customer's promises. Reads only.
pub async fn page(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let link = match checked(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let now = Timestamp::now();
    let shown = state
        .service
        .status_page(&link, &state.pages.customer_page, &state.pages.zone, now)
        .await;
    let page = match shown {
        Ok(Some((_, page))) => page,
        Ok(None) => return not_valid(&state),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let (kept, open): (Vec<_>, Vec<_>) = page
        .items
        .iter()
        .partition(|i| i.state == crate::words::PromiseState::Kept);
    render(
        StatusCode::OK,
        "page.html",
        context! {
            business => state.pages.business,
            title => "What we promised you",
            zone => page.zone,
            page,
            open,
            kept,
            token,
        },
    )
}

/// `GET /c/{token}/ignored` (the link at the foot of every message): a one-tap confirmation; records nothing.
pub async fn confirm_ignored(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    if let Err(page) = checked(&state, &token).await {
        return page;
    }
    message(
        &state,
        StatusCode::OK,
        "Nobody got back to you?",
        &["We are sorry. Tell us with one tap: a manager hears about it at once and will reach out to you."],
        Some((&token, "confirm:message_link")),
    )
}

#[derive(Debug, Deserialize)]
pub struct IgnoredForm {
    #[serde(default)]
    via: String,
}

/// `POST /c/{token}/ignored`: records `customer.feels_ignored` (at most once per `feels_ignored_every`),
/// which opens the `heard` promise and alerts the managers; then offers a comment box.
pub async fn record_ignored(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    Form(form): Form<IgnoredForm>,
) -> Response {
    let link = match checked(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let via = match form.via.as_str() {
        "status_page" | "message_link" => form.via.as_str(),
        _ => "status_page",
    };
    let now = Timestamp::now();
    let every = state.pages.customer_page.feels_ignored_every;
    let last = match state.service.last_feels_ignored(&link.customer).await {
        Ok(last) => last,
        Err(err) => return ApiError::from(err).into_response(),
    };
    if !feels_ignored_is_new(last.as_ref().map(|e| e.at), now, every) {
        return message(
            &state,
            StatusCode::OK,
            "We already know",
            &["You told us a moment ago, and a manager has been told. They will reach out to you."],
            Some((&token, "comment")),
        );
    }
    // One id per customer and span: two taps racing each other store one event.
    let bucket = now.as_second() / every.as_secs().max(1);
    let event = Event {
        id: format!("feels-ignored-{}-{bucket}", short_hash(&link.customer)),
        kind: FEELS_IGNORED.into(),
        customer: link.customer.clone(),
        at: now,
        channel: Some("web".into()),
        reference: None,
        properties: Some(serde_json::json!({ "via": via }).to_string()),
        profile: ProfileUpdate::default(),
    };
    if let Err(err) = state.service.ingest(vec![event]).await {
        return ApiError::from(err).into_response();
    }
    state.ingested.ingested();
    tracing::info!(customer = %link.customer, via, "customer says nobody got back to them");
    message(
        &state,
        StatusCode::OK,
        "Thank you for telling us",
        &[
            "We are sorry we left you waiting. A manager has been told and will reach out to you within \
             one business hour.",
        ],
        Some((&token, "comment")),
    )
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    comment: String,
}

/// `POST /c/{token}/comment`: the optional words after "Nobody got back to me" (`customer.comment`).
pub async fn comment(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    let link = match checked(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let text: String = form
        .comment
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(MAX_COMMENT)
        .collect();
    if !text.is_empty() {
        let event = Event {
            id: format!(
                "comment-{}-{}",
                short_hash(&link.customer),
                short_hash(&text)
            ),
            kind: "customer.comment".into(),
            customer: link.customer.clone(),
            at: Timestamp::now(),
            channel: Some("web".into()),
            reference: None,
            properties: Some(
                serde_json::json!({ "about": "feels_ignored", "comment": text }).to_string(),
            ),
            profile: ProfileUpdate::default(),
        };
        if let Err(err) = state.service.ingest(vec![event]).await {
            return ApiError::from(err).into_response();
        }
        state.ingested.ingested();
    }
    message(
        &state,
        StatusCode::OK,
        "Thank you",
        &["We read every word. A manager will reach out to you."],
        Some((&token, "")),
    )
}

/// The page's stylesheet (cacheable: it holds nothing personal).
pub async fn stylesheet() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("pages/status.css"),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
