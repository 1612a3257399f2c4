//! Calendly: `Calendly-Webhook-Signature: t=UNIX,v1=HEX`, the HMAC-SHA256 of `"{t}.{body}"` under the
//! subscription's signing key; a `t` more than five minutes from the arrival is refused (a replayed capture).
//! A reschedule arrives as `invitee.canceled` (with `rescheduled: true`) plus `invitee.created` (with
//! `old_invitee`): the cancel is ignored and the create becomes `booking.rescheduled` of the first booking,
//! followed through its invitees, so one booking stays one booking.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::map::{last_segment, Doc, Draft, Incoming, Mapped, PayloadError, Person, Who};

pub const SIGNATURE: &str = "calendly-webhook-signature";

/// How far a signature's `t` may be from the arrival.
const TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

pub fn verify(secret: &str, incoming: &Incoming<'_>) -> bool {
    let Some(header) = incoming.header(SIGNATURE) else {
        return false;
    };
    let (mut t, mut signatures) = (None, Vec::new());
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(t) = t else {
        return false;
    };
    let fresh = t
        .parse::<i64>()
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .is_some_and(|signed| incoming.received_at.duration_since(signed).abs() <= TOLERANCE);
    fresh
        && signatures.iter().any(|v1| {
            v1.len() == 64
                && hex::decode(v1).is_ok_and(|tag| {
                    crate::secrets::verify_hmac_sha256(
                        secret,
                        &[t.as_bytes(), b".", incoming.body],
                        &tag,
                    )
                })
        })
}

/// The header Calendly would send for `body` signed at `t` (tests and fixtures).
pub fn signature(secret: &str, t: Timestamp, body: &[u8]) -> String {
    let t = t.as_second().to_string();
    let tag = crate::secrets::hmac_sha256(secret, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(tag))
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let doc = Doc::parse(incoming.body)?;
    let event = doc.text("/event")?;
    let at = doc.opt_time("/created_at").unwrap_or(incoming.received_at);
    let draft = match event.as_str() {
        "invitee.created" => {
            let invitee = invitee_id(&doc)?;
            let draft = invitee_event(&doc, at)?;
            let draft = match doc.opt_text("/payload/old_invitee") {
                Some(old) => {
                    let old = last_segment(&old).to_string();
                    let draft = Draft {
                        key: format!("invitee:{invitee}:rescheduled"),
                        kind: "booking.rescheduled".to_string(),
                        ..draft
                    };
                    draft
                        .reference(Some(old.clone()))
                        .follow(Some(format!("invitee:{old}")))
                }
                None => {
                    let draft = Draft {
                        key: format!("invitee:{invitee}:created"),
                        ..draft
                    };
                    draft.reference(Some(invitee.clone()))
                }
            };
            draft.remember(format!("invitee:{invitee}"))
        }
        "invitee.canceled" => {
            if doc.flag("/payload/rescheduled") {
                return Ok(Mapped::Ignored(
                    "the cancellation half of a reschedule (its invitee.created carries the new time)"
                        .to_string(),
                ));
            }
            let invitee = invitee_id(&doc)?;
            let at = doc
                .opt_time("/payload/cancellation/created_at")
                .unwrap_or(at);
            let draft = Draft {
                key: format!("invitee:{invitee}:cancelled"),
                kind: "booking.cancelled".to_string(),
                ..invitee_event(&doc, at)?
            };
            draft
                .reference(Some(invitee.clone()))
                .follow(Some(format!("invitee:{invitee}")))
                .property(
                    "reason",
                    doc.opt_text("/payload/cancellation/reason")
                        .map(Value::from),
                )
                .property(
                    "cancelled_by",
                    doc.opt_text("/payload/cancellation/canceler_type")
                        .map(Value::from),
                )
        }
        "invitee_no_show.created" => {
            let invitee = last_segment(&doc.text("/payload/invitee")?).to_string();
            Draft::new(
                format!("invitee:{invitee}:no_show"),
                "visit.no_show",
                Who::Linked(None),
                at,
            )
            .reference(Some(invitee.clone()))
            .follow(Some(format!("invitee:{invitee}")))
        }
        other => {
            return Ok(Mapped::Ignored(format!(
                "Calendly event {other:?} is not mapped"
            )))
        }
    };
    Ok(Mapped::Events(vec![draft]))
}

/// The invitee's id: the last segment of `payload.uri`.
fn invitee_id(doc: &Doc) -> Result<String, PayloadError> {
    Ok(last_segment(&doc.text("/payload/uri")?).to_string())
}

/// A booking event of the invitee (`booking.created` until the caller says otherwise).
fn invitee_event(doc: &Doc, at: Timestamp) -> Result<Draft, PayloadError> {
    let email = doc.text("/payload/email")?;
    let person = Person::by_email(Some(&email))
        .ok_or_else(|| {
            PayloadError::new(
                "payload.email",
                format!("{email:?} is not an email address"),
            )
        })?
        .named(doc.opt_text("/payload/name"))
        .with_phone(doc.opt_text("/payload/text_reminder_number").as_deref())
        .in_zone(doc.opt_text("/payload/timezone").as_deref());
    let time = |pointer: &str| doc.opt_time(pointer).map(|t| Value::from(t.to_string()));
    Ok(
        Draft::new(String::new(), "booking.created", Who::Known(person), at)
            .source("customer_email", "/payload/email")
            .source("customer_name", "/payload/name")
            .source("ref", "/payload/uri")
            .property("starts_at", time("/payload/scheduled_event/start_time"))
            .property("ends_at", time("/payload/scheduled_event/end_time"))
            .property(
                "title",
                doc.opt_text("/payload/scheduled_event/name")
                    .map(Value::from),
            )
            .property(
                "scheduled_event",
                doc.opt_text("/payload/scheduled_event/uri")
                    .or_else(|| doc.opt_text("/payload/event"))
                    .map(Value::from),
            ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    const ARRIVED: &str = "2026-05-01T10:00:00Z";

    fn incoming<'a>(headers: &'a Headers, body: &'a [u8]) -> Incoming<'a> {
        Incoming {
            headers,
            body,
            received_at: ARRIVED.parse().unwrap(),
        }
    }

    fn drafts(body: &str) -> Mapped {
        map(&incoming(&Headers::new(), body.as_bytes())).unwrap()
    }

    #[test]
    fn signature_binds_time_and_body() {
        let body = br#"{"event":"invitee.created"}"#;
        let now: Timestamp = ARRIVED.parse().unwrap();
        let mut headers = Headers::new();
        headers.insert(SIGNATURE.into(), signature("key", now, body));
        assert!(verify("key", &incoming(&headers, body)));
        assert!(!verify("other", &incoming(&headers, body)));
        assert!(!verify("key", &incoming(&headers, b"{}")));
        let stale = now - SignedDuration::from_mins(6);
        headers.insert(SIGNATURE.into(), signature("key", stale, body));
        assert!(!verify("key", &incoming(&headers, body)));
        headers.insert(SIGNATURE.into(), "v1=abc".into());
        assert!(!verify("key", &incoming(&headers, body)));
    }

    #[test]
    fn a_reschedule_is_one_booking() {
        let Mapped::Events(created) = drafts(
            r#"{"event":"invitee.created","created_at":"2026-05-01T09:00:00.000000Z","payload":{
                "uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","email":"ann@example.com","name":"Ann",
                "timezone":"America/New_York","old_invitee":null,
                "scheduled_event":{"uri":"https://api.calendly.com/scheduled_events/E1","start_time":"2026-05-10T14:00:00.000000Z"}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(created[0].kind.as_str(), "booking.created");
        assert_eq!(created[0].reference.as_deref(), Some("I1"));
        assert_eq!(created[0].remember, ["invitee:I1"]);
        assert_eq!(created[0].properties["starts_at"], "2026-05-10T14:00:00Z");

        let cancel = drafts(
            r#"{"event":"invitee.canceled","payload":{"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1",
                "email":"ann@example.com","rescheduled":true,"new_invitee":"https://api.calendly.com/scheduled_events/E2/invitees/I2"}}"#,
        );
        assert!(matches!(cancel, Mapped::Ignored(_)));

        let Mapped::Events(moved) = drafts(
            r#"{"event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/E2/invitees/I2",
                "email":"ann@example.com","old_invitee":"https://api.calendly.com/scheduled_events/E1/invitees/I1",
                "scheduled_event":{"start_time":"2026-05-11T14:00:00Z"}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(moved[0].kind.as_str(), "booking.rescheduled");
        assert_eq!(moved[0].key, "invitee:I2:rescheduled");
        assert_eq!(moved[0].follow.as_deref(), Some("invitee:I1"));
        assert_eq!(moved[0].remember, ["invitee:I2"]);
    }

    #[test]
    fn a_real_cancellation_and_unmapped_events() {
        let Mapped::Events(cancelled) = drafts(
            r#"{"event":"invitee.canceled","payload":{"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1",
                "email":"ann@example.com","rescheduled":false,"cancellation":{"reason":"busy","canceler_type":"invitee",
                "created_at":"2026-05-02T08:00:00Z"}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(cancelled[0].kind.as_str(), "booking.cancelled");
        assert_eq!(
            cancelled[0].at,
            "2026-05-02T08:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(cancelled[0].properties["reason"], "busy");
        assert!(matches!(
            drafts(r#"{"event":"routing_form_submission.created","payload":{}}"#),
            Mapped::Ignored(_)
        ));
        let err = map(&incoming(
            &Headers::new(),
            br#"{"event":"invitee.created","payload":{"uri":"u/I9"}}"#,
        ))
        .unwrap_err();
        assert_eq!(err.field, "payload.email");
    }
}
