//! API keys and the shared link-signing secret on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::PostgresStore;
use crate::store::{from_nanos, nanos, ApiKey, Secrets, StoreError};

#[async_trait]
impl Secrets for PostgresStore {
    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let created = sqlx::query(
            "INSERT INTO api_keys (name, hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, revoked_at = NULL
             WHERE api_keys.revoked_at IS NOT NULL",
        )
        .bind(name)
        .bind(hash)
        .bind(nanos(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        if created.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "an API key named {name:?} already exists"
            )));
        }
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT name FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(ApiKey {
                    name: r.try_get(0)?,
                    created_at: from_nanos(r.try_get(1)?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(nanos(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn shared_secret(&self) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(crate::store::random_secret())
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'secret'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
