//! What the demo hands out: a customer's history as [`Event`]s, events as JSON lines (the load
//! generator's output), and the validation every demo event passes on its way into a store.

use std::borrow::Cow;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::customer::{Customer, Raw};
use super::profile::Profile;
use super::{generate, DemoOptions};
use crate::domain::{Event, EventError, EventInput, ProfileUpdate};

impl Customer<'_> {
    /// Turns the customer's history into events, in time order, inside the window, and appends them
    /// to `block`. The first event carries the whole profile, forms carry name and email. Returns the
    /// emptied scratch buffer for reuse.
    pub(super) fn finish(
        self,
        profile: &Profile,
        id_prefix: &str,
        block: &mut Vec<Event>,
    ) -> Vec<Raw> {
        let Customer {
            mut out,
            counters,
            window,
            ..
        } = self;
        out.retain(|r| r.at >= window.start && r.at <= window.end);
        // Stable: events at the same second keep their causal order.
        out.sort_by_key(|r| r.at);
        let mut first = true;
        for raw in out.drain(..) {
            let Ok(at) = Timestamp::from_second(raw.at) else {
                continue;
            };
            let mut id = String::with_capacity(id_prefix.len() + 8);
            id.push_str(id_prefix);
            let _ = write!(id, "{:08x}", counters.event);
            counters.event += 1;
            let told = first || raw.form;
            block.push(Event {
                id,
                kind: raw.kind.to_string(),
                customer: profile.id.clone(),
                at,
                channel: raw.channel.map(str::to_string),
                reference: raw.reference,
                // The compact JSON text validation keeps (`serde_json::to_string` of the object).
                properties: (!raw.props.is_empty()).then(|| Value::Object(raw.props).to_string()),
                profile: ProfileUpdate {
                    email: told.then(|| profile.email.clone()),
                    name: told.then(|| profile.name.clone()),
                    phone: if first { profile.phone.clone() } else { None },
                    timezone: first.then(|| profile.timezone.to_string()),
                },
            });
            first = false;
        }
        out
    }
}

/// Writes all events as JSON lines (one object per line, in the shape the API and `seen import`
/// take) to `w` and returns the number of events written.
pub fn write_jsonl(opts: &DemoOptions, w: &mut impl std::io::Write) -> std::io::Result<u64> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, w);
    let mut written = 0u64;
    generate(opts, |events| -> std::io::Result<()> {
        for event in &events {
            serde_json::to_writer(&mut out, &JsonLine::new(event)?)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(written)
}

/// An event as one JSON object, fields in the order clients send them.
#[derive(Serialize)]
struct JsonLine<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    customer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_timezone: Option<&'a str>,
    /// RFC 3339 in UTC, e.g. `2025-03-14T09:26:53Z`.
    #[serde(serialize_with = "serialize_timestamp")]
    at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<&'a RawValue>,
}

impl<'a> JsonLine<'a> {
    fn new(event: &'a Event) -> serde_json::Result<JsonLine<'a>> {
        Ok(JsonLine {
            id: &event.id,
            kind: &event.kind,
            customer: &event.customer,
            customer_email: event.profile.email.as_deref(),
            customer_name: event.profile.name.as_deref(),
            customer_phone: event.profile.phone.as_deref(),
            customer_timezone: event.profile.timezone.as_deref(),
            at: event.at,
            channel: event.channel.as_deref(),
            reference: event.reference.as_deref(),
            properties: event
                .properties
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
        })
    }
}

fn serialize_timestamp<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

/// Passes a demo event through the validation every input gets (as [`EventInput`]), as of `now`.
/// The demo's events pass it unchanged, except that instants outside the years 1970-2200 are
/// refused, as from any client (an early `--end` with a long history reaches before 1970).
pub fn validate(event: &Event, now: Timestamp) -> Result<Event, EventError> {
    let properties: Option<&RawValue> = event
        .properties
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| EventError::new("properties", e.to_string()))?;
    let input = EventInput {
        id: Some(Cow::Borrowed(&event.id)),
        kind: Some(Cow::Borrowed(&event.kind)),
        customer: Some(Cow::Borrowed(&event.customer)),
        customer_email: borrowed(&event.profile.email),
        customer_name: borrowed(&event.profile.name),
        customer_phone: borrowed(&event.profile.phone),
        customer_timezone: borrowed(&event.profile.timezone),
        at: Some(Cow::Owned(event.at.to_string())),
        channel: borrowed(&event.channel),
        reference: borrowed(&event.reference),
        properties,
    };
    input.validate(now, &mut crate::ingest::new_event_id)
}

fn borrowed(value: &Option<String>) -> Option<Cow<'_, str>> {
    value.as_deref().map(Cow::Borrowed)
}
