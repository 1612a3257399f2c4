//! What one mail says, decided without I/O: who the correspondent is, whether it is ours, a customer's, an
//! auto-reply, a list mail or a bounce, when it was written, and the keys threading needs.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

/// Where a folder's mail comes from, by configuration (`folders.inbox` / `folders.sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Inbox,
    Sent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inbox => "inbox",
            Role::Sent => "sent",
        }
    }
}

/// `our_addresses`: exact addresses and whole domains (`*@venue.example`), compared lower-cased.
#[derive(Debug, Clone, Default)]
pub struct OurAddresses {
    exact: BTreeSet<String>,
    domains: BTreeSet<String>,
}

impl OurAddresses {
    pub fn parse(list: &[String]) -> Result<OurAddresses, String> {
        let mut ours = OurAddresses::default();
        for entry in list {
            let entry = entry.trim().to_lowercase();
            match entry.strip_prefix("*@") {
                Some(domain) if !domain.is_empty() && !domain.contains('@') => {
                    ours.domains.insert(domain.to_string());
                }
                _ if entry.contains('@') && !entry.contains('*') && !entry.starts_with('@') => {
                    ours.exact.insert(entry);
                }
                _ => {
                    return Err(format!(
                        "our_addresses: {entry:?} is neither an address nor \"*@domain\""
                    ))
                }
            }
        }
        if ours.exact.is_empty() && ours.domains.is_empty() {
            return Err("our_addresses: at least one address is needed".to_string());
        }
        Ok(ours)
    }

    pub fn is_ours(&self, address: &str) -> bool {
        let address = address.to_lowercase();
        if self.exact.contains(&address) {
            return true;
        }
        match address.rsplit_once('@') {
            Some((_, domain)) => self.domains.contains(domain),
            None => false,
        }
    }
}

/// An address with its display name; the address lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub address: String,
    pub name: Option<String>,
}

/// What a mail is to Seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A customer wrote to us.
    Received { correspondent: Person },
    /// We wrote to these customers.
    Sent { recipients: Vec<Person> },
    /// A delivery failure report: these addresses did not receive a mail of ours.
    Bounce {
        recipients: Vec<String>,
        /// The DSN's status (e.g. "5.1.1") and diagnostic, when given.
        status: Option<String>,
        diagnostic: Option<String>,
        /// The Message-ID of the mail that bounced, when the report returns its headers.
        original: Option<String>,
    },
    /// Not a customer's conversation; the reason says which rule.
    Ignored(&'static str),
}

/// The facts of one mail that events and threading need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Without angle brackets; a digest of the raw message when the mail has none.
    pub message_id: String,
    pub at: Timestamp,
    pub subject: String,
    /// The subject with Re:/Fwd:/AW:/SV:… prefixes and list tags stripped, lower-cased, spaces folded.
    pub subject_key: String,
    /// Oldest first, as the header lists them.
    pub references: Vec<String>,
    pub in_reply_to: Vec<String>,
    /// The first words of the text, for people (never for decisions).
    pub snippet: String,
    pub kind: Kind,
}

/// Why a mail could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("not a MIME message")]
    Unparsable,
    #[error("no usable date (no Date header and no INTERNALDATE)")]
    NoDate,
    #[error("no From address")]
    NoFrom,
}

/// Longest snippet kept in properties (characters).
pub const SNIPPET: usize = 160;

/// Reads one mail found in a folder of `role`. `internal_date` is the server's INTERNALDATE.
pub fn read(
    raw: &[u8],
    internal_date: Option<Timestamp>,
    role: Role,
    ours: &OurAddresses,
) -> Result<Mail, MailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::Unparsable)?;
    if message.headers().is_empty() {
        return Err(MailError::Unparsable);
    }
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => clean_id(id),
        _ => format!("sha256-{}", crate::secrets::sha256_hex_bytes(raw)),
    };
    let written = message
        .date()
        .and_then(|d| Timestamp::from_second(d.to_timestamp()).ok());
    let at = choose_date(written, internal_date).ok_or(MailError::NoDate)?;
    let subject = message.subject().unwrap_or("").trim().to_string();
    let kind = classify(&message, role, ours)?;
    Ok(Mail {
        message_id,
        at,
        subject_key: subject_key(&subject),
        subject,
        references: ids(message.references()),
        in_reply_to: ids(message.in_reply_to()),
        snippet: snippet(&message),
        kind,
    })
}

/// The Date header unless it is missing or absurd (more than a day after the server received the mail,
/// more than 30 days before it, or before 1990); then INTERNALDATE.
fn choose_date(written: Option<Timestamp>, received: Option<Timestamp>) -> Option<Timestamp> {
    let floor = Timestamp::from_second(631_152_000).ok()?; // 1990-01-01
    match (written, received) {
        (Some(w), Some(r)) => {
            let sane = w >= floor
                && w <= r.checked_add(SignedDuration::from_hours(24)).ok()?
                && w >= r.checked_sub(SignedDuration::from_hours(24 * 30)).ok()?;
            Some(if sane { w } else { r })
        }
        (Some(w), None) if w >= floor => Some(w),
        (_, r) => r,
    }
}

fn classify(message: &Message<'_>, role: Role, ours: &OurAddresses) -> Result<Kind, MailError> {
    if let Some(bounce) = bounce(message) {
        return Ok(bounce);
    }
    if let Some(reason) = automatic(message) {
        return Ok(Kind::Ignored(reason));
    }
    let from = people(message.from()).into_iter().next();
    let from_ours = from.as_ref().is_some_and(|p| ours.is_ours(&p.address));
    if role == Role::Sent || from_ours {
        let mut recipients: Vec<Person> = Vec::new();
        for person in people(message.to())
            .into_iter()
            .chain(people(message.cc()))
            .chain(people(message.bcc()))
        {
            if !ours.is_ours(&person.address)
                && !recipients.iter().any(|r| r.address == person.address)
            {
                recipients.push(person);
            }
        }
        if !recipients.is_empty() {
            return Ok(Kind::Sent { recipients });
        }
        // A web form's mail comes from us with the customer in Reply-To.
        if role == Role::Inbox {
            if let Some(customer) = people(message.reply_to())
                .into_iter()
                .find(|p| !ours.is_ours(&p.address))
            {
                return Ok(Kind::Received {
                    correspondent: customer,
                });
            }
        }
        return Ok(Kind::Ignored("between our own addresses"));
    }
    let Some(correspondent) = from else {
        return Err(MailError::NoFrom);
    };
    Ok(Kind::Received { correspondent })
}

/// Auto-replies and bulk mail (RFC 3834's Auto-Submitted, the common X- headers, Precedence, lists).
fn automatic(message: &Message<'_>) -> Option<&'static str> {
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_lowercase());
    if let Some(value) = header("Auto-Submitted") {
        if value != "no" && !value.starts_with("no ") && !value.starts_with("no;") {
            return Some("auto-submitted");
        }
    }
    if header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress")
            .is_some_and(|v| v.contains("all") || v.contains("oof"))
    {
        return Some("auto-reply");
    }
    if let Some(value) = header("Precedence") {
        if ["bulk", "list", "junk", "auto_reply"].contains(&value.as_str()) {
            return Some("bulk");
        }
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("mailing list");
    }
    None
}

/// A delivery status notification (RFC 3464): `multipart/report; report-type=delivery-status`, or a
/// `message/delivery-status` part anywhere. Only failed recipients count; delays are ignored.
fn bounce(message: &Message<'_>) -> Option<Kind> {
    let status_part = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let text = String::from_utf8_lossy(status_part.contents()).into_owned();
    let mut recipients = Vec::new();
    let mut status = None;
    let mut diagnostic = None;
    // Per-recipient groups are separated by blank lines; each has Final-Recipient and Action.
    for group in text.replace("\r\n", "\n").split("\n\n") {
        let field = |name: &str| -> Option<String> {
            group.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        let Some(recipient) = field("Final-Recipient").or_else(|| field("Original-Recipient"))
        else {
            continue;
        };
        let action = field("Action").unwrap_or_default().to_lowercase();
        if action != "failed" {
            continue;
        }
        // "rfc822; someone@example.com"
        let address = recipient
            .split_once(';')
            .map(|(_, a)| a)
            .unwrap_or(&recipient)
            .trim()
            .trim_matches(|c| c == '<' || c == '>')
            .to_lowercase();
        if address.contains('@') && !recipients.contains(&address) {
            recipients.push(address);
        }
        status = status.or_else(|| field("Status"));
        diagnostic = diagnostic.or_else(|| field("Diagnostic-Code"));
    }
    if recipients.is_empty() {
        return Some(Kind::Ignored("delivery report without a failure"));
    }
    Some(Kind::Bounce {
        recipients,
        status,
        diagnostic: diagnostic.map(|d| d.chars().take(300).collect()),
        original: returned_message_id(message),
    })
}

/// The Message-ID of the mail a report returns (a `message/rfc822` or `text/rfc822-headers` part).
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    for part in &message.parts {
        if let PartType::Message(inner) = &part.body {
            if let Some(id) = inner.message_id() {
                return Some(clean_id(id));
            }
        }
        let headers_only = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        });
        if headers_only {
            let parsed = MessageParser::default().parse(part.contents())?;
            return parsed.message_id().map(clean_id);
        }
    }
    None
}

fn people(address: Option<&Address<'_>>) -> Vec<Person> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|a| {
            let text = a.address()?.trim().to_lowercase();
            (text.contains('@') && text.len() <= 254 && !text.chars().any(char::is_whitespace))
                .then(|| Person {
                    address: text,
                    name: a
                        .name()
                        .map(|n| n.trim().trim_matches('"').trim().to_string())
                        .filter(|n| !n.is_empty()),
                })
        })
        .collect()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

/// A Message-ID without its angle brackets or surrounding space.
pub fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// The thread key of a subject: reply and forward prefixes (in the languages Outlook and others use),
/// `[list]` tags and repeated spaces removed; lower-cased.
pub fn subject_key(subject: &str) -> String {
    const PREFIXES: [&str; 14] = [
        "re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "tr", "rif", "r", "odp", "ynt", "ref",
    ];
    let mut s = subject.trim();
    loop {
        let before = s;
        if let Some(rest) = s.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                s = rest[end + 1..].trim_start();
            }
        }
        if let Some((head, rest)) = s.split_once(':') {
            // "Re:", "RE[2]:", "Fwd :"
            let word = head.trim().to_lowercase();
            let word = word.split('[').next().unwrap_or("").trim();
            if PREFIXES.contains(&word) {
                s = rest.trim_start();
            }
        }
        if s == before {
            break;
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The first words of the text body (or of the HTML stripped of tags), without quoted lines.
fn snippet(message: &Message<'_>) -> String {
    let text = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('>') || line.is_empty() {
            continue;
        }
        // "On Tue, … wrote:" starts the quoted part.
        if line.ends_with("wrote:") || line == "-- " || line == "--" {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
        if out.chars().count() >= SNIPPET {
            break;
        }
    }
    out.chars()
        .filter(|c| !c.is_control())
        .take(SNIPPET)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> OurAddresses {
        OurAddresses::parse(&["hello@venue.example".into(), "*@staff.venue.example".into()])
            .unwrap()
    }

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{}\r\n\r\n{}", headers.trim().replace('\n', "\r\n"), body).into_bytes()
    }

    #[test]
    fn our_addresses_are_exact_or_whole_domains() {
        let ours = ours();
        assert!(ours.is_ours("Hello@Venue.example"));
        assert!(ours.is_ours("ann@staff.venue.example"));
        assert!(!ours.is_ours("ann@venue.example"));
        assert!(!ours.is_ours("guest@example.com"));
        assert!(OurAddresses::parse(&["*@".into()]).is_err());
        assert!(OurAddresses::parse(&["venue.example".into()]).is_err());
        assert!(OurAddresses::parse(&[]).is_err());
    }

    #[test]
    fn a_customer_mail_in_the_inbox_is_received() {
        let raw = mail(
            "From: \"Ana Silva\" <Ana@Example.com>\nTo: hello@venue.example\nSubject: Re: AW: Room for Friday\n\
             Message-ID: <m1@example.com>\nDate: Tue, 14 Jan 2025 09:14:00 +0100\nIn-Reply-To: <m0@venue.example>\n\
             References: <root@venue.example> <m0@venue.example>",
            "Hello, is the room still free?\r\n\r\nOn Mon, Jan 13, hello wrote:\r\n> yes\r\n",
        );
        let m = read(&raw, Some(t("2025-01-14T08:14:05Z")), Role::Inbox, &ours()).unwrap();
        assert_eq!(m.message_id, "m1@example.com");
        assert_eq!(m.at, t("2025-01-14T08:14:00Z"));
        assert_eq!(m.subject_key, "room for friday");
        assert_eq!(m.references, vec!["root@venue.example", "m0@venue.example"]);
        assert_eq!(m.in_reply_to, vec!["m0@venue.example"]);
        assert_eq!(m.snippet, "Hello, is the room still free?");
        assert_eq!(
            m.kind,
            Kind::Received {
                correspondent: Person {
                    address: "ana@example.com".into(),
                    name: Some("Ana Silva".into())
                }
            }
        );
    }

    #[test]
    fn our_mail_is_sent_to_each_customer_recipient() {
        let raw = mail(
            "From: hello@venue.example\nTo: a@example.com, ann@staff.venue.example\nCc: B <b@example.com>\n\
             Subject: Your booking\nMessage-ID: <s1@venue.example>\nDate: Tue, 14 Jan 2025 10:00:00 +0000",
            "Confirmed.",
        );
        for role in [Role::Inbox, Role::Sent] {
            let m = read(&raw, None, role, &ours()).unwrap();
            let Kind::Sent { recipients } = m.kind else {
                panic!("{:?}", m.kind)
            };
            let addresses: Vec<&str> = recipients.iter().map(|p| p.address.as_str()).collect();
            assert_eq!(addresses, vec!["a@example.com", "b@example.com"]);
        }
    }

    #[test]
    fn mail_between_our_addresses_is_not_a_customer() {
        let raw = mail(
            "From: hello@venue.example\nTo: ann@staff.venue.example\nSubject: lunch\nMessage-ID: <x@v>\n\
             Date: Tue, 14 Jan 2025 10:00:00 +0000",
            "?",
        );
        assert_eq!(
            read(&raw, None, Role::Inbox, &ours()).unwrap().kind,
            Kind::Ignored("between our own addresses")
        );
    }

    #[test]
    fn a_web_form_from_us_with_the_customer_in_reply_to_is_received() {
        let raw = mail(
            "From: hello@venue.example\nTo: hello@venue.example\nReply-To: Guest <guest@example.com>\n\
             Subject: Contact form\nMessage-ID: <f@v>\nDate: Tue, 14 Jan 2025 10:00:00 +0000",
            "Please call me",
        );
        let m = read(&raw, None, Role::Inbox, &ours()).unwrap();
        assert!(
            matches!(m.kind, Kind::Received { correspondent } if correspondent.address == "guest@example.com")
        );
    }

    #[test]
    fn auto_replies_and_bulk_mail_are_not_customers() {
        for (header, reason) in [
            ("Auto-Submitted: auto-replied", "auto-submitted"),
            ("X-Autoreply: yes", "auto-reply"),
            ("Precedence: bulk", "bulk"),
            ("Precedence: list", "bulk"),
            ("Precedence: junk", "bulk"),
            ("List-Id: <news.example.com>", "mailing list"),
        ] {
            let raw = mail(
                &format!("From: a@example.com\nTo: hello@venue.example\nSubject: Out of office\nMessage-ID: <o@e>\nDate: Tue, 14 Jan 2025 10:00:00 +0000\n{header}"),
                "away",
            );
            assert_eq!(
                read(&raw, None, Role::Inbox, &ours()).unwrap().kind,
                Kind::Ignored(reason),
                "{header}"
            );
        }
        // Auto-Submitted: no is a person.
        let raw = mail(
            "From: a@example.com\nTo: hello@venue.example\nSubject: hi\nMessage-ID: <o@e>\nDate: Tue, 14 Jan 2025 10:00:00 +0000\nAuto-Submitted: no",
            "hi",
        );
        assert!(matches!(
            read(&raw, None, Role::Inbox, &ours()).unwrap().kind,
            Kind::Received { .. }
        ));
    }

    #[test]
    fn a_bounce_names_the_failed_recipient_and_the_returned_mail() {
        let raw = mail(
            "From: Mail Delivery System <MAILER-DAEMON@mx.venue.example>\nTo: hello@venue.example\n\
             Subject: Undelivered Mail Returned to Sender\nMessage-ID: <b1@mx>\nDate: Tue, 14 Jan 2025 10:05:00 +0000\n\
             Auto-Submitted: auto-replied\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"",
            "--BB\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
             --BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.venue.example\r\n\r\n\
             Final-Recipient: rfc822; Gone@Example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
             Final-Recipient: rfc822; later@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n\
             --BB\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: hello@venue.example\r\nTo: gone@example.com\r\n\
             Message-ID: <confirm-1@seen>\r\nSubject: Your booking\r\n\r\n--BB--\r\n",
        );
        let m = read(&raw, None, Role::Inbox, &ours()).unwrap();
        assert_eq!(
            m.kind,
            Kind::Bounce {
                recipients: vec!["gone@example.com".into()],
                status: Some("5.1.1".into()),
                diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
                original: Some("confirm-1@seen".into()),
            }
        );
    }

    #[test]
    fn an_absurd_or_missing_date_falls_back_to_internaldate() {
        let received = t("2025-01-14T10:00:00Z");
        let with_date = |date: &str| {
            mail(
                &format!("From: a@example.com\nTo: hello@venue.example\nSubject: x\nMessage-ID: <d@e>\n{date}"),
                "x",
            )
        };
        let at = |raw: Vec<u8>| read(&raw, Some(received), Role::Inbox, &ours()).unwrap().at;
        assert_eq!(
            at(with_date("Date: Tue, 14 Jan 2025 09:59:00 +0000")),
            t("2025-01-14T09:59:00Z")
        );
        assert_eq!(
            at(with_date("Date: Tue, 14 Jan 2031 09:59:00 +0000")),
            received
        );
        assert_eq!(
            at(with_date("Date: Mon, 1 Jan 1970 00:00:00 +0000")),
            received
        );
        assert_eq!(at(with_date("")), received);
        assert_eq!(at(with_date("Date: not a date")), received);
        let raw = with_date("");
        assert_eq!(
            read(&raw, None, Role::Inbox, &ours()),
            Err(MailError::NoDate)
        );
    }

    #[test]
    fn a_mail_without_message_id_gets_a_digest_of_its_bytes() {
        let raw = mail("From: a@example.com\nTo: hello@venue.example\nSubject: x\nDate: Tue, 14 Jan 2025 09:59:00 +0000", "x");
        let a = read(&raw, None, Role::Inbox, &ours()).unwrap();
        let b = read(&raw, None, Role::Inbox, &ours()).unwrap();
        assert!(a.message_id.starts_with("sha256-"));
        assert_eq!(a.message_id, b.message_id);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(b"", None, Role::Inbox, &ours()).is_err());
        assert!(read(
            b"\x00\x01\x02",
            Some(t("2025-01-14T10:00:00Z")),
            Role::Inbox,
            &ours()
        )
        .is_err());
        let raw = mail(
            "To: hello@venue.example\nSubject: x\nDate: Tue, 14 Jan 2025 09:59:00 +0000",
            "x",
        );
        assert_eq!(
            read(&raw, None, Role::Inbox, &ours()),
            Err(MailError::NoFrom)
        );
    }

    #[test]
    fn subject_keys_strip_prefixes_in_many_languages() {
        for subject in [
            "Room for Friday",
            "Re: Room for Friday",
            "RE: Re: room  for friday",
            "AW: Room for Friday",
            "SV: Room for Friday",
            "Fwd: Re: Room for Friday",
            "RE[2]: Room for Friday",
            "[Venue] Re: Room for Friday",
            "WG: Antw: Room for Friday",
        ] {
            assert_eq!(subject_key(subject), "room for friday", "{subject}");
        }
        assert_eq!(subject_key("Re:"), "");
        assert_eq!(subject_key("Question: parking"), "question: parking");
    }
}
