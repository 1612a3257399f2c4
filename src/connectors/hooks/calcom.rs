//! Cal.com: `X-Cal-Signature-256` is the hex HMAC-SHA256 of the body under the webhook's secret. The body is
//! `{triggerEvent, createdAt, payload}`; bookings are followed by their first `uid` through reschedules (a
//! reschedule is a new booking whose `rescheduleUid` names the one before), so that one booking keeps one ref.

use serde_json::Value;

use super::map::{Doc, Draft, Incoming, Mapped, PayloadError, Person, Who};

pub const SIGNATURE: &str = "x-cal-signature-256";

/// Whether the delivery carries the secret's signature (Cal.com sends `no-secret-provided` when the
/// webhook has none: never accepted).
pub fn verify(secret: &str, incoming: &Incoming<'_>) -> bool {
    super::map::sha256_tag_holds(secret, &[incoming.body], incoming.header(SIGNATURE))
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let doc = Doc::parse(incoming.body)?;
    let trigger = doc.text("/triggerEvent")?;
    let at = doc.opt_time("/createdAt").unwrap_or(incoming.received_at);
    let draft = match trigger.as_str() {
        "BOOKING_CREATED" | "BOOKING_REQUESTED" => {
            let uid = doc.text("/payload/uid")?;
            booking(
                &doc,
                format!("booking:{uid}:created"),
                "booking.created",
                at,
            )?
            .reference(Some(uid.clone()))
            .remember(format!("booking:{uid}"))
        }
        "BOOKING_RESCHEDULED" => {
            let uid = doc.text("/payload/uid")?;
            let before = doc.opt_text("/payload/rescheduleUid");
            booking(
                &doc,
                format!("booking:{uid}:rescheduled"),
                "booking.rescheduled",
                at,
            )?
            .reference(Some(before.clone().unwrap_or_else(|| uid.clone())))
            .follow(before.map(|b| format!("booking:{b}")))
            .remember(format!("booking:{uid}"))
            .property(
                "previous_starts_at",
                doc.opt_time("/payload/rescheduleStartTime")
                    .map(|t| Value::from(t.to_string())),
            )
        }
        "BOOKING_CANCELLED" | "BOOKING_REJECTED" => {
            let uid = doc.text("/payload/uid")?;
            let reason = doc
                .opt_text("/payload/cancellationReason")
                .or_else(|| doc.opt_text("/payload/rejectionReason"));
            booking(
                &doc,
                format!("booking:{uid}:cancelled"),
                "booking.cancelled",
                at,
            )?
            .reference(Some(uid.clone()))
            .follow(Some(format!("booking:{uid}")))
            .property("reason", reason.map(Value::from))
        }
        "MEETING_ENDED" => {
            // The booking as stored; should it carry no attendee, the booking's link knows the customer.
            let uid = doc.text("/payload/uid")?;
            let who = attendee(&doc).map_or(Who::Linked(None), Who::Known);
            booking_of(
                &doc,
                format!("booking:{uid}:served"),
                "visit.served",
                at,
                who,
            )
            .reference(Some(uid.clone()))
            .follow(Some(format!("booking:{uid}")))
        }
        "BOOKING_NO_SHOW_UPDATED" => return no_shows(&doc, at),
        other => {
            return Ok(Mapped::Ignored(format!(
                "Cal.com trigger {other:?} is not mapped"
            )))
        }
    };
    Ok(Mapped::Events(vec![draft]))
}

/// A booking's event: the first attendee is the customer.
fn booking(doc: &Doc, key: String, kind: &str, at: jiff::Timestamp) -> Result<Draft, PayloadError> {
    Ok(booking_of(doc, key, kind, at, Who::Known(attendee(doc)?)))
}

/// The first attendee, who booked.
fn attendee(doc: &Doc) -> Result<Person, PayloadError> {
    let email_at = "/payload/attendees/0/email";
    let email = doc.text(email_at)?;
    Ok(Person::by_email(Some(&email))
        .ok_or_else(|| {
            PayloadError::new(
                super::map::field_name(email_at),
                format!("{email:?} is not an email address"),
            )
        })?
        .named(doc.opt_text("/payload/attendees/0/name"))
        .with_phone(
            doc.opt_text("/payload/attendees/0/phoneNumber")
                .or_else(|| doc.opt_text("/payload/smsReminderNumber"))
                .as_deref(),
        )
        .in_zone(doc.opt_text("/payload/attendees/0/timeZone").as_deref()))
}

fn booking_of(doc: &Doc, key: String, kind: &str, at: jiff::Timestamp, who: Who) -> Draft {
    let time = |pointer: &str| doc.opt_time(pointer).map(|t| Value::from(t.to_string()));
    Draft::new(key, kind, who, at)
        .source("customer_email", "/payload/attendees/0/email")
        .source("customer_name", "/payload/attendees/0/name")
        .source("ref", "/payload/uid")
        .property("starts_at", time("/payload/startTime"))
        .property("ends_at", time("/payload/endTime"))
        .property("title", doc.opt_text("/payload/title").map(Value::from))
        .property("event_type", doc.opt_text("/payload/type").map(Value::from))
        .property("booking_uid", doc.opt_text("/payload/uid").map(Value::from))
}

/// `BOOKING_NO_SHOW_UPDATED`: one `visit.no_show` per attendee marked absent (an attendee marked present
/// again is not an event).
fn no_shows(doc: &Doc, at: jiff::Timestamp) -> Result<Mapped, PayloadError> {
    let uid = doc.text("/payload/bookingUid")?;
    let attendees = doc
        .get("/payload/attendees")
        .and_then(Value::as_array)
        .ok_or_else(|| PayloadError::new("payload.attendees", "missing"))?;
    let mut drafts = Vec::new();
    for (i, attendee) in attendees.iter().enumerate() {
        if attendee.get("noShow").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let email = super::map::text_at(attendee, "/email")
            .map_err(|e| PayloadError::new(format!("payload.attendees[{i}].email"), e.reason))?;
        let person = Person::by_email(Some(&email)).ok_or_else(|| {
            PayloadError::new(
                format!("payload.attendees[{i}].email"),
                format!("{email:?} is not an email address"),
            )
        })?;
        let key = format!("booking:{uid}:no_show:{}", person.id);
        drafts.push(
            Draft::new(key, "visit.no_show", Who::Known(person), at)
                .reference(Some(uid.clone()))
                .follow(Some(format!("booking:{uid}")))
                .property("booking_uid", Some(Value::from(uid.clone()))),
        );
    }
    if drafts.is_empty() {
        return Ok(Mapped::Ignored(
            "no attendee marked as a no-show".to_string(),
        ));
    }
    Ok(Mapped::Events(drafts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    fn incoming<'a>(headers: &'a Headers, body: &'a [u8]) -> Incoming<'a> {
        Incoming {
            headers,
            body,
            received_at: "2026-05-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn events(body: &str) -> Vec<Draft> {
        let headers = Headers::new();
        match map(&incoming(&headers, body.as_bytes())).unwrap() {
            Mapped::Events(drafts) => drafts,
            Mapped::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn signature_is_hex_hmac_of_the_body() {
        let body = br#"{"triggerEvent":"PING"}"#;
        let mut headers = Headers::new();
        headers.insert(
            SIGNATURE.into(),
            hex::encode(crate::secrets::hmac_sha256("s3cret", &[body])),
        );
        assert!(verify("s3cret", &incoming(&headers, body)));
        assert!(!verify("other", &incoming(&headers, body)));
        headers.insert(SIGNATURE.into(), "no-secret-provided".into());
        assert!(!verify("s3cret", &incoming(&headers, body)));
    }

    #[test]
    fn a_booking_and_its_reschedule_and_cancellation() {
        let created = events(
            r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-05-01T10:00:00.000Z","payload":{
                "uid":"bk1","title":"Cut","type":"haircut","startTime":"2026-05-10T09:00:00Z","endTime":"2026-05-10T09:30:00Z",
                "attendees":[{"email":"Ann@Example.com","name":"Ann","timeZone":"Europe/Lisbon"}]}}"#,
        );
        let d = &created[0];
        assert_eq!(
            (d.key.as_str(), d.kind.as_str()),
            ("booking:bk1:created", "booking.created")
        );
        assert_eq!(d.reference.as_deref(), Some("bk1"));
        assert_eq!(d.remember, ["booking:bk1"]);
        let Who::Known(person) = &d.who else { panic!() };
        assert_eq!(person.id, "ann@example.com");
        assert_eq!(person.timezone.as_deref(), Some("Europe/Lisbon"));
        assert_eq!(d.properties["starts_at"], "2026-05-10T09:00:00Z");

        let moved = events(
            r#"{"triggerEvent":"BOOKING_RESCHEDULED","createdAt":"2026-05-02T10:00:00Z","payload":{
                "uid":"bk2","rescheduleUid":"bk1","startTime":"2026-05-12T09:00:00Z","rescheduleStartTime":"2026-05-10T09:00:00Z",
                "attendees":[{"email":"ann@example.com"}]}}"#,
        );
        let d = &moved[0];
        assert_eq!(d.kind.as_str(), "booking.rescheduled");
        assert_eq!(d.follow.as_deref(), Some("booking:bk1"));
        assert_eq!(d.remember, ["booking:bk2"]);
        assert_eq!(d.properties["starts_at"], "2026-05-12T09:00:00Z");
        assert_eq!(d.properties["previous_starts_at"], "2026-05-10T09:00:00Z");

        let cancelled = events(
            r#"{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-05-03T10:00:00Z","payload":{
                "uid":"bk2","cancellationReason":"ill","attendees":[{"email":"ann@example.com"}]}}"#,
        );
        assert_eq!(cancelled[0].kind.as_str(), "booking.cancelled");
        assert_eq!(cancelled[0].follow.as_deref(), Some("booking:bk2"));
        assert_eq!(cancelled[0].properties["reason"], "ill");
    }

    #[test]
    fn no_shows_and_unmapped_triggers() {
        let shows = events(
            r#"{"triggerEvent":"BOOKING_NO_SHOW_UPDATED","createdAt":"2026-05-10T10:00:00Z","payload":{
                "bookingUid":"bk1","message":"x","attendees":[{"email":"a@x.org","noShow":true},{"email":"b@x.org","noShow":false}]}}"#,
        );
        assert_eq!(shows.len(), 1);
        assert_eq!(shows[0].kind.as_str(), "visit.no_show");
        let headers = Headers::new();
        let ping = map(&incoming(
            &headers,
            br#"{"triggerEvent":"PING","payload":{}}"#,
        ))
        .unwrap();
        assert!(matches!(ping, Mapped::Ignored(_)));
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let headers = Headers::new();
        let cases = [
            (r#"{"payload":{}}"#, "triggerEvent"),
            (
                r#"{"triggerEvent":"BOOKING_CREATED","payload":{"attendees":[]}}"#,
                "payload.uid",
            ),
            (
                r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u","attendees":[]}}"#,
                "payload.attendees[0].email",
            ),
            (
                r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u","attendees":[{"email":"nope"}]}}"#,
                "payload.attendees[0].email",
            ),
        ];
        for (body, field) in cases {
            let err = map(&incoming(&headers, body.as_bytes())).unwrap_err();
            assert_eq!(err.field, field, "{body}: {err}");
        }
    }
}
