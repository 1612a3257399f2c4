//! `[connectors]`: where Seen listens by itself — mailboxes (`[[connectors.imap]]`), providers' inbound
//! webhooks (`[[connectors.hooks]]`) and an event bus (`[[connectors.nats]]`). Each connector has a `name`
//! unique across all kinds: it is shown in the dashboard, in `seen connectors`, and in the properties of the
//! events it brings (`properties.connector`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    /// How long each accepted webhook delivery's raw body is kept, so that a mapping fix can be replayed
    /// (`seen connectors replay`); "0s" keeps none. `[retention] raw_payloads`, when shorter, wins.
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
        for hook in &self.hooks {
            hook.validate()?;
        }
        self.keep_raw()?;
        Ok(())
    }

    /// `keep_raw` parsed: how long a webhook delivery's raw body is kept (`None`: bodies are not kept).
    pub fn keep_raw(&self) -> Result<Option<jiff::SignedDuration>, String> {
        let span = crate::domain::span::parse_span(&self.keep_raw)
            .map_err(|e| format!("[connectors] keep_raw: {e}"))?;
        if span.is_negative() {
            return Err("[connectors] keep_raw: must not be negative".into());
        }
        Ok((span > jiff::SignedDuration::ZERO).then_some(span))
    }

    /// The hook connector of that name.
    pub fn hook(&self, name: &str) -> Option<&HookConfig> {
        self.hooks.iter().find(|h| h.name == name)
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

/// The sources `[[connectors.hooks]]` takes.
pub const HOOK_SOURCES: [&str; 7] = [
    "calcom",
    "calendly",
    "shopify",
    "woocommerce",
    "twilio",
    "whatsapp",
    "generic",
];

/// `[[connectors.hooks]]`: one provider's inbound webhooks, at `POST /hooks/{source}/{name}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// calcom, calendly, shopify, woocommerce, twilio, whatsapp or generic.
    pub source: String,
    pub name: String,
    /// The environment variable holding the signing secret (Twilio: the account's Auth Token; WhatsApp: the
    /// Meta app's App Secret).
    pub secret_env: String,
    /// generic: the request header carrying the HMAC-SHA256 of the body (hex or base64, `sha256=` allowed).
    #[serde(default)]
    pub signature_header: Option<String>,
    /// whatsapp: the environment variable holding the verify token Meta's `GET` handshake must present.
    #[serde(default)]
    pub verify_token_env: Option<String>,
    /// twilio: the webhook URL exactly as entered at Twilio (it is part of what Twilio signs). Default:
    /// `[actions] public_url` + `/hooks/twilio/NAME`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// generic: how a delivery's JSON becomes an event.
    #[serde(default)]
    pub mapping: Option<HookMapping>,
}

/// `[connectors.hooks.mapping]` of a `generic` hook: JSON pointers (RFC 6901, e.g. `/contact/email`) into the
/// delivery's body, and the table that turns the value at `type` into a Seen event type.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookMapping {
    /// Where the sender's event name is; `types` turns it into a Seen type (without `types`, the value is
    /// the Seen type itself).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the customer's id is (an email address or a phone number, as your other sources use).
    pub customer: String,
    /// Where the sender's unique id of the event is (default: the body's digest).
    #[serde(default)]
    pub id: Option<String>,
    /// Where the time is: RFC 3339, or seconds since the epoch (default: when the delivery arrived).
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_phone: Option<String>,
    #[serde(default)]
    pub customer_timezone: Option<String>,
    /// Event property name → where its value is.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
    /// The sender's event name → the Seen event type. Names not listed are ignored (202).
    #[serde(default)]
    pub types: std::collections::BTreeMap<String, String>,
}

impl HookMapping {
    /// Every pointer with the setting it came from.
    fn pointers(&self) -> Vec<(String, &str)> {
        let mut out = vec![
            ("type".to_string(), self.kind.as_str()),
            ("customer".to_string(), self.customer.as_str()),
        ];
        let optional = [
            ("id", &self.id),
            ("at", &self.at),
            ("ref", &self.reference),
            ("channel", &self.channel),
            ("customer_email", &self.customer_email),
            ("customer_name", &self.customer_name),
            ("customer_phone", &self.customer_phone),
            ("customer_timezone", &self.customer_timezone),
        ];
        for (field, pointer) in optional {
            if let Some(pointer) = pointer {
                out.push((field.to_string(), pointer.as_str()));
            }
        }
        for (name, pointer) in &self.properties {
            out.push((format!("properties.{name}"), pointer.as_str()));
        }
        out
    }
}

impl HookConfig {
    /// The settings this hook's source needs, and no setting of another source.
    fn validate(&self) -> Result<(), String> {
        let at = |field: &str| {
            format!(
                "[[connectors.hooks]] {:?} ({}): {field}",
                self.name, self.source
            )
        };
        if !HOOK_SOURCES.contains(&self.source.as_str()) {
            return Err(format!(
                "[[connectors.hooks]] {:?}: unknown source {:?} (expected one of {})",
                self.name,
                self.source,
                HOOK_SOURCES.join(", ")
            ));
        }
        if !is_env_name(&self.secret_env) {
            return Err(at(
                "secret_env: expected the name of an environment variable (e.g. \"SHOPIFY_SECRET\")",
            ));
        }
        let only = |field: &str, set: bool, source: &str| {
            if set && self.source != source {
                Err(at(&format!("{field} applies only to source \"{source}\"")))
            } else {
                Ok(())
            }
        };
        only(
            "signature_header",
            self.signature_header.is_some(),
            "generic",
        )?;
        only("mapping", self.mapping.is_some(), "generic")?;
        only(
            "verify_token_env",
            self.verify_token_env.is_some(),
            "whatsapp",
        )?;
        only("public_url", self.public_url.is_some(), "twilio")?;
        match self.source.as_str() {
            "whatsapp" => match &self.verify_token_env {
                Some(name) if is_env_name(name) => {}
                _ => {
                    return Err(at(
                        "verify_token_env: expected the environment variable holding the verify token of Meta's GET handshake",
                    ))
                }
            },
            "twilio" => {
                if let Some(url) = &self.public_url {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        return Err(at(&format!(
                            "public_url {url:?}: expected the webhook URL as entered at Twilio (https://...)"
                        )));
                    }
                }
            }
            "generic" => {
                let header = self.signature_header.as_deref().unwrap_or_default();
                if header.is_empty() || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(at(
                        "signature_header: expected the name of the header carrying the body's HMAC-SHA256 (e.g. \"X-Signature\")",
                    ));
                }
                let Some(mapping) = &self.mapping else {
                    return Err(at(
                        "mapping: missing ([connectors.hooks.mapping] with at least `type` and `customer`, JSON pointers such as \"/event\")",
                    ));
                };
                for (field, pointer) in mapping.pointers() {
                    if !pointer.starts_with('/') {
                        return Err(at(&format!(
                            "mapping.{field} = {pointer:?}: expected a JSON pointer starting with '/' (e.g. \"/contact/email\")"
                        )));
                    }
                }
                for (from, to) in &mapping.types {
                    let valid = !to.is_empty()
                        && to.len() <= 100
                        && to
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'));
                    if !valid {
                        return Err(at(&format!(
                            "mapping.types.{from:?} = {to:?}: expected a Seen event type (e.g. \"message.received\")"
                        )));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
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

#[cfg(test)]
mod hook_tests {
    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_toml(text, "test").map_err(|e| e.to_string())
    }

    fn hook(extra: &str) -> String {
        format!("[[connectors.hooks]]\nname = \"in\"\nsecret_env = \"IN_SECRET\"\n{extra}\n")
    }

    #[test]
    fn hooks_are_checked_at_load_naming_the_setting() {
        let cases = [
            (hook("source = \"stripe\""), "unknown source \"stripe\""),
            (hook("source = \"generic\"\nsignature_header = \"X-Sig\""), "mapping: missing"),
            (hook("source = \"generic\"\n[connectors.hooks.mapping]\ntype = \"/t\"\ncustomer = \"/c\""), "signature_header"),
            (
                hook("source = \"generic\"\nsignature_header = \"X-Sig\"\n[connectors.hooks.mapping]\ntype = \"event\"\ncustomer = \"/c\""),
                "mapping.type = \"event\"",
            ),
            (
                hook("source = \"generic\"\nsignature_header = \"X-Sig\"\n[connectors.hooks.mapping]\ntype = \"/t\"\ncustomer = \"/c\"\ntypes = { a = \"not a type\" }"),
                "mapping.types",
            ),
            (hook("source = \"whatsapp\""), "verify_token_env"),
            (hook("source = \"shopify\"\nverify_token_env = \"T\""), "verify_token_env applies only to source \"whatsapp\""),
            (hook("source = \"twilio\"\npublic_url = \"seen.example.com\""), "public_url"),
            (hook("source = \"calcom\"\nmapping = { type = \"/t\", customer = \"/c\" }"), "mapping applies only"),
            ("[connectors]\nkeep_raw = \"forever\"".to_string(), "keep_raw"),
        ];
        for (text, expected) in cases {
            let err = load(&text)
                .err()
                .unwrap_or_else(|| panic!("accepted:\n{text}"));
            assert!(err.contains(expected), "{text}\n→ {err}");
        }
        let missing_secret = "[[connectors.hooks]]\nname = \"in\"\nsource = \"calcom\"\n";
        assert!(load(missing_secret).unwrap_err().contains("secret_env"));
    }

    #[test]
    fn a_full_generic_hook_loads() {
        let config = load(&hook(
            "source = \"generic\"\nsignature_header = \"X-Signature\"\n[connectors.hooks.mapping]\ntype = \"/event\"\ncustomer = \"/contact/email\"\nat = \"/at\"\nproperties = { subject = \"/ticket/subject\" }\ntypes = { \"ticket.opened\" = \"message.received\" }",
        ))
        .unwrap();
        let hook = config.file.connectors.hook("in").unwrap();
        assert_eq!(
            hook.mapping.as_ref().unwrap().types["ticket.opened"],
            "message.received"
        );
        assert_eq!(
            config.file.connectors.keep_raw().unwrap(),
            Some(jiff::SignedDuration::from_hours(14 * 24))
        );
        let none = load("[connectors]\nkeep_raw = \"0s\"").unwrap();
        assert_eq!(none.file.connectors.keep_raw().unwrap(), None);
    }
}
