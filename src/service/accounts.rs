//! People and keys: dashboard users and their sessions, API keys, the audit log, erasure, and the work log
//! of the queue. The dashboard and the CLI change these through here; secrets are minted and hashed by
//! `secrets`, so what reaches the store is never a key, a token or a password.

use jiff::Timestamp;

use super::Service;
use crate::store::{
    ApiKey, AuditEntry, ForgetReport, NewAudit, Role, Session, StoreError, User, WorkEntry,
};

/// A session just opened: the token for the browser's cookie (the store keeps only its hash).
pub struct NewSession {
    pub token: String,
}

impl Service {
    /// The name of the live API key `key`, if there is one.
    pub async fn api_key_name(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store
            .find_api_key(&crate::secrets::hash_api_key(key))
            .await
    }

    /// Creates an API key called `name` and returns it: it exists only here, as only its hash is stored.
    /// A name in use is a `Conflict`.
    pub async fn create_api_key(&self, name: &str) -> Result<String, StoreError> {
        let key = crate::secrets::new_api_key();
        self.store
            .create_api_key(name, &crate::secrets::hash_api_key(&key))
            .await?;
        Ok(key)
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.store.list_api_keys().await
    }

    /// False if there is no such key.
    pub async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError> {
        self.store.revoke_api_key(name).await
    }

    /// Adds a user whose password is kept as `password_hash` (from `secrets::hash_password`); an existing
    /// email is a `Conflict`.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        self.store
            .create_user(email, name, role, password_hash)
            .await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.store.user_by_email(email).await
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.store.users().await
    }

    /// Removes a user and their sessions, with its audit row. False if there is no such user.
    pub async fn remove_user(&self, email: &str, audit: NewAudit) -> Result<bool, StoreError> {
        self.store.remove_user(email, audit).await
    }

    /// Changes a user's role (their sessions end), with its audit row. False if there is no such user.
    pub async fn set_user_role(
        &self,
        email: &str,
        role: Role,
        audit: NewAudit,
    ) -> Result<bool, StoreError> {
        self.store.set_user_role(email, role, audit).await
    }

    /// Opens a session for `user` until `expires_at`, with a fresh CSRF token.
    pub async fn open_session(
        &self,
        user: i64,
        expires_at: Timestamp,
    ) -> Result<NewSession, StoreError> {
        let token = crate::secrets::random_token();
        let csrf = crate::secrets::random_token();
        self.store
            .create_session(&crate::secrets::token_hash(&token), user, &csrf, expires_at)
            .await?;
        Ok(NewSession { token })
    }

    /// The live session of a browser's token (expired or unknown: `None`).
    pub async fn session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        self.store
            .session(&crate::secrets::token_hash(token), now)
            .await
    }

    pub async fn close_session(&self, token: &str) -> Result<(), StoreError> {
        self.store
            .delete_session(&crate::secrets::token_hash(token))
            .await
    }

    pub async fn record_audit(&self, entry: NewAudit) -> Result<(), StoreError> {
        self.store.record_audit(entry).await
    }

    /// The latest audit rows, newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit_log(limit).await
    }

    /// Erases one customer (see ARCHITECTURE.md, "Erasure"), recording `audit` in the same transaction;
    /// then their kept webhook deliveries and connectors' links.
    pub async fn forget_customer(
        &self,
        id: &str,
        tombstone: &str,
        audit: NewAudit,
    ) -> Result<ForgetReport, StoreError> {
        let report = self.store.forget_customer(id, tombstone, audit).await?;
        // Webhook bodies kept for replay, and connectors' links to the customer, go too.
        self.store.forget_deliveries(id).await?;
        Ok(report)
    }

    /// Records a step someone took on an obligation (acknowledged, assigned, note, contacted).
    pub async fn record_work(&self, entry: WorkEntry) -> Result<(), StoreError> {
        self.store.record_work(entry).await
    }

    /// Work recorded on these customers' obligations, oldest first.
    pub async fn work_for(&self, customers: Vec<String>) -> Result<Vec<WorkEntry>, StoreError> {
        self.store.work_for(customers).await
    }
}
