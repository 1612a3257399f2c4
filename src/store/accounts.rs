//! People who use the dashboard, their sessions, and the work they record on invisible customers
//! (acknowledge, assign, note, contacted).

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;

/// What a user may do: agents work the queue; managers see everything and team reports; admins also manage
/// users and API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Manager,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "agent" => Some(Role::Agent),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The argon2id PHC string (never shown).
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: Timestamp,
}

/// A logged-in browser: the session id is stored only as a hash; the CSRF token guards its forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// One step someone took on an obligation of an invisible customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkEntry {
    pub customer: String,
    pub policy: String,
    pub trigger_event: String,
    /// "acknowledged", "assigned", "note" or "contacted".
    pub kind: String,
    /// Who did it (user email).
    pub by: String,
    /// For "assigned": to whom (user email).
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub at: Timestamp,
}

#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates a user; an existing email is a `Conflict`.
    async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The live session with this token hash (expired ones are `None`).
    async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    async fn record_work(&self, entry: WorkEntry) -> Result<(), StoreError>;
    /// Work recorded on these customers' obligations, oldest first.
    async fn work_for(&self, customers: Vec<String>) -> Result<Vec<WorkEntry>, StoreError>;
}
