//! The mailbox connectors' cursors, threads and leases on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::PostgresStore;
use crate::store::{nanos, MailCursor, MailThread, Mailboxes, StoreError};

/// A UID or UIDVALIDITY read back (stored as BIGINT; always within u32 when written by Seen).
fn uid(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt {
        table: "mail_cursors",
        reason: format!("{value} is not a UID"),
    })
}

#[async_trait]
impl Mailboxes for PostgresStore {
    async fn mail_cursor(
        &self,
        connector: &str,
        folder: &str,
    ) -> Result<Option<MailCursor>, StoreError> {
        let row = sqlx::query(
            "SELECT validity, last_uid FROM mail_cursors WHERE connector = $1 AND folder = $2",
        )
        .bind(connector)
        .bind(folder)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(MailCursor {
                validity: uid(r.try_get(0)?)?,
                last_uid: uid(r.try_get(1)?)?,
            })
        })
        .transpose()
    }

    async fn set_mail_cursor(
        &self,
        connector: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mail_cursors (connector, folder, validity, last_uid, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (connector, folder) DO UPDATE SET validity = excluded.validity,
               last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        )
        .bind(connector)
        .bind(folder)
        .bind(i64::from(cursor.validity))
        .bind(i64::from(cursor.last_uid))
        .bind(nanos(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mail_threads(
        &self,
        message_ids: Vec<String>,
    ) -> Result<HashMap<String, String>, StoreError> {
        if message_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT DISTINCT ON (message_id) message_id, thread FROM mail_threads
             WHERE message_id = ANY($1) ORDER BY message_id, correspondent",
        )
        .bind(&message_ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn recent_mail_thread(
        &self,
        correspondent: &str,
        subject_key: &str,
        since: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT thread FROM mail_threads
             WHERE correspondent = $1 AND subject_key = $2 AND at >= $3
             ORDER BY at DESC LIMIT 1",
        )
        .bind(correspondent)
        .bind(subject_key)
        .bind(nanos(since))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn record_mail_threads(&self, threads: Vec<MailThread>) -> Result<(), StoreError> {
        if threads.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(threads.len());
        let mut correspondents = Vec::with_capacity(threads.len());
        let mut thread_ids = Vec::with_capacity(threads.len());
        let mut keys = Vec::with_capacity(threads.len());
        let mut ats = Vec::with_capacity(threads.len());
        for t in threads {
            ids.push(t.message_id);
            correspondents.push(t.correspondent);
            thread_ids.push(t.thread);
            keys.push(t.subject_key);
            ats.push(nanos(t.at));
        }
        sqlx::query(
            "INSERT INTO mail_threads (message_id, correspondent, thread, subject_key, at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(&correspondents)
        .bind(&thread_ids)
        .bind(&keys)
        .bind(&ats)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn lease_connector(
        &self,
        connector: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "INSERT INTO connector_leases (connector, holder, until) VALUES ($1, $2, $4)
             ON CONFLICT (connector) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE connector_leases.holder = excluded.holder OR connector_leases.until < $3",
        )
        .bind(connector)
        .bind(holder)
        .bind(nanos(now))
        .bind(nanos(until))
        .execute(&self.pool)
        .await?;
        Ok(changed.rows_affected() > 0)
    }
}
