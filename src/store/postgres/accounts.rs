//! Dashboard users, sessions and the work log on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresStore;
use crate::store::accounts::{Accounts, Role, Session, User, WorkEntry};
use crate::store::{from_nanos, nanos, StoreError};

const USER_COLUMNS: &str = "u.id, u.email, u.name, u.role, u.password_hash, u.created_at";

fn user_at(r: &PgRow, first: usize) -> Result<User, sqlx::Error> {
    let role: String = r.try_get(first + 3)?;
    Ok(User {
        id: r.try_get(first)?,
        email: r.try_get(first + 1)?,
        name: r.try_get(first + 2)?,
        // Only `create_user` writes roles, from the enum.
        role: Role::parse(&role).unwrap_or(Role::Agent),
        password_hash: r.try_get(first + 4)?,
        created_at: from_nanos(r.try_get(first + 5)?),
    })
}

#[async_trait]
impl Accounts for PostgresStore {
    async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let now = Timestamp::now();
        let email = email.to_lowercase();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(&email)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(nanos(now))
        .fetch_optional(&self.pool)
        .await?;
        let id =
            id.ok_or_else(|| StoreError::Conflict(format!("a user {email:?} already exists")))?;
        Ok(User {
            id,
            email,
            name: name.to_string(),
            role,
            password_hash: password_hash.to_string(),
            created_at: now,
        })
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1"
        ))
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(|r| user_at(r, 0)).transpose()?)
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| user_at(r, 0))
            .collect::<Result<_, _>>()?)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(nanos(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(nanos(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT s.csrf, s.expires_at, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(nanos(now))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Session {
                csrf: r.try_get(0)?,
                expires_at: from_nanos(r.try_get(1)?),
                user: user_at(&r, 2)?,
            })),
        }
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_work(&self, e: WorkEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO work_log (customer, policy, trigger_event, kind, by_user, assignee, note, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.customer)
        .bind(&e.policy)
        .bind(&e.trigger_event)
        .bind(&e.kind)
        .bind(&e.by)
        .bind(&e.assignee)
        .bind(&e.note)
        .bind(nanos(e.at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn work_for(&self, customers: Vec<String>) -> Result<Vec<WorkEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT customer, policy, trigger_event, kind, by_user, assignee, note, at FROM work_log
             WHERE customer = ANY($1) ORDER BY at, seq",
        )
        .bind(&customers)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkEntry {
                    customer: r.try_get(0)?,
                    policy: r.try_get(1)?,
                    trigger_event: r.try_get(2)?,
                    kind: r.try_get(3)?,
                    by: r.try_get(4)?,
                    assignee: r.try_get(5)?,
                    note: r.try_get(6)?,
                    at: from_nanos(r.try_get(7)?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
