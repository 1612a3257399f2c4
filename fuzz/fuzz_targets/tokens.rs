//! Fuzz target: the signed tokens in links Seen sends — survey answer links
//! (`domain::survey::SurveyLink`) and unsubscribe tokens, both minted and checked by `secrets`. Verifying arbitrary text
//! never panics; a token minted for any fields verifies back to exactly those fields; a token with
//! any byte changed, inserted or removed never verifies, nor does it under another secret.
#![no_main]

use arbitrary::Arbitrary;
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use seen::domain::survey::{LinkError, SurveyLink};
use seen::secrets::{
    survey_link_token, unsubscribe_token, verify_survey_link, verify_unsubscribe_token,
};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    other_secret: &'a str,
    customer: &'a str,
    survey: &'a str,
    send: &'a str,
    expires: i64,
    now: i64,
    edits: Vec<Edit>,
    raw: &'a str,
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Replace(u16, u8),
    Insert(u16, u8),
    Remove(u16),
}

fn mutate(token: &str, edits: &[Edit]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for edit in edits {
        let at = |p: u16, len: usize| usize::from(p) % len.max(1);
        match *edit {
            Edit::Replace(p, b) if !bytes.is_empty() => {
                let i = at(p, bytes.len());
                bytes[i] = b;
            }
            Edit::Insert(p, b) => {
                let i = at(p, bytes.len() + 1);
                bytes.insert(i, b);
            }
            Edit::Remove(p) if !bytes.is_empty() => {
                let i = at(p, bytes.len());
                bytes.remove(i);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// HMAC pads keys with zero bytes, so "k" and "k\0" are the same key: not a different secret.
fn different_keys(a: &str, b: &str) -> bool {
    a.trim_end_matches('\0') != b.trim_end_matches('\0')
}

fn instant(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fuzz_target!(|input: Input| {
    let now = instant(input.now);
    // Arbitrary text never panics.
    let _ = verify_survey_link(input.secret, input.raw, now);
    let _ = verify_unsubscribe_token(input.secret, input.raw);

    // Survey answer links.
    let link = SurveyLink {
        customer: input.customer.to_string(),
        survey: input.survey.to_string(),
        send: input.send.to_string(),
        expires: instant(input.expires),
    };
    let token = survey_link_token(&link, input.secret);
    assert_eq!(
        verify_survey_link(input.secret, &token, link.expires).as_ref(),
        Ok(&link)
    );
    if now > link.expires {
        assert_eq!(
            verify_survey_link(input.secret, &token, now),
            Err(LinkError::Expired(link.expires))
        );
    }
    if different_keys(input.other_secret, input.secret) {
        assert!(verify_survey_link(input.other_secret, &token, link.expires).is_err());
    }
    let mutated = mutate(&token, &input.edits);
    if mutated != token {
        assert_eq!(
            verify_survey_link(input.secret, &mutated, link.expires),
            Err(LinkError::Invalid),
            "mutated survey token verified: {token:?} -> {mutated:?}"
        );
    }

    // Unsubscribe tokens.
    let token = unsubscribe_token(input.secret, input.customer);
    assert_eq!(
        verify_unsubscribe_token(input.secret, &token).as_deref(),
        Some(input.customer)
    );
    if different_keys(input.other_secret, input.secret) {
        assert_eq!(verify_unsubscribe_token(input.other_secret, &token), None);
    }
    let mutated = mutate(&token, &input.edits);
    if mutated != token {
        assert_eq!(
            verify_unsubscribe_token(input.secret, &mutated),
            None,
            "mutated unsubscribe token verified: {token:?} -> {mutated:?}"
        );
    }
});
