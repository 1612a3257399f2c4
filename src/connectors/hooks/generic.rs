//! Any other system that can sign a JSON webhook: the HMAC-SHA256 of the body under the secret, in hex or
//! base64 (`sha256=` allowed), in the header `signature_header` names; `[connectors.hooks.mapping]` says
//! where the type, customer, time, ref, profile fields and properties are (JSON pointers), and `types` which
//! of the sender's names become which Seen event type.

use super::map::{Doc, Draft, Incoming, Mapped, PayloadError, Person, Who};
use crate::config::connectors::HookMapping;

/// A validated `[connectors.hooks.mapping]`.
#[derive(Debug, Clone)]
pub struct Mapping {
    header: String,
    mapping: HookMapping,
}

impl Mapping {
    /// `header` is the signature header's name; the configuration was validated at load.
    pub fn new(header: &str, mapping: &HookMapping) -> Mapping {
        Mapping {
            header: header.to_ascii_lowercase(),
            mapping: mapping.clone(),
        }
    }

    pub fn verify(&self, secret: &str, incoming: &Incoming<'_>) -> bool {
        super::map::sha256_tag_holds(secret, &[incoming.body], incoming.header(&self.header))
    }

    pub fn map(&self, incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
        let doc = Doc::parse(incoming.body)?;
        let m = &self.mapping;
        let name = doc.text(&m.kind)?;
        let kind = if m.types.is_empty() {
            name
        } else {
            match m.types.get(&name) {
                Some(kind) => kind.clone(),
                None => {
                    return Ok(Mapped::Ignored(format!(
                        "{name:?} is not in the mapping's types"
                    )))
                }
            }
        };
        let customer = doc.text(&m.customer)?;
        let text = |pointer: &Option<String>| pointer.as_deref().and_then(|p| doc.opt_text(p));
        let person = Person {
            id: customer,
            email: text(&m.customer_email),
            name: text(&m.customer_name),
            phone: text(&m.customer_phone),
            timezone: None,
        }
        .in_zone(text(&m.customer_timezone).as_deref());
        let id = match &m.id {
            Some(pointer) => doc.text(pointer)?,
            None => crate::store::short_hash(&String::from_utf8_lossy(incoming.body)),
        };
        let at = match &m.at {
            Some(pointer) => doc.time(pointer)?,
            None => incoming.received_at,
        };
        let mut draft = Draft::new(format!("{id}:{kind}"), &kind, Who::Known(person), at)
            .reference(text(&m.reference))
            .source("customer", &m.customer)
            .source("type", &m.kind);
        draft.channel = text(&m.channel);
        for (field, pointer) in [
            ("customer_email", &m.customer_email),
            ("customer_name", &m.customer_name),
            ("customer_phone", &m.customer_phone),
            ("customer_timezone", &m.customer_timezone),
            ("ref", &m.reference),
            ("channel", &m.channel),
            ("id", &m.id),
        ] {
            if let Some(pointer) = pointer {
                draft = draft.source(field, pointer);
            }
        }
        for (property, pointer) in &m.properties {
            draft = draft.property(property, doc.get(pointer).cloned());
        }
        Ok(Mapped::Events(vec![draft]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    fn mapping(types: &[(&str, &str)]) -> Mapping {
        let config: HookMapping = toml::from_str(
            r#"
            type = "/event"
            customer = "/contact/email"
            id = "/id"
            at = "/occurred_at"
            ref = "/ticket/id"
            channel = "/via"
            customer_name = "/contact/name"
            customer_email = "/contact/email"
            [properties]
            subject = "/ticket/subject"
            priority = "/ticket/priority"
            "#,
        )
        .unwrap();
        let config = HookMapping {
            types: types
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..config
        };
        Mapping::new("X-Signature", &config)
    }

    fn run(m: &Mapping, body: &str) -> Result<Mapped, PayloadError> {
        m.map(&Incoming {
            headers: &Headers::new(),
            body: body.as_bytes(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    const TICKET: &str = r#"{"id":"evt-9","event":"ticket.opened","occurred_at":"2026-05-01T10:00:00Z","via":"chat",
        "contact":{"email":"ann@example.com","name":"Ann"},"ticket":{"id":"T-7","subject":"Refund","priority":2}}"#;

    #[test]
    fn pointers_and_the_type_table() {
        let m = mapping(&[("ticket.opened", "message.received")]);
        let Mapped::Events(drafts) = run(&m, TICKET).unwrap() else {
            panic!()
        };
        let d = &drafts[0];
        assert_eq!(
            (d.kind.as_str(), d.key.as_str()),
            ("message.received", "evt-9:message.received")
        );
        assert_eq!(
            (d.reference.as_deref(), d.channel.as_deref()),
            (Some("T-7"), Some("chat"))
        );
        assert_eq!(d.properties["subject"], "Refund");
        assert_eq!(d.properties["priority"], 2);
        let Who::Known(person) = &d.who else { panic!() };
        assert_eq!(
            (person.id.as_str(), person.name.as_deref()),
            ("ann@example.com", Some("Ann"))
        );
        assert!(matches!(
            run(&m, &TICKET.replace("ticket.opened", "ticket.viewed")).unwrap(),
            Mapped::Ignored(_)
        ));
        assert_eq!(
            run(&m, r#"{"event":"ticket.opened"}"#).unwrap_err().field,
            "contact.email"
        );
    }

    #[test]
    fn without_a_table_the_name_is_the_type() {
        let m = mapping(&[]);
        let Mapped::Events(drafts) = run(&m, TICKET).unwrap() else {
            panic!()
        };
        assert_eq!(drafts[0].kind, "ticket.opened");
        // Seen checks the type like any other event's when it stores it (400 naming the field).
        let Mapped::Events(drafts) =
            run(&m, &TICKET.replace("ticket.opened", "ticket opened")).unwrap()
        else {
            panic!()
        };
        assert_eq!(drafts[0].sources[1], ("type", "event".to_string()));
    }

    #[test]
    fn signature_in_the_configured_header() {
        let m = mapping(&[]);
        let mut headers = Headers::new();
        headers.insert(
            "x-signature".into(),
            hex::encode(crate::secrets::hmac_sha256("k", &[TICKET.as_bytes()])),
        );
        let incoming = Incoming {
            headers: &headers,
            body: TICKET.as_bytes(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(m.verify("k", &incoming));
        assert!(!m.verify("j", &incoming));
    }
}
