//! The retention page (`/retention`, managers): customers by the month they joined, the share still active
//! in each later month as a heatmap table (every cell shows its number; the colour only repeats it), and the
//! churn model's mean P(alive) per cohort beside it. Figures are cached like the other reports'.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::pages::render;
use super::{DashboardState, PageError, PageResult};
use crate::service::cohorts::{Retention, RetentionQuery};
use crate::store::Role;

/// The page's form: every field optional, an empty field means its default.
#[derive(Debug, Default, Deserialize)]
pub struct RetentionForm {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    active: Option<String>,
}

fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `heat-0` (nobody) … `heat-10` (everyone): the cell's colour class, a tenth of the share per step.
fn heat(share: Option<f64>) -> String {
    match share {
        Some(s) if s.is_finite() => format!("heat-{}", (s.clamp(0.0, 1.0) * 10.0).floor() as u32),
        _ => "heat-none".into(),
    }
}

fn percent(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.0}%", s * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// The table as the template draws it.
fn rows(report: &Retention) -> Vec<Value> {
    report
        .cohorts
        .iter()
        .map(|c| {
            let cells: Vec<Value> = c
                .months
                .iter()
                .map(|m| {
                    context! {
                        text => format!("{}{}", percent(m.share), if m.complete { "" } else { "*" }),
                        class => heat(m.share),
                        title => format!("{}: {} of {} active in month {}", c.month, m.active, c.customers, m.offset),
                    }
                })
                .collect();
            context! {
                month => c.month.clone(), customers => c.customers, cells => cells,
                p_alive => percent(c.p_alive), scored => c.scored,
                p_class => heat(c.p_alive),
            }
        })
        .collect()
}

pub async fn page(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(form): Query<RetentionForm>,
) -> PageResult {
    user.require(Role::Manager)?;
    let now = Timestamp::now();
    let query = RetentionQuery::parse(
        &state.dashboard.cohorts.zone,
        given(&form.by),
        given(&form.from),
        given(&form.to),
        given(&form.active),
        now,
    )
    .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let report = state
        .dashboard
        .retention_figures(&state.service, state.dashboard.cohorts.clone(), query)
        .await?;
    let offsets: Vec<usize> = (0..report.average.len()).collect();
    let average: Vec<Value> = report
        .average
        .iter()
        .map(|a| context! { text => percent(*a), class => heat(*a) })
        .collect();
    let partial = report
        .cohorts
        .iter()
        .any(|c| c.customers > 0 && c.months.iter().any(|m| !m.complete));
    let times = &state.dashboard.times;
    Ok(render(
        StatusCode::OK,
        "retention.html",
        context! {
            title => "Retention", page => "retention", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            rows => rows(&report), offsets => offsets, average => average, partial => partial,
            total => report.cohorts.iter().map(|c| c.customers).sum::<u64>(),
            by => report.by.clone(), joined_by => report.joined_by.join(", "),
            active => report.active.as_ref().map(|a| a.join(", ")),
            not_active => report.not_active.join(", "),
            timezone => report.timezone.clone(),
            fitted_at => report.churn_fitted_at.map(|t| times.html(t)),
            form_by => given(&form.by).unwrap_or("purchase"),
            form_from => given(&form.from).unwrap_or(""),
            form_to => given(&form.to).unwrap_or(""),
            form_active => given(&form.active).unwrap_or(""),
            heat_scale => (0..=10).map(|i| context! { class => format!("heat-{i}"), text => format!("{}%", i * 10) }).collect::<Vec<_>>(),
        },
    ))
}

/// Fills the cache with the default question (by purchase, the last twelve months), at start.
pub(super) async fn warm(
    dashboard: std::sync::Arc<super::Dashboard>,
    service: crate::service::Service,
) {
    let settings = dashboard.cohorts.clone();
    let Ok(query) = RetentionQuery::default_for(&settings.zone, Timestamp::now()) else {
        return;
    };
    if let Err(err) = dashboard.retention_figures(&service, settings, query).await {
        tracing::warn!("computing the retention figures at start failed: {err}");
    }
}
