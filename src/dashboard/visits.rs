//! The front-desk board (`/board/{location}`): who is waiting now, longest first, against each visit type's
//! target; call next for my counter, serve, finish, transfer, no-show, walked out, and checking in a
//! walk-in or a caller — each an ordinary `visit.*` event with the staff member as `properties.by`. Live
//! through Server-Sent Events (the page also works with a plain refresh). Also the printable check-in QR code
//! and the figures page (`/visits`: waits, service times, abandonment, per staff member, a heatmap).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use jiff::{SignedDuration, Timestamp};
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::pages::{environment, render};
use super::{input, DashboardState, PageError, PageResult};
use crate::domain::visit::State as VisitState;
use crate::service::visits::{group_by, range_words, Action, Board, CheckIn, VisitError};
use crate::store::Role;

/// The board runs this origin's script (`/visit/live.js`) for its live updates; nothing else.
const BOARD_CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl From<VisitError> for PageError {
    fn from(e: VisitError) -> PageError {
        match e {
            VisitError::Store(e) => PageError::Store(e),
            VisitError::NoVisit(_) => PageError::NotFound(e.to_string()),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct BoardQuery {
    counter: Option<String>,
}

/// "12 min", "45 s", "1 h 5 min" (a negative span, from a clock behind the event, reads as 0 s).
fn waited(secs: i64) -> String {
    crate::templates::human_duration(secs.max(0).unsigned_abs())
}

fn board_context(
    board: &Board,
    counter: Option<&str>,
    csrf: &str,
    state: &DashboardState,
) -> Value {
    let desk = state.service.desk();
    let row = |r: &crate::service::visits::BoardRow| {
        context! {
            reference => r.reference, customer => r.customer, name => r.first_name, label => r.type_label,
            visit_type => r.visit_type, state => r.state.as_str(), waited => waited(r.waited_s),
            target => waited(r.target_s), over => r.over_target, ahead => r.ahead, counter => r.counter, by => r.by,
            customer_url => format!("/customers/{}", super::auth::url_escape(&r.customer)),
        }
    };
    let mine: Vec<String> = counter
        .map(|c| desk.visits.types_at_counter(c))
        .unwrap_or_default();
    context! {
        location => board.location, label => board.label, csrf, counter,
        waiting => board.waiting.iter().map(|r| context! {
            other_counter => !mine.is_empty() && !mine.contains(&r.visit_type),
            ..row(r)
        }).collect::<Vec<_>>(),
        serving => board.serving.iter().map(row).collect::<Vec<_>>(),
        called => board.serving.iter().filter(|r| r.state == VisitState::Called).count(),
        types => board.types.iter().map(|t| context! {
            name => t.name, label => t.label, waiting => t.waiting, counters => t.counters,
            range => range_words(&t.estimate),
        }).collect::<Vec<_>>(),
        all_types => desk.visits.types.iter().map(|t| context! { name => t.name, label => t.label }).collect::<Vec<_>>(),
    }
}

fn fragment(ctx: Value) -> String {
    environment()
        .get_template("board_now.html")
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "rendering the board");
            "<p>Something went wrong; refresh the page.</p>".into()
        })
}

fn location_of<'a>(
    state: &'a DashboardState,
    location: &str,
) -> Result<&'a crate::config::visits::Location, PageError> {
    state
        .service
        .desk()
        .visits
        .location(location)
        .ok_or_else(|| PageError::NotFound(format!("no location {location:?} in [visits]")))
}

fn counter_of(
    state: &DashboardState,
    location: &str,
    counter: Option<&str>,
) -> Result<Option<String>, PageError> {
    let Some(counter) = counter.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let l = location_of(state, location)?;
    if !l.counters.iter().any(|c| c == counter) {
        return Err(PageError::BadRequest(format!(
            "counter: {counter:?} is not at {location:?}"
        )));
    }
    Ok(Some(counter.to_string()))
}

/// `GET /board`: every location's board in one list of links (one location: its board).
pub async fn boards(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Agent)?;
    let desk = state.service.desk();
    if !desk.visits.is_on() {
        return Err(PageError::NotFound(
            "the front desk is off: add [[visit_types]] to seen.toml".into(),
        ));
    }
    if desk.visits.locations.len() == 1 {
        return Ok(
            Redirect::to(&format!("/board/{}", desk.visits.locations[0].name)).into_response(),
        );
    }
    let boards = state.service.boards(None, Timestamp::now()).await?;
    Ok(render(
        StatusCode::OK,
        "boards.html",
        context! {
            title => "Front desk", page => "board", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            boards => boards.iter().map(|b| context! {
                location => b.location, label => b.label, waiting => b.waiting.len(),
                over => b.waiting.iter().filter(|r| r.over_target).count(),
                longest => b.waiting.first().map(|r| waited(r.waited_s)),
            }).collect::<Vec<_>>(),
        },
    ))
}

/// `GET /board/{location}?counter=`: the live board.
pub async fn board(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(location): Path<String>,
    Query(query): Query<BoardQuery>,
) -> PageResult {
    user.require(Role::Agent)?;
    let l = location_of(&state, &location)?.clone();
    let counter = counter_of(&state, &location, query.counter.as_deref())?;
    let boards = state
        .service
        .boards(Some(&location), Timestamp::now())
        .await?;
    let Some(board) = boards.first() else {
        return Err(PageError::NotFound(format!("no location {location:?}")));
    };
    let csrf = user.0.csrf.clone();
    let now_html = fragment(board_context(board, counter.as_deref(), &csrf, &state));
    let events = match &counter {
        Some(c) => format!(
            "/board/{}/events?counter={}",
            l.name,
            super::auth::url_escape(c)
        ),
        None => format!("/board/{}/events", l.name),
    };
    let mut response = render(
        StatusCode::OK,
        "board.html",
        context! {
            title => format!("Front desk · {}", l.label), page => "board", user => user.0.user.clone(), csrf,
            location => l.name, label => l.label, counters => l.counters, counter, now_html, events,
        },
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(BOARD_CSP),
    );
    Ok(response)
}

/// `GET /board/{location}/events?counter=`: the board's fragment each time it changes.
pub async fn board_events(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(location): Path<String>,
    Query(query): Query<BoardQuery>,
) -> PageResult {
    user.require(Role::Agent)?;
    location_of(&state, &location)?;
    let counter = counter_of(&state, &location, query.counter.as_deref())?;
    let csrf = user.0.csrf.clone();
    let changed = state.service.visits_changed();
    Ok(crate::app::live::updates(changed, move || {
        let (state, location, counter, csrf) = (
            state.clone(),
            location.clone(),
            counter.clone(),
            csrf.clone(),
        );
        async move {
            let board = state
                .service
                .shared_board(&location, Timestamp::now())
                .await
                .ok()??;
            Some(fragment(board_context(
                &board,
                counter.as_deref(),
                &csrf,
                &state,
            )))
        }
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    counter: String,
    #[serde(default)]
    visit_type: String,
}

fn back(location: &str, counter: Option<&str>) -> String {
    match counter {
        Some(c) => format!("/board/{location}?counter={}", super::auth::url_escape(c)),
        None => format!("/board/{location}"),
    }
}

/// `POST /board/{location}/act`: call next (for my counter), or one action on one visit.
pub async fn act(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(location): Path<String>,
    Form(form): Form<ActForm>,
) -> PageResult {
    user.require(Role::Agent)?;
    user.check_csrf(&form.csrf)?;
    location_of(&state, &location)?;
    let counter = counter_of(&state, &location, Some(form.counter.trim()))?;
    let by = user.0.user.email.clone();
    let now = Timestamp::now();
    if form.action == "call_next" {
        let Some(counter) = counter.as_deref() else {
            return Err(PageError::BadRequest(
                "counter: choose your counter to call the next visitor".into(),
            ));
        };
        state
            .service
            .call_next(&location, counter, &by, now)
            .await?;
        return Ok(Redirect::to(&back(&location, Some(counter))).into_response());
    }
    let action = Action::parse(&form.action).ok_or_else(|| {
        PageError::BadRequest(
            "action: call_next, call, serve, finish, transfer, no_show or left".into(),
        )
    })?;
    let reference = input::id("reference", &form.reference)?;
    let new_type = match action {
        Action::Transfer => Some(input::id("visit_type", form.visit_type.trim())?),
        _ => None,
    };
    state
        .service
        .visit_action(reference, action, &by, counter.as_deref(), new_type, now)
        .await?;
    Ok(Redirect::to(&back(&location, counter.as_deref())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct WalkInForm {
    csrf: String,
    visit_type: String,
    first_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    counter: String,
}

/// `POST /board/{location}/check-in`: a walk-in or a caller, checked in by staff.
pub async fn check_in(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(location): Path<String>,
    Form(form): Form<WalkInForm>,
) -> PageResult {
    user.require(Role::Agent)?;
    user.check_csrf(&form.csrf)?;
    location_of(&state, &location)?;
    let counter = counter_of(&state, &location, Some(form.counter.trim()))?;
    let optional = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
    state
        .service
        .check_in(
            CheckIn {
                location: location.clone(),
                visit_type: form.visit_type.trim().to_string(),
                first_name: form.first_name,
                email: optional(&form.email),
                phone: optional(&form.phone),
                by: Some(user.0.user.email.clone()),
            },
            Timestamp::now(),
        )
        .await?;
    Ok(Redirect::to(&back(&location, counter.as_deref())).into_response())
}

/// `GET /board/{location}/qr.svg`: the printable QR code of the location's check-in page.
pub async fn qr(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(location): Path<String>,
) -> PageResult {
    user.require(Role::Agent)?;
    let l = location_of(&state, &location)?;
    let url = format!(
        "{}/visit/{}",
        state.dashboard.public_url.trim_end_matches('/'),
        l.name
    );
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| PageError::BadRequest(format!("QR code of {url:?}: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"check-in.svg\"",
            ),
        ],
        svg,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct FiguresQuery {
    days: Option<u32>,
    by: Option<String>,
}

/// `GET /visits?days=&by=`: the front desk's figures (managers).
pub async fn figures(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(query): Query<FiguresQuery>,
) -> PageResult {
    user.require(Role::Manager)?;
    let days = query.days.unwrap_or(30).clamp(1, 366);
    let by =
        group_by(query.by.as_deref()).map_err(|e| PageError::BadRequest(format!("by: {e}")))?;
    let now = Timestamp::now();
    let from = now - SignedDuration::from_hours(24 * i64::from(days));
    let report = state.service.visits_report(by, from, now, now).await?;
    let heatmap = super::charts::heatmap(&report.heatmap, "Median wait by weekday and hour");
    let secs = |s: Option<i64>| s.map(waited).unwrap_or_else(|| "—".into());
    let pct = |p: Option<f64>| p.map(|p| format!("{p:.0} %")).unwrap_or_else(|| "—".into());
    let row = |f: &crate::domain::visit::Figures| {
        context! {
            group => f.group, visits => f.visits, waits_p50 => secs(f.waits_p50_s), waits_p90 => secs(f.waits_p90_s),
            service_p50 => secs(f.service_p50_s), service_p90 => secs(f.service_p90_s),
            over_target => pct(f.over_target_share), abandoned => f.abandoned, abandoned_share => pct(f.abandoned_share),
            no_shows => f.no_shows, transfers => f.transfers,
            per_hour => f.visits_per_hour.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
            served => f.served, serving => waited(f.serving_s),
        }
    };
    let accuracy = &report.accuracy;
    Ok(render(
        StatusCode::OK,
        "visits.html",
        context! {
            title => "Front desk figures", page => "visits", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            days, by => format!("{:?}", by).to_lowercase(),
            rows => report.rows.iter().map(row).collect::<Vec<_>>(),
            totals => row(&report.totals),
            heatmap,
            accuracy => context! {
                quoted => accuracy.quoted, error => secs(accuracy.median_abs_error_s),
                within => pct(accuracy.within_share), trusted => accuracy.trusted,
            },
            locations => state.service.desk().visits.locations.iter().map(|l| context! { name => l.name, label => l.label }).collect::<Vec<_>>(),
        },
    ))
}
