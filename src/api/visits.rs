//! The front desk's public pages: the check-in kiosk (`/visit/{location}`, also the QR code's target), a
//! visitor's own place in the queue (`/c/{token}/visit/{ref}`, behind their status link), the waiting-room
//! display (`/visit/{location}/display`, first names only), each live through Server-Sent Events; and
//! `GET /v1/visits/summary` (bearer key). No `GET` changes anything: only the kiosk's `POST` checks in.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use jiff::{SignedDuration, Timestamp};
use minijinja::context;
use serde::Deserialize;

use super::queries::Params;
use super::status::{checked, html, message, not_valid, render_with};
use super::ApiState;
use crate::app::error::ApiError;
use crate::domain::visit::State as VisitState;
use crate::secrets::VisitLink;
use crate::service::visits::{group_by, range_words, CheckIn, VisitError, VisitsReport};

/// The live pages run this origin's script (`/visit/live.js`) and read its event streams; nothing else.
const LIVE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// How long a visitor's link works after check-in.
const VISIT_LINK_FOR: SignedDuration = SignedDuration::from_hours(24);

fn page(name: &str, ctx: minijinja::Value) -> Response {
    render_with(StatusCode::OK, name, ctx, LIVE_CSP)
}

/// `GET /visit/live.js`.
pub async fn script() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::app::live::SCRIPT,
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

fn unknown_location(state: &ApiState) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "This check-in link is not in use",
        &["Please ask at the desk."],
        None,
    )
}

/// `GET /visit/{location}`: the kiosk's form (also where the printed QR code leads).
pub async fn kiosk(State(state): State<ApiState>, Path(location): Path<String>) -> Response {
    kiosk_page(&state, &location, None, StatusCode::OK)
}

fn kiosk_page(
    state: &ApiState,
    location: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let desk = state.service.desk();
    let Some(l) = desk.visits.location(location) else {
        return unknown_location(state);
    };
    let types: Vec<_> = desk
        .visits
        .types
        .iter()
        .filter(|t| !desk.visits.counters_for(&l.name, &t.name).is_empty())
        .map(|t| context! { name => t.name, label => t.label })
        .collect();
    render_with(
        status,
        "kiosk.html",
        context! {
            business => state.pages.business,
            title => format!("Check in · {}", l.label),
            zone => state.pages.zone,
            location => l.name,
            location_label => l.label,
            types,
            error,
        },
        LIVE_CSP,
    )
}

#[derive(Debug, Deserialize)]
pub struct CheckInForm {
    #[serde(default)]
    visit_type: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `POST /visit/{location}`: joins the queue, then shows the visitor their own page.
pub async fn check_in(
    State(state): State<ApiState>,
    Path(location): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CheckInForm>,
) -> Response {
    // A form posted from another site is not a visitor at our kiosk.
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return message(
            &state,
            StatusCode::FORBIDDEN,
            "Please check in on our own page",
            &["Scan the code at the desk, or ask a member of staff."],
            None,
        );
    }
    if state.service.desk().visits.location(&location).is_none() {
        return unknown_location(&state);
    }
    let email = optional(&form.email);
    let request = CheckIn {
        location: location.clone(),
        visit_type: form.visit_type.trim().to_string(),
        first_name: form.first_name,
        email,
        phone: optional(&form.phone),
        by: None,
    };
    let now = Timestamp::now();
    let checked_in = match state.service.check_in(request, now).await {
        Ok(c) => c,
        Err(VisitError::Store(e)) => return ApiError::from(e).into_response(),
        // The field at fault, an unknown location or type, or the desk turned off: said on the form.
        Err(e) => {
            return kiosk_page(
                &state,
                &location,
                Some(&e.to_string()),
                StatusCode::BAD_REQUEST,
            )
        }
    };
    // A link to this visit only: whoever stands at the kiosk may have typed someone else's email.
    let token = match state
        .service
        .mint_visit_token(
            &checked_in.customer,
            &checked_in.reference,
            VISIT_LINK_FOR,
            now,
        )
        .await
    {
        Ok(token) => token,
        Err(e) => return ApiError::from(e).into_response(),
    };
    Redirect::to(&format!("/v/{token}")).into_response()
}

/// The visitor's fragment now; `None` when the visit is not theirs (or gone from the board's window).
async fn visit_now(state: &ApiState, customer: &str, reference: &str) -> Option<String> {
    let now = Timestamp::now();
    let status = state
        .service
        .visit_status(customer, reference, now)
        .await
        .ok()??;
    let range = status.estimate.as_ref().map(range_words);
    Some(html(
        "visit_now.html",
        context! {
            visit => status,
            state => status.state.as_str(),
            range,
            waiting => status.state == VisitState::Waiting,
        },
    ))
}

/// `GET /c/{token}/visit/{ref}`: where they are in the queue, live.
pub async fn visit_page(
    State(state): State<ApiState>,
    Path((token, reference)): Path<(String, String)>,
) -> Response {
    let link = match checked(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let live = format!("/c/{token}/visit/{reference}/events");
    visit_page_of(&state, &link.customer, &reference, live, Some(token)).await
}

/// The verified visit link, or the page to show instead (as `status::checked` for status links).
async fn visit_link(state: &ApiState, token: &str) -> Result<VisitLink, Response> {
    match state
        .service
        .check_visit_link(token, Timestamp::now())
        .await
    {
        Ok(Some(link)) => Ok(link),
        Ok(None) => Err(not_valid(state)),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// `GET /v/{token}`: the page a kiosk check-in lands on (this visit only).
pub async fn own_visit_page(State(state): State<ApiState>, Path(token): Path<String>) -> Response {
    let link = match visit_link(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let live = format!("/v/{token}/events");
    visit_page_of(&state, &link.customer, &link.reference, live, None).await
}

/// `status`: the customer's status token, when they came through it (their page links back to it).
async fn visit_page_of(
    state: &ApiState,
    customer: &str,
    reference: &str,
    live: String,
    status: Option<String>,
) -> Response {
    let Some(now_html) = visit_now(state, customer, reference).await else {
        return not_valid(state);
    };
    page(
        "visit.html",
        context! {
            business => state.pages.business,
            title => "Your place in the queue",
            zone => state.pages.zone,
            status,
            live,
            now_html,
        },
    )
}

/// `GET /v/{token}/events`.
pub async fn own_visit_events(
    State(state): State<ApiState>,
    Path(token): Path<String>,
) -> Response {
    let link = match visit_link(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let changed = state.service.visits_changed();
    crate::app::live::updates(changed, move || {
        let (state, customer, reference) =
            (state.clone(), link.customer.clone(), link.reference.clone());
        async move { visit_now(&state, &customer, &reference).await }
    })
    .into_response()
}

/// `GET /c/{token}/visit/{ref}/events`: the same fragment, each time it changes.
pub async fn visit_events(
    State(state): State<ApiState>,
    Path((token, reference)): Path<(String, String)>,
) -> Response {
    let link = match checked(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let changed = state.service.visits_changed();
    let customer = link.customer;
    crate::app::live::updates(changed, move || {
        let (state, customer, reference) = (state.clone(), customer.clone(), reference.clone());
        async move { visit_now(&state, &customer, &reference).await }
    })
    .into_response()
}

/// The display's fragment now: called visitors with their counter, the next few, each type's wait.
async fn display_now(state: &ApiState, location: &str) -> Option<String> {
    let now = Timestamp::now();
    let board = state.service.shared_board(location, now).await.ok()??;
    let called: Vec<_> = board
        .serving
        .iter()
        .filter(|r| matches!(r.state, VisitState::Called | VisitState::Serving))
        .map(|r| context! { name => r.first_name, counter => r.counter, label => r.type_label, called => r.state == VisitState::Called })
        .collect();
    let next: Vec<_> = board
        .waiting
        .iter()
        .take(8)
        .map(|r| context! { name => r.first_name, label => r.type_label })
        .collect();
    let types: Vec<_> = board
        .types
        .iter()
        .map(|t| context! { label => t.label, waiting => t.waiting, range => range_words(&t.estimate) })
        .collect();
    Some(html(
        "display_now.html",
        context! { called, next, types, label => board.label },
    ))
}

/// `GET /visit/{location}/display`: for a screen in the waiting area.
pub async fn display(State(state): State<ApiState>, Path(location): Path<String>) -> Response {
    let Some(l) = state.service.desk().visits.location(&location).cloned() else {
        return unknown_location(&state);
    };
    let Some(now_html) = display_now(&state, &l.name).await else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the queue could not be read",
        )
        .into_response();
    };
    page(
        "display.html",
        context! {
            business => state.pages.business,
            title => format!("Now serving · {}", l.label),
            zone => state.pages.zone,
            location => l.name,
            now_html,
        },
    )
}

/// `GET /visit/{location}/display/events`.
pub async fn display_events(
    State(state): State<ApiState>,
    Path(location): Path<String>,
) -> Response {
    if state.service.desk().visits.location(&location).is_none() {
        return unknown_location(&state);
    }
    let changed = state.service.visits_changed();
    crate::app::live::updates(changed, move || {
        let (state, location) = (state.clone(), location.clone());
        async move { display_now(&state, &location).await }
    })
    .into_response()
}

/// The front desk's figures for a period: waits and service times (p50/p90), share over the target,
/// abandonment, no-shows, transfers, visits per hour, per staff member the visits served and time serving;
/// the quoted estimates' accuracy; and a weekday × hour heatmap of waits.
#[utoipa::path(get, path = "/v1/visits/summary",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339: visits queued at or after; default 30 days before `to` (at or after `to`: an empty period)"),
        ("to" = Option<String>, Query, description = "RFC 3339: visits queued before; default now"),
        ("by" = Option<String>, Query, description = "type (default), location, staff or hour"),
    ),
    responses((status = 200, description = "Figures per group", body = serde_json::Value),
              (status = 400, description = "A bad parameter", body = crate::app::error::ErrorBody),
              (status = 401, description = "No valid API key", body = crate::app::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<VisitsReport>, ApiError> {
    let params = Params::from(query, &["from", "to", "by"])?;
    let now = Timestamp::now();
    let time = |field: &str| -> Result<Option<Timestamp>, ApiError> {
        params
            .0
            .get(field)
            .map(|t| crate::domain::event::parse_timestamp(field, t))
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))
    };
    let to = time("to")?.unwrap_or(now);
    let from = time("from")?.unwrap_or_else(|| to - SignedDuration::from_hours(24 * 30));
    // An empty period (from at or after to) has no visits: its figures are empty, not an error.
    let by = group_by(params.0.get("by").map(String::as_str))
        .map_err(|e| ApiError::bad_request("invalid_parameter", format!("by: {e}")))?;
    Ok(Json(state.service.visits_report(by, from, to, now).await?))
}
