//! What the mailbox connectors remember between runs: how far each folder has been read (UIDVALIDITY and
//! the last UID stored), the thread of each Message-ID seen, and which node reads which mailbox (a lease).

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// How far a folder has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailCursor {
    pub validity: u32,
    /// The last UID whose mail is stored (0: none yet).
    pub last_uid: u32,
}

/// One mail's place in a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailThread {
    pub message_id: String,
    pub thread: String,
    /// The customer's address ("" when none), with the subject key: the subject rule's lookup.
    pub correspondent: String,
    pub subject_key: String,
    pub at: Timestamp,
}

#[async_trait]
pub trait Mailboxes: Send + Sync {
    async fn mail_cursor(
        &self,
        connector: &str,
        folder: &str,
    ) -> Result<Option<MailCursor>, StoreError>;
    async fn set_mail_cursor(
        &self,
        connector: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<(), StoreError>;
    /// The thread of each of these Message-IDs that is known.
    async fn mail_threads(
        &self,
        message_ids: Vec<String>,
    ) -> Result<HashMap<String, String>, StoreError>;
    /// The thread of the latest mail with this correspondent and subject key at or after `since`.
    async fn recent_mail_thread(
        &self,
        correspondent: &str,
        subject_key: &str,
        since: Timestamp,
    ) -> Result<Option<String>, StoreError>;
    /// Records threads (a Message-ID and correspondent already recorded keeps its first thread).
    async fn record_mail_threads(&self, threads: Vec<MailThread>) -> Result<(), StoreError>;
    /// Takes or renews the lease on a connector for `holder` until `until`; false when another holder's
    /// lease has not expired at `now`.
    async fn lease_connector(
        &self,
        connector: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;
}
