//! Delivery to the outside world: email over SMTP (or a dry-run file/stdout) and HTTP webhooks.
//! This is the only module that knows SMTP and HTTP delivery.
//!
//! `Channels` makes one attempt per call and classifies the outcome as a [`Delivery`]; retries with
//! backoff belong to the caller's outbox. `Transient` is worth retrying (connection refused/reset,
//! timeouts, SMTP 4xx, HTTP 408/429/5xx); `Permanent` is not (SMTP 5xx, other HTTP 4xx, invalid
//! input), and `bounce` marks a recipient the mail server rejected. Error strings carry the server's
//! own reply, e.g. `SMTP 550 5.1.1 no such user (to bob@example.com)`.
//!
//! # Email
//! One pool of SMTP connections, safe to share between tasks: at most `pool_size` messages are in
//! flight and as many connections are kept open between sends (see `smtp.rs` for why not lettre's
//! own pool). `timeout` bounds one whole send; a timed-out message may still have been delivered,
//! which is why every message carries the caller's stable `Message-ID`: receivers de-duplicate the
//! retry. Failures before MAIL FROM (connection refused, TLS, AUTH 535) are `Transient`: they are
//! about the server or our settings, not the message. Transports "file" and "stdout" write one JSON
//! line per message instead (the dry run), after the same validation SMTP would do.
//!
//! # Webhooks
//! A JSON `POST` with the headers
//! - `Content-Type: application/json`
//! - `X-Seen-Event`: the event name, e.g. `breach`
//! - `X-Seen-Idempotency-Key`: stable across retries of the same notification
//! - `X-Seen-Timestamp`: unix seconds at sending
//! - `X-Seen-Signature: sha256=<hex>` when the endpoint has a secret: the hex HMAC-SHA256, keyed with
//!   the secret, of `"{timestamp}.{body}"` (the Stripe scheme). A receiver recomputes it over the raw
//!   body with [`verify_signature`] and should also reject timestamps older than a few minutes, which
//!   stops replays.
//!
//! Format "json" sends the event's payload; format "slack" sends `{"text": …}`, which Slack-compatible
//! incoming webhooks accept. Redirects are not followed (a moved endpoint is a configuration error).

mod email;
mod settings;
mod smtp;
mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use crate::domain::action::Channel;
pub use settings::{EmailSettings, EmailTransportKind, TlsMode, WebhookFormat, WebhookSettings};
pub use webhook::{sign, verify_signature};

use email::EmailBackend;
use webhook::Webhooks;

/// The Message-ID Seen gives its outgoing mail (the format the mailbox connector reads back, see
/// `connectors::imap::thread`): stable per outbox key (receivers de-duplicate a retry),
/// and with the obligation's `ref` as a reply token when it has one short enough.
pub fn outgoing_message_id(key_hash: &str, reference: Option<&str>) -> String {
    match reference {
        Some(reference) if !reference.is_empty() && reference.len() <= 60 => {
            format!("{key_hash}.r{}@seen", hex::encode(reference))
        }
        _ => format!("{key_hash}@seen"),
    }
}

/// The `ref` in a Message-ID of Seen's outgoing mail (`HASH.rHEX@seen`).
pub fn reply_token(message_id: &str) -> Option<String> {
    let local = message_id.strip_suffix("@seen")?;
    let (_, token) = local.split_once(".r")?;
    let bytes = hex::decode(token).ok()?;
    String::from_utf8(bytes).ok().filter(|r| !r.is_empty())
}

/// One email to send. `message_id` is without angle brackets, e.g. "abc123@seen".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub message_id: String,
    /// "Name <addr>" or a bare "addr".
    pub to: String,
    pub subject: String,
    pub text: String,
    /// When set, the message is multipart/alternative: `text`, then `html`.
    pub html: Option<String>,
    /// Extra headers, e.g. ("List-Unsubscribe", "<https://…>").
    pub headers: Vec<(String, String)>,
}

/// One webhook call.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingWebhook {
    /// A webhook's name in the settings, or a URL starting with http:// or https://.
    pub endpoint: String,
    /// e.g. "breach", "warn", "escalate", "message".
    pub event: String,
    pub idempotency_key: String,
    /// The body for format "json".
    pub payload: serde_json::Value,
    /// The human line for format "slack".
    pub text: String,
}

/// One message for either channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Email(OutgoingEmail),
    Webhook(OutgoingWebhook),
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by the server: e.g. "250 OK queued as 12" or "HTTP 200".
    Sent { detail: String },
    /// Worth retrying later.
    Transient { error: String },
    /// Retrying will not help; `bounce` when the mail server rejected the recipient.
    Permanent { error: String, bounce: bool },
}

impl Delivery {
    pub fn is_sent(&self) -> bool {
        matches!(self, Delivery::Sent { .. })
    }

    pub(crate) fn permanent(error: impl Into<String>) -> Delivery {
        Delivery::Permanent {
            error: error.into(),
            bounce: false,
        }
    }
}

/// A setting `Channels::new` cannot use; `field` names it as in `seen.toml`, e.g. "email.from".
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{field}: cannot open {path}: {source}")]
    Io {
        field: String,
        path: String,
        source: std::io::Error,
    },
}

impl ChannelError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ChannelError {
        ChannelError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The delivery backend: one per process, shared (e.g. in an `Arc`) by every sender.
pub struct Channels {
    email: EmailBackend,
    webhooks: Webhooks,
}

impl Channels {
    /// Validates the settings and builds the transports. Does not connect: an unreachable SMTP server
    /// shows up as `Transient` deliveries, not as a startup failure.
    pub fn new(
        email: &EmailSettings,
        webhooks: &BTreeMap<String, WebhookSettings>,
    ) -> Result<Channels, ChannelError> {
        Ok(Channels {
            email: EmailBackend::new(email)?,
            webhooks: Webhooks::new(webhooks)?,
        })
    }

    /// One attempt to deliver `email`; never panics, never retries.
    pub async fn send_email(&self, email: &OutgoingEmail) -> Delivery {
        let delivery = self.email.send(email).await;
        log_delivery(Channel::Email.as_str(), &email.message_id, &delivery);
        delivery
    }

    /// One attempt to deliver `hook`; never panics, never retries.
    pub async fn send_webhook(&self, hook: &OutgoingWebhook) -> Delivery {
        let delivery = self.webhooks.send(hook).await;
        log_delivery(Channel::Webhook.as_str(), &hook.idempotency_key, &delivery);
        delivery
    }

    /// One attempt to deliver `message` on its channel; never panics, never retries.
    pub async fn send(&self, message: &Outgoing) -> Delivery {
        match message {
            Outgoing::Email(email) => self.send_email(email).await,
            Outgoing::Webhook(hook) => self.send_webhook(hook).await,
        }
    }

    /// Whether `name` is a webhook configured in the settings (URLs given inline are not).
    pub fn has_webhook(&self, name: &str) -> bool {
        self.webhooks.contains(name)
    }
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("email", &self.email)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

fn log_delivery(channel: &str, key: &str, delivery: &Delivery) {
    match delivery {
        Delivery::Sent { detail } => tracing::debug!(channel, key, detail, "delivered"),
        Delivery::Transient { error } => tracing::info!(channel, key, error, "delivery deferred"),
        Delivery::Permanent { error, bounce } => {
            tracing::warn!(channel, key, error, bounce, "delivery failed")
        }
    }
}

/// Parses a positive span such as "10s", "500ms" or "1m 30s".
pub(crate) fn parse_timeout(field: &str, text: &str) -> Result<Duration, ChannelError> {
    text.trim()
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|span| Duration::try_from(span).ok())
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            ChannelError::invalid(
                field,
                format!("{text:?} is not a positive duration such as \"10s\" or \"500ms\""),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_seconds_and_milliseconds() {
        let ok = [
            ("10s", 10_000),
            ("500ms", 500),
            ("1m", 60_000),
            (" 2s ", 2_000),
        ];
        for (text, millis) in ok {
            let parsed = parse_timeout("t", text).map(|d| d.as_millis());
            assert_eq!(parsed.ok(), Some(millis), "{text}");
        }
        for bad in ["", "0s", "ten", "-1s", "10"] {
            let err = parse_timeout("email.timeout", bad).map_err(|e| e.to_string());
            assert!(
                matches!(&err, Err(msg) if msg.starts_with("email.timeout: ")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn channels_can_be_shared_between_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Channels>();
    }
}
