//! The dashboard, served by `seen serve` itself: server-rendered pages and SVG charts (no CDN, no
//! JavaScript needed), accounts with argon2id passwords, HttpOnly SameSite=Strict session cookies and CSRF
//! tokens on every form. Agents work the queue; managers also see promises, outbox and surveys; admins
//! manage users and API keys and view the policies.

mod admin;
pub mod auth;
pub mod charts;
mod pages;
mod reports;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;

use crate::config::actions::Directory;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/overview", get(reports::overview))
        .route("/invisible", get(pages::invisible))
        .route("/invisible/work", post(pages::work))
        .route("/customers/{id}", get(pages::customer))
        .route("/promises", get(reports::promises))
        .route("/outbox", get(reports::outbox))
        .route("/surveys", get(reports::surveys))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/keys", get(admin::keys).post(admin::key_action))
        .route("/admin/policies", get(admin::policies))
}

/// What the dashboard keeps between requests.
pub struct Dashboard {
    /// People, teams and routes from `seen.toml` (for "by team").
    pub directory: Arc<Directory>,
    overview: FigureCache<crate::insights::Overview>,
    promises: FigureCache<crate::insights::Promises>,
}

impl Dashboard {
    /// `figures_ttl`: how long the overview's and promises' figures are reused (they summarise weeks; a
    /// page load need not rescan them). Zero computes them on every request.
    pub fn new(directory: Arc<Directory>, figures_ttl: Duration) -> Dashboard {
        Dashboard {
            directory,
            overview: FigureCache::new(figures_ttl),
            promises: FigureCache::new(figures_ttl),
        }
    }
}

/// Computed figures per period, reused for a while.
struct FigureCache<T> {
    ttl: Duration,
    entries: Mutex<HashMap<u32, (Instant, Arc<T>)>>,
}

impl<T> FigureCache<T> {
    fn new(ttl: Duration) -> Self {
        FigureCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
    fn get(&self, days: u32) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&days)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }
    fn put(&self, days: u32, value: Arc<T>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(days, (Instant::now(), value));
    }
}

/// Why a dashboard request failed; rendered as a small page (internal causes go to the log only).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not for your role")]
    Forbidden,
    #[error("missing or wrong CSRF token: reload the page and try again")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl axum::response::IntoResponse for PageError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        match self {
            PageError::Forbidden => pages::forbidden(),
            PageError::Csrf => (StatusCode::FORBIDDEN, self.to_string()).into_response(),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, what).into_response(),
            PageError::BadRequest(what) => (StatusCode::BAD_REQUEST, what).into_response(),
            PageError::Store(err) => crate::http::error::ApiError::from(err).into_response(),
        }
    }
}

/// What a dashboard handler returns.
pub type PageResult = Result<axum::response::Response, PageError>;
