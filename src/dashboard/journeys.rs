//! The journey pages (`/journeys`, `/journeys/{name}`, every staff role): the journey map (two lanes, what
//! the customer sees and what happens behind the scenes; boxes by how many reached each step, edges with
//! the conversion and the p50/p90 time), the figures per step as a table, the weekly p50/p90 time per step,
//! the most frequent paths, and who is stuck now. Figures are cached like the other reports' (key: journey
//! and period), and the default period's are computed at start; the customer page reads "stuck" against them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::charts::{self, MapStep};
use super::pages::render;
use super::{DashboardState, PageError, PageResult};
use crate::service::insights::Series;
use crate::service::journeys::{JourneyError, JourneyOverview, Period, StepP90s};
use crate::store::Role;
use crate::templates::human_duration;

/// Weeks the page covers by default (ending with today).
pub const DEFAULT_WEEKS: i64 = 13;

/// The page's form: dates in the business's zone; empty means the default.
#[derive(Debug, Default, Deserialize)]
pub struct JourneyForm {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A period as the cache keys it: the first day and the day after the last, in the business's zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Days {
    pub from: Date,
    pub to: Date,
}

impl Days {
    /// The default: the last `DEFAULT_WEEKS` weeks, today included.
    pub fn default_for(zone: &TimeZone, now: Timestamp) -> Days {
        let today = now.to_zoned(zone.clone()).date();
        let to = today.tomorrow().unwrap_or(today);
        let from = to
            .checked_sub(jiff::Span::new().days(DEFAULT_WEEKS * 7))
            .unwrap_or(to);
        Days { from, to }
    }

    fn parse(zone: &TimeZone, form: &JourneyForm, now: Timestamp) -> Result<Days, PageError> {
        let default = Days::default_for(zone, now);
        let date = |field: &str, text: &Option<String>, fallback: Date| match text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            None => Ok(fallback),
            Some(t) => t.parse::<Date>().map_err(|_| {
                PageError::BadRequest(format!("`{field}` = {t:?}: expected a date, 2026-03-01"))
            }),
        };
        let from = date("from", &form.from, default.from)?;
        let to = date("to", &form.to, default.to)?;
        if from >= to {
            return Err(PageError::BadRequest(format!(
                "`from` ({from}) must be before `to` ({to})"
            )));
        }
        Ok(Days { from, to })
    }

    fn instant(zone: &TimeZone, day: Date) -> Timestamp {
        day.to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    pub fn period(&self, zone: &TimeZone, now: Timestamp) -> Period {
        Period {
            from: Some(Days::instant(zone, self.from)),
            to: Some(Days::instant(zone, self.to)),
            as_of: now,
        }
    }
}

fn duration(secs: Option<i64>) -> Option<String> {
    secs.map(|s| human_duration(s.unsigned_abs()))
}

fn percent(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.0}%", s * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// `/journeys`: every journey defined, each linking to its page.
pub async fn list(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Agent)?;
    let journeys: Vec<Value> = state
        .service
        .journeys()
        .iter()
        .map(|j| {
            context! {
                name => j.name.clone(), per => format!("{:?}", j.per).to_lowercase(),
                window => human_duration(j.window.as_secs().unsigned_abs()),
                steps => j.steps.iter().map(|s| context! { name => s.name.clone(), customer_sees => s.customer_sees }).collect::<Vec<_>>(),
                url => format!("/journeys/{}", super::auth::url_escape(&j.name)),
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "journeys.html",
        context! {
            title => "Journeys", page => "journeys", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            journeys => journeys,
        },
    ))
}

/// `/journeys/{name}`: one journey's map, figures, weekly times, paths and stuck list.
pub async fn page(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(form): Query<JourneyForm>,
) -> PageResult {
    user.require(Role::Agent)?;
    super::input::id("journey", &name)?;
    let now = Timestamp::now();
    let times = &state.dashboard.times;
    let days = Days::parse(times.zone(), &form, now)?;
    let overview = state
        .dashboard
        .journey_figures(&state.service, &name, days.clone())
        .await?;
    let report = &overview.report;
    let steps: Vec<MapStep> = report
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| MapStep {
            name: s.name.clone(),
            customer_sees: s.customer_sees,
            reached: s.reached,
            conversion: if k == 0 {
                None
            } else {
                s.conversion_from_previous
            },
            p50: duration(s.median_seconds_from_previous),
            p90: duration(s.p90_seconds_from_previous),
            breaches: s.breaches,
            nudges: s.nudges,
            unhappy: s.unhappy,
        })
        .collect();
    let map = charts::journey_map(
        &format!(
            "Journey map of {:?}: {} entered from {} to {}",
            report.journey, report.entered, days.from, days.to
        ),
        report.entered,
        &steps,
    );
    let rows: Vec<Value> = report
        .steps
        .iter()
        .map(|s| {
            context! {
                name => s.name.clone(), customer_sees => s.customer_sees, reached => s.reached,
                from_previous => percent(s.conversion_from_previous), from_entry => percent(s.conversion_from_entry),
                drop_off => s.drop_off, p50 => duration(s.median_seconds_from_previous), p90 => duration(s.p90_seconds_from_previous),
                time_share => percent(s.time_share), if_slow => percent(s.completion_if_slow), if_fast => percent(s.completion_if_fast),
                breaches => s.breaches, nudges => s.nudges, unhappy => s.unhappy,
                slow_loses => matches!((s.completion_if_slow, s.completion_if_fast), (Some(a), Some(b)) if b - a >= 0.1),
            }
        })
        .collect();
    // Weekly p50 and p90 per step (in hours), every step after the first.
    let labels: Vec<String> = overview
        .weekly
        .iter()
        .map(|w| {
            w.start
                .to_zoned(times.zone().clone())
                .strftime("%d %b")
                .to_string()
        })
        .collect();
    let series = |p90: bool| -> Vec<Series> {
        report
            .steps
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, s)| Series {
                name: s.name.clone(),
                values: overview
                    .weekly
                    .iter()
                    .map(|w| {
                        let v = if p90 {
                            &w.p90_seconds
                        } else {
                            &w.median_seconds
                        };
                        v.get(k)
                            .copied()
                            .flatten()
                            .map(|secs| secs as f64 / 3_600.0)
                    })
                    .collect(),
            })
            .collect()
    };
    let p50_chart = charts::line_chart(
        "Median time from the previous step, by week of entry",
        "h",
        &labels,
        &series(false),
        None,
    );
    let p90_chart = charts::line_chart(
        "p90 time from the previous step, by week of entry",
        "h",
        &labels,
        &series(true),
        None,
    );
    let weekly: Vec<Value> = overview
        .weekly
        .iter()
        .zip(&labels)
        .map(|(w, label)| {
            let cells: Vec<String> = (1..report.steps.len())
                .map(|k| {
                    let p50 = duration(w.median_seconds.get(k).copied().flatten());
                    let p90 = duration(w.p90_seconds.get(k).copied().flatten());
                    match (p50, p90) {
                        (Some(a), Some(b)) => format!("{a} / {b}"),
                        _ => "—".into(),
                    }
                })
                .collect();
            context! { week => label.clone(), entered => w.entered, cells => cells }
        })
        .collect();
    let paths: Vec<Value> = overview
        .paths
        .iter()
        .map(|p| {
            context! {
                path => p.path.join(" → "), journeys => p.journeys, completed => p.completed,
                share => percent((report.entered > 0).then(|| p.journeys as f64 / report.entered as f64)),
            }
        })
        .collect();
    let next_p90: Vec<Option<String>> = report
        .steps
        .iter()
        .skip(1)
        .map(|s| duration(s.p90_seconds_from_previous))
        .collect();
    let step_index = |name: &str| report.steps.iter().position(|s| s.name == name);
    // The longest waiting first few only: a page never renders tens of thousands of rows.
    let stuck: Vec<Value> = report
        .stuck
        .iter()
        .take(STUCK_SHOWN)
        .map(|s| {
            let k = step_index(&s.step).unwrap_or(0);
            context! {
                customer => s.customer.clone(), url => format!("/customers/{}", super::auth::url_escape(&s.customer)),
                ref => s.reference.clone(), step => s.step.clone(), since => times.html(s.since),
                waiting => human_duration(now.duration_since(s.since).as_secs().unsigned_abs()),
                next => report.steps.get(k + 1).map(|n| n.name.clone()),
                p90 => next_p90.get(k).cloned().flatten(),
            }
        })
        .collect();
    let journey = state
        .service
        .journeys()
        .iter()
        .find(|j| j.name == name)
        .map(|j| {
            context! {
                per => format!("{:?}", j.per).to_lowercase(), window => human_duration(j.window.as_secs().unsigned_abs()),
            }
        });
    Ok(render(
        StatusCode::OK,
        "journey.html",
        context! {
            title => format!("Journey: {name}"), page => "journeys", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            name => name.clone(), journey => journey, entered => report.entered, completed => report.completed,
            completion => percent((report.entered > 0).then(|| report.completed as f64 / report.entered as f64)),
            map => map, rows => rows, p50_chart => p50_chart, p90_chart => p90_chart, weekly => weekly,
            steps_after_first => report.steps.iter().skip(1).map(|s| s.name.clone()).collect::<Vec<_>>(),
            paths => paths, stuck => stuck, stuck_total => report.stuck.len(), stuck_shown => STUCK_SHOWN,
            as_of => times.html(report.as_of),
            form_from => days.from.to_string(), form_to => days.to.to_string(),
            timezone => times.zone().iana_name().unwrap_or("UTC").to_string(),
        },
    ))
}

impl From<JourneyError> for PageError {
    fn from(e: JourneyError) -> Self {
        match e {
            JourneyError::Unknown(_) => PageError::NotFound(e.to_string()),
            JourneyError::EmptyPeriod { .. } => PageError::BadRequest(e.to_string()),
            JourneyError::Store(e) => PageError::Store(e),
        }
    }
}

/// Each journey's p90 per step over the default period, from the cache only: what a customer's page judges
/// "stuck" against. A customer's page never waits for a journey's figures: missing or expired ones are
/// computed in the background (a journey missing here judges nobody stuck until they are in).
pub(super) fn default_p90s(state: &DashboardState) -> StepP90s {
    let days = Days::default_for(state.dashboard.times.zone(), Timestamp::now());
    let mut out = StepP90s::new();
    for j in state.service.journeys() {
        if let Some(overview) =
            state
                .dashboard
                .cached_journey_figures(&state.service, &j.name, days.clone())
        {
            out.insert(
                j.name.clone(),
                crate::service::journeys::step_p90s(&overview.report),
            );
        }
    }
    out
}

/// Fills the cache with every journey's default period, at start.
pub(super) async fn warm(
    dashboard: std::sync::Arc<super::Dashboard>,
    service: crate::service::Service,
) {
    let days = Days::default_for(dashboard.times.zone(), Timestamp::now());
    for j in service.journeys().to_vec() {
        if let Err(err) = dashboard
            .journey_figures(&service, &j.name, days.clone())
            .await
        {
            tracing::warn!("computing journey {:?} at start failed: {err}", j.name);
        }
    }
}

/// How many stuck journeys the page lists (the longest waiting).
pub const STUCK_SHOWN: usize = 200;

/// How many paths the page lists.
pub const TOP_PATHS: usize = 10;

/// What a journey overview is cached under.
pub type Key = (String, Days);

/// Computes one journey's overview for a period (the cache's computation).
pub(super) async fn compute(
    service: crate::service::Service,
    zone: TimeZone,
    name: String,
    days: Days,
) -> Result<JourneyOverview, JourneyError> {
    let period = days.period(&zone, Timestamp::now());
    service.journey_overview(&name, period, TOP_PATHS).await
}
