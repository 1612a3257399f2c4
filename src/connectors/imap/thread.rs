//! Threading: which conversation (`ref`) a mail belongs to. The thread id is the Message-ID of the first
//! mail of the thread Seen knows, or the `ref` a reply token of Seen's own mail carries. In order:
//!
//! 1. **References**: the first listed Message-ID whose thread is known;
//! 2. **In-Reply-To**: its thread when known (Outlook often sends no References);
//! 3. **Seen's reply token**: a Message-ID of Seen's own outgoing mail names the obligation's `ref`;
//! 4. **the subject**: the latest thread with the same correspondent and normalised subject within
//!    14 days (a reply whose client dropped both headers);
//! 5. otherwise a new thread: the oldest Message-ID the mail refers to (its parent was never seen, but
//!    every later mail of that thread names the same root), or the mail's own Message-ID.
//!
//! Steps 1–3 and 5 are pure ([`by_headers`], [`new_thread`]); step 4 needs the store.

use std::collections::HashMap;

use jiff::SignedDuration;

use super::mail::Mail;
pub use crate::channels::{outgoing_message_id, reply_token};

/// How far back the subject rule looks.
pub const SUBJECT_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);

/// Which rule threaded a mail (kept in the event's properties, for `seen explain` and for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    References,
    InReplyTo,
    ReplyToken,
    Subject,
    New,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::References => "references",
            Rule::InReplyTo => "in-reply-to",
            Rule::ReplyToken => "reply-token",
            Rule::Subject => "subject",
            Rule::New => "new",
        }
    }
}

/// The Message-IDs whose threads steps 1 and 2 look up.
pub fn lookups(mail: &Mail) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in mail.references.iter().chain(&mail.in_reply_to) {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// Steps 1–3, given the known threads of the mail's lookups.
pub fn by_headers(mail: &Mail, known: &HashMap<String, String>) -> Option<(String, Rule)> {
    if let Some(thread) = mail.references.iter().find_map(|id| known.get(id)) {
        return Some((thread.clone(), Rule::References));
    }
    if let Some(thread) = mail.in_reply_to.iter().find_map(|id| known.get(id)) {
        return Some((thread.clone(), Rule::InReplyTo));
    }
    mail.in_reply_to
        .iter()
        .chain(mail.references.iter().rev())
        .find_map(|id| reply_token(id))
        .map(|reference| (reference, Rule::ReplyToken))
}

/// Step 5: the root the mail names, or its own Message-ID.
pub fn new_thread(mail: &Mail) -> String {
    mail.references
        .first()
        .or(mail.in_reply_to.first())
        .unwrap_or(&mail.message_id)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::imap::mail::Kind;

    fn mail(id: &str, references: &[&str], in_reply_to: &[&str]) -> Mail {
        Mail {
            message_id: id.into(),
            at: jiff::Timestamp::UNIX_EPOCH,
            subject: String::new(),
            subject_key: String::new(),
            references: references.iter().map(|s| s.to_string()).collect(),
            in_reply_to: in_reply_to.iter().map(|s| s.to_string()).collect(),
            snippet: String::new(),
            kind: Kind::Ignored("test"),
        }
    }

    fn known(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn references_win_then_in_reply_to_then_the_token() {
        let m = mail("m3", &["m1", "m2"], &["m2"]);
        assert_eq!(
            by_headers(&m, &known(&[("m2", "t2"), ("m1", "t1")])),
            Some(("t1".into(), Rule::References))
        );
        let outlook = mail("m3", &[], &["m2"]);
        assert_eq!(
            by_headers(&outlook, &known(&[("m2", "t1")])),
            Some(("t1".into(), Rule::InReplyTo))
        );
        let id = outgoing_message_id("abc123", Some("BK-1042"));
        let reply = mail("m4", &[], &[&id]);
        assert_eq!(
            by_headers(&reply, &HashMap::new()),
            Some(("BK-1042".into(), Rule::ReplyToken))
        );
        assert_eq!(
            by_headers(&mail("m5", &["x"], &["y"]), &HashMap::new()),
            None
        );
    }

    #[test]
    fn a_new_thread_is_the_root_the_mail_names() {
        assert_eq!(new_thread(&mail("m3", &["m1", "m2"], &["m2"])), "m1");
        assert_eq!(new_thread(&mail("m3", &[], &["m2"])), "m2");
        assert_eq!(new_thread(&mail("m3", &[], &[])), "m3");
        assert_eq!(
            lookups(&mail("m3", &["m1", "m2"], &["m2"])),
            vec!["m1", "m2"]
        );
    }

    #[test]
    fn reply_tokens_round_trip_and_reject_strangers() {
        assert_eq!(outgoing_message_id("abc", None), "abc@seen");
        assert_eq!(
            outgoing_message_id("abc", Some(&"x".repeat(61))),
            "abc@seen"
        );
        let id = outgoing_message_id("abc", Some("order 7/é"));
        assert_eq!(reply_token(&id).as_deref(), Some("order 7/é"));
        assert_eq!(reply_token("abc@seen"), None);
        assert_eq!(reply_token("abc.rzz@seen"), None);
        assert_eq!(reply_token("abc.r6869@example.com"), None);
    }
}
