//! The audit log page (`/admin/audit`, admins only), and the one helper the dashboard's admin actions use
//! to record themselves in it.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::{context, Value};

use super::auth::CurrentUser;
use super::pages::{render, when};
use super::PageResult;
use crate::http::AppState;
use crate::store::{NewAudit, Role, StoreError};

/// How many of the latest entries the page shows (`seen audit --limit` reads further back).
const SHOWN: usize = 500;

pub async fn page(State(state): State<AppState>, user: CurrentUser) -> PageResult {
    user.require(Role::Admin)?;
    let entries: Vec<Value> = state
        .service
        .store
        .audit_log(SHOWN)
        .await?
        .into_iter()
        .map(|e| {
            context! {
                at => when(e.at), actor => e.actor, action => e.action, subject => e.subject, detail => e.detail,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "audit.html",
        context! {
            title => "Audit log", page => "audit", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            entries => entries,
        },
    ))
}

/// Records an admin action taken on the dashboard by `user`.
pub(super) async fn record(
    state: &AppState,
    user: &CurrentUser,
    action: &str,
    subject: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    let mut entry = NewAudit::new(user.0.user.email.clone(), action, Some(subject.to_string()));
    entry.detail = detail.map(str::to_string);
    state.service.store.record_audit(entry).await
}
