//! WooCommerce: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the body under the webhook's secret;
//! `X-WC-Webhook-Topic` is `order.created`, `order.updated`, …. The order's `status` decides the events, each
//! with a stable id (order and what happened), so the many `order.updated` deliveries of one order are
//! duplicates after the first: on-hold, processing or completed → `order.placed`; paid (`date_paid_gmt`) →
//! `purchase`; completed → `order.dispatched`; cancelled, refunded or failed → `order.cancelled`.
//! When a webhook is saved, WooCommerce pings the URL with an unsigned `webhook_id=N` form body and wants 200.

use serde_json::Value;

use super::map::{
    amount, item_count, parse_time, Doc, Draft, Incoming, Mapped, PayloadError, Person, Who,
};

pub const SIGNATURE: &str = "x-wc-webhook-signature";
pub const TOPIC: &str = "x-wc-webhook-topic";
pub const KEPT_HEADERS: [&str; 3] = [TOPIC, "x-wc-webhook-delivery-id", "x-wc-webhook-source"];

pub fn verify(secret: &str, incoming: &Incoming<'_>) -> bool {
    super::map::sha256_tag_holds(secret, &[incoming.body], incoming.header(SIGNATURE))
}

/// WooCommerce's set-up ping: unsigned, `webhook_id=N`. It changes nothing, so it needs no signature.
pub fn is_ping(incoming: &Incoming<'_>) -> bool {
    incoming.header(SIGNATURE).is_none()
        && incoming.body.starts_with(b"webhook_id=")
        && incoming.body.len() <= 64
        && incoming.body[11..].iter().all(u8::is_ascii_digit)
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let topic = incoming
        .header(TOPIC)
        .ok_or_else(|| PayloadError::new("X-WC-Webhook-Topic", "missing header"))?;
    if !matches!(topic, "order.created" | "order.updated" | "order.restored") {
        return Ok(Mapped::Ignored(format!(
            "WooCommerce topic {topic:?} is not mapped"
        )));
    }
    let doc = Doc::parse(incoming.body)?;
    let id = doc.text("/id")?;
    let status = doc.text("/status")?;
    let Some(person) = customer(&doc) else {
        return Ok(Mapped::Ignored(
            "the order has no billing email or phone number".to_string(),
        ));
    };
    let reference = doc.opt_text("/number").unwrap_or_else(|| id.clone());
    let event = |what: &str, kind: &str, at| {
        Draft::new(
            format!("order:{id}:{what}"),
            kind,
            Who::Known(person.clone()),
            at,
        )
        .reference(Some(reference.clone()))
        .follow(Some(format!("order:{id}")))
        .source("customer_email", "/billing/email")
        .source("ref", "/number")
        .property("order_id", Some(Value::from(id.clone())))
        .property("status", Some(Value::from(status.clone())))
        .property("total", doc.opt_text("/total").map(Value::from))
        .property("currency", doc.opt_text("/currency").map(Value::from))
        .property("value", amount(doc.get("/total")))
        .property("items", item_count(doc.get("/line_items")))
    };
    let created = gmt(&doc, "/date_created_gmt")?;
    let modified = gmt(&doc, "/date_modified_gmt")?.or(created);
    let mut drafts = Vec::new();
    match status.as_str() {
        "on-hold" | "processing" | "completed" => {
            let placed_at = required(created, "date_created_gmt")?;
            drafts.push(event("placed", "order.placed", placed_at).remember(format!("order:{id}")));
            if let Some(paid_at) = gmt(&doc, "/date_paid_gmt")? {
                drafts.push(event("paid", "purchase", paid_at));
            }
            if status == "completed" {
                let done = gmt(&doc, "/date_completed_gmt")?.or(modified);
                drafts.push(event(
                    "dispatched",
                    "order.dispatched",
                    required(done, "date_completed_gmt")?,
                ));
            }
        }
        "cancelled" | "refunded" | "failed" => {
            drafts.push(event(
                "cancelled",
                "order.cancelled",
                required(modified, "date_modified_gmt")?,
            ));
        }
        other => {
            return Ok(Mapped::Ignored(format!(
                "order status {other:?} is not mapped (awaiting payment, or a draft)"
            )))
        }
    }
    Ok(Mapped::Events(drafts))
}

fn required(at: Option<jiff::Timestamp>, field: &str) -> Result<jiff::Timestamp, PayloadError> {
    at.ok_or_else(|| PayloadError::new(field, "missing"))
}

/// WooCommerce writes UTC times without an offset (`2026-05-01T10:00:00` in `*_gmt`).
fn gmt(doc: &Doc, pointer: &str) -> Result<Option<jiff::Timestamp>, PayloadError> {
    let Some(text) = doc.opt_text(pointer) else {
        return Ok(None);
    };
    let field = super::map::field_name(pointer);
    let with_offset = if text.len() == 19 {
        format!("{text}Z")
    } else {
        text
    };
    parse_time(&field, &with_offset).map(Some)
}

fn customer(doc: &Doc) -> Option<Person> {
    let phone = doc.opt_text("/billing/phone");
    let person = Person::by_email(doc.opt_text("/billing/email").as_deref())
        .map(|p| p.with_phone(phone.as_deref()))
        .or_else(|| Person::by_phone(phone.as_deref()))?;
    let first = doc.opt_text("/billing/first_name").unwrap_or_default();
    let last = doc.opt_text("/billing/last_name").unwrap_or_default();
    Some(person.named(Some(format!("{first} {last}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::Headers;

    fn run(topic: &str, body: &str) -> Result<Mapped, PayloadError> {
        let mut headers = Headers::new();
        headers.insert(TOPIC.into(), topic.into());
        map(&Incoming {
            headers: &headers,
            body: body.as_bytes(),
            received_at: "2026-05-01T00:00:00Z".parse().unwrap(),
        })
    }

    fn order(status: &str) -> String {
        format!(
            r#"{{"id":727,"number":"727","status":"{status}","currency":"EUR","total":"29.35",
                "date_created_gmt":"2026-05-01T10:00:00","date_modified_gmt":"2026-05-02T10:00:00",
                "date_paid_gmt":{paid},"date_completed_gmt":null,
                "billing":{{"first_name":"John","last_name":"Doe","email":"john.doe@example.com","phone":"(555) 555-5555"}},
                "line_items":[{{"quantity":2}}]}}"#,
            paid = if status == "pending" || status == "on-hold" {
                "null"
            } else {
                "\"2026-05-01T10:01:00\""
            }
        )
    }

    fn kinds(mapped: Mapped) -> Vec<String> {
        match mapped {
            Mapped::Events(drafts) => drafts.iter().map(|d| d.kind.clone()).collect(),
            Mapped::Ignored(_) => Vec::new(),
        }
    }

    #[test]
    fn status_decides_the_events() {
        assert_eq!(
            kinds(run("order.created", &order("pending")).unwrap()),
            Vec::<&str>::new()
        );
        assert_eq!(
            kinds(run("order.created", &order("on-hold")).unwrap()),
            ["order.placed"]
        );
        assert_eq!(
            kinds(run("order.updated", &order("processing")).unwrap()),
            ["order.placed", "purchase"]
        );
        assert_eq!(
            kinds(run("order.updated", &order("completed")).unwrap()),
            ["order.placed", "purchase", "order.dispatched"]
        );
        assert_eq!(
            kinds(run("order.updated", &order("cancelled")).unwrap()),
            ["order.cancelled"]
        );
        let Mapped::Events(drafts) = run("order.updated", &order("processing")).unwrap() else {
            panic!()
        };
        assert_eq!(drafts[0].key, "order:727:placed");
        assert_eq!(
            drafts[0].at,
            "2026-05-01T10:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(
            drafts[1].at,
            "2026-05-01T10:01:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(drafts[0].properties["value"], 29.35);
        let Who::Known(person) = &drafts[0].who else {
            panic!()
        };
        assert_eq!(
            (person.id.as_str(), person.name.as_deref()),
            ("john.doe@example.com", Some("John Doe"))
        );
    }

    #[test]
    fn pings_topics_and_malformed_bodies() {
        let ping = Incoming {
            headers: &Headers::new(),
            body: b"webhook_id=15",
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(is_ping(&ping));
        assert!(matches!(
            run("product.updated", "{}").unwrap(),
            Mapped::Ignored(_)
        ));
        assert_eq!(
            run("order.created", r#"{"status":"processing"}"#)
                .unwrap_err()
                .field,
            "id"
        );
        let bad_time = order("processing").replace("2026-05-01T10:00:00\"", "soon\"");
        assert_eq!(
            run("order.created", &bad_time).unwrap_err().field,
            "date_created_gmt"
        );
    }
}
