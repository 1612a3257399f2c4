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
use rand::RngCore;
use sha2::{Digest, Sha256};

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
    // One spelling per token (lower-case hex, the 16 bytes minted), so that no changed character
    // verifies (the `tokens` fuzz target checks this).
    let lower_hex = |h: &str| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex(id) || !lower_hex(signature) {
        return None;
    }
    let customer = String::from_utf8(hex::decode(id).ok()?).ok()?;
    let signature = hex::decode(signature).ok()?;
    (signature.len() == 16
        && verify_hmac_sha256(secret, &[b"unsubscribe:", customer.as_bytes()], &signature))
    .then_some(customer)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            verify_unsubscribe_token("s3cret", &token.to_uppercase()),
            None
        );
    }
}
