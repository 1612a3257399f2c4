//! Dashboard pages: server-rendered HTML (minijinja, auto-escaped), forms with CSRF tokens, no JavaScript.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use jiff::{SignedDuration, Timestamp};
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use super::auth::{cookie, read_cookie, CurrentUser, LOGIN_COOKIE, SESSION_COOKIE, SESSION_HOURS};
use super::throttle::Limits;
use super::time::Times;
use super::{input, DashboardState, PageError, PageResult};
use crate::app::error::ApiError;
use crate::domain::span::format_span;
use crate::domain::{Event, EventInput};
use crate::secrets::{hash_password, random_token, verify_password};
use crate::service::{self, QueueFilter};
use crate::store::{OutboxFilter, Role, WorkEntry};

pub(super) fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` names auto-escape: every value is text unless a template says otherwise (none does).
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("invisible.html", include_str!("templates/invisible.html")),
            ("customer.html", include_str!("templates/customer.html")),
            ("users.html", include_str!("templates/users.html")),
            ("forbidden.html", include_str!("templates/forbidden.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("promises.html", include_str!("templates/promises.html")),
            ("outbox.html", include_str!("templates/outbox.html")),
            ("surveys.html", include_str!("templates/surveys.html")),
            ("retention.html", include_str!("templates/retention.html")),
            ("journeys.html", include_str!("templates/journeys.html")),
            ("journey.html", include_str!("templates/journey.html")),
            ("keys.html", include_str!("templates/keys.html")),
            ("policies.html", include_str!("templates/policies.html")),
            ("audit.html", include_str!("templates/audit.html")),
            ("periods.html", include_str!("templates/periods.html")),
            ("search.html", include_str!("templates/search.html")),
            ("public.html", include_str!("templates/public.html")),
            ("board.html", include_str!("templates/board.html")),
            ("board_now.html", include_str!("templates/board_now.html")),
            ("boards.html", include_str!("templates/boards.html")),
            ("visits.html", include_str!("templates/visits.html")),
        ] {
            // The templates are compiled into the binary and covered by tests: a syntax error is a bug.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "dashboard template does not compile");
            }
        }
        env
    })
}

pub(super) fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match environment().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(template = name, error = %err, "rendering a dashboard page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log",
            )
                .into_response()
        }
    }
}

pub fn forbidden() -> Response {
    render(
        StatusCode::FORBIDDEN,
        "forbidden.html",
        context! { title => "Not for your role" },
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only local paths: never redirect a user to another site after login or a form. A path starts with one
/// `/` (not `//` or `/\`, which browsers read as another host) and has no backslash or control character
/// anywhere (browsers drop tabs and newlines, so `/\t/evil.example/` would be `//evil.example/`); anything
/// else goes to the queue. Non-ASCII is percent-encoded so the `Location` header is always valid.
pub(super) fn safe_next(next: Option<&str>) -> String {
    const DEFAULT: &str = "/invisible";
    let Some(next) = next else {
        return DEFAULT.to_string();
    };
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2_000;
    if !local {
        return DEFAULT.to_string();
    }
    next.bytes()
        .map(|b| {
            if b.is_ascii() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn login_page(
    State(state): State<DashboardState>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let token = random_token();
    let mut response = render(
        StatusCode::OK,
        "login.html",
        context! { title => "Log in", login_token => token, next => safe_next(q.next.as_deref()) },
    );
    if let Ok(value) = cookie(LOGIN_COOKIE, &token, 3_600, state.server.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    login_token: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(state): State<DashboardState>,
    client: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    let expected = read_cookie(&parts, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !crate::secrets::same_token(&expected, &form.login_token) {
        return (
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the login page",
        )
            .into_response();
    }
    let again = |status: StatusCode, error: &str| {
        let token = random_token();
        let mut response = render(
            status,
            "login.html",
            context! { title => "Log in", error => error, login_token => token, next => safe_next(form.next.as_deref()) },
        );
        if let Ok(value) = cookie(LOGIN_COOKIE, &token, 3_600, state.server.secure_cookies).parse()
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    };
    let email = form.email.trim();
    if email.is_empty()
        || input::problem(email, input::MAX_EMAIL, false).is_some()
        || input::problem(&form.password, input::MAX_PASSWORD, false).is_some()
    {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email or password: not a valid email address or password.",
        );
    }
    let (per_account, per_address) = login_limits(&state.server);
    let throttle = &state.dashboard.login;
    let address = client.0;
    let address_text = address.map_or_else(|| "-".to_string(), |a| a.to_string());
    if let Err(wait) = throttle.check(email, address, &per_account, &per_address, Instant::now()) {
        tracing::warn!(account = %email, address = %address_text, retry_after_secs = wait.as_secs_f64(), "login throttled");
        return throttled(wait);
    }
    let user = match state.service.user_by_email(email).await {
        Ok(user) => user,
        Err(err) => return ApiError::from(err).into_response(),
    };
    // Verify against a dummy hash for unknown emails too, so timing does not tell which emails exist.
    let hash = match &user {
        Some(u) => u.password_hash.as_str(),
        None => dummy_hash(),
    };
    if !verify_password(&form.password, hash) || user.is_none() {
        let wait = throttle.failed(email, address, &per_account, &per_address, Instant::now());
        tracing::warn!(account = %email, address = %address_text, known = user.is_some(), backoff_secs = wait.map(|w| w.as_secs_f64()), "login failed");
        return again(StatusCode::UNAUTHORIZED, "Wrong email or password.");
    }
    throttle.succeeded(email);
    let Some(user) = user else {
        return again(StatusCode::UNAUTHORIZED, "Wrong email or password.");
    };
    let expires = Timestamp::now()
        .saturating_add(SignedDuration::from_hours(SESSION_HOURS))
        .unwrap_or(Timestamp::MAX);
    let token = match state.service.open_session(user.id, expires).await {
        Ok(session) => session.token,
        Err(err) => return ApiError::from(err).into_response(),
    };
    tracing::info!(user = %user.email, "logged in");
    let mut response = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    for value in [
        cookie(
            SESSION_COOKIE,
            &token,
            SESSION_HOURS * 3_600,
            state.server.secure_cookies,
        ),
        cookie(LOGIN_COOKIE, "", 0, state.server.secure_cookies),
    ] {
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The login throttle's limits from `[server]`: per account, and per client address.
fn login_limits(server: &crate::config::ServerConfig) -> (Limits, Limits) {
    let per_account = Limits {
        free_failures: server.login_failures_per_account,
        backoff: Duration::from_secs(server.login_backoff_secs),
        max_backoff: Duration::from_secs(server.login_backoff_max_secs),
        window: Duration::from_secs(LOGIN_WINDOW_SECS),
    };
    let per_address = Limits {
        free_failures: server.login_failures_per_address,
        ..per_account
    };
    (per_account, per_address)
}

/// Failures are forgotten this long after the last one (or after its backoff ended).
const LOGIN_WINDOW_SECS: u64 = 15 * 60;

/// 429 with `Retry-After` (whole seconds, rounded up).
fn throttled(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.max(1).to_string())],
        "too many failed logins: wait before trying again",
    )
        .into_response()
}

/// The client's IP address, when the server was started with connection info (`seen serve` is).
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// An argon2id hash of a random password nobody knows (same cost as a real check).
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<DashboardState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = user.check_csrf(&form.csrf) {
        return e.into_response();
    }
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    if let Some(token) = read_cookie(&parts, SESSION_COOKIE) {
        if let Err(err) = state.service.close_session(&token).await {
            return ApiError::from(err).into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = cookie(SESSION_COOKIE, "", 0, state.server.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Agents start at their queue, managers and admins at the overview.
pub async fn home(user: CurrentUser) -> Response {
    if user.0.user.role >= Role::Manager {
        Redirect::to("/overview").into_response()
    } else {
        Redirect::to("/invisible").into_response()
    }
}

#[derive(Debug, Serialize)]
struct QueueRow {
    customer: String,
    name: Option<String>,
    email: Option<String>,
    policy: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    trigger_event: String,
    channel: Option<String>,
    team: Option<String>,
    due_at: minijinja::Value,
    waiting: String,
    nudges: u32,
    escalated: bool,
    urgent: bool,
    acknowledged: bool,
    assignee: Option<String>,
    work: Vec<WorkView>,
}

impl QueueRow {
    fn new(r: service::QueueRow, times: &Times) -> Self {
        QueueRow {
            due_at: times.html(r.due_at),
            waiting: format_span(r.waiting),
            work: r.work.iter().map(|w| WorkView::new(w, times)).collect(),
            customer: r.customer,
            name: r.name,
            email: r.email,
            policy: r.policy,
            reference: r.reference,
            trigger_event: r.trigger_event,
            channel: r.channel,
            team: r.team,
            nudges: r.nudges,
            escalated: r.escalated,
            urgent: r.urgent,
            acknowledged: r.acknowledged,
            assignee: r.assignee,
        }
    }
}

#[derive(Debug, Serialize)]
struct WorkView {
    kind: String,
    by: String,
    assignee: Option<String>,
    note: Option<String>,
    at: minijinja::Value,
}

impl WorkView {
    fn new(w: &WorkEntry, times: &Times) -> Self {
        WorkView {
            kind: w.kind.clone(),
            by: w.by.clone(),
            assignee: w.assignee.clone(),
            note: w.note.clone(),
            at: times.html(w.at),
        }
    }
}

/// Most rows on one queue page.
const QUEUE_PAGE: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    show: Option<String>,
}

/// The work queue (`service::queue`): invisible customers' broken promises, longest wait first. What
/// someone acknowledged leaves the queue (`show=all` shows it again, with who did it, for managers' review).
pub async fn invisible(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    let invisible = state.dashboard.invisible_now(&state.service).await?;
    let filter = QueueFilter {
        policy: q.policy,
        team: q.team,
        channel: q.channel,
        acknowledged: q.show.as_deref() == Some("all"),
    };
    let directory = &state.dashboard.directory;
    let queue = state
        .service
        .queue(&invisible, &filter, directory, QUEUE_PAGE)
        .await?;
    let users: Vec<minijinja::Value> = state
        .service
        .users()
        .await?
        .iter()
        .map(|u| context! { email => u.email.clone(), name => u.name.clone() })
        .collect();
    let more = queue.matching > queue.rows.len();
    let rows: Vec<QueueRow> = queue
        .rows
        .into_iter()
        .map(|r| QueueRow::new(r, &state.dashboard.times))
        .collect();
    let shown = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        "invisible.html",
        context! {
            title => "Invisible now", page => "invisible", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            rows => rows, total => queue.total, hidden => queue.hidden, more => more, matching => queue.matching,
            policies => queue.policies, channels => queue.channels, teams => directory.team_names(), users => users,
            filter => context! {
                policy => shown(&filter.policy), team => shown(&filter.team),
                channel => shown(&filter.channel), show => if filter.acknowledged { "all" } else { "open" },
            },
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct WorkForm {
    csrf: String,
    customer: String,
    policy: String,
    trigger_event: String,
    kind: String,
    #[serde(default)]
    note: Option<String>,
    /// For "assigned": to whom (an email); empty means "to me".
    #[serde(default)]
    assignee: Option<String>,
    /// Where to go back to (the queue with its filters, or the customer page).
    #[serde(default)]
    back: Option<String>,
}

/// Acknowledge, assign (to me or someone), note, or mark contacted (which records a `message.sent`: the
/// promise is kept).
pub async fn work(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Form(form): Form<WorkForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    if !["acknowledged", "assigned", "note", "contacted"].contains(&form.kind.as_str()) {
        return Err(PageError::BadRequest(
            "kind: acknowledged, assigned, note or contacted".into(),
        ));
    }
    let back = safe_next(form.back.as_deref());
    let customer = input::id("customer", &form.customer)?;
    let policy = input::id("policy", &form.policy)?;
    let trigger_event = input::id("trigger_event", &form.trigger_event)?;
    let note = match form
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) => Some(input::note("note", n)?.to_string()),
        None => None,
    };
    let assignee = match form
        .assignee
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(a) => Some(input::line("assignee", a, input::MAX_EMAIL)?),
        None => None,
    };
    // Work is on one promise of one customer: both must exist.
    let obligation = state
        .service
        .customer_obligations(customer)
        .await?
        .into_iter()
        .find(|o| &*o.policy == policy && o.trigger_event == trigger_event)
        .ok_or_else(|| {
            PageError::NotFound(format!(
                "no promise {policy:?} of customer {customer:?} opened by event {trigger_event:?}"
            ))
        })?;
    if form.kind == "note" && note.is_none() {
        return Ok(Redirect::to(&back).into_response());
    }
    let email = user.0.user.email.clone();
    let assignee = match assignee {
        None => email.clone(),
        Some(a) => match state.service.user_by_email(a).await? {
            Some(u) => u.email,
            None => return Err(PageError::BadRequest(format!("assignee: no user {a:?}"))),
        },
    };
    let now = Timestamp::now();
    // What "contacted" records goes through the same validation as every other event, before anything is
    // written.
    let contacted = if form.kind == "contacted" {
        Some(contacted_event(&obligation, &email, now)?)
    } else {
        None
    };
    let entry = WorkEntry {
        customer: customer.to_string(),
        policy: policy.to_string(),
        trigger_event: trigger_event.to_string(),
        kind: form.kind.clone(),
        by: email.clone(),
        assignee: (form.kind == "assigned").then_some(assignee),
        note,
        at: now,
    };
    state.service.record_work(entry).await?;
    if let Some(event) = contacted {
        state.service.ingest(vec![event]).await?;
        state.ingested.ingested();
        state.dashboard.queue_changed();
    }
    Ok(Redirect::to(&back).into_response())
}

/// The `message.sent` that "mark contacted" records on an obligation (it keeps the promise), validated as
/// an `EventInput` like any event from the API or an import.
fn contacted_event(
    obligation: &crate::domain::Obligation,
    by: &str,
    now: Timestamp,
) -> Result<Event, PageError> {
    let id = format!(
        "contacted-{}",
        crate::store::short_hash(&format!(
            "{}\n{}\n{}",
            obligation.customer, obligation.trigger_event, now
        ))
    );
    let properties = serde_json::json!({ "by": by, "via": "dashboard" }).to_string();
    let properties = serde_json::value::RawValue::from_string(properties)
        .map_err(|e| PageError::BadRequest(format!("properties: {e}")))?;
    let input = EventInput {
        id: Some(id.into()),
        kind: Some("message.sent".into()),
        customer: Some(obligation.customer.as_str().into()),
        channel: Some("staff".into()),
        reference: obligation.reference.as_deref().map(Into::into),
        properties: Some(&properties),
        ..EventInput::default()
    };
    input
        .validate(now, &mut || String::new())
        .map_err(|e| PageError::BadRequest(e.to_string()))
}

/// Events the customer saw (messages, confirmations, answers) as opposed to back-office steps.
fn is_touchpoint(e: &crate::service::EventView) -> bool {
    let kind = e.kind.as_str();
    kind.starts_with("message.")
        || kind.starts_with("survey.")
        || matches!(
            kind,
            "booking.confirmed" | "order.confirmed" | "order.delivered" | "visit.served"
        )
        || e.properties.get("automated").is_some_and(|v| v == true)
}

/// An obligation's due time as a `<time>`, or why it has none (paused, not a promise).
pub(super) fn due_html(times: &Times, o: &service::ObligationView) -> minijinja::Value {
    match o.due_at {
        Some(due) => times.html(due),
        None => minijinja::Value::from(o.due_text(crate::domain::span::format_when)),
    }
}

pub async fn customer(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> PageResult {
    input::id("customer", &id)?;
    let times = &state.dashboard.times;
    let now = Timestamp::now();
    let Some(view) = state.service.customer(&id, now).await? else {
        return Err(PageError::NotFound(format!("no customer {id:?}")));
    };
    let messages = state
        .service
        .outbox(OutboxFilter {
            customer: Some(id.clone()),
            limit: Some(1_000),
            ..OutboxFilter::default()
        })
        .await?;
    let work = state.service.work_for(vec![id.clone()]).await?;
    let events: Vec<minijinja::Value> = view
        .events
        .iter()
        .rev()
        .map(|e| {
            let p = &e.properties;
            let answer = (e.kind == "survey.answered").then(|| format!("{} → {}", p["survey"].as_str().unwrap_or("survey"), p["score"]));
            let comment = p["comment"].as_str().map(str::to_string);
            context! {
                at => times.html(e.at), type => e.kind.clone(), ref => e.reference.clone(), channel => e.channel.clone(),
                automated => p.get("automated").is_some_and(|v| v == true), agent => p["agent"].as_str().or(p["by"].as_str()).map(str::to_string),
                touchpoint => is_touchpoint(e), answer => answer, comment => comment,
                connector => p["connector"].as_str().map(str::to_string),
            }
        })
        .collect();
    // "Nobody got back to me": the latest tap, and the words the customer added after it.
    let feels_ignored = view
        .events
        .iter()
        .rev()
        .find(|e| e.kind == crate::service::status::FEELS_IGNORED)
        .map(|e| {
            let comment = view
                .events
                .iter()
                .rev()
                .find(|c| c.kind == "customer.comment" && c.at >= e.at)
                .and_then(|c| c.properties["comment"].as_str().map(str::to_string));
            context! {
                at => times.html(e.at), via => e.properties["via"].as_str().map(|v| v.replace('_', " ")), comment => comment,
            }
        });
    let obligations: Vec<minijinja::Value> = view
        .obligations
        .iter()
        .map(|o| {
            let note = o.pause_note(Timestamp::now(), &state.service.engine);
            context! {
                policy => o.policy.clone(), ref => o.reference.clone(), status => o.status.as_str(),
                opened_at => times.html(o.opened_at), due_at => due_html(times, o), closed_at => times.maybe(o.closed_at),
                closure => o.closure.map(|c| c.as_str()), note => note,
                trigger_event => o.trigger_event.clone(), invisible => o.status == crate::domain::Status::Breached && o.closed_at.is_none(),
            }
        })
        .collect();
    let messages: Vec<minijinja::Value> = messages
        .iter()
        .map(|m| {
            context! {
                due_at => times.html(m.item.due_at), action => m.item.action.as_str(), policy => m.item.policy.clone(),
                template => m.item.template.clone(), role => m.item.role.clone(), channel => m.item.channel.clone(),
                status => m.status.as_str(), detail => m.detail.clone(), sent_at => times.maybe(m.sent_at),
            }
        })
        .collect();
    let work: Vec<WorkView> = work.iter().map(|w| WorkView::new(w, times)).collect();
    // Where the customer is in each journey; "stuck" against the journey pages' (cached) p90s.
    let p90s = super::journeys::default_p90s(&state);
    let journey_events: Vec<crate::domain::journey::JourneyEvent> = view
        .events
        .iter()
        .map(|e| crate::domain::journey::JourneyEvent {
            customer: view.profile.id.clone(),
            reference: e.reference.clone(),
            kind: e.kind.clone(),
            at: e.at,
        })
        .collect();
    let journeys: Vec<minijinja::Value> = state
        .service
        .journeys_of(&journey_events, now, &p90s)
        .iter()
        .rev()
        .map(|j| {
            context! {
                journey => j.journey.clone(), url => format!("/journeys/{}", super::auth::url_escape(&j.journey)),
                ref => j.reference.clone(), entered => times.html(j.entered), step => j.step.clone(),
                customer_sees => j.customer_sees, since => times.html(j.since), next => j.next_step.clone(),
                completed => j.completed, stuck => j.stuck, expired => j.expired,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "customer.html",
        context! {
            title => view.profile.name.clone().unwrap_or_else(|| view.profile.id.clone()), page => "customer",
            user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            profile => minijinja::Value::from_serialize(&view.profile), invisible => view.invisible,
            events => events, obligations => obligations, messages => messages, work => work,
            feels_ignored => feels_ignored, journeys => journeys,
            back => format!("/customers/{}", super::auth::url_escape(&id)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_redirect_targets() {
        for local in ["/", "/invisible?policy=reply", "/customers/c%201", "/a/b"] {
            assert_eq!(safe_next(Some(local)), local);
        }
        assert_eq!(safe_next(Some("/customers/é")), "/customers/%C3%A9");
        for hostile in [
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\nSet-Cookie: x=y",
            "/a\\b",
            "/\u{0}x",
            "/\u{85}x",
            "https://evil.example/",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/invisible", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/invisible");
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(5_000)))),
            "/invisible"
        );
    }
}
