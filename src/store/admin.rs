//! Operations a business runs on its own data: the audit log of admin actions, erasure of one customer
//! ("forget", keeping anonymous counts) and retention (clearing old personal details on a schedule).

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;

/// One admin action as recorded: who, when, what, on what (never a customer's id: its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    /// A dashboard user's email, or `cli:USER` for the command line.
    pub actor: String,
    /// e.g. "user.added", "key.created", "key.revoked", "customer.forgotten", "backup", "restore".
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

/// An audit row to write (its time is the store's "now").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

impl NewAudit {
    pub fn new(actor: impl Into<String>, action: &str, subject: Option<String>) -> NewAudit {
        NewAudit {
            actor: actor.into(),
            action: action.to_string(),
            subject,
            detail: None,
        }
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> NewAudit {
        self.detail = Some(detail.into());
        self
    }
}

/// What forgetting one customer changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    /// The opaque id that now stands for the customer in the anonymous rows.
    pub tombstone: String,
    /// A customer row existed.
    pub found: bool,
    pub events_deleted: u64,
    /// Survey sends and answers kept without personal fields (they are the survey figures).
    pub events_anonymised: u64,
    pub obligations_anonymised: u64,
    /// Unclosed obligations closed as cancelled (nobody is left to keep them).
    pub obligations_closed: u64,
    pub outbox_anonymised: u64,
    pub work_anonymised: u64,
    pub churn_scores_deleted: u64,
    pub suppressions_deleted: u64,
}

impl ForgetReport {
    pub fn touched_anything(&self) -> bool {
        self.found
            || self.events_deleted + self.events_anonymised + self.obligations_anonymised > 0
            || self.outbox_anonymised + self.work_anonymised > 0
            || self.churn_scores_deleted + self.suppressions_deleted > 0
    }
}

/// Cut-offs of one retention run (`None`: keep forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Events before this lose `properties` and `profile` (the rows stay).
    pub events_properties: Option<Timestamp>,
    /// Finished outbox rows last updated before this lose their personal fields.
    pub sent_messages: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub events_cleared: u64,
    pub messages_cleared: u64,
    /// Kept webhook deliveries older than `[connectors] keep_raw` removed.
    pub deliveries_pruned: u64,
}

/// The status of outbox rows that will not change any more (their personal fields may go).
pub(crate) const FINISHED_OUTBOX: &str =
    "status IN ('sent', 'skipped', 'suppressed', 'capped', 'failed', 'dead')";

/// Event types kept (anonymised) when a customer is forgotten: the survey figures count them.
pub(crate) const KEPT_SURVEY_TYPES: [&str; 3] =
    ["survey.sent", "survey.answered", "customer.feels_ignored"];

/// A reference (event id, outbox key, send id) of a forgotten customer, replaced by an opaque one. The same
/// input maps to the same output within one erasure (so the rows still join up), and the random tombstone
/// makes it impossible to guess the original from the output.
pub(crate) fn opaque(tombstone: &str, text: &str) -> String {
    format!(
        "{tombstone}-{}",
        super::short_hash(&format!("{tombstone}\n{text}"))
    )
}

/// A survey event's properties without anything personal: the fields the survey figures group by, the
/// score, and the send id made opaque (consistently, so sends and answers still pair).
pub(crate) fn anonymous_survey_properties(tombstone: &str, properties: Option<&str>) -> String {
    let value: serde_json::Value = properties
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let mut kept = serde_json::Map::new();
    for key in ["survey", "kind", "policy", "channel", "team", "score"] {
        if let Some(v) = value.get(key).filter(|v| !v.is_null()) {
            kept.insert(key.into(), v.clone());
        }
    }
    if let Some(send) = value.get("send").and_then(|s| s.as_str()) {
        kept.insert("send".into(), opaque(tombstone, send).into());
    }
    serde_json::Value::Object(kept).to_string()
}

/// The audit row written when a start finds the policies changed (seen.toml was edited) and recomputes.
pub(crate) fn policies_changed(old: &str, new: &str, customers: u64) -> NewAudit {
    NewAudit::new("seen.toml", "policies.changed", None).with_detail(format!(
        "fingerprint {old} -> {new}; obligations of {customers} customers recomputed"
    ))
}

/// A new tombstone id: random, so it says nothing about whom it replaced.
pub fn new_tombstone() -> String {
    format!("forgotten-{}", &super::random_secret()[..24])
}

/// The audit log's subject for a customer: a SHA-256 of the id (hex), never the id itself.
pub fn customer_digest(id: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
}

#[async_trait]
pub trait Admin: Send + Sync {
    async fn record_audit(&self, entry: NewAudit) -> Result<(), StoreError>;
    /// The latest audit rows, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Erases one customer in one transaction (see ARCHITECTURE.md, "Erasure"), recording `audit` in it.
    async fn forget_customer(
        &self,
        id: &str,
        tombstone: &str,
        audit: NewAudit,
    ) -> Result<ForgetReport, StoreError>;
    /// Removes a dashboard user and their sessions, recording `audit` in the same transaction. False if
    /// there is no such user.
    async fn remove_user(&self, email: &str, audit: NewAudit) -> Result<bool, StoreError>;
    /// Changes a user's role (their sessions end: the next page asks them to log in again), recording
    /// `audit` in the same transaction. False if there is no such user.
    async fn set_user_role(
        &self,
        email: &str,
        role: super::Role,
        audit: NewAudit,
    ) -> Result<bool, StoreError>;
    /// Clears what is older than the cut-offs.
    async fn apply_retention(
        &self,
        cutoffs: RetentionCutoffs,
    ) -> Result<RetentionReport, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_properties_keep_figures_and_pair_sends() {
        let sent = anonymous_survey_properties(
            "forgotten-x",
            Some(r#"{"send":"s-alice","kind":"csat","policy":"p","email":"a@x.com"}"#),
        );
        let answer = anonymous_survey_properties(
            "forgotten-x",
            Some(r#"{"send":"s-alice","kind":"csat","score":4,"comment":"Alice here"}"#),
        );
        let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(sent["send"], answer["send"]);
        assert!(!sent["send"].as_str().unwrap().contains("alice"));
        assert_eq!(answer["score"], 4);
        assert_eq!(sent["policy"], "p");
        assert!(sent.get("email").is_none() && answer.get("comment").is_none());
    }

    #[test]
    fn opaque_ids_depend_on_the_tombstone() {
        assert_eq!(opaque("t1", "order-1"), opaque("t1", "order-1"));
        assert_ne!(opaque("t1", "order-1"), opaque("t2", "order-1"));
        assert!(customer_digest("alice").starts_with("sha256:"));
        assert!(!customer_digest("alice").contains("alice"));
    }
}
