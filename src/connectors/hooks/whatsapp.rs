//! WhatsApp (Meta's Cloud API): Meta first checks the callback URL with a `GET` carrying `hub.mode=subscribe`,
//! `hub.verify_token` (the token entered in the app dashboard) and `hub.challenge` (echoed back on success).
//! Deliveries are `POST`s signed with `X-Hub-Signature-256: sha256=HEX`, the HMAC-SHA256 of the body under the
//! app's App Secret. One body may carry several changes: each inbound message is `message.received` (channel
//! `whatsapp`) from the sender's number (`wa_id`, with its `+`); each status of a message the business sent
//! is `message.sent`, `.delivered`, `.read` or `.failed` to the recipient.

use serde_json::Value;

use super::map::{
    opt_text_at, preview, text_at, time_at, Doc, Draft, Incoming, Mapped, PayloadError, Person, Who,
};

pub const SIGNATURE: &str = "x-hub-signature-256";

pub fn verify(secret: &str, incoming: &Incoming<'_>) -> bool {
    let tag = incoming.header(SIGNATURE);
    tag.is_some_and(|t| t.trim().starts_with("sha256="))
        && super::map::sha256_tag_holds(secret, &[incoming.body], tag)
}

/// The `GET` handshake: the challenge to echo when the mode and token are right.
pub fn handshake<'a>(token: &str, query: &'a [(String, String)]) -> Option<&'a str> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let challenge = get("hub.challenge")?;
    let sane = !challenge.is_empty()
        && challenge.len() <= 256
        && challenge.bytes().all(|b| b.is_ascii_graphic());
    (get("hub.mode") == Some("subscribe")
        && get("hub.verify_token").is_some_and(|t| crate::secrets::same_token(t, token))
        && sane)
        .then_some(challenge)
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let doc = Doc::parse(incoming.body)?;
    let object = doc.text("/object")?;
    if object != "whatsapp_business_account" {
        return Ok(Mapped::Ignored(format!(
            "object {object:?} is not a WhatsApp Business Account's"
        )));
    }
    let entries = array(doc.root(), "/entry", "entry")?;
    let mut drafts = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        let changes = array(entry, "/changes", &format!("entry[{e}].changes"))?;
        for (c, change) in changes.iter().enumerate() {
            if change.get("field").and_then(Value::as_str) != Some("messages") {
                continue;
            }
            let at = format!("entry[{e}].changes[{c}].value");
            let Some(value) = change.get("value") else {
                return Err(PayloadError::new(at, "missing"));
            };
            messages(value, &at, &mut drafts)?;
            statuses(value, &at, &mut drafts)?;
        }
    }
    if drafts.is_empty() {
        return Ok(Mapped::Ignored(
            "no inbound message or message status".to_string(),
        ));
    }
    Ok(Mapped::Events(drafts))
}

fn array<'a>(value: &'a Value, pointer: &str, field: &str) -> Result<&'a Vec<Value>, PayloadError> {
    match value.pointer(pointer) {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Err(PayloadError::new(field, "missing")),
        Some(_) => Err(PayloadError::new(field, "expected an array")),
    }
}

/// A field error inside the change at `at`.
fn within(at: &str, e: PayloadError) -> PayloadError {
    PayloadError::new(format!("{at}.{}", e.field), e.reason)
}

fn messages(value: &Value, at: &str, drafts: &mut Vec<Draft>) -> Result<(), PayloadError> {
    let Some(Value::Array(messages)) = value.get("messages") else {
        return Ok(());
    };
    let contacts = value.get("contacts").and_then(Value::as_array);
    for (i, message) in messages.iter().enumerate() {
        let err = |e: PayloadError| within(&format!("{at}.messages[{i}]"), e);
        let from = text_at(message, "/from").map_err(err)?;
        let id = text_at(message, "/id").map_err(err)?;
        let time = time_at(message, "/timestamp").map_err(err)?;
        let person = Person::by_phone(Some(&from)).ok_or_else(|| {
            err(PayloadError::new(
                "from",
                format!("{from:?} is not a phone number"),
            ))
        })?;
        let name = contacts
            .into_iter()
            .flatten()
            .find(|c| c.get("wa_id").and_then(Value::as_str) == Some(from.as_str()))
            .and_then(|c| opt_text_at(c, "/profile/name"));
        let kind = opt_text_at(message, "/type").unwrap_or_else(|| "text".to_string());
        let text = opt_text_at(message, "/text/body")
            .or_else(|| opt_text_at(message, "/button/text"))
            .or_else(|| opt_text_at(message, "/interactive/button_reply/title"))
            .or_else(|| opt_text_at(message, "/interactive/list_reply/title"));
        drafts.push(
            Draft::new(
                format!("message:{id}:received"),
                "message.received",
                Who::Known(person.named(name)),
                time,
            )
            .channel("whatsapp")
            .property("message_id", Some(Value::from(id)))
            .property("message_type", Some(Value::from(kind)))
            .property("preview", text.map(|t| Value::from(preview(&t, 280)))),
        );
    }
    Ok(())
}

fn statuses(value: &Value, at: &str, drafts: &mut Vec<Draft>) -> Result<(), PayloadError> {
    let Some(Value::Array(statuses)) = value.get("statuses") else {
        return Ok(());
    };
    for (i, status) in statuses.iter().enumerate() {
        let err = |e: PayloadError| within(&format!("{at}.statuses[{i}]"), e);
        let id = text_at(status, "/id").map_err(err)?;
        let state = text_at(status, "/status").map_err(err)?;
        let kind = match state.as_str() {
            "sent" => "message.sent",
            "delivered" => "message.delivered",
            "read" => "message.read",
            "failed" => "message.failed",
            // e.g. "deleted", "warning": nothing Seen follows.
            _ => continue,
        };
        let recipient = text_at(status, "/recipient_id").map_err(err)?;
        let time = time_at(status, "/timestamp").map_err(err)?;
        let person = Person::by_phone(Some(&recipient)).ok_or_else(|| {
            err(PayloadError::new(
                "recipient_id",
                format!("{recipient:?} is not a phone number"),
            ))
        })?;
        drafts.push(
            Draft::new(
                format!("message:{id}:{state}"),
                kind,
                Who::Known(person),
                time,
            )
            .channel("whatsapp")
            .reference(Some(id.clone()))
            .property("message_id", Some(Value::from(id)))
            .property(
                "error",
                opt_text_at(status, "/errors/0/title").map(Value::from),
            )
            .property("error_code", status.pointer("/errors/0/code").cloned()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    fn run(body: &str) -> Result<Mapped, PayloadError> {
        map(&Incoming {
            headers: &Headers::new(),
            body: body.as_bytes(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    #[test]
    fn the_handshake_echoes_only_for_the_right_token() {
        let query = |token: &str| {
            vec![
                ("hub.mode".to_string(), "subscribe".to_string()),
                ("hub.verify_token".to_string(), token.to_string()),
                ("hub.challenge".to_string(), "1158201444".to_string()),
            ]
        };
        assert_eq!(
            handshake("meatyhamhock", &query("meatyhamhock")),
            Some("1158201444")
        );
        assert_eq!(handshake("meatyhamhock", &query("wrong")), None);
        assert_eq!(handshake("meatyhamhock", &[]), None);
    }

    #[test]
    fn signature_needs_the_sha256_prefix() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let tag = hex::encode(crate::secrets::hmac_sha256("app-secret", &[body]));
        let mut headers = Headers::new();
        headers.insert(SIGNATURE.into(), format!("sha256={tag}"));
        let incoming = Incoming {
            headers: &headers,
            body,
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(verify("app-secret", &incoming));
        assert!(!verify("other", &incoming));
        headers.insert(SIGNATURE.into(), tag);
        let incoming = Incoming {
            headers: &headers,
            body,
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(!verify("app-secret", &incoming));
    }

    #[test]
    fn messages_and_statuses() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",
            "value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
            "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
            "messages":[{"from":"16505551234","id":"wamid.A1","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}],
            "statuses":[{"id":"wamid.B2","status":"read","timestamp":"1749416400","recipient_id":"16505551234"},
                        {"id":"wamid.B3","status":"deleted","timestamp":"1749416400","recipient_id":"16505551234"}]}}]}]}"#;
        let Mapped::Events(drafts) = run(body).unwrap() else {
            panic!()
        };
        assert_eq!(drafts.len(), 2);
        assert_eq!(
            (drafts[0].kind.as_str(), drafts[0].key.as_str()),
            ("message.received", "message:wamid.A1:received")
        );
        assert_eq!(
            drafts[0].at,
            jiff::Timestamp::from_second(1_749_416_383).unwrap()
        );
        let Who::Known(person) = &drafts[0].who else {
            panic!()
        };
        assert_eq!(
            (person.id.as_str(), person.name.as_deref()),
            ("+16505551234", Some("Sheena Nelson"))
        );
        assert_eq!(
            (drafts[1].kind.as_str(), drafts[1].reference.as_deref()),
            ("message.read", Some("wamid.B2"))
        );
    }

    #[test]
    fn other_objects_and_malformed_bodies() {
        assert!(matches!(
            run(r#"{"object":"page","entry":[]}"#).unwrap(),
            Mapped::Ignored(_)
        ));
        assert!(matches!(
            run(r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"account_update","value":{}}]}]}"#).unwrap(),
            Mapped::Ignored(_)
        ));
        let err = run(r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
            "messages":[{"id":"wamid.X","timestamp":"1749416383"}]}}]}]}"#)
        .unwrap_err();
        assert_eq!(err.field, "entry[0].changes[0].value.messages[0].from");
        assert_eq!(
            run(r#"{"object":"whatsapp_business_account"}"#)
                .unwrap_err()
                .field,
            "entry"
        );
    }
}
