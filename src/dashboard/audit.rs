//! The audit log page (`/admin/audit`, admins only) with its erasure form (`POST /admin/forget`), and the
//! one helper the dashboard's admin actions use to record themselves in the log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::pages::render;
use super::DashboardState;
use super::PageResult;
use crate::store::admin::{customer_digest, new_tombstone};
use crate::store::{NewAudit, Role, StoreError};

/// How many of the latest entries the page shows (`seen audit --limit` reads further back).
const SHOWN: usize = 500;

pub async fn page(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Admin)?;
    audit_page(&state, &user, StatusCode::OK, None).await
}

async fn audit_page(
    state: &DashboardState,
    user: &CurrentUser,
    status: StatusCode,
    message: Option<String>,
) -> PageResult {
    let entries: Vec<Value> = state
        .service
        .audit_log(SHOWN)
        .await?
        .into_iter()
        .map(|e| {
            context! {
                at => state.dashboard.times.html(e.at), actor => e.actor, action => e.action, subject => e.subject, detail => e.detail,
            }
        })
        .collect();
    Ok(render(
        status,
        "audit.html",
        context! {
            title => "Audit log", page => "audit", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            entries => entries, message => message,
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ForgetForm {
    csrf: String,
    customer: String,
}

/// An erasure request from the dashboard: the same as `seen forget`, recorded with the admin's email.
pub async fn forget(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Form(form): Form<ForgetForm>,
) -> PageResult {
    user.require(Role::Admin)?;
    user.check_csrf(&form.csrf)?;
    let customer = form.customer.trim();
    if customer.is_empty() {
        return audit_page(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("customer: the customer id to forget".into()),
        )
        .await;
    }
    let tombstone = new_tombstone();
    let audit = NewAudit::new(
        user.0.user.email.clone(),
        "customer.forgotten",
        Some(customer_digest(customer)),
    )
    .with_detail(format!("now {tombstone}"));
    let report = state
        .service
        .forget_customer(customer, &tombstone, audit)
        .await?;
    if !report.touched_anything() {
        return audit_page(
            &state,
            &user,
            StatusCode::NOT_FOUND,
            Some("No such customer: nothing was changed.".into()),
        )
        .await;
    }
    state.dashboard.queue_changed();
    tracing::info!(by = %user.0.user.email, tombstone = %tombstone, "customer forgotten");
    let message = format!(
        "Forgotten: {} events deleted; {} promises kept anonymously as {}.",
        report.events_deleted, report.obligations_anonymised, report.tombstone
    );
    audit_page(&state, &user, StatusCode::OK, Some(message)).await
}

/// Records an admin action taken on the dashboard by `user`.
pub(super) async fn record(
    state: &DashboardState,
    user: &CurrentUser,
    action: &str,
    subject: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    let mut entry = NewAudit::new(user.0.user.email.clone(), action, Some(subject.to_string()));
    entry.detail = detail.map(str::to_string);
    state.service.record_audit(entry).await
}
