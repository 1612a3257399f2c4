//! `[connectors]`: where Seen listens by itself — mailboxes (`[[connectors.imap]]`), providers' inbound
//! webhooks (`[[connectors.hooks]]`) and an event bus (`[[connectors.nats]]`). Each connector has a `name`
//! unique across all kinds: it is shown in the dashboard, in `seen connectors`, and in the properties of the
//! events it brings (`properties.connector`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    /// How long each accepted webhook delivery's raw body is kept, so that a mapping fix can be replayed.
    pub keep_raw: String,
    pub imap: Vec<ImapConfig>,
    pub hooks: Vec<HookConfig>,
    pub nats: Vec<NatsConfig>,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig {
            keep_raw: "14d".to_string(),
            imap: Vec::new(),
            hooks: Vec::new(),
            nats: Vec::new(),
        }
    }
}

impl ConnectorsConfig {
    /// Every connector's name, with its kind, in configuration order.
    pub fn names(&self) -> Vec<(&'static str, &str)> {
        let imap = self.imap.iter().map(|c| ("imap", c.name.as_str()));
        let hooks = self.hooks.iter().map(|c| ("hook", c.name.as_str()));
        let nats = self.nats.iter().map(|c| ("nats", c.name.as_str()));
        imap.chain(hooks).chain(nats).collect()
    }

    /// Names are unique across kinds and are identifiers (letters, digits, `-`, `_`).
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for (kind, name) in self.names() {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(format!(
                    "[[connectors.{kind}]] name {name:?}: expected 1-64 letters, digits, '-' or '_'"
                ));
            }
            if !seen.insert(name) {
                return Err(format!(
                    "[[connectors.{kind}]] name {name:?}: another connector has that name"
                ));
            }
        }
        Ok(())
    }
}

/// `[[connectors.imap]]`: one mailbox.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub name: String,
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `implicit` (TLS from the first byte, port 993), `starttls`, or `none` (only to a loopback address).
    #[serde(default = "default_imap_tls")]
    pub tls: String,
    pub username: String,
    /// The environment variable holding the password (never the password itself in the file).
    pub password_env: String,
    #[serde(default)]
    pub folders: ImapFolders,
    /// Addresses that are us: exact (`hello@venue.example`) or a whole domain (`*@venue.example`).
    pub our_addresses: Vec<String>,
    /// On the first connect, how much history to read (actions for it never fire). Default 30 days.
    #[serde(default = "default_backfill")]
    pub backfill: String,
    /// How often to poll a server without IDLE, and how long an IDLE lasts before it is renewed.
    #[serde(default = "default_poll")]
    pub poll: String,
    /// A PEM file of extra roots to trust (a self-hosted server's own certificate).
    #[serde(default)]
    pub ca_file: Option<String>,
}

fn default_imap_port() -> u16 {
    993
}
fn default_imap_tls() -> String {
    "implicit".to_string()
}
fn default_backfill() -> String {
    "30d".to_string()
}
fn default_poll() -> String {
    "60s".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapFolders {
    #[serde(default = "default_inbox")]
    pub inbox: Vec<String>,
    #[serde(default = "default_sent")]
    pub sent: Vec<String>,
}

impl Default for ImapFolders {
    fn default() -> Self {
        ImapFolders {
            inbox: default_inbox(),
            sent: default_sent(),
        }
    }
}

fn default_inbox() -> Vec<String> {
    vec!["INBOX".to_string()]
}
fn default_sent() -> Vec<String> {
    vec!["Sent".to_string()]
}

/// `[[connectors.hooks]]`: one provider's inbound webhooks, at `POST /hooks/{source}/{name}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// calcom, calendly, shopify, woocommerce, twilio, whatsapp or generic.
    pub source: String,
    pub name: String,
    /// The environment variable holding the signing secret.
    pub secret_env: String,
}

/// `[[connectors.nats]]`: a NATS JetStream consumer of events in Seen's JSON shape.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub name: String,
    pub url: String,
    pub stream: String,
    /// The durable consumer's name (its position survives restarts of Seen and of NATS).
    pub durable: String,
    /// Only messages on subjects matching this filter (default: every subject of the stream).
    #[serde(default)]
    pub subject: Option<String>,
}
