//! Who is logged in: sessions (HttpOnly SameSite=Strict cookies holding a random token whose SHA-256 alone
//! is stored) and CSRF tokens (one per session, required on every form). Minting, hashing and comparing
//! the secrets is `secrets`'s.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;

use super::DashboardState;
use crate::store::{Role, Session};

pub const SESSION_COOKIE: &str = "seen_session";
/// Set by the login page; the login form must echo it (login CSRF).
pub const LOGIN_COOKIE: &str = "seen_login";

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;

pub fn cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn read_cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The logged-in user of a dashboard request. Without a live session, pages redirect to the login.
pub struct CurrentUser(pub Session);

impl FromRequestParts<DashboardState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DashboardState,
    ) -> Result<Self, Self::Rejection> {
        let login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next: String = url_escape(next);
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(token) = read_cookie(parts, SESSION_COOKIE) else {
            return Err(login());
        };
        match state.service.session(&token, Timestamp::now()).await {
            Ok(Some(session)) => Ok(CurrentUser(session)),
            Ok(None) => Err(login()),
            Err(err) => Err(crate::app::error::ApiError::from(err).into_response()),
        }
    }
}

impl CurrentUser {
    /// 403 unless the user has at least this role.
    pub fn require(&self, role: Role) -> Result<(), super::PageError> {
        if self.0.user.role >= role {
            Ok(())
        } else {
            Err(super::PageError::Forbidden)
        }
    }

    /// 403 unless the form carried this session's CSRF token.
    pub fn check_csrf(&self, token: &str) -> Result<(), super::PageError> {
        if crate::secrets::same_token(token, &self.0.csrf) {
            Ok(())
        } else {
            Err(super::PageError::Csrf)
        }
    }
}

/// Percent-encodes what is not unreserved (for a `next=` parameter).
pub fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
