//! Dashboard users, sessions and the work log on SQLite.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Row};

use super::{lock, SqliteStore};
use crate::store::accounts::{Accounts, Role, Session, User, WorkEntry};
use crate::store::{from_nanos, nanos, StoreError};

const USER_COLUMNS: &str = "id, email, name, role, password_hash, created_at";

fn user_at(r: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    let role: String = r.get(first + 3)?;
    Ok(User {
        id: r.get(first)?,
        email: r.get(first + 1)?,
        name: r.get(first + 2)?,
        // Only `create_user` writes roles, from the enum.
        role: Role::parse(&role).unwrap_or(Role::Agent),
        password_hash: r.get(first + 4)?,
        created_at: from_nanos(r.get(first + 5)?),
    })
}

fn work_from_row(r: &Row<'_>) -> rusqlite::Result<WorkEntry> {
    Ok(WorkEntry {
        customer: r.get(0)?,
        policy: r.get(1)?,
        trigger_event: r.get(2)?,
        kind: r.get(3)?,
        by: r.get(4)?,
        assignee: r.get(5)?,
        note: r.get(6)?,
        at: from_nanos(r.get(7)?),
    })
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let (email, name, hash) = (
            email.to_lowercase(),
            name.to_string(),
            password_hash.to_string(),
        );
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let now = Timestamp::now();
            let inserted = conn.execute(
                "INSERT INTO users (email, name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (email) DO NOTHING",
                params![email, name, role.as_str(), hash, nanos(now)],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("a user {email:?} already exists")));
            }
            Ok(User {
                id: conn.last_insert_rowid(),
                email,
                name,
                role,
                password_hash: hash,
                created_at: now,
            })
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_lowercase();
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
                    ))?
                    .query_row([&email], |r| user_at(r, 0))
                    .optional()?)
            })
        })
        .await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|inner| {
            inner.read(|conn| {
                let rows = conn
                    .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))?
                    .query_map([], |r| user_at(r, 0))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let (token_hash, csrf) = (token_hash.to_string(), csrf.to_string());
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            conn.execute(
                "DELETE FROM sessions WHERE expires_at < ?1",
                [nanos(Timestamp::now())],
            )?;
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user_id, csrf, nanos(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let token_hash = token_hash.to_string();
        self.run(move |inner| {
            inner.read(|conn| {
                let columns = super::rows::prefixed(USER_COLUMNS, "u");
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT s.csrf, s.expires_at, {columns} FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.token_hash = ?1 AND s.expires_at > ?2"
                    ))?
                    .query_row(params![token_hash, nanos(now)], |r| {
                        Ok(Session {
                            csrf: r.get(0)?,
                            expires_at: from_nanos(r.get(1)?),
                            user: user_at(r, 2)?,
                        })
                    })
                    .optional()?)
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let token_hash = token_hash.to_string();
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
            Ok(())
        })
        .await
    }

    async fn record_work(&self, e: WorkEntry) -> Result<(), StoreError> {
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            conn.execute(
                "INSERT INTO work_log (customer, policy, trigger_event, kind, by_user, assignee, note, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![e.customer, e.policy, e.trigger_event, e.kind, e.by, e.assignee, e.note, nanos(e.at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn work_for(&self, customers: Vec<String>) -> Result<Vec<WorkEntry>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                // One index probe per customer, or one pass over the log when that is shorter (the work
                // queue asks for every invisible customer; the log holds only what staff did).
                let logged: i64 = conn
                    .prepare_cached("SELECT coalesce(max(seq), 0) FROM work_log")?
                    .query_row([], |r| r.get(0))?;
                let mut out = Vec::new();
                if logged as usize <= customers.len() * 4 {
                    let wanted: std::collections::HashSet<&str> =
                        customers.iter().map(String::as_str).collect();
                    let mut stmt = conn.prepare_cached(
                        "SELECT customer, policy, trigger_event, kind, by_user, assignee, note, at FROM work_log
                         ORDER BY seq",
                    )?;
                    for row in stmt.query_map([], work_from_row)? {
                        let row = row?;
                        if wanted.contains(row.customer.as_str()) {
                            out.push(row);
                        }
                    }
                } else {
                    let mut stmt = conn.prepare_cached(
                        "SELECT customer, policy, trigger_event, kind, by_user, assignee, note, at FROM work_log
                         WHERE customer = ?1 ORDER BY seq",
                    )?;
                    for customer in &customers {
                        for row in stmt.query_map([customer], work_from_row)? {
                            out.push(row?);
                        }
                    }
                }
                out.sort_by_key(|e| e.at);
                Ok(out)
            })
        })
        .await
    }
}
