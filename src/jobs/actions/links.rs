//! The links a message carries and the ids it shares: unsubscribe tokens (a customer id signed with the
//! link secret) and the id of a survey send (its answer links and its reminder share it).

use crate::store::{short_hash, OutboxItem};

/// The send a survey message belongs to: its answer links and its reminder share it.
pub fn survey_send_id(policy: &str, customer: &str, trigger_event: &str, survey: &str) -> String {
    format!(
        "survey-{}",
        short_hash(&format!("{policy}\n{customer}\n{trigger_event}\n{survey}"))
    )
}

/// The survey send of a survey message (the survey or its reminder); `None` for other messages.
pub(super) fn survey_send_of(item: &OutboxItem) -> Option<String> {
    let name = item.survey.as_deref()?;
    Some(survey_send_id(
        &item.policy,
        &item.customer,
        &item.trigger_event,
        name,
    ))
}

/// `HEX(customer).HMAC` — a link that unsubscribes exactly this customer, and cannot be forged.
pub fn unsubscribe_token(secret: &str, customer: &str) -> String {
    format!("{}.{}", hex::encode(customer), sign(secret, customer))
}

/// The customer an unsubscribe token stands for, if its signature holds.
pub fn verify_unsubscribe_token(secret: &str, token: &str) -> Option<String> {
    use hmac::Mac;
    let (id, signature) = token.split_once('.')?;
    // One spelling per token (lower-case hex, the 16 bytes minted), so that no changed character
    // verifies (the `tokens` fuzz target checks this).
    let lower_hex = |h: &str| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex(id) || !lower_hex(signature) {
        return None;
    }
    let customer = String::from_utf8(hex::decode(id).ok()?).ok()?;
    let signature = hex::decode(signature).ok()?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(b"unsubscribe:");
    mac.update(customer.as_bytes());
    mac.verify_truncated_left(&signature).ok()?;
    (signature.len() == 16).then_some(customer)
}

fn sign(secret: &str, customer: &str) -> String {
    use hmac::Mac;
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"unsubscribe:");
    mac.update(customer.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_verify_and_resist_forgery() {
        let token = unsubscribe_token("s3cret", "cust-42");
        assert_eq!(
            verify_unsubscribe_token("s3cret", &token).as_deref(),
            Some("cust-42")
        );
        assert_eq!(verify_unsubscribe_token("other", &token), None);
        let forged = format!(
            "{}.{}",
            hex::encode("cust-43"),
            token.split_once('.').unwrap().1
        );
        assert_eq!(verify_unsubscribe_token("s3cret", &forged), None);
        assert_eq!(verify_unsubscribe_token("s3cret", "nonsense"), None);
        assert_eq!(verify_unsubscribe_token("s3cret", "6162.00"), None);
        // The same bytes spelt differently (what the `tokens` fuzz target tries), or a longer MAC.
        assert_eq!(
            verify_unsubscribe_token("s3cret", &token.to_uppercase()),
            None
        );
        let (id, signature) = token.split_once('.').unwrap();
        let upper_id = format!("{}.{signature}", id.to_uppercase());
        assert_eq!(verify_unsubscribe_token("s3cret", &upper_id), None);
        let full = {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
            mac.update(b"unsubscribe:cust-42");
            format!("{id}.{}", hex::encode(mac.finalize().into_bytes()))
        };
        assert_eq!(verify_unsubscribe_token("s3cret", &full), None);
    }
}
