//! The audit log, erasure of one customer and retention on PostgreSQL.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::store::admin::{
    anonymous_survey_properties, opaque, Admin, AuditEntry, ForgetReport, NewAudit,
    RetentionCutoffs, RetentionReport, FINISHED_OUTBOX, KEPT_SURVEY_TYPES,
};
use crate::store::{from_nanos, nanos, Role, StoreError};

pub(super) async fn insert_audit(
    conn: &mut PgConnection,
    entry: &NewAudit,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(nanos(Timestamp::now()))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Admin for PostgresStore {
    async fn record_audit(&self, entry: NewAudit) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, &entry).await
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, detail FROM audit_log ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get(0)?,
                    at: from_nanos(r.try_get(1)?),
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    subject: r.try_get(4)?,
                    detail: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn forget_customer(
        &self,
        id: &str,
        tombstone: &str,
        audit: NewAudit,
    ) -> Result<ForgetReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let report = forget(&mut tx, id, tombstone).await?;
        if report.touched_anything() {
            insert_audit(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn remove_user(&self, email: &str, audit: NewAudit) -> Result<bool, StoreError> {
        self.change_user(&email.to_lowercase(), None, audit).await
    }

    async fn set_user_role(
        &self,
        email: &str,
        role: Role,
        audit: NewAudit,
    ) -> Result<bool, StoreError> {
        self.change_user(&email.to_lowercase(), Some(role), audit)
            .await
    }

    async fn apply_retention(
        &self,
        cutoffs: RetentionCutoffs,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        // One statement each: PostgreSQL readers never wait for it, and ingestion only for rows it touches
        // (old events, which are rarely written again). It may outlast the usual statement timeout.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
        if let Some(before) = cutoffs.events_properties {
            report.events_cleared = sqlx::query(
                "UPDATE events SET properties = NULL, profile = NULL
                 WHERE at < $1 AND (properties IS NOT NULL OR profile IS NOT NULL)",
            )
            .bind(nanos(before))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if let Some(before) = cutoffs.sent_messages {
            report.messages_cleared = sqlx::query(&format!(
                "UPDATE outbox SET recipient = CASE WHEN role = 'customer' THEN 'customer' ELSE recipient END,
                   recipient_name = NULL, detail = NULL, ref = NULL
                 WHERE {FINISHED_OUTBOX} AND updated_at < $1
                   AND (recipient_name IS NOT NULL OR detail IS NOT NULL OR ref IS NOT NULL
                        OR (role = 'customer' AND recipient <> 'customer'))"
            ))
            .bind(nanos(before))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(report)
    }
}

impl PostgresStore {
    /// Ends a user's sessions and removes them (`role` = None) or gives them `role`, with the audit row.
    async fn change_user(
        &self,
        email: &str,
        role: Option<Role>,
        audit: NewAudit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1 FOR UPDATE")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        match role {
            Some(role) => {
                sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Everything `forget_customer` changes, inside the caller's transaction.
async fn forget(
    conn: &mut PgConnection,
    id: &str,
    tombstone: &str,
) -> Result<ForgetReport, StoreError> {
    let mut report = ForgetReport {
        tombstone: tombstone.to_string(),
        ..ForgetReport::default()
    };
    // The row lock ingestion takes too: events of this customer arriving now wait, then see no customer.
    let customer: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT email, phone FROM customers WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let (email, phone) = customer.clone().unwrap_or_default();
    report.found = customer.is_some();
    // Even without a customer row: events of a batch that was waiting on the lock above may have landed
    // under the old id (its customer row was renamed meanwhile); a second `forget` removes them.
    forget_events_and_obligations(conn, id, tombstone, &mut report).await?;
    forget_outbox(conn, id, tombstone, &mut report).await?;
    let work: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, trigger_event FROM work_log WHERE customer = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    for (seq, trigger) in work {
        sqlx::query(
            "UPDATE work_log SET customer = $2, trigger_event = $3, note = NULL WHERE seq = $1",
        )
        .bind(seq)
        .bind(tombstone)
        .bind(opaque(tombstone, &trigger))
        .execute(&mut *conn)
        .await?;
        report.work_anonymised += 1;
    }
    report.churn_scores_deleted = sqlx::query("DELETE FROM churn_scores WHERE customer = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    report.suppressions_deleted =
        sqlx::query("DELETE FROM suppressions WHERE target IN ($1, lower($2), $3)")
            .bind(id)
            .bind(email)
            .bind(phone)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(report)
}

async fn forget_events_and_obligations(
    conn: &mut PgConnection,
    id: &str,
    tombstone: &str,
    report: &mut ForgetReport,
) -> Result<(), StoreError> {
    let kept_types: Vec<String> = KEPT_SURVEY_TYPES.iter().map(|t| t.to_string()).collect();
    report.events_deleted =
        sqlx::query("DELETE FROM events WHERE customer = $1 AND type <> ALL($2)")
            .bind(id)
            .bind(&kept_types)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    let kept: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, properties FROM events WHERE customer = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    for (event_id, properties) in kept {
        sqlx::query(
            "UPDATE events SET id = $2, customer = $3, ref = NULL, profile = NULL, properties = $4
             WHERE id = $1",
        )
        .bind(&event_id)
        .bind(opaque(tombstone, &event_id))
        .bind(tombstone)
        .bind(anonymous_survey_properties(
            tombstone,
            properties.as_deref(),
        ))
        .execute(&mut *conn)
        .await?;
        report.events_anonymised += 1;
    }
    let obligations: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT seq, trigger_event, closed_by FROM obligations WHERE customer = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    for (seq, trigger, closed_by) in obligations {
        sqlx::query(
            "UPDATE obligations SET customer = $2, ref = NULL, trigger_event = $3, closed_by = $4
             WHERE seq = $1",
        )
        .bind(seq)
        .bind(tombstone)
        .bind(opaque(tombstone, &trigger))
        .bind(closed_by.map(|c| opaque(tombstone, &c)))
        .execute(&mut *conn)
        .await?;
        report.obligations_anonymised += 1;
    }
    let now = nanos(Timestamp::now());
    report.obligations_closed = sqlx::query(
        "UPDATE obligations SET closed_at = $2, close_kind = 'cancelled', planned = TRUE
         WHERE customer = $1 AND closed_at IS NULL",
    )
    .bind(tombstone)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE customers SET id = $2, email = NULL, email_at = NULL, name = NULL, name_at = NULL,
           phone = NULL, phone_at = NULL, timezone = NULL, timezone_at = NULL,
           events = $3, forgotten_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(tombstone)
    .bind(report.events_anonymised as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn forget_outbox(
    conn: &mut PgConnection,
    id: &str,
    tombstone: &str,
    report: &mut ForgetReport,
) -> Result<(), StoreError> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT key, trigger_event, role FROM outbox WHERE customer = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let now = nanos(Timestamp::now());
    for (key, trigger, role) in rows {
        sqlx::query(
            "UPDATE outbox SET customer = $2, key = $3, trigger_event = $4, ref = NULL,
               recipient = CASE WHEN $5 = 'customer' THEN 'customer' ELSE recipient END,
               recipient_name = CASE WHEN $5 = 'customer' THEN NULL ELSE recipient_name END,
               detail = NULL,
               status = CASE WHEN status IN ('pending', 'sending') THEN 'skipped' ELSE status END,
               updated_at = $6
             WHERE key = $1",
        )
        .bind(&key)
        .bind(tombstone)
        .bind(opaque(tombstone, &key))
        .bind(opaque(tombstone, &trigger))
        .bind(role)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        report.outbox_anonymised += 1;
    }
    Ok(())
}
