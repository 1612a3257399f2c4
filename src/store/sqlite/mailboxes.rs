//! The mailbox connectors' cursors, threads and leases on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::{lock, SqliteStore};
use crate::store::{nanos, MailCursor, MailThread, Mailboxes, StoreError};

#[async_trait]
impl Mailboxes for SqliteStore {
    async fn mail_cursor(
        &self,
        connector: &str,
        folder: &str,
    ) -> Result<Option<MailCursor>, StoreError> {
        let (connector, folder) = (connector.to_string(), folder.to_string());
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT validity, last_uid FROM mail_cursors WHERE connector = ?1 AND folder = ?2",
                    )?
                    .query_row(params![connector, folder], |r| {
                        Ok(MailCursor {
                            validity: r.get(0)?,
                            last_uid: r.get(1)?,
                        })
                    })
                    .optional()?)
            })
        })
        .await
    }

    async fn set_mail_cursor(
        &self,
        connector: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<(), StoreError> {
        let (connector, folder) = (connector.to_string(), folder.to_string());
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            conn.prepare_cached(
                "INSERT INTO mail_cursors (connector, folder, validity, last_uid, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (connector, folder) DO UPDATE SET validity = excluded.validity,
                   last_uid = excluded.last_uid, updated_at = excluded.updated_at",
            )?
            .execute(params![
                connector,
                folder,
                cursor.validity,
                cursor.last_uid,
                nanos(Timestamp::now())
            ])?;
            Ok(())
        })
        .await
    }

    async fn mail_threads(
        &self,
        message_ids: Vec<String>,
    ) -> Result<HashMap<String, String>, StoreError> {
        if message_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT thread FROM mail_threads WHERE message_id = ?1 LIMIT 1",
                )?;
                let mut out = HashMap::new();
                for id in message_ids {
                    if let Some(thread) = stmt
                        .query_row([&id], |r| r.get::<_, String>(0))
                        .optional()?
                    {
                        out.insert(id, thread);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn recent_mail_thread(
        &self,
        correspondent: &str,
        subject_key: &str,
        since: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let (correspondent, subject_key) = (correspondent.to_string(), subject_key.to_string());
        self.run(move |inner| {
            inner.read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT thread FROM mail_threads
                         WHERE correspondent = ?1 AND subject_key = ?2 AND at >= ?3
                         ORDER BY at DESC LIMIT 1",
                    )?
                    .query_row(params![correspondent, subject_key, nanos(since)], |r| {
                        r.get(0)
                    })
                    .optional()?)
            })
        })
        .await
    }

    async fn record_mail_threads(&self, threads: Vec<MailThread>) -> Result<(), StoreError> {
        if threads.is_empty() {
            return Ok(());
        }
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO mail_threads (message_id, correspondent, thread, subject_key, at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?;
                for t in &threads {
                    stmt.execute(params![
                        t.message_id,
                        t.correspondent,
                        t.thread,
                        t.subject_key,
                        nanos(t.at)
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn lease_connector(
        &self,
        connector: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let (connector, holder) = (connector.to_string(), holder.to_string());
        self.run(move |inner| {
            let conn = lock(&inner.writer);
            let changed = conn
                .prepare_cached(
                    "INSERT INTO connector_leases (connector, holder, until) VALUES (?1, ?2, ?4)
                     ON CONFLICT (connector) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE connector_leases.holder = excluded.holder OR connector_leases.until < ?3",
                )?
                .execute(params![connector, holder, nanos(now), nanos(until)])?;
            Ok(changed > 0)
        })
        .await
    }
}
