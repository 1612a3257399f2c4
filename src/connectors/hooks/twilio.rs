//! Twilio: a form-encoded body; `X-Twilio-Signature` is the base64 HMAC-SHA1, under the account's Auth
//! Token, of the webhook's full URL (as entered at Twilio, with its query) followed by every POST parameter's
//! name and value, sorted by name. An inbound SMS (`SmsStatus=received`) is `message.received` from the
//! sender's number; status callbacks of messages the business sent say `message.sent`, `.delivered`,
//! `.read` or `.failed` to the recipient. A `whatsapp:` number (Twilio's WhatsApp) makes the channel
//! `whatsapp`.

use serde_json::Value;

use super::map::{preview, Draft, Incoming, Mapped, PayloadError, Person, Who};

pub const SIGNATURE: &str = "x-twilio-signature";

/// The form's parameters, in the order sent.
pub fn params(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Whether `X-Twilio-Signature` holds for the URL Twilio called.
pub fn verify(secret: &str, url: &str, incoming: &Incoming<'_>) -> bool {
    use base64::Engine as _;
    let Some(tag) = incoming.header(SIGNATURE).and_then(|t| {
        base64::engine::general_purpose::STANDARD
            .decode(t.trim())
            .ok()
    }) else {
        return false;
    };
    let signed = signed_text(url, &params(incoming.body));
    crate::secrets::verify_hmac_sha1(secret, &[signed.as_bytes()], &tag)
}

/// The header Twilio would send (tests and fixtures).
pub fn signature(secret: &str, url: &str, params: &[(String, String)]) -> String {
    use base64::Engine as _;
    let signed = signed_text(url, params);
    base64::engine::general_purpose::STANDARD
        .encode(crate::secrets::hmac_sha1(secret, &[signed.as_bytes()]))
}

fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut text = url.to_string();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let params = params(incoming.body);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    };
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .ok_or_else(|| PayloadError::new("MessageSid", "missing"))?;
    let status = get("MessageStatus")
        .or_else(|| get("SmsStatus"))
        .unwrap_or("received");
    let (kind, party, party_field) = match status {
        "received" => ("message.received", get("From"), "From"),
        "sent" => ("message.sent", get("To"), "To"),
        "delivered" => ("message.delivered", get("To"), "To"),
        "read" => ("message.read", get("To"), "To"),
        "failed" | "undelivered" => ("message.failed", get("To"), "To"),
        other => {
            return Ok(Mapped::Ignored(format!(
                "message status {other:?} is not mapped"
            )))
        }
    };
    let number = party.ok_or_else(|| PayloadError::new(party_field, "missing"))?;
    let person = Person::by_phone(Some(number)).ok_or_else(|| {
        PayloadError::new(party_field, format!("{number:?} is not a phone number"))
    })?;
    let channel = if number.starts_with("whatsapp:") {
        "whatsapp"
    } else {
        "sms"
    };
    let mut draft = Draft::new(
        format!("message:{sid}:{status}"),
        kind,
        Who::Known(person.named(get("ProfileName").map(str::to_string))),
        incoming.received_at,
    )
    .channel(channel)
    .property("message_sid", Some(Value::from(sid)));
    if kind == "message.received" {
        draft = draft
            .property("preview", get("Body").map(|b| Value::from(preview(b, 280))))
            .property("to", get("To").map(Value::from));
    } else {
        draft = draft
            .reference(Some(sid.to_string()))
            .property("error_code", get("ErrorCode").map(Value::from));
    }
    Ok(Mapped::Events(vec![draft]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn body(list: &[(&str, &str)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(list)
            .finish()
    }

    #[test]
    fn signature_matches_twilios_published_example() {
        // The example of Twilio's "Validating requests" documentation.
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        let form = body(&[
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
        ]);
        let mut headers = Headers::new();
        headers.insert(SIGNATURE.into(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=".into());
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(verify("12345", url, &incoming));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php",
            &incoming
        ));
        assert!(!verify("54321", url, &incoming));
    }

    #[test]
    fn inbound_sms_and_status_callbacks() {
        let form = body(&[
            ("MessageSid", "SM11"),
            ("SmsStatus", "received"),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
            ("Body", "Are you open on Sunday?"),
        ]);
        let headers = Headers::new();
        let at: jiff::Timestamp = "2026-05-01T09:00:00Z".parse().unwrap();
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: at,
        };
        let Mapped::Events(drafts) = map(&incoming).unwrap() else {
            panic!()
        };
        let d = &drafts[0];
        assert_eq!(
            (d.kind.as_str(), d.key.as_str(), d.channel.as_deref()),
            ("message.received", "message:SM11:received", Some("sms"))
        );
        assert_eq!(d.reference, None);
        assert_eq!(d.at, at);
        assert_eq!(d.properties["preview"], "Are you open on Sunday?");
        let Who::Known(person) = &d.who else { panic!() };
        assert_eq!(person.id, "+14155550100");

        let form = body(&[
            ("MessageSid", "SM12"),
            ("MessageStatus", "delivered"),
            ("To", "whatsapp:+14155550100"),
        ]);
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: at,
        };
        let Mapped::Events(drafts) = map(&incoming).unwrap() else {
            panic!()
        };
        assert_eq!(
            (drafts[0].kind.as_str(), drafts[0].channel.as_deref()),
            ("message.delivered", Some("whatsapp"))
        );
        assert_eq!(drafts[0].reference.as_deref(), Some("SM12"));

        let form = body(&[
            ("MessageSid", "SM13"),
            ("MessageStatus", "queued"),
            ("To", "+14155550100"),
        ]);
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: at,
        };
        assert!(matches!(map(&incoming).unwrap(), Mapped::Ignored(_)));

        let form = body(&[("SmsStatus", "received"), ("From", "+14155550100")]);
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: at,
        };
        assert_eq!(map(&incoming).unwrap_err().field, "MessageSid");
        let form = body(&[("MessageSid", "SM14"), ("From", "nobody")]);
        let incoming = Incoming {
            headers: &headers,
            body: form.as_bytes(),
            received_at: at,
        };
        assert_eq!(map(&incoming).unwrap_err().field, "From");
    }
}
