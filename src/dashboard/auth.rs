//! Passwords (argon2id), sessions (random tokens stored as SHA-256 hashes, HttpOnly SameSite=Strict
//! cookies) and CSRF tokens (one per session, required on every form).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::store::{Role, Session};

pub const SESSION_COOKIE: &str = "seen_session";
/// Set by the login page; the login form must echo it (login CSRF).
pub const LOGIN_COOKIE: &str = "seen_login";
/// Shortest password accepted for a dashboard user.
pub const MIN_PASSWORD: usize = 12;

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// An argon2id PHC string with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// 256 random bits as hex.
pub fn random_token() -> String {
    crate::store::random_secret()
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

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

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
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
        match state
            .service
            .store
            .session(&token_hash(&token), Timestamp::now())
            .await
        {
            Ok(Some(session)) => Ok(CurrentUser(session)),
            Ok(None) => Err(login()),
            Err(err) => Err(crate::api::error::ApiError::from(err).into_response()),
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
        if same_token(token, &self.0.csrf) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(phc, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn tokens_compare_in_constant_time_and_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }
}
