//! Management pages: the overview (trends), promises (per policy, team and agent; CSV), the outbox and
//! surveys.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use jiff::{SignedDuration, Timestamp};
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::charts::{line_chart, stacked_bars};
use super::pages::render;
use super::time::Times;
use super::DashboardState;
use super::{PageError, PageResult};
use crate::domain::trend::Window;
use crate::domain::Event;
use crate::service::insights::Series;
use crate::store::{OutboxStatus, Role};

/// The periods a page offers: days → (bucket length, buckets).
const PERIODS: [(u32, i64, u32); 4] = [(7, 1, 7), (28, 1, 28), (91, 7, 13), (364, 7, 52)];

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    format: Option<String>,
}

fn window(days: Option<u32>, now: Timestamp) -> Result<(u32, Window), PageError> {
    let days = days.unwrap_or(28);
    let Some((days, step_days, buckets)) = PERIODS.iter().copied().find(|(d, _, _)| *d == days)
    else {
        return Err(PageError::BadRequest(format!(
            "days: one of {:?}",
            PERIODS.map(|p| p.0)
        )));
    };
    let w = Window::ending_at(now, SignedDuration::from_hours(24 * step_days), buckets)
        .map_err(|e| PageError::BadRequest(format!("days: {e}")))?;
    Ok((days, w))
}

fn labels(starts: &[Timestamp]) -> Vec<String> {
    starts
        .iter()
        .map(|t| t.strftime("%b %-d").to_string())
        .collect()
}

fn safe(svg: String) -> Value {
    // The chart module escapes every label it writes.
    Value::from_safe_string(svg)
}

fn periods(current: u32) -> Value {
    Value::from_serialize(
        PERIODS
            .iter()
            .map(|(d, _, _)| context! { days => d, here => *d == current })
            .collect::<Vec<_>>(),
    )
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} %")).unwrap_or_else(|| "—".into())
}

pub async fn overview(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (days, w) = window(q.days, Timestamp::now())?;
    let figures = state
        .dashboard
        .overview_figures(&state.service, days, w)
        .await?;
    let l = labels(&figures.starts);
    let one = |s: &Series| std::slice::from_ref(s).to_vec();
    let charts = vec![
        context! { id => "invisible", title => "Invisible customers", svg => safe(line_chart("Invisible customers at the end of each period", "customers", &l, &one(&figures.invisible), None)) },
        context! { id => "invisible-rate", title => "Left unseen", svg => safe(line_chart("Customers left unseen by a promise falling due (% of customers with one)", "%", &l, &one(&figures.invisible_rate), Some((0.0, 100.0)))) },
        context! { id => "kept-rate", title => "Promises kept on time", svg => safe(line_chart("Promises kept on time (% of decided promises)", "%", &l, &figures.kept_rate, Some((0.0, 100.0)))) },
        context! { id => "reply-time", title => "Reply time", svg => safe(line_chart("Time to reply to a customer's message", "hours", &l, &figures.reply_hours, None)) },
        context! { id => "queue-wait", title => "Queue wait", svg => safe(line_chart("Wait in the queue until served", "minutes", &l, &figures.queue_minutes, None)) },
        context! { id => "csat", title => "CSAT", svg => safe(line_chart("CSAT: share of satisfied answers (4–5)", "%", &l, &one(&figures.csat), Some((0.0, 100.0)))) },
        context! { id => "nps", title => "NPS", svg => safe(line_chart("Net Promoter Score", "NPS", &l, &one(&figures.nps), Some((-100.0, 100.0)))) },
        context! { id => "felt-invisible", title => "Felt invisible", svg => safe(line_chart("Customers who said they felt invisible (% of answers)", "%", &l, &one(&figures.felt_invisible), Some((0.0, 100.0)))) },
    ];
    let t = &figures.totals;
    let tiles = vec![
        context! { label => "Invisible now", value => figures.invisible_now.to_string(), href => "/invisible" },
        context! { label => "Kept on time", value => pct(t.kept_rate) },
        context! { label => "Breached", value => t.promises.breached.to_string() },
        context! { label => "CSAT", value => pct(t.csat) },
        context! { label => "NPS", value => t.nps.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into()) },
        context! { label => "Felt invisible", value => pct(t.felt_invisible) },
    ];
    let connectors: Vec<_> = state
        .connectors
        .snapshot()
        .into_iter()
        .map(|(name, h)| {
            context! {
                name => name, kind => h.kind, state => h.state, events_today => h.events_today,
                ignored_today => h.ignored_today, last_event_at => state.dashboard.times.maybe(h.last_event_at),
                last_error => h.last_error, last_error_at => state.dashboard.times.maybe(h.last_error_at),
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "overview.html",
        context! {
            title => "Overview", page => "overview", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            charts => charts, tiles => tiles, periods => periods(days), days => days, as_of => state.dashboard.times.html(figures.as_of),
            connectors => connectors,
        },
    ))
}

pub async fn promises(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    user.require(Role::Manager)?;
    let (days, w) = window(q.days, Timestamp::now())?;
    let figures = state
        .dashboard
        .promise_figures(&state.service, days, w)
        .await?;
    if q.format.as_deref() == Some("csv") {
        return Ok(promises_csv(&figures));
    }
    let l = labels(&figures.starts);
    let policies: Vec<Value> = figures
        .policies
        .iter()
        .map(|p| {
            let part = |f: fn(&crate::domain::trend::Tally) -> u64| p.buckets.iter().map(|t| f(t) as f64).collect::<Vec<_>>();
            let svg = stacked_bars(
                &format!("{}: promises falling due per period, by outcome", p.policy),
                "promises",
                &l,
                &[
                    ("kept on time".into(), part(|t| t.kept)),
                    ("kept late".into(), part(|t| t.late)),
                    ("breached".into(), part(|t| t.breached)),
                    ("open".into(), part(|t| t.open)),
                ],
            );
            context! { policy => p.policy.clone(), total => p.total, kept_rate => pct(p.kept_rate), svg => safe(svg) }
        })
        .collect();
    let rows = |b: &[crate::service::insights::Breakdown]| -> Vec<Value> {
        b.iter()
            .map(|r| context! { policy => r.policy.clone(), who => r.who.clone(), tally => r.tally, kept_rate => pct(r.kept_rate) })
            .collect()
    };
    Ok(render(
        StatusCode::OK,
        "promises.html",
        context! {
            title => "Promises", page => "promises", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            policies => policies, by_team => rows(&figures.by_team), by_agent => rows(&figures.by_agent),
            periods => periods(days), days => days, as_of => state.dashboard.times.html(figures.as_of),
        },
    ))
}

/// A CSV cell a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return (OWASP's CSV injection list) gets a leading `'`, so it is shown as text, not evaluated.
pub(super) fn csv_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Writes one CSV record with every cell neutralised (`csv_cell`).
fn write_cells<W: std::io::Write, S: AsRef<str>>(
    w: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = S>,
) -> Result<(), csv::Error> {
    w.write_record(cells.into_iter().map(|c| csv_cell(c.as_ref()).into_owned()))
}

fn promises_csv(figures: &crate::service::insights::Promises) -> axum::response::Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<(), csv::Error> {
        write_cells(
            &mut w,
            [
                "period_start",
                "policy",
                "kept",
                "kept_late",
                "breached",
                "cancelled",
                "open",
                "kept_rate_percent",
            ],
        )?;
        for p in &figures.policies {
            for (start, t) in figures.starts.iter().zip(&p.buckets) {
                write_cells(
                    &mut w,
                    [
                        start.to_string(),
                        p.policy.clone(),
                        t.kept.to_string(),
                        t.late.to_string(),
                        t.breached.to_string(),
                        t.cancelled.to_string(),
                        t.open.to_string(),
                        t.kept_rate().map(|r| format!("{r:.2}")).unwrap_or_default(),
                    ],
                )?;
            }
        }
        w.flush()?;
        Ok(())
    };
    if let Err(err) = write() {
        tracing::error!(error = %err, "writing the promises CSV");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
            .into_response();
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"seen-promises.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    #[serde(default)]
    status: Option<String>,
}

/// Most rows the outbox page lists.
const OUTBOX_PAGE: usize = 200;

pub async fn outbox(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(q): Query<OutboxQuery>,
) -> PageResult {
    user.require(Role::Manager)?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            OutboxStatus::parse(s)
                .ok_or_else(|| PageError::BadRequest(format!("status: unknown {s:?}")))?,
        ),
    };
    let (counts, rows) = state.service.recent_outbox(status, OUTBOX_PAGE).await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            context! {
                customer => r.item.customer.clone(), policy => r.item.policy.clone(), action => r.item.action.as_str(),
                template => r.item.template.clone(), channel => r.item.channel.clone(), to => r.item.role.clone(),
                status => r.status.as_str(), attempts => r.attempts, detail => r.detail.clone(),
                due_at => state.dashboard.times.html(r.item.due_at), sent_at => state.dashboard.times.maybe(r.sent_at),
            }
        })
        .collect();
    let counts: Vec<Value> = OutboxStatus::ALL
        .iter()
        .map(|s| context! { status => s.as_str(), count => counts.get(s).copied().unwrap_or(0), here => status == Some(*s) })
        .collect();
    Ok(render(
        StatusCode::OK,
        "outbox.html",
        context! {
            title => "Outbox", page => "outbox", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            rows => rows, counts => counts, status => status.map(|s| s.as_str()).unwrap_or(""),
        },
    ))
}

pub async fn surveys(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    user.require(Role::Manager)?;
    let (days, w) = window(q.days, Timestamp::now())?;
    let figures = state
        .dashboard
        .survey_figures(&state.service, days, w)
        .await?;
    Ok(render(
        StatusCode::OK,
        "surveys.html",
        context! {
            title => "Surveys", page => "surveys", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            by_survey => figures.by_survey.clone(), by_policy => figures.by_policy.clone(),
            comments => figures.comments.clone(), follow_ups => figures.follow_ups.clone(),
            periods => periods(days), days => days,
        },
    ))
}

/// What the surveys page shows for one period (cached like the overview's figures).
pub(super) struct SurveyFigures {
    by_survey: Vec<Value>,
    by_policy: Vec<Value>,
    comments: Vec<Value>,
    follow_ups: Vec<Value>,
}

pub(super) async fn survey_figures(
    service: crate::service::Service,
    times: Times,
    w: crate::domain::trend::Window,
) -> Result<SurveyFigures, crate::store::StoreError> {
    let since = Some(w.from);
    let by_survey = service
        .survey_summary(crate::service::SurveyGroup::Survey, since)
        .await?;
    let by_policy = service
        .survey_summary(crate::service::SurveyGroup::Policy, since)
        .await?;
    let table =
        |m: &std::collections::BTreeMap<String, crate::domain::survey::SurveyStats>| -> Vec<Value> {
            m.iter()
            .map(|(k, s)| {
                context! {
                    key => k.clone(), sent => s.sent, answered => s.answered, response_rate => pct(s.response_rate),
                    csat => pct(s.csat), nps => s.nps.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into()),
                    felt_invisible => pct(s.felt_invisible_rate), unhappy => s.unhappy,
                }
            })
            .collect()
        };
    let events = service
        .events_of_types(
            vec!["survey.answered".into(), "survey.comment".into()],
            since,
        )
        .await?;
    // The latest score per send, to show beside its comments.
    let mut scores: HashMap<String, u64> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "survey.answered") {
        let p = e.properties_value();
        if let (Some(send), Some(score)) = (p["send"].as_str(), p["score"].as_u64()) {
            scores.insert(send.to_string(), score);
        }
    }
    let mut comments: Vec<Value> = events
        .iter()
        .rev()
        .filter(|e| e.kind == "survey.comment")
        .filter_map(|e| {
            let p = e.properties_value();
            let comment = p["comment"].as_str().filter(|c| !c.trim().is_empty())?.to_string();
            let score = p["send"].as_str().and_then(|s| scores.get(s)).copied();
            Some(context! {
                at => times.html(e.at), customer => e.customer.clone(), survey => p["survey"].as_str().unwrap_or("").to_string(),
                score => score, comment => comment,
            })
        })
        .collect();
    comments.truncate(100);
    // The closed loop: follow-ups opened by unhappy answers, and whether they were kept.
    let mut follow_ups = Vec::new();
    for policy in service
        .engine
        .policies()
        .iter()
        .filter(|p| p.is_trigger("survey.unhappy"))
    {
        let filter = crate::store::ObligationFilter {
            policy: Some(policy.name.to_string()),
            ..Default::default()
        };
        service
            .for_each_obligation(filter, None, Timestamp::now(), |o| {
                if o.opened_at >= w.from {
                    follow_ups.push(context! {
                        customer => o.customer.clone(), policy => o.policy.clone(), opened_at => times.html(o.opened_at),
                        due_at => super::pages::due_html(&times, &o), status => o.status.as_str(),
                    });
                }
                follow_ups.len() < 200
            })
            .await?;
    }
    Ok(SurveyFigures {
        by_survey: table(&by_survey),
        by_policy: table(&by_policy),
        comments,
        follow_ups,
    })
}

pub(super) async fn promise_figures(
    service: crate::service::Service,
    directory: std::sync::Arc<crate::config::actions::Directory>,
    w: crate::domain::trend::Window,
) -> Result<crate::service::insights::Promises, crate::store::StoreError> {
    let team_of = move |policy: &str, channel: Option<&str>| {
        let trigger = Event {
            id: String::new(),
            kind: String::new(),
            customer: String::new(),
            at: Timestamp::UNIX_EPOCH,
            channel: channel.map(str::to_string),
            reference: None,
            properties: None,
            profile: Default::default(),
        };
        directory
            .team_for(policy, Some(&trigger))
            .map(str::to_string)
    };
    service.promises(w, team_of).await
}

/// Computes the default period's figures and the queue's list once at start, in the background, so that
/// the first page views after a start do not wait for a rescan either.
pub(super) async fn warm(
    dashboard: std::sync::Arc<super::Dashboard>,
    service: crate::service::Service,
) {
    let Ok((days, w)) = window(None, Timestamp::now()) else {
        return;
    };
    let started = std::time::Instant::now();
    let queue = dashboard.invisible_now(&service).await.err();
    if dashboard.overview.ttl.is_zero() {
        return;
    }
    let overview = dashboard.overview_figures(&service, days, w).await.err();
    let promises = dashboard.promise_figures(&service, days, w).await.err();
    let surveys = dashboard.survey_figures(&service, days, w).await.err();
    match queue.or(overview).or(promises).or(surveys) {
        None => tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "dashboard figures computed"
        ),
        Some(err) => tracing::warn!("computing dashboard figures at start failed: {err}"),
    }
}

#[cfg(test)]
mod csv_tests {
    use super::csv_cell;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_quoted() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(formula), format!("'{formula}"));
        }
        for text in ["reply", "2026-01-01T00:00:00Z", "42", "12.50", "", "a=b"] {
            assert_eq!(csv_cell(text), text);
        }
    }
}
