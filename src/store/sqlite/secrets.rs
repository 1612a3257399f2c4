//! API keys and the shared link-signing secret on SQLite.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::{lock, SqliteStore};
use crate::store::{from_nanos, nanos, ApiKey, LinkKey, Secrets, StoreError};

#[async_trait]
impl Secrets for SqliteStore {
    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let exists: bool = conn.query_row(
                "SELECT count(*) > 0 FROM api_keys WHERE name = ?1 AND revoked_at IS NULL",
                [&name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Conflict(format!("an API key named {name:?} already exists")));
            }
            conn.execute(
                "INSERT INTO api_keys (name, hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at,
                   revoked_at = NULL",
                params![name, hash, nanos(Timestamp::now())],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let hash = hash.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT name FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
                    )?
                    .query_row([&hash], |r| r.get(0))
                    .optional()?)
            })
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT name, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY name",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(ApiKey {
                        name: r.get(0)?,
                        created_at: from_nanos(r.get(1)?),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
        .await
    }

    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let n = conn.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, nanos(Timestamp::now())],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn shared_secret(&self) -> Result<String, StoreError> {
        self.run(|inner| {
            let conn = lock(&inner.writer);
            let fresh = crate::store::random_secret();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?1) ON CONFLICT (key) DO NOTHING",
                [&fresh],
            )?;
            Ok(
                conn.query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn link_keys(&self) -> Result<Vec<LinkKey>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT kid, secret, created_at, retired_at FROM link_keys ORDER BY kid",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(LinkKey {
                        kid: r.get(0)?,
                        secret: r.get(1)?,
                        created_at: from_nanos(r.get(2)?),
                        retired_at: r.get::<_, Option<i64>>(3)?.map(from_nanos),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
        .await
    }

    async fn rotate_link_key(&self) -> Result<LinkKey, StoreError> {
        self.run(|inner| {
            let conn = lock(&inner.writer);
            let key = LinkKey {
                kid: conn.query_row(
                    "SELECT coalesce(max(kid), 0) + 1 FROM link_keys",
                    [],
                    |r| r.get(0),
                )?,
                secret: crate::store::random_secret(),
                created_at: Timestamp::now(),
                retired_at: None,
            };
            conn.execute(
                "INSERT INTO link_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)",
                params![key.kid, key.secret, nanos(key.created_at)],
            )?;
            Ok(key)
        })
        .await
    }

    async fn retire_link_key(&self, kid: i64) -> Result<bool, StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction()?;
            let others: i64 = tx.query_row(
                "SELECT count(*) FROM link_keys WHERE retired_at IS NULL AND kid <> ?1",
                [kid],
                |r| r.get(0),
            )?;
            if others == 0 {
                return Err(StoreError::Conflict(format!(
                    "key {kid} is the only live link key: rotate first (seen keys links rotate)"
                )));
            }
            let n = tx.execute(
                "UPDATE link_keys SET retired_at = ?2 WHERE kid = ?1 AND retired_at IS NULL",
                params![kid, nanos(Timestamp::now())],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn revoke_customer_links(&self, customer: &str, at: Timestamp) -> Result<(), StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            lock(&inner.writer).execute(
                "INSERT INTO link_revocations (customer, revoked_at) VALUES (?1, ?2)
                 ON CONFLICT (customer) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at)",
                params![customer, nanos(at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn links_revoked_at(&self, customer: &str) -> Result<Option<Timestamp>, StoreError> {
        let customer = customer.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT revoked_at FROM link_revocations WHERE customer = ?1")?
                    .query_row([&customer], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map(from_nanos))
            })
        })
        .await
    }
}
