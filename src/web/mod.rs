//! The dashboard, served by `seen serve` itself: server-rendered pages (no CDN, no JavaScript needed),
//! accounts with argon2id passwords, HttpOnly SameSite=Strict session cookies and CSRF tokens on every form.

pub mod auth;
mod pages;

use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/invisible", get(pages::invisible))
        .route("/invisible/work", post(pages::work))
        .route("/customers/{id}", get(pages::customer))
        .route("/admin/users", get(pages::users))
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
