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
        for nats in &self.nats {
            nats.validate()?;
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
    /// Where a malformed message is published (its payload as received, the reason in headers) before it
    /// is acked; default `seen.dead.<name>`. Capture it in a stream to keep dead letters.
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// Most messages stored in one transaction (default 1 000).
    #[serde(default = "default_nats_batch")]
    pub batch: usize,
    /// How long NATS waits for an ack before it delivers a message again (the consumer's `ack_wait`,
    /// default 30s). A message is acked only after its batch committed.
    #[serde(default = "default_nats_ack_wait")]
    pub ack_wait: String,
    /// User name, with the password in the environment variable `password_env`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// The environment variable holding an authentication token (instead of a user and password).
    #[serde(default)]
    pub token_env: Option<String>,
}

fn default_nats_batch() -> usize {
    1_000
}
fn default_nats_ack_wait() -> String {
    "30s".to_string()
}

/// Most messages in one batch (a `POST /v1/events` takes at most `[server] max_batch`, 10 000 by default).
pub const MAX_NATS_BATCH: usize = 10_000;

impl NatsConfig {
    /// The subject dead letters are published to.
    pub fn dead_letter_subject(&self) -> String {
        self.dead_letter
            .clone()
            .unwrap_or_else(|| format!("seen.dead.{}", self.name))
    }

    /// The consumer's `ack_wait`.
    pub fn ack_wait(&self) -> Result<std::time::Duration, String> {
        let span = crate::domain::span::parse_span(&self.ack_wait).map_err(|e| e.to_string())?;
        match std::time::Duration::try_from(span) {
            Ok(wait) if wait >= std::time::Duration::from_secs(1) => Ok(wait),
            _ => Err(format!("{:?} is shorter than 1s", self.ack_wait)),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let at = |message: String| format!("[[connectors.nats]] {:?}: {message}", self.name);
        if self.url.trim().is_empty() {
            return Err(at("url is empty (e.g. \"nats://127.0.0.1:4222\")".into()));
        }
        for (key, value) in [("stream", &self.stream), ("durable", &self.durable)] {
            nats_name(value).map_err(|why| at(format!("{key} {value:?} {why}")))?;
        }
        if let Some(subject) = &self.subject {
            nats_subject(subject, true).map_err(|why| at(format!("subject {subject:?} {why}")))?;
        }
        let dead = self.dead_letter_subject();
        nats_subject(&dead, false).map_err(|why| at(format!("dead_letter {dead:?} {why}")))?;
        if !(1..=MAX_NATS_BATCH).contains(&self.batch) {
            return Err(at(format!(
                "batch = {}: expected 1 to {MAX_NATS_BATCH}",
                self.batch
            )));
        }
        self.ack_wait()
            .map_err(|why| at(format!("ack_wait: {why}")))?;
        if self.password_env.is_some() != self.user.is_some() {
            return Err(at("user and password_env go together".into()));
        }
        if self.token_env.is_some() && self.user.is_some() {
            return Err(at("token_env or user, not both".into()));
        }
        Ok(())
    }
}

/// A stream or consumer name: what NATS accepts (no spaces, dots, wildcards or path separators).
fn nats_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1-64 characters");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        return Err("may not contain spaces, '.', '*', '>', '/' or '\\'");
    }
    Ok(())
}

/// A subject: dot-separated non-empty tokens without spaces; `*` and a final `>` only where a filter
/// (`wildcards`) is allowed.
fn nats_subject(subject: &str, wildcards: bool) -> Result<(), &'static str> {
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("is not a subject (dot-separated tokens without spaces)");
        }
        let wild = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        if token.contains(['*', '>']) && !(wildcards && wild) {
            return Err(if wildcards {
                "has a misplaced wildcard ('*' is a whole token, '>' the last one)"
            } else {
                "may not contain wildcards"
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nats(extra: &str) -> Result<(), String> {
        let text = format!(
            "[[nats]]\nname = \"bus\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"EVENTS\"\ndurable = \"seen\"\n{extra}"
        );
        let config: ConnectorsConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        config.validate()
    }

    #[test]
    fn a_nats_connector_takes_its_defaults() {
        let text =
            "[[nats]]\nname = \"bus\"\nurl = \"nats://h\"\nstream = \"S\"\ndurable = \"d\"\n";
        let config: ConnectorsConfig = toml::from_str(text).unwrap();
        let bus = &config.nats[0];
        assert_eq!(bus.dead_letter_subject(), "seen.dead.bus");
        assert_eq!(bus.batch, 1_000);
        assert_eq!(bus.ack_wait(), Ok(std::time::Duration::from_secs(30)));
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(nats("subject = \"shop.*.events.>\"\nbatch = 10000"), Ok(()));
    }

    #[test]
    fn bad_nats_settings_are_refused_naming_the_key() {
        for (extra, words) in [
            ("subject = \"shop.>.x\"", "subject"),
            ("subject = \"shop..x\"", "subject"),
            ("subject = \"a b\"", "subject"),
            ("dead_letter = \"dead.*\"", "dead_letter"),
            ("batch = 0", "batch"),
            ("batch = 10001", "batch"),
            ("ack_wait = \"0s\"", "ack_wait"),
            ("ack_wait = \"soon\"", "ack_wait"),
            ("user = \"seen\"", "password_env"),
            (
                "token_env = \"T\"\nuser = \"u\"\npassword_env = \"P\"",
                "token_env",
            ),
        ] {
            let error = nats(extra).unwrap_err();
            assert!(
                error.contains("\"bus\"") && error.contains(words),
                "{extra}: {error}"
            );
        }
        let stream = ConnectorsConfig {
            nats: vec![NatsConfig {
                stream: "a.b".into(),
                ..toml::from_str("name = \"bus\"\nurl = \"u\"\nstream = \"S\"\ndurable = \"d\"")
                    .unwrap()
            }],
            ..Default::default()
        };
        assert!(stream.validate().unwrap_err().contains("stream \"a.b\""));
    }
}
