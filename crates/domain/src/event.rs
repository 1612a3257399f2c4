//! Events: the one kind of input Seen has. `EventInput` is what a client sends (borrowed, unvalidated);
//! `Event` is what the rest of Seen works with (validated).

use std::borrow::Cow;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A validated customer interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub customer: String,
    pub at: Timestamp,
    pub channel: Option<String>,
    pub reference: Option<String>,
    /// The `properties` object as compact JSON text, if any.
    pub properties: Option<String>,
    pub profile: ProfileUpdate,
}

/// Profile fields an event may carry; each present one updates the customer's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
}

impl ProfileUpdate {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.name.is_none()
            && self.phone.is_none()
            && self.timezone.is_none()
    }
}

impl Event {
    /// Events of one customer are folded in this order; `id` breaks ties so the order is total.
    pub fn sort_key(&self) -> (Timestamp, &str) {
        (self.at, &self.id)
    }

    /// Reads a property as a timestamp (RFC 3339 with offset).
    pub fn property_timestamp(&self, name: &str) -> Option<Timestamp> {
        let text = self.properties.as_deref()?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        map.get(name)?.as_str()?.parse().ok()
    }

    /// Reads a property as text: a string as it is, a number or boolean as written.
    pub fn property_text(&self, name: &str) -> Option<String> {
        let text = self.properties.as_deref()?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        match map.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(v.to_string()),
            _ => None,
        }
    }

    /// The properties as a JSON value (an empty object when there are none).
    pub fn properties_value(&self) -> serde_json::Value {
        self.properties
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()))
    }
}

/// A rejected event: which field, and why.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("field `{field}`: {reason}")]
pub struct EventError {
    pub field: String,
    pub reason: String,
}

impl EventError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EventError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An event as a client sends it. Fields borrow from the input where they can.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub customer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub customer_email: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub customer_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub customer_phone: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub customer_timezone: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "ref")]
    pub reference: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub properties: Option<&'a RawValue>,
}

/// Longest id, customer id or `ref` (characters).
pub const MAX_ID: usize = 200;
/// Longest event type (characters).
pub const MAX_TYPE: usize = 100;
/// Longest channel (characters).
pub const MAX_CHANNEL: usize = 50;
/// Longest customer name (characters).
pub const MAX_TEXT: usize = 500;
/// Longest phone number (characters).
pub const MAX_PHONE: usize = 50;
/// Longest email address (characters).
pub const MAX_EMAIL: usize = 254;
/// Longest time zone name (characters).
pub const MAX_TIMEZONE: usize = 64;
/// Largest `properties` object of one event, as JSON text (bytes): it is returned on every read of the
/// customer, so it stays small.
pub const MAX_PROPERTIES_BYTES: usize = 64 * 1024;
/// Deepest nesting of objects and arrays inside `properties` (the object itself is depth 1).
pub const MAX_PROPERTIES_DEPTH: usize = 32;

/// Parses one JSON object into an `EventInput`, naming the field on a type error.
pub fn parse_event_json(text: &str) -> Result<EventInput<'_>, EventError> {
    // The fast path; only a failure pays for tracking the path to the offending field.
    if let Ok(input) = serde_json::from_str::<EventInput>(text) {
        return Ok(input);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let input: EventInput = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(e.path().to_string(), e.inner()))?;
    de.end()
        .map_err(|e| EventError::new("(json)", e.to_string()))?;
    Ok(input)
}

pub(crate) fn json_error(path: String, err: &serde_json::Error) -> EventError {
    let text = err.to_string();
    // serde's own messages for missing/unknown fields already name the field.
    if path == "." || path.is_empty() {
        EventError::new("(json)", text)
    } else {
        EventError::new(path, text)
    }
}

impl EventInput<'_> {
    /// Validates into an `Event`. `now` is the default `at`; `new_id` mints an id when none is given.
    pub fn validate(
        self,
        now: Timestamp,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Event, EventError> {
        let id = match self.id {
            Some(id) => identifier("id", &id)?,
            None => new_id(),
        };
        let kind = match self.kind {
            Some(kind) => event_type(&kind)?,
            None => {
                return Err(EventError::new(
                    "type",
                    "missing (e.g. \"message.received\")",
                ))
            }
        };
        let customer = match self.customer {
            Some(customer) => identifier("customer", &customer)?,
            None => {
                return Err(EventError::new(
                    "customer",
                    "missing (the customer's id in your systems)",
                ))
            }
        };
        let at = match self.at {
            Some(at) => parse_timestamp("at", &at)?,
            None => now,
        };
        let channel = optional(self.channel, |c| token("channel", c, MAX_CHANNEL))?;
        let reference = optional(self.reference, |r| identifier("ref", r))?;
        let properties = match self.properties {
            None => None,
            Some(raw) => properties(raw.get())?,
        };
        let profile = ProfileUpdate {
            email: optional(self.customer_email, email)?,
            name: optional(self.customer_name, |n| text("customer_name", n, MAX_TEXT))?,
            phone: optional(self.customer_phone, |p| {
                text("customer_phone", p, MAX_PHONE)
            })?,
            timezone: optional(self.customer_timezone, timezone)?,
        };
        Ok(Event {
            id,
            kind,
            customer,
            at,
            channel,
            reference,
            properties,
            profile,
        })
    }
}

fn optional(
    value: Option<Cow<'_, str>>,
    check: impl Fn(&str) -> Result<String, EventError>,
) -> Result<Option<String>, EventError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => check(&v).map(Some),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, EventError> {
    // The length as sent (surrounding space included), as the OpenAPI `maxLength` says.
    if value.chars().count() > max {
        return Err(EventError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err(EventError::new(field, "contains control characters"));
    }
    Ok(value.to_string())
}

/// Free text that reaches the store (a query's filter, a paging key): at most `max` characters and no
/// control characters (PostgreSQL text cannot hold NUL).
pub fn plain_text(field: &str, value: &str, max: usize) -> Result<String, EventError> {
    if value.chars().count() > max {
        return Err(EventError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(EventError::new(field, "contains control characters"));
    }
    Ok(value.to_string())
}

/// An id, customer id or `ref`, wherever it comes from (an event, a URL path, a query): non-empty, at most
/// `MAX_ID` characters, no control characters, no surrounding whitespace.
pub fn identifier(field: &str, value: &str) -> Result<String, EventError> {
    token(field, value, MAX_ID)
}

/// An identifier: non-empty, no surrounding or control whitespace.
fn token(field: &str, value: &str, max: usize) -> Result<String, EventError> {
    if value.is_empty() {
        return Err(EventError::new(field, "is empty"));
    }
    if value.trim() != value {
        return Err(EventError::new(field, "has leading or trailing whitespace"));
    }
    text(field, value, max)
}

/// An event type: letters, digits and `. _ - : /`, bounded (also what a report's type filter accepts).
pub fn event_type(value: &str) -> Result<String, EventError> {
    let value = token("type", value, MAX_TYPE)?;
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'));
    if !ok {
        return Err(EventError::new(
            "type",
            format!("{value:?} may only contain letters, digits and . _ - : /"),
        ));
    }
    Ok(value)
}

/// An email address as events carry it (`customer_email`): trimmed, no control characters, `local@domain`.
pub fn email(value: &str) -> Result<String, EventError> {
    let value = text("customer_email", value, MAX_EMAIL)?;
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !value.contains(' ') =>
        {
            Ok(value)
        }
        _ => Err(EventError::new(
            "customer_email",
            format!("{value:?} is not an email address"),
        )),
    }
}

fn timezone(value: &str) -> Result<String, EventError> {
    let value = text("customer_timezone", value, MAX_TIMEZONE)?;
    jiff::tz::TimeZone::get(&value).map_err(|_| {
        EventError::new(
            "customer_timezone",
            format!("{value:?} is not an IANA time zone"),
        )
    })?;
    Ok(value)
}

/// An event's `properties` (raw JSON text): `null` (none) or an object of at most `MAX_PROPERTIES_BYTES`
/// nested at most `MAX_PROPERTIES_DEPTH` deep, every number finite in a 64-bit float and every string
/// valid Unicode — so it reads back as sent. Errors name the offending key (`properties.a.b`).
pub fn properties(raw: &str) -> Result<Option<String>, EventError> {
    let text = raw.trim();
    if text == "null" {
        return Ok(None);
    }
    if !text.starts_with('{') {
        return Err(EventError::new("properties", "must be a JSON object"));
    }
    if text.len() > MAX_PROPERTIES_BYTES {
        return Err(EventError::new(
            "properties",
            format!(
                "{} bytes of JSON; at most {MAX_PROPERTIES_BYTES} are kept per event",
                text.len()
            ),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: serde_json::Value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "properties".to_string()
        } else {
            format!("properties.{path}")
        };
        EventError::new(field, e.inner().to_string())
    })?;
    if let Some(path) = deeper_than(&value, MAX_PROPERTIES_DEPTH) {
        return Err(EventError::new(
            format!("properties{path}"),
            format!("nested deeper than {MAX_PROPERTIES_DEPTH} levels"),
        ));
    }
    Ok(Some(text.to_string()))
}

/// Where a value nests deeper than `levels` (objects and arrays count), as a path suffix (`.a[0]`); it
/// allocates only on that path. Recursion is bounded by serde_json's own nesting limit (128).
fn deeper_than(value: &serde_json::Value, levels: usize) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => {
            if levels == 0 {
                return Some(String::new());
            }
            map.iter()
                .find_map(|(key, v)| deeper_than(v, levels - 1).map(|rest| format!(".{key}{rest}")))
        }
        serde_json::Value::Array(items) => {
            if levels == 0 {
                return Some(String::new());
            }
            items
                .iter()
                .enumerate()
                .find_map(|(i, v)| deeper_than(v, levels - 1).map(|rest| format!("[{i}]{rest}")))
        }
        _ => None,
    }
}

/// Parses an RFC 3339 timestamp with an offset, exactly `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `±HH:MM`
/// (1 to 9 fraction digits; upper-case `T` and `Z`; no surrounding spaces), written with a year from 1970 to
/// 2200 (nanoseconds since the epoch stay well inside an i64). The API's OpenAPI pattern
/// (`api::schema::TIMESTAMP_PATTERN`) describes the same set.
pub fn parse_timestamp(field: &str, value: &str) -> Result<Timestamp, EventError> {
    let invalid = |why: &str| {
        EventError::new(
            field,
            format!("{value:?} is not an RFC 3339 timestamp with offset (e.g. 2026-03-01T09:30:00Z): {why}"),
        )
    };
    let shape = rfc3339_shape(value).map_err(&invalid)?;
    if !(1970..=2200).contains(&shape.year) {
        return Err(EventError::new(
            field,
            format!("{value:?} is outside the years 1970-2200"),
        ));
    }
    value
        .parse()
        .map_err(|e: jiff::Error| invalid(&e.to_string()))
}

/// The numbers of an RFC 3339 timestamp's fixed layout, checked for range (the calendar is jiff's).
struct Rfc3339Shape {
    year: u32,
}

fn rfc3339_shape(value: &str) -> Result<Rfc3339Shape, &'static str> {
    let b = value.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let layout = "expected YYYY-MM-DDTHH:MM:SS, optional .fraction (1-9 digits), then Z or +HH:MM";
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return Err(layout);
    }
    let (Some(year), Some(_), Some(_), Some(hour), Some(minute), Some(second)) = (
        number(0, 4),
        number(5, 7),
        number(8, 10),
        number(11, 13),
        number(14, 16),
        number(17, 19),
    ) else {
        return Err(layout);
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err("hour, minute or second out of range");
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return Err(layout);
        }
        rest = &rest[1 + digits..];
    }
    match rest {
        [b'Z'] => {}
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let (hours, minutes) = (
                (h1 - b'0') * 10 + (h2 - b'0'),
                (m1 - b'0') * 10 + (m2 - b'0'),
            );
            if hours > 23 || minutes > 59 {
                return Err("offset out of range");
            }
        }
        _ => return Err(layout),
    }
    Ok(Rfc3339Shape { year })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn validate(json: &str) -> Result<Event, EventError> {
        let mut n = 0;
        parse_event_json(json)?.validate(now(), &mut || {
            n += 1;
            format!("gen-{n}")
        })
    }

    #[test]
    fn accepts_a_full_event() {
        let e = validate(
            r#"{"id":"e1","type":"booking.created","customer":"c1","customer_email":"a@b.c","customer_name":"Ann",
               "customer_timezone":"Europe/London","at":"2026-03-01T09:30:00+01:00","channel":"email","ref":"BK-1",
               "properties":{"starts_at":"2026-03-10T09:00:00Z", "amount": 12.5}}"#,
        )
        .unwrap();
        assert_eq!(e.id, "e1");
        assert_eq!(e.at, "2026-03-01T08:30:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(e.reference.as_deref(), Some("BK-1"));
        assert_eq!(e.profile.timezone.as_deref(), Some("Europe/London"));
        assert_eq!(
            e.property_timestamp("starts_at"),
            Some("2026-03-10T09:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn fills_defaults() {
        let e = validate(r#"{"type":"purchase","customer":"c1"}"#).unwrap();
        assert_eq!(e.id, "gen-1");
        assert_eq!(e.at, now());
        assert_eq!(e.properties, None);
    }

    #[test]
    fn rejects_with_the_field_named() {
        let cases = [
            (r#"{"type":"x"}"#, "customer"),
            (r#"{"customer":"c"}"#, "type"),
            (r#"{"type":"x","customer":"c","at":"yesterday"}"#, "at"),
            (
                r#"{"type":"x","customer":"c","at":"2026-03-01T09:30:00"}"#,
                "at",
            ),
            (r#"{"type":"x","customer":""}"#, "customer"),
            (r#"{"type":"x","customer":42}"#, "customer"),
            (r#"{"type":"x y","customer":"c"}"#, "type"),
            (
                r#"{"type":"x","customer":"c","properties":[1]}"#,
                "properties",
            ),
            (
                r#"{"type":"x","customer":"c","customer_timezone":"Mars/Olympus"}"#,
                "customer_timezone",
            ),
            (
                r#"{"type":"x","customer":"c","customer_email":"nope"}"#,
                "customer_email",
            ),
        ];
        for (json, field) in cases {
            let err = validate(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
        let nul_cases = [
            (r#"{"type":"x","customer":"a\u0000b"}"#, "customer"),
            (r#"{"id":"\u0000","type":"x","customer":"c"}"#, "id"),
            (r#"{"type":"x\u0000","customer":"c"}"#, "type"),
            (r#"{"type":"x","customer":"c","ref":"r\u0000"}"#, "ref"),
            (
                r#"{"type":"x","customer":"c","channel":"\u0000"}"#,
                "channel",
            ),
            (
                r#"{"type":"x","customer":"c","customer_name":"A\u0000"}"#,
                "customer_name",
            ),
            (
                r#"{"type":"x","customer":"c","customer_email":"a\u0000@b.c"}"#,
                "customer_email",
            ),
            (
                r#"{"type":"x","customer":"c","customer_phone":"1\u0000"}"#,
                "customer_phone",
            ),
            (
                r#"{"type":"x","customer":"c","customer_timezone":"UTC\u0000"}"#,
                "customer_timezone",
            ),
        ];
        for (json, field) in nul_cases {
            let err = validate(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
            assert!(err.reason.contains("control"), "{json}: {err}");
        }
        let err = validate(r#"{"type":"x","customer":"c","customer_id":"c"}"#).unwrap_err();
        assert!(err.reason.contains("customer_id"), "{err}");
        assert!(validate(r#"{"type":"x","#).is_err());
    }

    fn with_properties(properties: &str) -> Result<Event, EventError> {
        validate(&format!(
            r#"{{"type":"x","customer":"c","properties":{properties}}}"#
        ))
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    }

    #[test]
    fn properties_that_would_not_read_back_are_refused_naming_the_key() {
        let cases = [
            (r#"{"n":1e400}"#.to_string(), "properties.n"),
            (r#"{"n":[1,-1e999]}"#.to_string(), "properties.n[1]"),
            (r#"{"s":"\ud800"}"#.to_string(), "properties.s"),
            (r#"{"o":{"s":"x\udc00y"}}"#.to_string(), "properties.o.s"),
            (
                nested(33),
                "properties.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
            ),
            (nested(200), "properties"),
            (
                format!(r#"{{"big":"{}"}}"#, "x".repeat(MAX_PROPERTIES_BYTES)),
                "properties",
            ),
        ];
        for (properties, field) in cases {
            let err = with_properties(&properties).unwrap_err();
            assert!(
                err.field.starts_with(field),
                "{}: {err}",
                &properties[..properties.len().min(80)]
            );
        }
        let err = with_properties(&nested(33)).unwrap_err();
        assert!(err.reason.contains("deeper than 32"), "{err}");
        let err = with_properties(&format!(r#"{{"big":"{}"}}"#, "x".repeat(70_000))).unwrap_err();
        assert!(err.reason.contains("65536"), "{err}");
    }

    #[test]
    fn properties_within_the_limits_read_back_exactly() {
        for properties in [
            nested(32),
            r#"{"nul":"a\u0000b","k\u0000":[1.5,-2,1e300,true,null,"\ud83d\ude00"]}"#.to_string(),
            format!(r#"{{"big":"{}"}}"#, "x".repeat(MAX_PROPERTIES_BYTES - 20)),
        ] {
            let event = with_properties(&properties).unwrap();
            let expected: serde_json::Value = serde_json::from_str(&properties).unwrap();
            assert_eq!(event.properties_value(), expected);
        }
        let event = with_properties(r#"{"nul":"a\u0000b"}"#).unwrap();
        assert_eq!(event.properties_value()["nul"], "a\u{0}b");
    }

    #[test]
    fn timestamps_are_strict_rfc_3339_within_1970_to_2200() {
        let ok = [
            ("2026-03-01T09:30:00Z", "2026-03-01T09:30:00Z"),
            ("2026-03-01T09:30:00+01:00", "2026-03-01T08:30:00Z"),
            ("2026-03-01T09:30:00-00:00", "2026-03-01T09:30:00Z"),
            (
                "2026-03-01T09:30:00.123456789Z",
                "2026-03-01T09:30:00.123456789Z",
            ),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
            ("2000-02-29T23:59:59-23:59", "2000-03-01T23:58:59Z"),
            ("1970-01-01T00:00:00+23:59", "1969-12-31T00:01:00Z"),
            ("2200-12-31T23:59:59-23:59", "2201-01-01T23:58:59Z"),
        ];
        for (text, utc) in ok {
            let at = parse_timestamp("at", text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(at, utc.parse::<Timestamp>().unwrap(), "{text}");
        }
        for text in [
            "",
            " 2026-03-01T09:30:00Z",
            "2026-03-01T09:30:00Z ",
            "2026-03-01t09:30:00z",
            "2026-03-01 09:30:00Z",
            "2026-03-01T09:30Z",
            "2026-03-01T09:30:00",
            "2026-03-01T09:30:00.Z",
            "2026-03-01T09:30:00.1234567891Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T09:60:00Z",
            "2026-03-01T09:30:60Z",
            "2026-03-01T09:30:00+24:00",
            "2026-03-01T09:30:00+0100",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "+002026-03-01T09:30:00Z",
            "2026-03-01T09:30:00[UTC]Z",
        ] {
            assert!(parse_timestamp("at", text).is_err(), "{text:?} accepted");
        }
    }
}
