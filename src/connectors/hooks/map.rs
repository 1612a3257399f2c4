//! What every provider's mapping shares, all pure: the delivery as the mapping sees it (`Incoming`), the
//! events it means before links are consulted (`Draft`), path-aware reads of a JSON body (`Doc`, whose errors
//! name the provider's field), customer ids from emails and phone numbers, and signature decoding.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value};

/// Request headers by lower-case name.
pub type Headers = BTreeMap<String, String>;

/// One delivery, as a mapping sees it: live, or read back from the kept deliveries by a replay.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub headers: &'a Headers,
    pub body: &'a [u8],
    /// When it arrived: the time of events whose provider sends none.
    pub received_at: Timestamp,
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A body that does not say what the provider documents: which field, and why (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct PayloadError {
    pub field: String,
    pub reason: String,
}

impl PayloadError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> PayloadError {
        PayloadError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What a delivery means.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Events(Vec<Draft>),
    /// Nothing Seen maps (another event type, a status we do not follow): the reason, for the 202.
    Ignored(String),
}

/// The customer as a payload names them: the id (an email address in lower case, or a phone number in
/// E.164 for SMS and WhatsApp) and the profile fields it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
}

impl Person {
    /// A customer known by email (`None` without a usable address).
    pub fn by_email(email: Option<&str>) -> Option<Person> {
        let email = email_id(email?)?;
        Some(Person {
            id: email.clone(),
            email: Some(email),
            ..Person::default()
        })
    }

    /// A customer known by phone number (`None` without a usable number).
    pub fn by_phone(phone: Option<&str>) -> Option<Person> {
        let phone = phone_id(phone?)?;
        Some(Person {
            id: phone.clone(),
            phone: Some(phone),
            ..Person::default()
        })
    }

    pub fn named(mut self, name: Option<String>) -> Person {
        self.name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        self
    }

    /// Adds a phone number (when the id is an email address).
    pub fn with_phone(mut self, phone: Option<&str>) -> Person {
        if self.phone.is_none() {
            self.phone = phone.and_then(phone_id);
        }
        self
    }

    /// Adds a time zone, when it is one Seen knows (an unknown one is left out rather than refused).
    pub fn in_zone(mut self, zone: Option<&str>) -> Person {
        self.timezone = zone
            .map(str::trim)
            .filter(|z| !z.is_empty() && jiff::tz::TimeZone::get(z).is_ok())
            .map(str::to_string);
        self
    }
}

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The payload names the customer.
    Known(Person),
    /// Only the link followed knows (a Shopify delivery event names its order, not the customer); the
    /// payload's own guess, if any, serves when the link is not remembered.
    Linked(Option<Person>),
}

/// An event a delivery means, before the connector's links are consulted.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Unique within the connector: the provider's object and what happened to it (`order:450789469:placed`),
    /// so that a provider's retry, or a replay, is a duplicate.
    pub key: String,
    pub kind: String,
    pub who: Who,
    pub at: Timestamp,
    pub channel: Option<String>,
    /// The ref when no link says otherwise.
    pub reference: Option<String>,
    pub properties: Map<String, Value>,
    /// A link to follow: when remembered, it gives the ref (the booking's first id, through reschedules) and,
    /// for `Who::Linked`, the customer.
    pub follow: Option<String>,
    /// Links to remember, to this event's customer and ref.
    pub remember: Vec<String>,
    /// The provider's field each of Seen's fields came from (`customer_email` ← `payload.attendees[0].email`),
    /// so that a value Seen refuses is reported by the name the provider uses.
    pub sources: Vec<(&'static str, String)>,
}

impl Draft {
    pub fn new(key: String, kind: &str, who: Who, at: Timestamp) -> Draft {
        Draft {
            key,
            kind: kind.to_string(),
            who,
            at,
            channel: None,
            reference: None,
            properties: Map::new(),
            follow: None,
            remember: Vec::new(),
            sources: Vec::new(),
        }
    }

    pub fn reference(mut self, reference: Option<String>) -> Draft {
        self.reference = reference;
        self
    }

    pub fn channel(mut self, channel: &str) -> Draft {
        self.channel = Some(channel.to_string());
        self
    }

    pub fn follow(mut self, key: Option<String>) -> Draft {
        self.follow = key;
        self
    }

    pub fn remember(mut self, key: String) -> Draft {
        self.remember.push(key);
        self
    }

    pub fn source(mut self, field: &'static str, pointer: &str) -> Draft {
        self.sources.push((field, field_name(pointer)));
        self
    }

    /// Sets a property when the value is present (not null).
    pub fn property(mut self, name: &str, value: Option<Value>) -> Draft {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            self.properties.insert(name.to_string(), value);
        }
        self
    }
}

/// A JSON body, read by JSON pointer; errors name the field as the provider writes it
/// (`payload.attendees[0].email`).
pub struct Doc {
    root: Value,
}

impl Doc {
    pub fn parse(body: &[u8]) -> Result<Doc, PayloadError> {
        let root: Value = serde_json::from_slice(body)
            .map_err(|e| PayloadError::new("(body)", format!("not JSON: {e}")))?;
        if !root.is_object() {
            return Err(PayloadError::new("(body)", "expected a JSON object"));
        }
        Ok(Doc { root })
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The value at `pointer`; `null` counts as absent.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.root.pointer(pointer).filter(|v| !v.is_null())
    }

    /// Text (or a number, as text) at `pointer`, which must be there.
    pub fn text(&self, pointer: &str) -> Result<String, PayloadError> {
        text_at(&self.root, pointer)
    }

    /// Text (or a number, as text) at `pointer` if there; any other kind of value counts as absent.
    pub fn opt_text(&self, pointer: &str) -> Option<String> {
        opt_text_at(&self.root, pointer)
    }

    /// A time at `pointer`, which must be there: RFC 3339, or seconds since the epoch.
    pub fn time(&self, pointer: &str) -> Result<Timestamp, PayloadError> {
        time_at(&self.root, pointer)
    }

    /// A time at `pointer` if there and valid.
    pub fn opt_time(&self, pointer: &str) -> Option<Timestamp> {
        self.get(pointer).and_then(|_| self.time(pointer).ok())
    }

    pub fn flag(&self, pointer: &str) -> bool {
        self.get(pointer).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Text (or a number, as text) at `pointer` under `value`, which must be there and not empty.
pub fn text_at(value: &Value, pointer: &str) -> Result<String, PayloadError> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Err(PayloadError::new(field_name(pointer), "missing")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(PayloadError::new(field_name(pointer), "is empty"))
        }
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(PayloadError::new(
            field_name(pointer),
            "expected text or a number",
        )),
    }
}

pub fn opt_text_at(value: &Value, pointer: &str) -> Option<String> {
    text_at(value, pointer).ok()
}

pub fn time_at(value: &Value, pointer: &str) -> Result<Timestamp, PayloadError> {
    let field = field_name(pointer);
    match value.pointer(pointer) {
        None | Some(Value::Null) => Err(PayloadError::new(field, "missing")),
        Some(Value::String(text)) => parse_time(&field, text),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|s| Timestamp::from_second(s).ok())
            .ok_or_else(|| PayloadError::new(field, format!("{n} is not a time in seconds"))),
        Some(_) => Err(PayloadError::new(field, "expected a time")),
    }
}

/// RFC 3339 with an offset (as Seen's events take it), or seconds since the epoch written as text.
pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, PayloadError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
            .ok_or_else(|| PayloadError::new(field, format!("{text:?} is not a time in seconds")));
    }
    crate::domain::event::parse_timestamp(field, text)
        .map_err(|e| PayloadError::new(field, e.reason))
}

/// A JSON pointer as a field name: `/payload/attendees/0/email` → `payload.attendees[0].email`.
pub fn field_name(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    if out.is_empty() {
        "(body)".to_string()
    } else {
        out
    }
}

/// An email address as a customer id: trimmed and in lower case; `None` if it is not an address.
pub fn email_id(text: &str) -> Option<String> {
    let email = text.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= crate::domain::event::MAX_EMAIL;
    valid.then_some(email)
}

/// A phone number as a customer id, in E.164 (`+` and digits): spaces, dashes, dots and brackets go, a
/// `whatsapp:` prefix (Twilio's) goes, and a bare number (WhatsApp's `wa_id`, which carries the country code)
/// gets its `+`. `None` if what is left is not 6 to 15 digits.
pub fn phone_id(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix("whatsapp:").unwrap_or(text);
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+'))
        .collect();
    let valid = (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("+{digits}"))
}

/// The last segment of a URI (Calendly's ids are URIs): `…/invitees/AAAA` → `AAAA`.
pub fn last_segment(uri: &str) -> &str {
    uri.trim_end_matches('/').rsplit('/').next().unwrap_or(uri)
}

/// At most `max` characters of a text (a message's preview).
pub fn preview(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// An amount as a number, from text (`"199.00"`) or a number.
pub fn amount(value: Option<&Value>) -> Option<Value> {
    let number = match value? {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    number
        .is_finite()
        .then(|| serde_json::Number::from_f64(number).map(Value::Number))
        .flatten()
}

/// The total quantity of an order's line items (`None` without any).
pub fn item_count(items: Option<&Value>) -> Option<Value> {
    let items = items?.as_array()?;
    let count: u64 = items
        .iter()
        .map(|item| item.get("quantity").and_then(Value::as_u64).unwrap_or(1))
        .sum();
    (count > 0).then(|| Value::from(count))
}

/// A signature header's bytes: hex (64 digits) or base64 of a 32-byte HMAC-SHA256, with an optional
/// `sha256=` prefix.
pub fn decode_sha256_tag(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = text.trim();
    let text = text.strip_prefix("sha256=").unwrap_or(text);
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(text).ok();
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (bytes.len() == 32).then_some(bytes)
}

/// Whether `tag` (hex or base64, see `decode_sha256_tag`) is the HMAC-SHA256 of `parts` under `secret`.
pub fn sha256_tag_holds(secret: &str, parts: &[&[u8]], tag: Option<&str>) -> bool {
    match tag.and_then(decode_sha256_tag) {
        Some(tag) if tag.len() == 32 => crate::secrets::verify_hmac_sha256(secret, parts, &tag),
        _ => false,
    }
}

/// Base64 of an HMAC-SHA256, as Shopify and WooCommerce send it (for tests and fixtures).
pub fn base64_sha256(secret: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crate::secrets::hmac_sha256(secret, &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_read_as_the_provider_writes_them() {
        assert_eq!(
            field_name("/payload/attendees/0/email"),
            "payload.attendees[0].email"
        );
        assert_eq!(field_name("/a~1b/c~0d"), "a/b.c~d");
        assert_eq!(field_name(""), "(body)");
    }

    #[test]
    fn customer_ids_from_emails_and_phones() {
        assert_eq!(
            email_id(" Ann@Example.COM ").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(email_id("not an address"), None);
        assert_eq!(email_id("a b@c.d"), None);
        assert_eq!(
            phone_id("+1 (415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            phone_id("whatsapp:+14155550100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(phone_id("16505551234").as_deref(), Some("+16505551234"));
        assert_eq!(phone_id("12"), None);
        assert_eq!(phone_id("call me"), None);
    }

    #[test]
    fn docs_name_the_missing_or_wrong_field() {
        let doc = Doc::parse(
            br#"{"a":{"b":[{"c":"x"}],"n":42,"t":"2026-03-01T09:30:00.000Z","s":"1700000000"}}"#,
        )
        .unwrap();
        assert_eq!(doc.text("/a/b/0/c").unwrap(), "x");
        assert_eq!(doc.text("/a/n").unwrap(), "42");
        assert_eq!(doc.text("/a/b/1/c").unwrap_err().field, "a.b[1].c");
        assert_eq!(
            doc.text("/a/b").unwrap_err().reason,
            "expected text or a number"
        );
        assert_eq!(
            doc.time("/a/t").unwrap(),
            "2026-03-01T09:30:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            doc.time("/a/s").unwrap(),
            Timestamp::from_second(1_700_000_000).unwrap()
        );
        assert_eq!(doc.time("/a/b/0/c").unwrap_err().field, "a.b[0].c");
        assert_eq!(Doc::parse(b"[1]").err().unwrap().field, "(body)");
        assert_eq!(Doc::parse(b"{").err().unwrap().field, "(body)");
    }

    #[test]
    fn signature_tags_in_hex_or_base64() {
        let tag = crate::secrets::hmac_sha256("k", &[b"body"]);
        let hex_tag = hex::encode(tag);
        assert!(sha256_tag_holds("k", &[b"body"], Some(&hex_tag)));
        assert!(sha256_tag_holds(
            "k",
            &[b"body"],
            Some(&format!("sha256={hex_tag}"))
        ));
        assert!(sha256_tag_holds(
            "k",
            &[b"body"],
            Some(&base64_sha256("k", b"body"))
        ));
        assert!(!sha256_tag_holds("k", &[b"body!"], Some(&hex_tag)));
        assert!(!sha256_tag_holds("other", &[b"body"], Some(&hex_tag)));
        assert!(!sha256_tag_holds("k", &[b"body"], Some(&hex_tag[..32])));
        assert!(!sha256_tag_holds("k", &[b"body"], None));
    }

    #[test]
    fn small_helpers() {
        assert_eq!(
            last_segment("https://api.calendly.com/scheduled_events/E/invitees/I1"),
            "I1"
        );
        assert_eq!(preview("  hello  ", 3), "hel…");
        assert_eq!(preview("hi", 3), "hi");
        assert_eq!(
            amount(Some(&Value::from("199.50"))),
            Some(Value::from(199.5))
        );
        assert_eq!(amount(Some(&Value::from("n/a"))), None);
        let items: Value = serde_json::json!([{"quantity": 2}, {"quantity": 1}]);
        assert_eq!(item_count(Some(&items)), Some(Value::from(3)));
    }
}
