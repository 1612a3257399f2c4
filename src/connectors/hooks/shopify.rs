//! Shopify: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the body under the app's client secret (or
//! the store's webhook signing secret); `X-Shopify-Topic` says what the body is, `X-Shopify-Webhook-Id` is the
//! same on every retry of one delivery (the kept delivery's id). Orders are remembered by id: a fulfillment
//! or a delivery event names only the order, and finds its customer and ref through the link.

use serde_json::Value;

use super::map::{amount, item_count, Doc, Draft, Incoming, Mapped, PayloadError, Person, Who};

pub const SIGNATURE: &str = "x-shopify-hmac-sha256";
pub const TOPIC: &str = "x-shopify-topic";
pub const WEBHOOK_ID: &str = "x-shopify-webhook-id";
/// Headers the mapping reads, kept with the body for replays.
pub const KEPT_HEADERS: [&str; 4] = [
    TOPIC,
    WEBHOOK_ID,
    "x-shopify-shop-domain",
    "x-shopify-event-id",
];

pub fn verify(secret: &str, incoming: &Incoming<'_>) -> bool {
    super::map::sha256_tag_holds(secret, &[incoming.body], incoming.header(SIGNATURE))
}

pub fn map(incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
    let topic = incoming
        .header(TOPIC)
        .ok_or_else(|| PayloadError::new("X-Shopify-Topic", "missing header"))?;
    let doc = Doc::parse(incoming.body)?;
    let draft = match topic {
        "orders/create" => {
            let Some(draft) = order(&doc, "placed", "order.placed", "/created_at")? else {
                return Ok(no_customer());
            };
            let id = doc.text("/id")?;
            draft.remember(format!("order:{id}"))
        }
        "orders/paid" => {
            let Some(draft) = order(&doc, "paid", "purchase", "/updated_at")? else {
                return Ok(no_customer());
            };
            draft
        }
        "orders/cancelled" => {
            let Some(draft) = order(&doc, "cancelled", "order.cancelled", "/cancelled_at")? else {
                return Ok(no_customer());
            };
            draft.property("reason", doc.opt_text("/cancel_reason").map(Value::from))
        }
        "fulfillments/create" => fulfilled(&doc, "dispatched", "order.dispatched", "/created_at")?
            .property(
                "tracking_number",
                doc.opt_text("/tracking_number").map(Value::from),
            )
            .property(
                "tracking_company",
                doc.opt_text("/tracking_company").map(Value::from),
            )
            .property(
                "tracking_url",
                doc.opt_text("/tracking_url").map(Value::from),
            ),
        "fulfillments/update" => {
            let status = doc.opt_text("/shipment_status").unwrap_or_default();
            if status != "delivered" {
                return Ok(Mapped::Ignored(format!(
                    "fulfillment shipment status {status:?} is not mapped (only \"delivered\")"
                )));
            }
            fulfilled(&doc, "delivered", "order.delivered", "/updated_at")?
        }
        "fulfillment_events/create" => {
            let status = doc.text("/status")?;
            if status != "delivered" {
                return Ok(Mapped::Ignored(format!(
                    "fulfillment event status {status:?} is not mapped (only \"delivered\")"
                )));
            }
            fulfilled(&doc, "delivered", "order.delivered", "/happened_at")?
        }
        other => {
            return Ok(Mapped::Ignored(format!(
                "Shopify topic {other:?} is not mapped"
            )))
        }
    };
    Ok(Mapped::Events(vec![draft]))
}

fn no_customer() -> Mapped {
    Mapped::Ignored("the order has no customer email or phone number".to_string())
}

/// The customer of an order: by email, else by phone number.
fn customer(doc: &Doc) -> Option<Person> {
    let email = doc
        .opt_text("/email")
        .or_else(|| doc.opt_text("/contact_email"))
        .or_else(|| doc.opt_text("/customer/email"));
    let phone = doc
        .opt_text("/phone")
        .or_else(|| doc.opt_text("/customer/phone"))
        .or_else(|| doc.opt_text("/billing_address/phone"));
    let person = Person::by_email(email.as_deref())
        .map(|p| p.with_phone(phone.as_deref()))
        .or_else(|| Person::by_phone(phone.as_deref()))?;
    let first = doc.opt_text("/customer/first_name").unwrap_or_default();
    let last = doc.opt_text("/customer/last_name").unwrap_or_default();
    let name = format!("{first} {last}").trim().to_string();
    let name = Some(name)
        .filter(|n| !n.is_empty())
        .or_else(|| doc.opt_text("/billing_address/name"));
    Some(person.named(name))
}

/// An event of an order body (`orders/*`); `None` when the order names no customer.
fn order(doc: &Doc, what: &str, kind: &str, time: &str) -> Result<Option<Draft>, PayloadError> {
    let id = doc.text("/id")?;
    let Some(person) = customer(doc) else {
        return Ok(None);
    };
    let at = doc
        .opt_time(time)
        .map(Ok)
        .unwrap_or_else(|| doc.time("/created_at"))?;
    let reference = doc.opt_text("/name").unwrap_or_else(|| id.clone());
    Ok(Some(
        Draft::new(format!("order:{id}:{what}"), kind, Who::Known(person), at)
            .reference(Some(reference))
            .follow(Some(format!("order:{id}")))
            .source("customer_email", "/email")
            .source("ref", "/name")
            .property("order_id", Some(Value::from(id)))
            .property("total", doc.opt_text("/total_price").map(Value::from))
            .property("currency", doc.opt_text("/currency").map(Value::from))
            .property("value", amount(doc.get("/total_price")))
            .property("items", item_count(doc.get("/line_items"))),
    ))
}

/// An event of a fulfillment body (`fulfillments/*`, `fulfillment_events/*`): the order's customer and ref
/// come from the order's link; its own email, if any, serves when the order was never seen.
fn fulfilled(doc: &Doc, what: &str, kind: &str, time: &str) -> Result<Draft, PayloadError> {
    let order = doc.text("/order_id")?;
    let at = doc
        .opt_time(time)
        .map(Ok)
        .unwrap_or_else(|| doc.time("/created_at"))?;
    let fallback = Person::by_email(doc.opt_text("/email").as_deref());
    Ok(Draft::new(
        format!("order:{order}:{what}"),
        kind,
        Who::Linked(fallback),
        at,
    )
    .reference(Some(order.clone()))
    .follow(Some(format!("order:{order}")))
    .property("order_id", Some(Value::from(order))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hooks::map::{base64_sha256, Headers};

    fn run(topic: &str, body: &str) -> Result<Mapped, PayloadError> {
        let mut headers = Headers::new();
        headers.insert(TOPIC.into(), topic.into());
        map(&Incoming {
            headers: &headers,
            body: body.as_bytes(),
            received_at: "2026-05-01T00:00:00Z".parse().unwrap(),
        })
    }

    fn one(topic: &str, body: &str) -> Draft {
        match run(topic, body).unwrap() {
            Mapped::Events(mut drafts) => drafts.remove(0),
            Mapped::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    const ORDER: &str = r##"{"id":450789469,"name":"#1001","email":"Bob@Example.com","created_at":"2026-05-01T10:00:00-04:00",
        "updated_at":"2026-05-01T10:05:00-04:00","total_price":"199.65","currency":"USD",
        "line_items":[{"quantity":2},{"quantity":1}],"customer":{"first_name":"Bob","last_name":"Norman","phone":"+1 613-555-0135"}}"##;

    #[test]
    fn signature_is_base64_hmac_of_the_body() {
        let body = ORDER.as_bytes();
        let mut headers = Headers::new();
        headers.insert(SIGNATURE.into(), base64_sha256("secret", body));
        let incoming = Incoming {
            headers: &headers,
            body,
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(verify("secret", &incoming));
        assert!(!verify("secreT", &incoming));
    }

    #[test]
    fn an_order_its_payment_and_its_fulfilment() {
        let placed = one("orders/create", ORDER);
        assert_eq!(
            (placed.kind.as_str(), placed.key.as_str()),
            ("order.placed", "order:450789469:placed")
        );
        assert_eq!(placed.reference.as_deref(), Some("#1001"));
        assert_eq!(placed.remember, ["order:450789469"]);
        assert_eq!(
            placed.at,
            "2026-05-01T14:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(placed.properties["value"], 199.65);
        assert_eq!(placed.properties["items"], 3);
        let Who::Known(person) = &placed.who else {
            panic!()
        };
        assert_eq!(person.id, "bob@example.com");
        assert_eq!(person.name.as_deref(), Some("Bob Norman"));
        assert_eq!(person.phone.as_deref(), Some("+16135550135"));

        let paid = one("orders/paid", ORDER);
        assert_eq!(
            (paid.kind.as_str(), paid.key.as_str()),
            ("purchase", "order:450789469:paid")
        );

        let shipped = one(
            "fulfillments/create",
            r#"{"id":255858046,"order_id":450789469,"status":"success","created_at":"2026-05-02T09:00:00-04:00",
                "tracking_number":"1Z2345","tracking_company":"UPS"}"#,
        );
        assert_eq!(shipped.kind.as_str(), "order.dispatched");
        assert_eq!(shipped.who, Who::Linked(None));
        assert_eq!(shipped.follow.as_deref(), Some("order:450789469"));

        let delivered = one(
            "fulfillment_events/create",
            r#"{"id":944956395,"fulfillment_id":255858046,"order_id":450789469,"status":"delivered",
                "happened_at":"2026-05-03T12:00:00Z"}"#,
        );
        assert_eq!(delivered.kind.as_str(), "order.delivered");
        assert_eq!(delivered.key, "order:450789469:delivered");
    }

    #[test]
    fn other_statuses_topics_and_orders_without_customer_are_ignored() {
        let ignored =
            |topic: &str, body: &str| matches!(run(topic, body).unwrap(), Mapped::Ignored(_));
        assert!(ignored(
            "fulfillment_events/create",
            r#"{"order_id":1,"status":"in_transit","happened_at":"2026-05-03T12:00:00Z"}"#
        ));
        assert!(ignored("products/update", r#"{"id":1}"#));
        assert!(ignored(
            "orders/create",
            r#"{"id":1,"created_at":"2026-05-01T10:00:00Z"}"#
        ));
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        assert_eq!(
            run("orders/create", r#"{"email":"a@b.c"}"#)
                .unwrap_err()
                .field,
            "id"
        );
        assert_eq!(
            run(
                "orders/create",
                r#"{"id":1,"email":"a@b.c","created_at":"yesterday"}"#
            )
            .unwrap_err()
            .field,
            "created_at"
        );
        assert_eq!(
            run("fulfillment_events/create", r#"{"status":"delivered"}"#)
                .unwrap_err()
                .field,
            "order_id"
        );
        let err = map(&Incoming {
            headers: &Headers::new(),
            body: b"{}",
            received_at: jiff::Timestamp::UNIX_EPOCH,
        })
        .unwrap_err();
        assert_eq!(err.field, "X-Shopify-Topic");
    }
}
