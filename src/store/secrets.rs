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
}
