//! The `[email]` and `[webhooks.NAME]` tables of `seen.toml`. Every field has a default, so an empty
//! table works; secrets are hidden in `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransportKind {
    /// Deliver over SMTP to `host:port`.
    Smtp,
    /// Dry run: append one JSON line per message to `file`.
    #[default]
    File,
    /// Dry run: print one JSON line per message.
    Stdout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a local relay).
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (usually port 587).
    Starttls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The body is the event's JSON payload.
    #[default]
    Json,
    /// The body is `{"text": …}`, which Slack (and Mattermost, Rocket.Chat…) incoming webhooks accept.
    Slack,
}

#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    pub transport: EmailTransportKind,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Skip certificate and host name verification (self-signed test servers only).
    pub accept_invalid_certs: bool,
    /// The From header and envelope sender, e.g. "Seen <seen@example.com>".
    pub from: String,
    pub reply_to: Option<String>,
    /// Where transport "file" appends its JSON lines.
    pub file: String,
    /// SMTP connections kept open, which is also the most messages in flight at once.
    pub pool_size: u32,
    /// Limit for one send: connecting (and TLS, AUTH) if needed plus the whole SMTP transaction,
    /// e.g. "10s" or "500ms".
    pub timeout: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            transport: EmailTransportKind::File,
            host: "127.0.0.1".into(),
            port: 25,
            tls: TlsMode::None,
            username: None,
            password: None,
            accept_invalid_certs: false,
            from: "Seen <seen@localhost>".into(),
            reply_to: None,
            file: "seen-outbox.jsonl".into(),
            pool_size: 8,
            timeout: "10s".into(),
        }
    }
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("file", &self.file)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One named webhook endpoint, e.g. `[webhooks.slack-ops]`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// An http:// or https:// URL (required: the empty default is rejected by `Channels::new`).
    pub url: String,
    /// Signs each request (`X-Seen-Signature`) when set.
    pub secret: Option<String>,
    pub format: WebhookFormat,
    /// Limit for the whole request, e.g. "10s".
    pub timeout: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            url: String::new(),
            secret: None,
            format: WebhookFormat::Json,
            timeout: "10s".into(),
        }
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &url_origin(&self.url))
            .field("secret", &hidden(&self.secret))
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Only the scheme and host of a URL: a Slack webhook URL's path is itself a credential.
pub(crate) fn url_origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None if url.is_empty() => String::new(),
        None => "…".into(),
    }
}

fn hidden(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "***")
}
