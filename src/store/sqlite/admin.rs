//! The audit log, erasure of one customer and retention on SQLite.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::store::admin::{
    anonymous_survey_properties, opaque, Admin, AuditEntry, ForgetReport, NewAudit,
    RetentionCutoffs, RetentionReport, FINISHED_OUTBOX, KEPT_SURVEY_TYPES,
};
use crate::store::{from_nanos, nanos, Role, StoreError};

/// Retention clears rows in chunks of this many rowids, so ingestion never waits long for the writer.
const RETENTION_CHUNK: i64 = 20_000;

pub(super) fn insert_audit(tx: &rusqlite::Connection, entry: &NewAudit) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            nanos(Timestamp::now()),
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail
        ],
    )?;
    Ok(())
}

#[async_trait]
impl Admin for SqliteStore {
    async fn record_audit(&self, entry: NewAudit) -> Result<(), StoreError> {
        self.run(move |inner| insert_audit(&lock(&inner.writer), &entry))
            .await
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.run(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT seq, at, actor, action, subject, detail FROM audit_log ORDER BY seq DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit as i64], |r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        at: from_nanos(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        subject: r.get(4)?,
                        detail: r.get(5)?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
        .await
    }

    async fn forget_customer(
        &self,
        id: &str,
        tombstone: &str,
        audit: NewAudit,
    ) -> Result<ForgetReport, StoreError> {
        let (id, tombstone) = (id.to_string(), tombstone.to_string());
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let report = forget(&tx, &id, &tombstone)?;
            if report.touched_anything() {
                insert_audit(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(report)
        })
        .await
    }

    async fn remove_user(&self, email: &str, audit: NewAudit) -> Result<bool, StoreError> {
        self.change_user(email.to_lowercase(), None, audit).await
    }

    async fn set_user_role(
        &self,
        email: &str,
        role: Role,
        audit: NewAudit,
    ) -> Result<bool, StoreError> {
        self.change_user(email.to_lowercase(), Some(role), audit)
            .await
    }

    async fn apply_retention(
        &self,
        cutoffs: RetentionCutoffs,
    ) -> Result<RetentionReport, StoreError> {
        self.run(move |inner| {
            let mut report = RetentionReport::default();
            let max_seq = |table: &str| -> Result<i64, StoreError> {
                let conn = lock(&inner.writer);
                let max: Option<i64> =
                    conn.query_row(&format!("SELECT max(seq) FROM {table}"), [], |r| r.get(0))?;
                Ok(max.unwrap_or(0))
            };
            if let Some(before) = cutoffs.events_properties {
                let last = max_seq("events")?;
                let mut from = 0;
                while from <= last {
                    let conn = lock(&inner.writer);
                    report.events_cleared += conn.execute(
                        "UPDATE events SET properties = NULL, profile = NULL
                         WHERE seq > ?1 AND seq <= ?2 AND at < ?3 AND (properties IS NOT NULL OR profile IS NOT NULL)",
                        params![from, from + RETENTION_CHUNK, nanos(before)],
                    )? as u64;
                    from += RETENTION_CHUNK;
                }
            }
            if let Some(before) = cutoffs.sent_messages {
                let conn = lock(&inner.writer);
                report.messages_cleared = conn.execute(
                    &format!(
                        "UPDATE outbox SET recipient = CASE WHEN role = 'customer' THEN 'customer' ELSE recipient END,
                           recipient_name = NULL, detail = NULL, ref = NULL
                         WHERE {FINISHED_OUTBOX} AND updated_at < ?1
                           AND (recipient_name IS NOT NULL OR detail IS NOT NULL OR ref IS NOT NULL
                                OR (role = 'customer' AND recipient <> 'customer'))"
                    ),
                    [nanos(before)],
                )? as u64;
            }
            Ok(report)
        })
        .await
    }
}

impl SqliteStore {
    /// Ends a user's sessions and removes them (`role` = None) or gives them `role`, with the audit row.
    async fn change_user(
        &self,
        email: String,
        role: Option<Role>,
        audit: NewAudit,
    ) -> Result<bool, StoreError> {
        self.run(move |inner| {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id: Option<i64> = tx
                .query_row("SELECT id FROM users WHERE email = ?1", [&email], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(id) = id else {
                return Ok(false);
            };
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            match role {
                Some(role) => tx.execute(
                    "UPDATE users SET role = ?2 WHERE id = ?1",
                    params![id, role.as_str()],
                )?,
                None => tx.execute("DELETE FROM users WHERE id = ?1", [id])?,
            };
            insert_audit(&tx, &audit)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

/// Everything `forget_customer` changes, inside the caller's transaction.
fn forget(tx: &Transaction<'_>, id: &str, tombstone: &str) -> Result<ForgetReport, StoreError> {
    let mut report = ForgetReport {
        tombstone: tombstone.to_string(),
        ..ForgetReport::default()
    };
    let customer: Option<(i64, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT seq, email, phone FROM customers WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (email, phone) = match &customer {
        Some((seq, email, phone)) => {
            report.found = true;
            forget_events_and_obligations(tx, *seq, tombstone, &mut report)?;
            (email.clone(), phone.clone())
        }
        None => (None, None),
    };
    forget_outbox(tx, id, tombstone, &mut report)?;
    let work: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT seq, trigger_event FROM work_log WHERE customer = ?1")?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (seq, trigger) in work {
        tx.execute(
            "UPDATE work_log SET customer = ?2, trigger_event = ?3, note = NULL WHERE seq = ?1",
            params![seq, tombstone, opaque(tombstone, &trigger)],
        )?;
        report.work_anonymised += 1;
    }
    report.churn_scores_deleted =
        tx.execute("DELETE FROM churn_scores WHERE customer = ?1", [id])? as u64;
    report.suppressions_deleted = tx.execute(
        "DELETE FROM suppressions WHERE target IN (?1, lower(?2), ?3)",
        params![id, email, phone],
    )? as u64;
    Ok(report)
}

fn forget_events_and_obligations(
    tx: &Transaction<'_>,
    seq: i64,
    tombstone: &str,
    report: &mut ForgetReport,
) -> Result<(), StoreError> {
    report.events_deleted = tx.execute(
        "DELETE FROM events WHERE customer_seq = ?1 AND type NOT IN (?2, ?3, ?4)",
        params![
            seq,
            KEPT_SURVEY_TYPES[0],
            KEPT_SURVEY_TYPES[1],
            KEPT_SURVEY_TYPES[2]
        ],
    )? as u64;
    super::journeys::events_erased(tx, seq)?;
    let kept: Vec<(i64, String, Option<String>)> = {
        let mut stmt =
            tx.prepare("SELECT seq, id, properties FROM events WHERE customer_seq = ?1")?;
        let rows = stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (event, event_id, properties) in kept {
        tx.execute(
            "UPDATE events SET id = ?2, ref = NULL, profile = NULL, properties = ?3 WHERE seq = ?1",
            params![
                event,
                opaque(tombstone, &event_id),
                anonymous_survey_properties(tombstone, properties.as_deref())
            ],
        )?;
        report.events_anonymised += 1;
    }
    let obligations: Vec<(i64, String, Option<String>)> = {
        let mut stmt = tx.prepare(
            "SELECT seq, trigger_event, closed_by FROM obligations WHERE customer_seq = ?1",
        )?;
        let rows = stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (obligation, trigger, closed_by) in obligations {
        tx.execute(
            "UPDATE obligations SET ref = NULL, trigger_event = ?2, closed_by = ?3 WHERE seq = ?1",
            params![
                obligation,
                opaque(tombstone, &trigger),
                closed_by.map(|c| opaque(tombstone, &c))
            ],
        )?;
        report.obligations_anonymised += 1;
    }
    report.obligations_closed = tx.execute(
        "UPDATE obligations SET closed_at = ?2, close_kind = 'cancelled', planned = 1
         WHERE customer_seq = ?1 AND closed_at IS NULL",
        params![seq, nanos(Timestamp::now())],
    )? as u64;
    tx.execute(
        "UPDATE customers SET id = ?2, email = NULL, email_at = NULL, name = NULL, name_at = NULL,
           phone = NULL, phone_at = NULL, timezone = NULL, timezone_at = NULL,
           events = ?3, forgotten_at = ?4
         WHERE seq = ?1",
        params![
            seq,
            tombstone,
            report.events_anonymised as i64,
            nanos(Timestamp::now())
        ],
    )?;
    Ok(())
}

fn forget_outbox(
    tx: &Transaction<'_>,
    id: &str,
    tombstone: &str,
    report: &mut ForgetReport,
) -> Result<(), StoreError> {
    let rows: Vec<(i64, String, String, String)> = {
        let mut stmt =
            tx.prepare("SELECT seq, key, trigger_event, role FROM outbox WHERE customer = ?1")?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let now = nanos(Timestamp::now());
    for (seq, key, trigger, role) in rows {
        tx.execute(
            "UPDATE outbox SET customer = ?2, key = ?3, trigger_event = ?4, ref = NULL,
               recipient = CASE WHEN ?5 = 'customer' THEN 'customer' ELSE recipient END,
               recipient_name = CASE WHEN ?5 = 'customer' THEN NULL ELSE recipient_name END,
               detail = NULL,
               status = CASE WHEN status IN ('pending', 'sending') THEN 'skipped' ELSE status END,
               updated_at = ?6
             WHERE seq = ?1",
            params![
                seq,
                tombstone,
                opaque(tombstone, &key),
                opaque(tombstone, &trigger),
                role,
                now
            ],
        )?;
        report.outbox_anonymised += 1;
    }
    Ok(())
}
