//! The mailbox story: the venue's shared inbox (`hello@venue.example`) as an IMAP connector would find it,
//! as raw RFC 5322 mail in `INBOX` and `Sent`. It is what threading must get right: Gmail-style replies
//! that carry References, Outlook replies with only In-Reply-To ("RE:", "AW:"), clients that drop both so
//! only the subject ties them, customers answering one of Seen's own confirmations (its reply token), a
//! first mail that replies to a parent Seen never saw, late and missing answers, and the noise a real
//! inbox holds — out-of-office replies, newsletters, colleagues writing to the shared address, a
//! confirmation that bounced.
//!
//! The mailbox's customers are people who only ever wrote (customer numbers after the demo's own), so
//! their addresses are their ids. Deterministic like the rest of the demo: the same options give
//! byte-identical mail. Each mail names the conversation it belongs to (`conversation`), which the tests
//! hold the threading to.

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::customer::{pick, pick_weighted};
use super::profile;
use super::time::{Hours, Window, BUSINESS_DAY, DAY, HOUR, MINUTE};
use super::DemoOptions;
use crate::connectors::imap::mail::{OurAddresses, Role};

/// The shared address, and the addresses the connector treats as ours.
pub const OUR_ADDRESS: &str = "hello@venue.example";
pub const OUR_ADDRESSES: [&str; 2] = [OUR_ADDRESS, "*@venue.example"];
/// The folders, as `[[connectors.imap]] folders` would name them.
pub const INBOX: &str = "INBOX";
pub const SENT: &str = "Sent";

/// `OUR_ADDRESSES` as the connector reads them.
pub fn our_addresses() -> OurAddresses {
    OurAddresses::parse(&OUR_ADDRESSES.map(String::from))
        .expect("the demo's own addresses are valid")
}

/// One mail in the demo mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoMail {
    pub folder: &'static str,
    /// The message as the IMAP server holds it (CRLF line ends).
    pub raw: String,
    /// The server's INTERNALDATE: when it arrived (or was sent).
    pub at: Timestamp,
    /// The conversation it belongs to; `None` for mail that is not a customer conversation (auto-replies,
    /// newsletters, internal mail, bounces).
    pub conversation: Option<usize>,
}

impl DemoMail {
    /// The folder's role, as `[[connectors.imap]] folders` would give it.
    pub fn role(&self) -> Role {
        if self.folder == SENT {
            Role::Sent
        } else {
            Role::Inbox
        }
    }

    /// The mail as `connectors::imap::Threader::store_raw` takes it: folder, role, raw message, INTERNALDATE.
    pub fn into_read(self) -> (String, Role, Vec<u8>, Timestamp) {
        (
            self.folder.to_string(),
            self.role(),
            self.raw.into_bytes(),
            self.at,
        )
    }
}

/// How a customer's mail client replies.
#[derive(Clone, Copy, PartialEq)]
enum Client {
    /// In-Reply-To and the whole References chain; "Re:".
    Gmail,
    /// In-Reply-To only (plus Thread-Index); "RE:".
    Outlook,
    /// Outlook in German: "AW:".
    OutlookDe,
    /// Neither header (some phone and web clients, forwarding services); only the subject ties it.
    Bare,
}

/// How a conversation starts.
#[derive(Clone, Copy, PartialEq)]
enum Opening {
    /// The customer writes first.
    Enquiry,
    /// The customer answers a booking confirmation Seen sent (In-Reply-To its Message-ID).
    AnswersSeen,
    /// The customer answers a mail Seen never saw (a colleague's phone): its parent is missing.
    Orphan,
}

const SUBJECTS: [&str; 16] = [
    "Room hire enquiry",
    "Availability for a team away-day",
    "Question about parking",
    "Wedding reception - are you free in June?",
    "Catering options for 40 people",
    "Can we change the number of guests?",
    "Step-free access to the Garden Room",
    "Invoice query",
    "Projector and screen",
    "Deposit refund",
    "Birthday party for my daughter",
    "Quote for a conference in the spring",
    "Do you allow dogs?",
    "Lost property - blue umbrella",
    "Booking for a choir rehearsal",
    "Evening rates?",
];

const OPENINGS: [&str; 6] = [
    "Hello, I'd like to ask about",
    "Hi there, could you tell me more about",
    "Good morning, we are looking into",
    "Hi, quick question regarding",
    "Dear team, I am writing about",
    "Hello again, following up on",
];

const STAFF: [(&str, &str); 4] = [
    ("Sam Porter", "sam@venue.example"),
    ("Priya Shah", "priya@venue.example"),
    ("The Venue", OUR_ADDRESS),
    ("Tom Baker", "tom@venue.example"),
];

/// The demo's mailbox, oldest mail first: about one conversation for every five demo customers, with
/// the inbox's noise over the same months.
pub fn mailbox(opts: &DemoOptions) -> Vec<DemoMail> {
    let Some(window) = Window::new(opts.end, opts.months) else {
        return Vec::new();
    };
    let hours = Hours::new();
    let mut out = Vec::new();
    let conversations = opts.customers / 5;
    for c in 0..conversations {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream((1 << 40) + c as u64);
        Conversation::new(c, opts, &window, &hours, rng).play(&mut out);
    }
    if conversations > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(1 << 41);
        noise(&mut rng, &window, conversations, &mut out);
    }
    out.retain(|m| m.at.as_second() <= window.end);
    out.sort_by_key(|m| m.at);
    out
}

/// A Message-ID's local part: 16 random hex digits.
fn token(rng: &mut ChaCha8Rng) -> String {
    format!("{:016x}", rng.r#gen::<u64>())
}

fn date(t: i64, offset: i64) -> String {
    let zone = Offset::from_seconds(offset as i32)
        .map(TimeZone::fixed)
        .unwrap_or(TimeZone::UTC);
    Timestamp::from_second(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(zone)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

fn timestamp(t: i64) -> Timestamp {
    Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A mail's headers and text, CRLF-terminated.
fn message(headers: &[(&str, String)], body: &str) -> String {
    let mut raw = String::new();
    for (name, value) in headers {
        raw.push_str(name);
        raw.push_str(": ");
        raw.push_str(value);
        raw.push_str("\r\n");
    }
    raw.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for line in body.lines() {
        raw.push_str(line);
        raw.push_str("\r\n");
    }
    raw
}

struct Conversation<'a> {
    index: usize,
    rng: ChaCha8Rng,
    hours: &'a Hours,
    window: &'a Window,
    name: String,
    email: String,
    offset: i64,
    client: Client,
    opening: Opening,
    subject: String,
    /// Message-IDs of the thread so far, oldest first.
    chain: Vec<String>,
    /// Whether the customer's out-of-office answered us already.
    away_sent: bool,
}

impl<'a> Conversation<'a> {
    fn new(
        index: usize,
        opts: &DemoOptions,
        window: &'a Window,
        hours: &'a Hours,
        mut rng: ChaCha8Rng,
    ) -> Conversation<'a> {
        let (who, offset) = profile::profile(opts.customers.saturating_add(index), &mut rng);
        let opening = pick_weighted(
            &mut rng,
            &[
                (Opening::Enquiry, 80),
                (Opening::AnswersSeen, 12),
                (Opening::Orphan, 8),
            ],
        );
        let mut client = pick_weighted(
            &mut rng,
            &[
                (Client::Gmail, 45),
                (Client::Outlook, 30),
                (Client::OutlookDe, 8),
                (Client::Bare, 17),
            ],
        );
        // A client that drops the headers cannot start from a parent: such customers write afresh.
        if opening != Opening::Enquiry && client == Client::Bare {
            client = Client::Gmail;
        }
        let mut subject = pick(&mut rng, &SUBJECTS).to_string();
        let mut chain = Vec::new();
        match opening {
            Opening::Enquiry => {}
            Opening::AnswersSeen => {
                let reference = format!("BK-M{:05}", index + 1);
                let key = crate::secrets::sha256_hex(&format!("demo-mail-{index}"));
                chain.push(crate::channels::outgoing_message_id(
                    &key[..32],
                    Some(&reference),
                ));
                subject = format!("Your booking {reference} is confirmed");
            }
            Opening::Orphan => {
                chain.push(format!("{}@phone.venue.example", token(&mut rng)));
            }
        }
        Conversation {
            index,
            rng,
            hours,
            window,
            name: who.name,
            email: who.email,
            offset,
            client,
            opening,
            subject,
            chain,
            away_sent: false,
        }
    }

    /// A time the customer is awake, on a random day of the window.
    fn start(&mut self) -> i64 {
        let days = ((self.window.last_day - self.window.first_day) / DAY).max(0);
        let day = self.window.first_day + self.rng.gen_range(0..=days) * DAY;
        day + self.rng.gen_range(7 * HOUR..22 * HOUR) - self.offset
    }

    fn play(mut self, out: &mut Vec<DemoMail>) {
        let mut t = self.start();
        let exchanges = pick_weighted(&mut self.rng, &[(1u32, 45), (2, 35), (3, 20)]);
        let replying = self.opening != Opening::Enquiry;
        out.push(self.customer_mail(t, replying));
        for k in 0..exchanges {
            let Some(answer) = self.staff_reply(t) else {
                // Nobody answers: half the customers write again a few days later, and some of those
                // nudges are answered.
                if self.rng.gen_bool(0.5) {
                    let nudge = t + self.rng.gen_range(36 * HOUR..4 * DAY);
                    out.push(self.customer_mail(nudge, true));
                    if self.rng.gen_bool(0.4) {
                        let late = self
                            .hours
                            .add_business(nudge, self.rng.gen_range(10 * MINUTE..BUSINESS_DAY));
                        out.push(self.staff_mail(late));
                    }
                }
                return;
            };
            out.push(self.staff_mail(answer));
            if !self.away_sent && self.rng.gen_bool(0.05) {
                self.away_sent = true;
                let away = answer + self.rng.gen_range(20..120);
                out.push(self.out_of_office(away));
            }
            if k + 1 == exchanges {
                return;
            }
            t = answer + self.rng.gen_range(15 * MINUTE..36 * HOUR);
            out.push(self.customer_mail(t, true));
        }
    }

    /// When staff answer a mail that arrived at `after`, if ever.
    fn staff_reply(&mut self, after: i64) -> Option<i64> {
        let u: f64 = self.rng.r#gen();
        if u < 0.08 {
            None
        } else if u < 0.18 {
            let late = self.rng.gen_range(BUSINESS_DAY + HOUR..3 * BUSINESS_DAY);
            Some(self.hours.add_business(after, late))
        } else if u < 0.21 {
            Some(after + self.rng.gen_range(10 * MINUTE..3 * HOUR))
        } else {
            let within = self.rng.gen_range(5 * MINUTE..4 * HOUR);
            Some(self.hours.add_business(after, within))
        }
    }

    fn customer_id(&mut self) -> String {
        let t = token(&mut self.rng);
        let domain = self
            .email
            .rsplit_once('@')
            .map_or("example.com", |(_, d)| d);
        match self.client {
            Client::Outlook | Client::OutlookDe => format!(
                "DB{}.{}@DB9PR04MB.eurprd04.prod.outlook.com",
                &t[..10],
                &t[10..]
            ),
            _ => format!("CA+{t}@mail.{domain}"),
        }
    }

    fn prefix(&self) -> &'static str {
        match self.client {
            Client::Outlook => "RE: ",
            Client::OutlookDe => "AW: ",
            _ => "Re: ",
        }
    }

    /// The customer writes (`reply`: answering the thread so far, as their client does).
    fn customer_mail(&mut self, t: i64, reply: bool) -> DemoMail {
        let id = self.customer_id();
        let subject = if reply && !self.chain.is_empty() {
            format!("{}{}", self.prefix(), self.subject)
        } else {
            self.subject.clone()
        };
        let mut headers = vec![
            ("From", format!("{} <{}>", self.name, self.email)),
            ("To", format!("The Venue <{OUR_ADDRESS}>")),
            ("Subject", subject),
            ("Date", date(t, self.offset)),
            ("Message-ID", format!("<{id}>")),
        ];
        if reply {
            if let Some(parent) = self.chain.last() {
                match self.client {
                    Client::Gmail => {
                        headers.push(("In-Reply-To", format!("<{parent}>")));
                        headers.push(("References", self.references()));
                    }
                    Client::Outlook | Client::OutlookDe => {
                        headers.push(("In-Reply-To", format!("<{parent}>")));
                        headers.push(("Thread-Index", format!("AdS{}==", &id[2..14])));
                    }
                    Client::Bare => {}
                }
            }
        }
        let first = self.chain.is_empty();
        self.chain.push(id);
        let opening = pick(&mut self.rng, &OPENINGS);
        let body = if first || !reply {
            format!(
                "{opening} {}.\n\nBest wishes,\n{}",
                self.subject.to_lowercase(),
                self.name
            )
        } else {
            format!(
                "Thanks for getting back to me. One more thing about {}.\n\n{}",
                self.subject.to_lowercase(),
                self.name
            )
        };
        DemoMail {
            folder: INBOX,
            raw: message(&headers, &body),
            at: timestamp(t),
            conversation: Some(self.index),
        }
    }

    fn references(&self) -> String {
        self.chain
            .iter()
            .map(|id| format!("<{id}>"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Staff answer from the shared mailbox (the Sent folder).
    fn staff_mail(&mut self, t: i64) -> DemoMail {
        let (name, address) = pick(&mut self.rng, &STAFF);
        let id = format!("{}@venue.example", token(&mut self.rng));
        let mut headers = vec![
            ("From", format!("{name} <{address}>")),
            ("To", format!("{} <{}>", self.name, self.email)),
            ("Subject", format!("Re: {}", self.subject)),
            ("Date", date(t, 0)),
            ("Message-ID", format!("<{id}>")),
        ];
        if let Some(parent) = self.chain.last() {
            headers.push(("In-Reply-To", format!("<{parent}>")));
            headers.push(("References", self.references()));
        }
        self.chain.push(id);
        let first = self.name.split(' ').next().unwrap_or("there");
        let body = format!(
            "Hi {first},\n\nThank you for your message about {}. We would be glad to help.\n\n{name}\nThe Venue",
            self.subject.to_lowercase()
        );
        DemoMail {
            folder: SENT,
            raw: message(&headers, &body),
            at: timestamp(t),
            conversation: Some(self.index),
        }
    }

    /// The customer's out-of-office answering our mail (not the customer speaking).
    fn out_of_office(&mut self, t: i64) -> DemoMail {
        let id = self.customer_id();
        let parent = self.chain.last().cloned().unwrap_or_default();
        let headers = vec![
            ("From", format!("{} <{}>", self.name, self.email)),
            ("To", format!("The Venue <{OUR_ADDRESS}>")),
            ("Subject", format!("Automatic reply: Re: {}", self.subject)),
            ("Date", date(t, self.offset)),
            ("Message-ID", format!("<{id}>")),
            ("In-Reply-To", format!("<{parent}>")),
            ("Auto-Submitted", "auto-replied".to_string()),
            ("X-Autoreply", "yes".to_string()),
        ];
        DemoMail {
            folder: INBOX,
            raw: message(
                &headers,
                "I am away until Monday with limited access to email.",
            ),
            at: timestamp(t),
            conversation: None,
        }
    }
}

/// What else lands in a shared inbox: newsletters, colleagues' mail, and a few bounced confirmations.
fn noise(rng: &mut ChaCha8Rng, window: &Window, conversations: usize, out: &mut Vec<DemoMail>) {
    let mut push = |t: i64, raw: String| {
        out.push(DemoMail {
            folder: INBOX,
            raw,
            at: timestamp(t),
            conversation: None,
        })
    };
    // Two suppliers' weekly newsletters.
    for (sender, list) in [
        (
            "Catering Weekly <news@catering-weekly.example>",
            "<weekly.catering-weekly.example>",
        ),
        (
            "Events Trade <digest@events-trade.example>",
            "<digest.events-trade.example>",
        ),
    ] {
        let mut t = window.first_day + rng.gen_range(6 * HOUR..10 * HOUR);
        while t <= window.end {
            let headers = vec![
                ("From", sender.to_string()),
                ("To", OUR_ADDRESS.to_string()),
                ("Subject", "This week's news and offers".to_string()),
                ("Date", date(t, 0)),
                ("Message-ID", format!("<{}@mailer.example>", token(rng))),
                ("List-Id", list.to_string()),
                (
                    "List-Unsubscribe",
                    "<https://mailer.example/unsubscribe>".to_string(),
                ),
                ("Precedence", "bulk".to_string()),
            ];
            push(t, message(&headers, "Our best offers this week."));
            t += 7 * DAY;
        }
    }
    // Colleagues writing to the shared address every few days.
    let mut t = window.first_day + rng.gen_range(8 * HOUR..18 * HOUR);
    while t <= window.end {
        let (name, address) = pick(rng, &STAFF[..2]);
        let headers = vec![
            ("From", format!("{name} <{address}>")),
            ("To", OUR_ADDRESS.to_string()),
            ("Subject", "Rota for next week".to_string()),
            ("Date", date(t, 0)),
            ("Message-ID", format!("<{}@venue.example>", token(rng))),
        ];
        push(t, message(&headers, "Who can cover Saturday?"));
        t += rng.gen_range(2 * DAY..5 * DAY);
    }
    // About one booking confirmation in fifty conversations went to a mistyped address and bounced.
    for k in 0..conversations / 50 {
        let days = ((window.last_day - window.first_day) / DAY).max(0);
        let t =
            window.first_day + rng.gen_range(0..=days) * DAY + rng.gen_range(9 * HOUR..18 * HOUR);
        let reference = format!("BK-B{:05}", k + 1);
        let key = crate::secrets::sha256_hex(&format!("demo-bounce-{k}"));
        let original = crate::channels::outgoing_message_id(&key[..32], Some(&reference));
        let first = pick(rng, &["anna", "ravi", "chloe", "owen", "fatima", "jack"]);
        let typo = format!("{first}.{}@gmial.example", k + 1);
        let raw = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.venue.example>\r\n\
To: {OUR_ADDRESS}\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Date: {}\r\n\
Message-ID: <{}@mx.venue.example>\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"DSN\"\r\n\
\r\n\
--DSN\r\n\
Content-Type: text/plain\r\n\
\r\n\
Your message could not be delivered to one or more recipients.\r\n\
--DSN\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.venue.example\r\n\
\r\n\
Final-Recipient: rfc822; {typo}\r\n\
Action: failed\r\n\
Status: 5.1.2\r\n\
Diagnostic-Code: smtp; 550 5.1.2 bad destination domain\r\n\
\r\n\
--DSN\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: The Venue <{OUR_ADDRESS}>\r\n\
To: {typo}\r\n\
Subject: Your booking {reference} is confirmed\r\n\
Message-ID: <{original}>\r\n\
\r\n\
--DSN--\r\n",
            date(t + 40, 0),
            token(rng),
        );
        push(t + 40, raw);
    }
}
