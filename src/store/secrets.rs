//! Secrets kept in the database that are not people's: API keys (only their hashes) and the random secret
//! every node shares for signing links.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKey {
    pub name: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait Secrets: Send + Sync {
    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError>;
    /// The key's name if a live (not revoked) key has this hash.
    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError>;
    /// A random secret shared by every node (created on first use), for signing links.
    async fn shared_secret(&self) -> Result<String, StoreError>;
    /// The keys that sign status-page links, oldest first, retired ones included (none until the first
    /// `rotate_link_key`). Read only: the status page reads them on every request.
    async fn link_keys(&self) -> Result<Vec<LinkKey>, StoreError>;
    /// A new signing key (the next `kid`): links minted from now on use it; older live keys still verify.
    async fn rotate_link_key(&self) -> Result<LinkKey, StoreError>;
    /// Retires a key: links it signed verify no more. Refused (`Conflict`) for the only live key.
    async fn retire_link_key(&self, kid: i64) -> Result<bool, StoreError>;
    /// Revokes every status link of this customer issued at or before `at`.
    async fn revoke_customer_links(&self, customer: &str, at: Timestamp) -> Result<(), StoreError>;
    /// When this customer's links were last revoked, if ever.
    async fn links_revoked_at(&self, customer: &str) -> Result<Option<Timestamp>, StoreError>;
}

/// A key that signs status-page links; `kid` is written in every link it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkKey {
    pub kid: i64,
    pub secret: String,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}
