//! Admin pages: users, API keys and (read-only) policies.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::pages::render;
use super::time::Times;
use super::DashboardState;
use super::{PageError, PageResult};
use crate::domain::policy::Within;
use crate::domain::span::format_span;
use crate::domain::PolicyKind;
use crate::secrets::{hash_password, MIN_PASSWORD};
use crate::store::{Role, StoreError};

fn users_page(
    times: &Times,
    users: &[crate::store::User],
    user: &CurrentUser,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> axum::response::Response {
    let users: Vec<Value> = users
        .iter()
        .map(|u| context! { email => u.email.clone(), name => u.name.clone(), role => u.role.as_str(), created_at => times.html(u.created_at) })
        .collect();
    render(
        status,
        "users.html",
        context! {
            title => "Users", page => "users", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            users => users, message => message, error => error,
        },
    )
}

pub async fn users(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Admin)?;
    let users = state.service.users().await?;
    Ok(users_page(
        &state.dashboard.times,
        &users,
        &user,
        StatusCode::OK,
        None,
        None,
    ))
}

#[derive(Debug, Deserialize)]
pub struct AddUserForm {
    csrf: String,
    email: String,
    #[serde(default)]
    name: String,
    role: String,
    password: String,
}

pub async fn add_user(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Form(form): Form<AddUserForm>,
) -> PageResult {
    user.require(Role::Admin)?;
    user.check_csrf(&form.csrf)?;
    let email = form.email.trim().to_lowercase();
    let problem = if !email.contains('@') || email.len() > 254 {
        Some("email: not an email address".to_string())
    } else if let Some(why) = super::input::problem(&email, super::input::MAX_EMAIL, false) {
        Some(format!("email: {why}"))
    } else if let Some(why) = super::input::problem(form.name.trim(), super::input::MAX_NAME, false)
    {
        Some(format!("name: {why}"))
    } else if form.password.chars().count() < MIN_PASSWORD {
        Some(format!("password: at least {MIN_PASSWORD} characters"))
    } else {
        None
    };
    let Some(role) = Role::parse(&form.role) else {
        return Err(PageError::BadRequest(
            "role: agent, manager or admin".into(),
        ));
    };
    if let Some(problem) = problem {
        let users = state.service.users().await?;
        return Ok(users_page(
            &state.dashboard.times,
            &users,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(problem),
        ));
    }
    let hash = hash_password(&form.password).map_err(|e| PageError::BadRequest(e.to_string()))?;
    let name = if form.name.trim().is_empty() {
        email.clone()
    } else {
        form.name.trim().to_string()
    };
    let outcome = state.service.create_user(&email, &name, role, &hash).await;
    let users = state.service.users().await?;
    match outcome {
        Ok(created) => {
            tracing::info!(by = %user.0.user.email, user = %created.email, role = created.role.as_str(), "user added");
            super::audit::record(
                &state,
                &user,
                "user.added",
                &created.email,
                Some(created.role.as_str()),
            )
            .await?;
            Ok(users_page(
                &state.dashboard.times,
                &users,
                &user,
                StatusCode::OK,
                Some(format!(
                    "Added {} ({}).",
                    created.email,
                    created.role.as_str()
                )),
                None,
            ))
        }
        Err(StoreError::Conflict(what)) => Ok(users_page(
            &state.dashboard.times,
            &users,
            &user,
            StatusCode::CONFLICT,
            None,
            Some(what),
        )),
        Err(err) => Err(err.into()),
    }
}

fn keys_page(
    times: &Times,
    keys: &[crate::store::ApiKey],
    user: &CurrentUser,
    new_key: Option<(String, String)>,
    error: Option<String>,
) -> axum::response::Response {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| context! { name => k.name.clone(), created_at => times.html(k.created_at) })
        .collect();
    render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "keys.html",
        context! {
            title => "API keys", page => "keys", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            keys => keys, new_key => new_key.map(|(name, key)| context! { name => name, key => key }), error => error,
        },
    )
}

pub async fn keys(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Admin)?;
    let keys = state.service.api_keys().await?;
    Ok(keys_page(&state.dashboard.times, &keys, &user, None, None))
}

#[derive(Debug, Deserialize)]
pub struct KeyForm {
    csrf: String,
    /// "create" or "revoke".
    action: String,
    name: String,
}

/// Creates a key (shown once, stored as a hash) or revokes one.
pub async fn key_action(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Form(form): Form<KeyForm>,
) -> PageResult {
    user.require(Role::Admin)?;
    user.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_string();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        let keys = state.service.api_keys().await?;
        return Ok(keys_page(
            &state.dashboard.times,
            &keys,
            &user,
            None,
            Some("name: 1–64 letters, digits, '-', '_' or '.'".into()),
        ));
    }
    let mut new_key = None;
    let mut error = None;
    match form.action.as_str() {
        "create" => match state.service.create_api_key(&name).await {
            Ok(key) => {
                tracing::info!(by = %user.0.user.email, key = %name, "API key created");
                super::audit::record(&state, &user, "key.created", &name, None).await?;
                new_key = Some((name, key));
            }
            Err(StoreError::Conflict(what)) => error = Some(what),
            Err(err) => return Err(err.into()),
        },
        "revoke" => {
            if state.service.revoke_api_key(&name).await? {
                tracing::info!(by = %user.0.user.email, key = %name, "API key revoked");
                super::audit::record(&state, &user, "key.revoked", &name, None).await?;
            } else {
                error = Some(format!("no key {name:?}"));
            }
        }
        _ => return Err(PageError::BadRequest("action: create or revoke".into())),
    }
    let keys = state.service.api_keys().await?;
    Ok(keys_page(
        &state.dashboard.times,
        &keys,
        &user,
        new_key,
        error,
    ))
}

pub async fn policies(State(state): State<DashboardState>, user: CurrentUser) -> PageResult {
    user.require(Role::Admin)?;
    let policies: Vec<Value> = state
        .service
        .engine
        .policies()
        .iter()
        .map(|p| {
            let rule = match &p.kind {
                PolicyKind::Expect { within, calendar } => {
                    let span = match within {
                        Within::Fixed(span) => format_span(*span),
                        Within::ByProperty { property, spans, default } => {
                            let mut parts: Vec<String> = spans
                                .iter()
                                .map(|(value, span)| format!("{value} {}", format_span(*span)))
                                .collect();
                            parts.push(format!("otherwise {}", format_span(*default)));
                            format!("by properties.{property}: {}", parts.join(", "))
                        }
                    };
                    let paused = if p.pause.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; paused by {}, resumed by {}",
                            p.pause.join(", "),
                            if p.resume.is_empty() { "nothing".to_string() } else { p.resume.join(", ") }
                        )
                    };
                    match calendar {
                        Some(c) => format!("within {span} of {} open time{paused}", c.name()),
                        None => format!("within {span}{paused}"),
                    }
                }
                PolicyKind::Schedule { at, grace } => format!(
                    "at {}{} {}, grace {}{}",
                    at.property.as_deref().map(|p| format!("properties.{p}")).unwrap_or_else(|| "the trigger".into()),
                    if at.offset.is_negative() { " −" } else { " +" },
                    format_span(at.offset.abs()),
                    format_span(*grace),
                    if p.reschedule.is_empty() { String::new() } else { format!("; moved by {}", p.reschedule.join(", ")) }
                ),
            };
            context! {
                name => p.name.to_string(), promise => p.promise, rule => rule,
                trigger => p.trigger.join(", "), expect => p.expect.join(", "), cancel => p.cancel.join(", "),
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "policies.html",
        context! {
            title => "Policies", page => "policies", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            policies => policies, fingerprint => state.service.engine.fingerprint().to_string(),
        },
    ))
}
