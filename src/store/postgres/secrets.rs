//! API keys and the shared link-signing secret on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::PostgresStore;
use crate::store::{from_nanos, nanos, ApiKey, LinkKey, Secrets, StoreError};

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

    async fn link_keys(&self) -> Result<Vec<LinkKey>, StoreError> {
        let rows =
            sqlx::query("SELECT kid, secret, created_at, retired_at FROM link_keys ORDER BY kid")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(LinkKey {
                    kid: r.try_get(0)?,
                    secret: r.try_get(1)?,
                    created_at: from_nanos(r.try_get(2)?),
                    retired_at: r.try_get::<Option<i64>, _>(3)?.map(from_nanos),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn rotate_link_key(&self) -> Result<LinkKey, StoreError> {
        let secret = crate::store::random_secret();
        let created_at = Timestamp::now();
        // Two nodes rotating at once: the loser's insert conflicts on kid and it reads the winner's key.
        let kid: Option<i64> = sqlx::query_scalar(
            "INSERT INTO link_keys (kid, secret, created_at)
             SELECT coalesce(max(kid), 0) + 1, $1, $2 FROM link_keys
             ON CONFLICT (kid) DO NOTHING RETURNING kid",
        )
        .bind(&secret)
        .bind(nanos(created_at))
        .fetch_optional(&self.pool)
        .await?;
        let kid = kid.ok_or_else(|| {
            StoreError::Conflict("another node rotated the link key at the same moment".into())
        })?;
        Ok(LinkKey {
            kid,
            secret,
            created_at,
            retired_at: None,
        })
    }

    async fn retire_link_key(&self, kid: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE link_keys IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM link_keys WHERE retired_at IS NULL AND kid <> $1",
        )
        .bind(kid)
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Err(StoreError::Conflict(format!(
                "key {kid} is the only live link key: rotate first (seen keys links rotate)"
            )));
        }
        let done = sqlx::query(
            "UPDATE link_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .bind(nanos(Timestamp::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_customer_links(&self, customer: &str, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO link_revocations (customer, revoked_at) VALUES ($1, $2)
             ON CONFLICT (customer) DO UPDATE
             SET revoked_at = greatest(link_revocations.revoked_at, excluded.revoked_at)",
        )
        .bind(customer)
        .bind(nanos(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn links_revoked_at(&self, customer: &str) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM link_revocations WHERE customer = $1")
                .bind(customer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.map(from_nanos))
    }
}
