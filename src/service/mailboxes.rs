//! What the mailbox connectors remember between runs (`store::Mailboxes`): folder cursors, threads, leases.

use std::collections::HashMap;

use jiff::Timestamp;

use super::Service;
use crate::store::{MailCursor, MailThread, StoreError};

impl Service {
    pub async fn mail_cursor(
        &self,
        connector: &str,
        folder: &str,
    ) -> Result<Option<MailCursor>, StoreError> {
        self.store.mail_cursor(connector, folder).await
    }

    pub async fn set_mail_cursor(
        &self,
        connector: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<(), StoreError> {
        self.store.set_mail_cursor(connector, folder, cursor).await
    }

    pub async fn mail_threads(
        &self,
        message_ids: Vec<String>,
    ) -> Result<HashMap<String, String>, StoreError> {
        self.store.mail_threads(message_ids).await
    }

    pub async fn recent_mail_thread(
        &self,
        correspondent: &str,
        subject_key: &str,
        since: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        self.store
            .recent_mail_thread(correspondent, subject_key, since)
            .await
    }

    pub async fn record_mail_threads(&self, threads: Vec<MailThread>) -> Result<(), StoreError> {
        self.store.record_mail_threads(threads).await
    }

    /// Takes or renews a connector's lease (see `store::Mailboxes::lease_connector`).
    pub async fn lease_connector(
        &self,
        connector: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.store
            .lease_connector(connector, holder, now, until)
            .await
    }
}
