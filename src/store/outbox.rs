//! The outbox: every message Seen sends is first a row here, keyed by what it is for (policy, obligation,
//! action, step, recipient), so re-sent events, restarts, retries and several nodes never send it twice.
//! Suppressions (unsubscribes, hard bounces) live beside it.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;
use crate::domain::action::ActionKind;
use crate::domain::Obligation;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its time (or for quiet hours to end, or for a retry).
    Pending,
    /// Claimed by a node that is sending it now.
    Sending,
    Sent,
    /// Not needed any more: the promise was kept or cancelled first, or nobody to send to.
    Skipped,
    /// The customer unsubscribed or their address bounced.
    Suppressed,
    /// The customer already had their daily share of messages.
    Capped,
    /// Rejected for good (e.g. SMTP 5xx).
    Failed,
    /// Gave up after the last retry.
    Dead,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 8] = [
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Skipped,
        OutboxStatus::Suppressed,
        OutboxStatus::Capped,
        OutboxStatus::Failed,
        OutboxStatus::Dead,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Skipped => "skipped",
            OutboxStatus::Suppressed => "suppressed",
            OutboxStatus::Capped => "capped",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Dead => "dead",
        }
    }
    pub fn parse(text: &str) -> Option<OutboxStatus> {
        OutboxStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxItem {
    /// The idempotency key: one message per key, ever.
    pub key: String,
    pub customer: String,
    pub policy: String,
    pub trigger_event: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[schema(value_type = String)]
    pub action: ActionKind,
    pub step: u32,
    pub template: String,
    /// "email" or "webhook".
    pub channel: String,
    /// An email address or a webhook name/URL; "customer" for the customer's current email address.
    pub recipient: String,
    pub recipient_name: Option<String>,
    /// "customer", "assignee", "manager" or the configured team/person.
    pub role: String,
    pub transactional: bool,
    pub urgent: bool,
    /// The event type recorded once sent.
    pub records: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// A survey this message asks (step 0), or reminds of (step 1).
    pub survey: Option<String>,
}

impl OutboxItem {
    pub fn to_customer(&self) -> bool {
        self.role == "customer"
    }
    /// The id of the event recorded when this message is sent (stable, so recording is idempotent).
    pub fn recorded_event_id(&self) -> String {
        format!("seen-{}", crate::store::short_hash(&self.key))
    }
}

/// A queued message with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxRow {
    #[serde(flatten)]
    pub item: OutboxItem,
    pub status: OutboxStatus,
    pub attempts: u32,
    /// When it is next tried (pending) or its lease ends (sending).
    #[schema(value_type = String, format = DateTime)]
    pub next_at: Timestamp,
    /// Why it is in this state: the SMTP reply, "quiet hours until …", "capped: 3 messages in 24 h".
    pub detail: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The status before this claim (only set by `claim_outbox`): `Sending` means a previous attempt was
    /// interrupted, so the message may already have gone out.
    #[serde(skip)]
    pub was: Option<OutboxStatus>,
}

/// A state change of a claimed message.
#[derive(Debug, Clone)]
pub struct OutboxUpdate {
    pub key: String,
    pub status: OutboxStatus,
    /// For `Pending`: when to try again.
    pub next_at: Option<Timestamp>,
    pub detail: Option<String>,
    pub sent_at: Option<Timestamp>,
    /// The lease this node holds on the row (its `next_at` since the claim or renewal).
    pub held: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub customer: Option<String>,
    pub status: Option<OutboxStatus>,
    /// Resume after this key (from a previous page).
    pub after: Option<String>,
    pub limit: Option<usize>,
}

/// Someone Seen must not write to (except transactional messages, for unsubscribes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    /// A customer id (unsubscribe) or an email address (bounce), lower-cased for addresses.
    pub target: String,
    /// "unsubscribed" or "bounced".
    pub reason: String,
    pub detail: Option<String>,
    pub at: Timestamp,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Unclosed obligations whose actions have not been planned yet, newest first (a backlog of imported
    /// obligations never holds back the actions of new events).
    async fn unplanned_obligations(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, Obligation)>, StoreError>;
    /// Queues messages (a known key is left as it is) and marks the obligations planned, in one
    /// transaction. Returns how many messages were new.
    async fn enqueue(&self, items: Vec<OutboxItem>, planned: Vec<i64>) -> Result<u64, StoreError>;
    /// When the next pending message is due (or a claim's lease ends).
    async fn next_outbox_at(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Claims up to `limit` messages due at `now` (pending, or sending with an expired lease): they become
    /// `Sending` until `lease_until`, with one more attempt counted. Each is claimed by one node only.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Extends the claims of a chunk right before sending it, in one write: the keys of `held` ((key, lease))
    /// this node still holds (its lease is the row's `next_at`), each now leased until `until`; a key
    /// missing from the answer ran out of lease and another node claimed it since.
    async fn renew_outbox_many(
        &self,
        held: Vec<(String, Timestamp)>,
        until: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
    /// What the sender's gate reads for a chunk of claimed rows, in one round trip: for each
    /// (customer, policy, trigger event), the obligation that trigger event opened under that policy, as
    /// stored now.
    async fn obligations_by_triggers(
        &self,
        triggers: Vec<(String, String, String)>,
    ) -> Result<Vec<Option<Obligation>>, StoreError>;
    /// `suppression` for each (customer, email) of a chunk, in one round trip.
    async fn suppressions_of(
        &self,
        targets: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Option<Suppression>>, StoreError>;
    /// `sent_to_customer_since` for each customer of a chunk, in one round trip.
    async fn sent_to_customers_since(
        &self,
        customers: Vec<String>,
        since: Timestamp,
    ) -> Result<Vec<u64>, StoreError>;
    /// Records outcomes. An update with `held` applies only while that lease is still the row's.
    async fn finish_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<(), StoreError>;
    /// Messages, newest due first within a customer, in key order otherwise.
    async fn outbox(&self, filter: OutboxFilter) -> Result<Vec<OutboxRow>, StoreError>;
    /// The (customer, policy, trigger event) of every escalation already sent to a manager for these
    /// customers: the work queue's "escalated" flag for the rows it shows.
    async fn escalations_sent(
        &self,
        customers: Vec<String>,
    ) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Non-transactional messages sent to this customer since `since` (for the daily cap).
    async fn sent_to_customer_since(
        &self,
        customer: &str,
        since: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Surveys (not their reminders) sent to this customer since `since` (for `survey_every`).
    async fn surveys_sent_since(&self, customer: &str, since: Timestamp)
        -> Result<u64, StoreError>;
    /// The suppression that applies to this customer or address, if any.
    async fn suppression(
        &self,
        customer: &str,
        email: Option<&str>,
    ) -> Result<Option<Suppression>, StoreError>;
    async fn suppress(&self, suppression: Suppression) -> Result<(), StoreError>;
    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError>;
    /// How many messages are in each status.
    async fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError>;
}
