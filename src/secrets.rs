//! Secrets, in one place: API keys, session and CSRF tokens, password hashing (argon2id), signed links
//! (HMAC-SHA256) and the SHA-256 digests that stand in for secrets at rest. The CLI and every edge use
//! these; nothing else mints, hashes or compares a secret.
//!
//! What is stored is never the secret: API keys and session tokens as SHA-256 hex digests, passwords as
//! argon2id PHC strings. Comparisons of secrets a client sends run in constant time.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::survey::{LinkError, SurveyLink};

/// Shortest password accepted for a dashboard user.
pub const MIN_PASSWORD: usize = 12;

/// 256 random bits as hex: session and CSRF tokens, generated passwords, link secrets.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new API key: `seen_` and 192 random bits as hex. Shown once; only `hash_api_key` of it is stored.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("seen_{}", hex::encode(bytes))
}

/// What is stored of an API key (and looked up when one is presented).
pub fn hash_api_key(key: &str) -> String {
    sha256_hex(key)
}

/// What is stored of a session token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// The SHA-256 of a text, as hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(sha256(text))
}

/// Hex SHA-256 of bytes (a mail without a Message-ID is named by its digest).
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 of a text. Comparing digests of a presented secret and the expected one takes a time
/// that says nothing about the secret.
pub fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// An argon2id PHC string with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// HMAC-SHA256 keyed with `secret` over `parts`, in order (the caller separates them unambiguously).
pub fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    mac(secret, parts).finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `parts`, or its first `tag.len()` bytes (at least 16), checked in
/// constant time.
pub fn verify_hmac_sha256(secret: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mac = mac(secret, parts);
    match tag.len() {
        32 => mac.verify_slice(tag).is_ok(),
        16..=31 => mac.verify_truncated_left(tag).is_ok(),
        _ => false,
    }
}

/// Whether `tag` is the full HMAC-SHA1 of `parts` keyed with `secret`, checked in constant time. Only for
/// providers that still sign this way (Twilio's `X-Twilio-Signature`); Seen itself signs with SHA-256.
pub fn verify_hmac_sha1(secret: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    tag.len() == 20 && mac.verify_slice(tag).is_ok()
}

/// The HMAC-SHA1 of `parts` keyed with `secret` (to sign test deliveries the way such a provider does).
pub fn hmac_sha1(secret: &str, parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<sha1::Sha1> as Mac>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn mac(secret: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (long ones are hashed), so the fallback never runs.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// `HEX(customer).HMAC` — a link that unsubscribes exactly this customer, and cannot be forged.
pub fn unsubscribe_token(secret: &str, customer: &str) -> String {
    let tag = hmac_sha256(secret, &[b"unsubscribe:", customer.as_bytes()]);
    format!("{}.{}", hex::encode(customer), hex::encode(&tag[..16]))
}

/// The customer an unsubscribe token stands for, if its signature holds.
pub fn verify_unsubscribe_token(secret: &str, token: &str) -> Option<String> {
    let (id, signature) = token.split_once('.')?;
    // One spelling per token: lower-case hex, the 16 bytes minted.
    if !lower_hex(id) || !lower_hex(signature) {
        return None;
    }
    let customer = String::from_utf8(hex::decode(id).ok()?).ok()?;
    let signature = hex::decode(signature).ok()?;
    (signature.len() == 16
        && verify_hmac_sha256(secret, &[b"unsubscribe:", customer.as_bytes()], &signature))
    .then_some(customer)
}

/// One spelling per token: lower-case hex only, so that no changed character verifies (the `tokens` fuzz
/// target checks this).
fn lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a survey link's MAC covers: everything it binds, each part ended so none can run into the next.
fn survey_link_parts<'a>(link: &'a SurveyLink, expires: &'a str) -> [&'a [u8]; 8] {
    [
        b"survey\n",
        link.customer.as_bytes(),
        b"\n",
        link.survey.as_bytes(),
        b"\n",
        link.send.as_bytes(),
        b"\n",
        expires.as_bytes(),
    ]
}

/// `HEX(customer).HEX(survey).HEX(send).EXPIRES.HMAC`: binds the answer to one customer, survey and send.
pub fn survey_link_token(link: &SurveyLink, secret: &str) -> String {
    let expires = link.expires.as_second().to_string();
    let tag = hmac_sha256(secret, &survey_link_parts(link, &expires));
    format!(
        "{}.{}.{}.{expires}.{}",
        hex::encode(&link.customer),
        hex::encode(&link.survey),
        hex::encode(&link.send),
        hex::encode(&tag[..16])
    )
}

/// Checks a survey link's signature, then its expiry (an expired link says so; a forged one says nothing).
pub fn verify_survey_link(
    secret: &str,
    token: &str,
    now: Timestamp,
) -> Result<SurveyLink, LinkError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [customer, survey, send, expires, sig] = parts.as_slice() else {
        return Err(LinkError::Invalid);
    };
    // One spelling per link: hex in lower case, the expiry without sign or leading zeros.
    if ![customer, survey, send, sig].iter().all(|h| lower_hex(h)) {
        return Err(LinkError::Invalid);
    }
    let text = |h: &str| {
        hex::decode(h)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(LinkError::Invalid)
    };
    let seconds = expires
        .parse::<i64>()
        .ok()
        .filter(|s| s.to_string() == *expires)
        .ok_or(LinkError::Invalid)?;
    let link = SurveyLink {
        customer: text(customer)?,
        survey: text(survey)?,
        send: text(send)?,
        expires: Timestamp::from_second(seconds).map_err(|_| LinkError::Invalid)?,
    };
    let given = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
    if given.len() != 16 || !verify_hmac_sha256(secret, &survey_link_parts(&link, expires), &given)
    {
        return Err(LinkError::Invalid);
    }
    if now > link.expires {
        return Err(LinkError::Expired(link.expires));
    }
    Ok(link)
}

/// What a customer's status-page link (`/c/{token}`) binds: one customer, the key that signed it, when it
/// was issued (a revocation covers the links issued at or before it) and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLink {
    pub customer: String,
    pub kid: i64,
    pub issued: Timestamp,
    pub expires: Timestamp,
}

/// Why a status link shows nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusLinkError {
    /// Malformed, tampered with, or signed by an unknown or retired key.
    Invalid,
    Expired(Timestamp),
    /// The business revoked this customer's links after this one was issued.
    Revoked,
}

/// A number of a status or visit link: one spelling per number (no sign, no leading zeros).
fn link_number(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && n.to_string() == text)
}

fn status_link_parts<'a>(customer: &'a str, numbers: &'a str) -> [&'a [u8]; 4] {
    [b"status\n", customer.as_bytes(), b"\n", numbers.as_bytes()]
}

/// `HEX(customer).KID.ISSUED.EXPIRES.HMAC` (issued in milliseconds, so a revocation tells links minted just
/// before it from those just after; expires in seconds since the epoch), signed with key `kid`'s secret.
pub fn status_link_token(secret: &str, link: &StatusLink) -> String {
    let numbers = format!(
        "{}.{}.{}",
        link.kid,
        link.issued.as_millisecond(),
        link.expires.as_second()
    );
    let tag = hmac_sha256(secret, &status_link_parts(&link.customer, &numbers));
    format!(
        "{}.{numbers}.{}",
        hex::encode(&link.customer),
        hex::encode(&tag[..16])
    )
}

/// Checks a status link: its form, its key (`secret_of(kid)`: the secret of a live key, `None` for an unknown
/// or retired one), its signature, then its expiry. Revocation needs the store: the caller checks `issued`.
pub fn verify_status_link(
    token: &str,
    now: Timestamp,
    secret_of: impl Fn(i64) -> Option<String>,
) -> Result<StatusLink, StatusLinkError> {
    let invalid = StatusLinkError::Invalid;
    let parts: Vec<&str> = token.split('.').collect();
    let [customer, kid, issued, expires, sig] = parts.as_slice() else {
        return Err(invalid);
    };
    if !lower_hex(customer) || !lower_hex(sig) || customer.is_empty() {
        return Err(invalid);
    }
    let number = |text: &str| link_number(text).ok_or(StatusLinkError::Invalid);
    let (kid, issued_s, expires_s) = (number(kid)?, number(issued)?, number(expires)?);
    let customer = hex::decode(customer)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StatusLinkError::Invalid)?;
    let given = hex::decode(sig).map_err(|_| StatusLinkError::Invalid)?;
    let secret = secret_of(kid).ok_or(StatusLinkError::Invalid)?;
    let numbers = format!("{kid}.{issued_s}.{expires_s}");
    if given.len() != 16
        || !verify_hmac_sha256(&secret, &status_link_parts(&customer, &numbers), &given)
    {
        return Err(StatusLinkError::Invalid);
    }
    let link = StatusLink {
        customer,
        kid,
        issued: Timestamp::from_millisecond(issued_s).map_err(|_| StatusLinkError::Invalid)?,
        expires: Timestamp::from_second(expires_s).map_err(|_| StatusLinkError::Invalid)?,
    };
    if now > link.expires {
        return Err(StatusLinkError::Expired(link.expires));
    }
    Ok(link)
}

/// What a visitor's own queue link (`/v/{token}`) binds: one visit of one customer, the key that signed it,
/// when it was issued (a revocation of the customer's links covers it too) and when it stops working. It shows
/// that visit only: the kiosk hands it to whoever checked in, whose email or phone nobody verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitLink {
    pub customer: String,
    pub reference: String,
    pub kid: i64,
    pub issued: Timestamp,
    pub expires: Timestamp,
}

fn visit_link_parts<'a>(customer: &'a str, reference: &'a str, numbers: &'a str) -> [&'a [u8]; 6] {
    [
        b"visit\n",
        customer.as_bytes(),
        b"\n",
        reference.as_bytes(),
        b"\n",
        numbers.as_bytes(),
    ]
}

/// `HEX(customer).HEX(ref).KID.ISSUED.EXPIRES.HMAC` (issued in milliseconds, expires in seconds), signed with
/// key `kid`'s secret, under its own domain ("visit"): a visit link is never a status link.
pub fn visit_link_token(secret: &str, link: &VisitLink) -> String {
    let numbers = format!(
        "{}.{}.{}",
        link.kid,
        link.issued.as_millisecond(),
        link.expires.as_second()
    );
    let tag = hmac_sha256(
        secret,
        &visit_link_parts(&link.customer, &link.reference, &numbers),
    );
    format!(
        "{}.{}.{numbers}.{}",
        hex::encode(&link.customer),
        hex::encode(&link.reference),
        hex::encode(&tag[..16])
    )
}

/// Checks a visit link: form, key (`secret_of(kid)`, `None` for an unknown or retired key), signature, expiry.
/// Revocation needs the store: the caller checks `issued`.
pub fn verify_visit_link(
    token: &str,
    now: Timestamp,
    secret_of: impl Fn(i64) -> Option<String>,
) -> Option<VisitLink> {
    let parts: Vec<&str> = token.split('.').collect();
    let [customer, reference, kid, issued, expires, sig] = parts.as_slice() else {
        return None;
    };
    if [customer, reference, sig]
        .iter()
        .any(|p| p.is_empty() || !lower_hex(p))
    {
        return None;
    }
    let (kid, issued_ms, expires_s) = (
        link_number(kid)?,
        link_number(issued)?,
        link_number(expires)?,
    );
    let text = |h: &str| hex::decode(h).ok().and_then(|b| String::from_utf8(b).ok());
    let (customer, reference) = (text(customer)?, text(reference)?);
    let given = hex::decode(sig).ok()?;
    let secret = secret_of(kid)?;
    let numbers = format!("{kid}.{issued_ms}.{expires_s}");
    if given.len() != 16
        || !verify_hmac_sha256(
            &secret,
            &visit_link_parts(&customer, &reference, &numbers),
            &given,
        )
    {
        return None;
    }
    let link = VisitLink {
        customer,
        reference,
        kid,
        issued: Timestamp::from_millisecond(issued_ms).ok()?,
        expires: Timestamp::from_second(expires_s).ok()?,
    };
    (now <= link.expires).then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visit_links_bind_one_visit_and_are_not_status_links() {
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let link = VisitLink {
            customer: "c1".into(),
            reference: "V-1".into(),
            kid: 3,
            issued: now,
            expires: now + jiff::SignedDuration::from_hours(24),
        };
        let token = visit_link_token("k3", &link);
        let secret = |kid: i64| (kid == 3).then(|| "k3".to_string());
        assert_eq!(verify_visit_link(&token, now, secret), Some(link.clone()));
        // Another visit's ref, a wrong key, a retired key, after expiry: nothing.
        let other = token.replacen(&hex::encode("V-1"), &hex::encode("V-2"), 1);
        assert_eq!(verify_visit_link(&other, now, secret), None);
        assert_eq!(verify_visit_link(&token, now, |_| Some("x".into())), None);
        assert_eq!(verify_visit_link(&token, now, |_| None), None);
        let later = now + jiff::SignedDuration::from_hours(25);
        assert_eq!(verify_visit_link(&token, later, secret), None);
        // A status link signed with the same key does not open a visit page, nor the other way round.
        let status = status_link_token(
            "k3",
            &StatusLink {
                customer: "c1".into(),
                kid: 3,
                issued: now,
                expires: link.expires,
            },
        );
        assert_eq!(verify_visit_link(&status, now, secret), None);
        assert!(verify_status_link(&token, now, secret).is_err());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(phc, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn tokens_compare_in_constant_time_and_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn keys_and_tokens_are_random_and_stored_as_digests() {
        let key = new_api_key();
        assert!(key.starts_with("seen_") && key.len() == 5 + 48, "{key}");
        assert_ne!(key, new_api_key());
        assert_eq!(random_token().len(), 64);
        // printf abc | sha256sum
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_hash("abc"), hash_api_key("abc"));
    }

    #[test]
    fn hmacs_verify_whole_or_truncated_and_nothing_else() {
        let parts: &[&[u8]] = &[b"a", b"b"];
        let tag = hmac_sha256("key", parts);
        assert_eq!(tag, hmac_sha256("key", &[b"ab"]), "parts are concatenated");
        assert!(verify_hmac_sha256("key", parts, &tag));
        assert!(verify_hmac_sha256("key", parts, &tag[..16]));
        assert!(!verify_hmac_sha256("key", parts, &tag[..15]));
        assert!(!verify_hmac_sha256("other", parts, &tag));
        assert!(!verify_hmac_sha256("key", &[b"a", b"c"], &tag));
    }

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

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn links_bind_customer_survey_send_and_expire() {
        let link = SurveyLink {
            customer: "c1".into(),
            survey: "csat".into(),
            send: "survey-abc".into(),
            expires: at("2026-12-08T00:00:00Z"),
        };
        let token = survey_link_token(&link, "k");
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(verify_survey_link("k", &token, now), Ok(link.clone()));
        assert_eq!(
            verify_survey_link("other", &token, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            verify_survey_link("k", &token, at("2026-12-09T00:00:00Z")),
            Err(LinkError::Expired(link.expires))
        );
        // Moved to another customer, another send, or a later expiry: invalid.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[0] = hex::encode("c2");
        assert_eq!(
            verify_survey_link("k", &parts.join("."), now),
            Err(LinkError::Invalid)
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[3] = (link.expires.as_second() + 86_400).to_string();
        assert_eq!(
            verify_survey_link("k", &parts.join("."), now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            verify_survey_link("k", "garbage", now),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn only_the_minted_spelling_of_a_link_verifies() {
        let expires = at("2026-12-08T00:00:00Z");
        let link = SurveyLink {
            customer: "c:1".into(),
            survey: "csat".into(),
            send: "s1".into(),
            expires,
        };
        let token = survey_link_token(&link, "k");
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(verify_survey_link("k", &token, now), Ok(link));
        let seconds = expires.as_second().to_string();
        // The same bytes spelt differently (what the `tokens` fuzz target tries).
        let respelt = [
            token.to_uppercase(),
            token.replacen(&seconds, &format!("+{seconds}"), 1),
            token.replacen(&seconds, &format!("0{seconds}"), 1),
        ];
        for other in respelt {
            assert_ne!(other, token);
            assert_eq!(
                verify_survey_link("k", &other, now),
                Err(LinkError::Invalid),
                "{other}"
            );
        }
    }

    #[test]
    fn status_links_bind_customer_key_and_times() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let link = StatusLink {
            customer: "cust-1".into(),
            kid: 2,
            issued: now,
            expires: Timestamp::from_second(1_800_086_400).unwrap(),
        };
        let keys = |kid: i64| match kid {
            1 => Some("old".to_string()),
            2 => Some("new".to_string()),
            _ => None,
        };
        let token = status_link_token("new", &link);
        assert_eq!(verify_status_link(&token, now, keys), Ok(link.clone()));
        // Each part changed, the key unknown, the wrong key's secret: nothing verifies.
        let parts: Vec<&str> = token.split('.').collect();
        for i in 0..parts.len() {
            let mut changed = parts.clone();
            let other = if i == 0 {
                hex::encode("cust-2")
            } else if i == 4 {
                "0".repeat(32)
            } else {
                "3".into()
            };
            changed[i] = &other;
            assert_eq!(
                verify_status_link(&changed.join("."), now, keys),
                Err(StatusLinkError::Invalid),
                "part {i} changed"
            );
        }
        assert_eq!(
            verify_status_link(&token, now, |_| None),
            Err(StatusLinkError::Invalid)
        );
        assert_eq!(
            verify_status_link(&token, now, |_| Some("old".into())),
            Err(StatusLinkError::Invalid)
        );
        assert_eq!(
            verify_status_link(&token.to_uppercase(), now, keys),
            Err(StatusLinkError::Invalid)
        );
        let later = Timestamp::from_second(1_800_086_401).unwrap();
        assert_eq!(
            verify_status_link(&token, later, keys),
            Err(StatusLinkError::Expired(link.expires))
        );
        // Signed with the old key, it still verifies while that key is live.
        let old = StatusLink { kid: 1, ..link };
        assert!(verify_status_link(&status_link_token("old", &old), now, keys).is_ok());
    }
}
