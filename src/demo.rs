//! Deterministic demo data for Seen.
//!
//! Generates a believable event history of a small business (a venue hiring
//! meeting rooms, a web shop and a front desk) for a number of customers,
//! ending at a given instant. The output depends only on the options: the same
//! `(seed, customers, end, months)` always produces byte-identical events, on
//! any machine.
//!
//! Every customer draws its randomness from its own ChaCha8 stream (the seed
//! selects the key, the customer index the stream), so a customer's history
//! does not depend on how many customers are generated or on the chunking.
//! Reference numbers (`BK-…`, `ORD-…`, `TH-…`, `VIS-…`) and event ids come from
//! running counters, assigned in customer order.
//!
//! Internally time is handled as whole UNIX seconds; business hours are
//! Mon–Fri 09:00–17:30 UTC, the front desk is open Mon–Sat 09:00–17:00 UTC.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value};

/// Customers are generated (and handed to the sink) in blocks of this size.
pub const CHUNK_CUSTOMERS: usize = 2_000;

/// Length of the generated history when not told otherwise.
pub const DEFAULT_MONTHS: u32 = 6;

/// One generated event, in the shape Seen ingests.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DemoEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_timezone: Option<String>,
    /// Serialized as RFC 3339 in UTC, e.g. `2025-03-14T09:26:53Z`.
    #[serde(serialize_with = "serialize_timestamp")]
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub properties: Map<String, Value>,
}

/// Written out by hand so that it works whether or not jiff's `serde` feature
/// is enabled.
fn serialize_timestamp<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    pub seed: u64,
    pub customers: usize,
    /// No event is after this instant.
    pub end: Timestamp,
    /// Length of the history in calendar months before `end` (default 6).
    pub months: u32,
}

impl DemoOptions {
    /// Options with the default history length of [`DEFAULT_MONTHS`].
    pub fn new(seed: u64, customers: usize, end: Timestamp) -> Self {
        DemoOptions {
            seed,
            customers,
            end,
            months: DEFAULT_MONTHS,
        }
    }
}

/// Generates the events and hands them to `sink` one block of
/// [`CHUNK_CUSTOMERS`] customers at a time. Within a block the events are
/// sorted by `(at, id)`; a customer's events are all in the same block.
/// Memory use is bounded by one block. Stops at the first error of `sink`.
pub fn generate<E>(
    opts: &DemoOptions,
    mut sink: impl FnMut(Vec<DemoEvent>) -> Result<(), E>,
) -> Result<(), E> {
    let Some(window) = Window::new(opts.end, opts.months) else {
        return Ok(());
    };
    let base_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let id_prefix = format!("demo-{}-", opts.seed);
    let mut counters = Counters::default();
    let mut scratch = Vec::new();
    let mut first = 0usize;
    while first < opts.customers {
        let last = opts.customers.min(first.saturating_add(CHUNK_CUSTOMERS));
        let mut block = Vec::with_capacity((last - first) * 32);
        for index in first..last {
            let mut rng = base_rng.clone();
            rng.set_stream(index as u64);
            let c = Customer {
                rng,
                window: &window,
                counters: &mut counters,
                offset: 0,
                platform: "ios",
                out: std::mem::take(&mut scratch),
            };
            scratch = c.generate(index, &id_prefix, &mut block);
        }
        block.sort_unstable_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        if !block.is_empty() {
            sink(block)?;
        }
        first = last;
    }
    Ok(())
}

/// Writes all events as JSON lines (one object per line) to `w` and returns
/// the number of events written.
pub fn write_jsonl(opts: &DemoOptions, w: &mut impl std::io::Write) -> std::io::Result<u64> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, w);
    let mut written = 0u64;
    generate(opts, |events| -> std::io::Result<()> {
        for event in &events {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(written)
}

// ---------------------------------------------------------------------------
// Time helpers (whole UNIX seconds, UTC).

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const OPEN: i64 = 9 * HOUR;
const CLOSE: i64 = 17 * HOUR + 30 * MINUTE;
/// Length of one business day (09:00–17:30).
const BUSINESS_DAY: i64 = CLOSE - OPEN;
const DESK_OPEN: i64 = 9 * HOUR;
const DESK_CLOSE: i64 = 17 * HOUR;

fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(t: i64) -> i64 {
    (t.div_euclid(DAY) + 3).rem_euclid(7)
}

/// The first instant at or after `t` that is within business hours.
fn align_business(t: i64) -> i64 {
    let mut day = day_start(t);
    let second_of_day = t - day;
    if weekday(day) < 5 {
        if second_of_day < OPEN {
            return day + OPEN;
        }
        if second_of_day < CLOSE {
            return t;
        }
    }
    loop {
        day += DAY;
        if weekday(day) < 5 {
            return day + OPEN;
        }
    }
}

/// `t` plus `secs` seconds of business time.
fn add_business(t: i64, secs: i64) -> i64 {
    let mut t = align_business(t);
    let mut left = secs.max(1);
    loop {
        let close = day_start(t) + CLOSE;
        if t + left < close {
            return t + left;
        }
        left -= close - t;
        t = align_business(close);
    }
}

/// The history window, in whole seconds: every event is within `[start, end]`.
struct Window {
    start: i64,
    end: i64,
    /// Range of UTC day starts on which a customer may first appear; chosen so
    /// that the first event, whatever the customer's timezone, is in range.
    first_day: i64,
    last_day: i64,
}

impl Window {
    fn new(end: Timestamp, months: u32) -> Option<Window> {
        let start_ts = window_start(end, months);
        // Round the start up and the end down to whole seconds (`as_second`
        // truncates towards zero, and sub-second parts carry the sign).
        let start = start_ts.as_second() + i64::from(start_ts.subsec_nanosecond() > 0);
        let end = end.as_second() - i64::from(end.subsec_nanosecond() < 0);
        let first_day = day_start(start) + 2 * DAY;
        let last_day = day_start(end) - 2 * DAY;
        (first_day <= last_day).then_some(Window {
            start,
            end,
            first_day,
            last_day,
        })
    }
}

/// `end` minus `months` calendar months (in UTC), or the earliest timestamp
/// if that is out of range.
fn window_start(end: Timestamp, months: u32) -> Timestamp {
    Span::new()
        .try_months(i64::from(months))
        .ok()
        .and_then(|span| end.to_zoned(TimeZone::UTC).checked_sub(span).ok())
        .map(|zoned| zoned.timestamp())
        .unwrap_or(Timestamp::MIN)
}

fn rfc3339(t: i64) -> String {
    Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Built-in vocabulary.

#[rustfmt::skip]
const FIRST_NAMES: [&str; 64] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia", "Grace",
    "Freya", "Poppy", "Evie", "Ella", "Charlotte", "Emily", "Hannah", "Zara", "Aisha", "Priya",
    "Niamh", "Sarah", "Chloe", "Ruth", "Megan", "Fatima", "Lucy", "Anna", "Joanne", "Helen", "Maya",
    "Noah", "Oliver", "George", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Charlie", "Jacob",
    "Thomas", "Alfie", "Henry", "Freddie", "James", "William", "Samuel", "Daniel", "Mohammed",
    "Ali", "Ravi", "Owen", "Rhys", "Callum", "Liam", "Ethan", "Ben", "Adam", "David", "Mark",
    "Paul", "Tom",
];

#[rustfmt::skip]
const LAST_NAMES: [&str; 64] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett", "Young",
    "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw", "Bell",
    "Collins", "Morgan", "Kelly", "Begum", "Murphy", "Campbell", "Ahmed", "Chen",
];

const EMAIL_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// ((timezone, offset from UTC in seconds, ignoring summer time), weight).
const TIMEZONES: [((&str, i64), u32); 6] = [
    (("Europe/London", 0), 86),
    (("Europe/Dublin", 0), 4),
    (("Europe/Paris", HOUR), 4),
    (("Europe/Berlin", HOUR), 2),
    (("America/New_York", -5 * HOUR), 3),
    (("Australia/Sydney", 10 * HOUR), 1),
];

/// Weights of the local hours 07:00 … 23:00 at which customers act.
const LOCAL_HOUR_WEIGHTS: [u32; 17] = [2, 4, 7, 9, 9, 8, 8, 8, 7, 7, 6, 6, 6, 7, 6, 4, 1];
const LOCAL_HOUR_TOTAL: u32 = {
    let mut total = 0;
    let mut i = 0;
    while i < LOCAL_HOUR_WEIGHTS.len() {
        total += LOCAL_HOUR_WEIGHTS[i];
        i += 1;
    }
    total
};

const STAFF: [&str; 5] = ["Priya", "Tom", "Aisha", "Ben", "Chloe"];

/// (room, capacity, rate in pence).
const ROOMS: [(&str, u32, i64); 4] = [
    ("Boardroom", 12, 24_000),
    ("Garden Room", 40, 52_000),
    ("Studio", 20, 32_000),
    ("Library", 8, 18_000),
];
const BOOKING_SLOTS: [i64; 4] = [9, 10, 13, 14];

const VENUE_SUBJECTS: [&str; 6] = [
    "Room availability",
    "Meeting room hire",
    "Catering options",
    "Quote for a team away day",
    "Accessibility question",
    "Workshop booking",
];
const SHOP_SUBJECTS: [&str; 6] = [
    "Where is my order?",
    "Question about sizing",
    "Return request",
    "Change of delivery address",
    "Discount code not working",
    "Product question",
];
const DESK_SUBJECTS: [&str; 3] = ["Opening hours", "Appointment question", "Collection"];
const FOLLOW_UP_SUBJECTS: [&str; 4] = [
    "Is my booking confirmed?",
    "Following up on my booking",
    "Any update on my booking?",
    "Still waiting to hear back",
];
const VISIT_REASONS: [&str; 5] = ["collection", "returns", "appointment", "enquiry", "payment"];

// ---------------------------------------------------------------------------
// Generation.

#[derive(Default)]
struct Counters {
    event: u64,
    booking: u64,
    order: u64,
    thread: u64,
    visit: u64,
}

struct Raw {
    at: i64,
    kind: &'static str,
    channel: Option<&'static str>,
    reference: Option<String>,
    props: Map<String, Value>,
    /// A form submission: carries the customer's name and email.
    form: bool,
}

struct Customer<'a> {
    rng: ChaCha8Rng,
    window: &'a Window,
    counters: &'a mut Counters,
    /// Local offset from UTC, in seconds.
    offset: i64,
    platform: &'static str,
    out: Vec<Raw>,
}

struct Profile {
    id: String,
    name: String,
    email: String,
    phone: Option<String>,
    timezone: &'static str,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for &(item, weight) in items {
        if x < weight {
            return item;
        }
        x -= weight;
    }
    items[items.len() - 1].0
}

/// Exponentially distributed with the given mean.
fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.r#gen();
    -(1.0 - u).ln() * mean
}

fn money(cents: i64) -> Value {
    Value::from(cents as f64 / 100.0)
}

fn profile(index: usize, rng: &mut ChaCha8Rng) -> (Profile, i64) {
    let first = pick(rng, &FIRST_NAMES);
    let last = pick(rng, &LAST_NAMES);
    let (timezone, offset) = pick_weighted(rng, &TIMEZONES);
    let number = index.saturating_add(1);
    let domain = pick(rng, &EMAIL_DOMAINS);
    let (f, l) = (first.to_ascii_lowercase(), last.to_ascii_lowercase());
    // Every pattern ends in the customer number, so emails are unique.
    let email = match rng.gen_range(0..4) {
        0 => format!("{f}.{l}{number}@{domain}"),
        1 => format!("{f}{l}{number}@{domain}"),
        2 => format!("{}.{l}{number}@{domain}", &f[..1]),
        _ => format!("{f}_{l}{number}@{domain}"),
    };
    let phone = if rng.gen_bool(0.6) {
        Some(if offset == -5 * HOUR {
            format!("+1 555 01{:02}", rng.gen_range(0..100))
        } else {
            format!("+44 7700 900{:03}", rng.gen_range(0..1000))
        })
    } else {
        None
    };
    let p = Profile {
        id: format!("cus_{number:06}"),
        name: format!("{first} {last}"),
        email,
        phone,
        timezone,
    };
    (p, offset)
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Venue,
    Shop,
    Desk,
}

impl Customer<'_> {
    /// Generates customer `index` and appends its events to `block`; returns
    /// the emptied scratch buffer for reuse.
    fn generate(mut self, index: usize, id_prefix: &str, block: &mut Vec<DemoEvent>) -> Vec<Raw> {
        let rng = &mut self.rng;
        let (profile, offset) = profile(index, rng);
        let u: f64 = rng.r#gen();
        let primary = if u < 0.27 {
            Part::Venue
        } else if u < 0.77 {
            Part::Shop
        } else {
            Part::Desk
        };
        let mut parts = [Some(primary), None];
        if rng.gen_bool(0.09) {
            let others: Vec<Part> = [Part::Venue, Part::Shop, Part::Desk]
                .into_iter()
                .filter(|p| *p != primary)
                .collect();
            parts[1] = Some(pick(rng, &others));
        }
        let shop = parts.contains(&Some(Part::Shop));
        let app_user = rng.gen_bool(if shop { 0.35 } else { 0.1 });
        self.platform = if rng.gen_bool(0.55) { "ios" } else { "android" };
        self.offset = offset;
        let window = self.window;

        let days = (window.last_day - window.first_day) / DAY;
        // A third are existing customers, seen from the start of the window; the
        // others are new customers arriving at a steady pace.
        let offset_days = if rng.gen_bool(0.35) {
            rng.gen_range(0..=days.min(21))
        } else {
            rng.gen_range(0..=days)
        };
        let born_day = window.first_day + offset_days * DAY;

        // The primary part starts on the day the customer first appears (always
        // inside the window); a second part starts some time later, if at all.
        let born = self.local_time_on(born_day);
        for (i, part) in parts.into_iter().flatten().enumerate() {
            let first = if i == 0 {
                born
            } else {
                let spare = (window.end - born).max(1);
                born + self.rng.gen_range(0..spare) * 6 / 10
            };
            match part {
                Part::Venue => self.venue(first),
                Part::Shop => self.shop(first, app_user),
                Part::Desk => self.desk(first),
            }
        }
        if app_user {
            self.app(born);
        }

        let Customer {
            mut out, counters, ..
        } = self;
        out.retain(|r| r.at >= window.start && r.at <= window.end);
        // Stable: events at the same second keep their causal order.
        out.sort_by_key(|r| r.at);
        let mut first = true;
        for raw in out.drain(..) {
            let Ok(at) = Timestamp::from_second(raw.at) else {
                continue;
            };
            let mut id = String::with_capacity(id_prefix.len() + 8);
            id.push_str(id_prefix);
            let _ = write!(id, "{:08x}", counters.event);
            counters.event += 1;
            block.push(DemoEvent {
                id,
                kind: raw.kind.to_string(),
                customer: profile.id.clone(),
                customer_email: (first || raw.form).then(|| profile.email.clone()),
                customer_name: (first || raw.form).then(|| profile.name.clone()),
                customer_phone: if first { profile.phone.clone() } else { None },
                customer_timezone: first.then(|| profile.timezone.to_string()),
                at,
                channel: raw.channel.map(str::to_string),
                reference: raw.reference,
                properties: raw.props,
            });
            first = false;
        }
        out
    }
}

impl Customer<'_> {
    fn emit(
        &mut self,
        at: i64,
        kind: &'static str,
        channel: Option<&'static str>,
        reference: Option<&str>,
        props: Map<String, Value>,
    ) {
        self.push(at, kind, channel, reference, props, false);
    }

    fn push(
        &mut self,
        at: i64,
        kind: &'static str,
        channel: Option<&'static str>,
        reference: Option<&str>,
        props: Map<String, Value>,
        form: bool,
    ) {
        // Anything after `end` has not happened yet; since every follow-on
        // event is later than its cause, dropping it keeps histories coherent.
        if at > self.window.end {
            return;
        }
        self.out.push(Raw {
            at,
            kind,
            channel,
            reference: reference.map(str::to_string),
            props,
            form,
        });
    }

    fn after_end(&self, t: i64) -> bool {
        t > self.window.end
    }

    // --- customer-side timing -------------------------------------------

    /// A moment during the customer's waking hours on the local day that
    /// contains `day` (a UTC day start).
    fn local_time_on(&mut self, day: i64) -> i64 {
        let local_midnight = day - self.offset;
        let mut x = self.rng.gen_range(0..LOCAL_HOUR_TOTAL);
        let mut hour = 7;
        for (h, w) in LOCAL_HOUR_WEIGHTS.iter().enumerate() {
            if x < *w {
                hour = 7 + h as i64;
                break;
            }
            x -= w;
        }
        local_midnight + hour * HOUR + self.rng.gen_range(0..HOUR)
    }

    /// A waking-hours moment roughly `min_days..max_days` days after `after`,
    /// always strictly later than `after`.
    fn days_later(&mut self, after: i64, min_days: f64, max_days: f64) -> i64 {
        let delay = (self.rng.gen_range(min_days..max_days) * DAY as f64) as i64;
        let day = day_start(after + delay + self.offset);
        let t = self.local_time_on(day);
        t + i64::from(t <= after) * DAY
    }

    /// `after` plus a delay in `min..max` seconds, moved to the next morning
    /// if it falls in the customer's night.
    fn soon_after(&mut self, after: i64, min: i64, max: i64) -> i64 {
        let t = after + self.rng.gen_range(min.max(1)..max.max(2));
        let local = t + self.offset;
        let hour = local.rem_euclid(DAY) / HOUR;
        if hour < 7 {
            day_start(local) - self.offset + 7 * HOUR + self.rng.gen_range(0..90 * MINUTE)
        } else {
            t
        }
    }

    // --- staff-side timing ----------------------------------------------

    /// When staff answer a message received at `after`, if ever.
    fn staff_reply(&mut self, after: i64, chat: bool) -> Option<i64> {
        let u: f64 = self.rng.r#gen();
        if u < 0.07 {
            None
        } else if u < 0.17 {
            // Late: more than a business day.
            Some(add_business(
                after,
                self.rng.gen_range(BUSINESS_DAY + HOUR..3 * BUSINESS_DAY),
            ))
        } else if u < 0.20 {
            // Someone answers out of hours.
            Some(after + self.rng.gen_range(10 * MINUTE..3 * HOUR))
        } else if chat {
            Some(add_business(after, self.rng.gen_range(30..8 * MINUTE)))
        } else if self.rng.gen_bool(0.7) {
            Some(add_business(
                after,
                self.rng.gen_range(5 * MINUTE..2 * HOUR),
            ))
        } else {
            Some(add_business(
                after,
                self.rng.gen_range(2 * HOUR..BUSINESS_DAY),
            ))
        }
    }

    fn agent(&mut self) -> Map<String, Value> {
        let mut props = Map::new();
        props.insert("agent".into(), pick(&mut self.rng, &STAFF).into());
        props
    }

    fn next_ref(&mut self, prefix: &str, kind: fn(&mut Counters) -> &mut u64) -> String {
        let counter = kind(self.counters);
        *counter += 1;
        format!("{prefix}{}", 10_000 + *counter)
    }

    // --- message threads ------------------------------------------------

    /// A conversation started by the customer at `t0`, with up to `exchanges`
    /// back-and-forths.
    fn thread(&mut self, t0: i64, channel: &'static str, subject: &'static str, exchanges: u32) {
        if self.after_end(t0) {
            return;
        }
        let r = self.next_ref("TH-", |c| &mut c.thread);
        let chat = channel == "chat";
        let mut props = Map::new();
        props.insert("subject".into(), subject.into());
        self.emit(t0, "message.received", Some(channel), Some(&r), props);
        let mut t = t0;
        for k in 0..exchanges {
            match self.staff_reply(t, chat) {
                Some(reply) => {
                    let props = self.agent();
                    self.emit(reply, "message.sent", Some(channel), Some(&r), props);
                    if k + 1 == exchanges || self.after_end(reply) {
                        break;
                    }
                    t = if chat {
                        reply + self.rng.gen_range(20..10 * MINUTE)
                    } else {
                        self.soon_after(reply, 15 * MINUTE, 36 * HOUR)
                    };
                    self.emit(t, "message.received", Some(channel), Some(&r), Map::new());
                }
                None => {
                    // Unanswered: some customers nudge once, some of those
                    // nudges are eventually answered.
                    if self.rng.gen_bool(0.5) {
                        let nudge = self.days_later(t, 1.5, 4.0);
                        self.emit(
                            nudge,
                            "message.received",
                            Some(channel),
                            Some(&r),
                            Map::new(),
                        );
                        if self.rng.gen_bool(0.4) {
                            let reply =
                                add_business(nudge, self.rng.gen_range(10 * MINUTE..BUSINESS_DAY));
                            let props = self.agent();
                            self.emit(reply, "message.sent", Some(channel), Some(&r), props);
                        }
                    }
                    break;
                }
            }
        }
    }

    // --- the venue ----------------------------------------------------------

    fn venue(&mut self, first: i64) {
        let mut t = first;
        if self.rng.gen_bool(0.7) {
            let subject = pick(&mut self.rng, &VENUE_SUBJECTS);
            let exchanges = self.rng.gen_range(1..=3);
            self.thread(t, "email", subject, exchanges);
            t = self.days_later(t, 0.5, 8.0);
        }
        // Regular clients book again and again; some book once.
        let bookings = 1 + (exponential(&mut self.rng, 3.5) as u32).min(16);
        let gap = self.rng.gen_range(7.0..35.0);
        for _ in 0..bookings {
            if self.after_end(t) {
                break;
            }
            let confirmed = self.booking(t);
            if !confirmed && self.rng.gen_bool(0.75) {
                break; // left unconfirmed: the customer goes elsewhere
            }
            if self.rng.gen_bool(0.25) {
                let question = self.days_later(t, 1.0, 10.0);
                let subject = pick(&mut self.rng, &VENUE_SUBJECTS);
                self.thread(question, "email", subject, 2);
            }
            t = self.days_later(t, gap * 0.4, gap * 1.6);
        }
    }

    /// One booking created at `tc`; returns whether it was confirmed.
    fn booking(&mut self, tc: i64) -> bool {
        let r = self.next_ref("BK-", |c| &mut c.booking);
        let mut day = day_start(tc) + self.rng.gen_range(3..=40) * DAY;
        while weekday(day) >= 5 {
            day += DAY;
        }
        let starts = day + pick(&mut self.rng, &BOOKING_SLOTS) * HOUR;
        let (room, capacity, rate) = pick(&mut self.rng, &ROOMS);
        let attendees = self.rng.gen_range(2..=capacity);
        let catering = if self.rng.gen_bool(0.4) {
            i64::from(attendees) * 850
        } else {
            0
        };
        let channel = pick_weighted(
            &mut self.rng,
            &[(Some("web"), 65), (Some("email"), 25), (Some("phone"), 10)],
        );
        let mut props = Map::new();
        props.insert("starts_at".into(), rfc3339(starts).into());
        props.insert("room".into(), room.into());
        props.insert("attendees".into(), attendees.into());
        props.insert("amount".into(), money(rate + catering));
        props.insert("currency".into(), "GBP".into());
        self.push(tc, "booking.created", channel, Some(&r), props, true);

        let u: f64 = self.rng.r#gen();
        let confirm_at = if u < 0.76 {
            Some(add_business(
                tc,
                self.rng.gen_range(2 * MINUTE..55 * MINUTE),
            ))
        } else if u < 0.90 {
            Some(add_business(
                tc,
                self.rng.gen_range(90 * MINUTE..3 * BUSINESS_DAY),
            ))
        } else {
            None
        };
        let cancel_at = if self.rng.gen_bool(0.08) {
            let t = self.soon_after(tc, HOUR, (starts - tc - 3 * HOUR).max(2 * HOUR));
            Some(t.min(starts - HOUR))
        } else {
            None
        };
        let confirm_at = confirm_at.filter(|c| cancel_at.is_none_or(|x| *c < x));
        if let Some(c) = confirm_at {
            // A confirmation repeats what it confirms: the reminder is scheduled from its `starts_at`.
            let mut props = Map::new();
            props.insert("starts_at".into(), rfc3339(starts).into());
            props.insert("room".into(), room.into());
            self.emit(c, "booking.confirmed", Some("email"), Some(&r), props);
        }
        if let Some(x) = cancel_at {
            let mut props = Map::new();
            let by = if self.rng.gen_bool(0.85) {
                "customer"
            } else {
                "venue"
            };
            props.insert("cancelled_by".into(), by.into());
            self.emit(x, "booking.cancelled", Some("email"), Some(&r), props);
        }

        match confirm_at {
            Some(confirmed) => {
                let due = starts - DAY;
                let u: f64 = self.rng.r#gen();
                let reminder = if u < 0.86 {
                    Some(due + self.rng.gen_range(0..HOUR - MINUTE))
                } else if u < 0.89 {
                    Some(due + self.rng.gen_range(HOUR + MINUTE..6 * HOUR))
                } else {
                    None // forgotten
                };
                let reminder =
                    reminder.filter(|at| *at > confirmed && cancel_at.is_none_or(|x| *at < x));
                if let Some(at) = reminder {
                    let mut props = Map::new();
                    props.insert("template".into(), "booking-reminder".into());
                    self.emit(at, "message.sent", Some("email"), Some(&r), props);
                }
                if cancel_at.is_none() && self.rng.gen_bool(0.35) {
                    let sent = starts + self.rng.gen_range(3 * HOUR..26 * HOUR);
                    self.survey(sent, &r, "post-event");
                }
                true
            }
            None => {
                if cancel_at.is_none() && self.rng.gen_bool(0.6) {
                    // The story: they ask again and again and hear nothing.
                    let follow_ups = self.rng.gen_range(2..=5);
                    let mut t = tc;
                    for _ in 0..follow_ups {
                        t = self.days_later(t, 1.0, 4.0);
                        if t > starts + DAY {
                            break;
                        }
                        let mut props = Map::new();
                        let subject = pick(&mut self.rng, &FOLLOW_UP_SUBJECTS);
                        props.insert("subject".into(), subject.into());
                        self.emit(t, "message.received", Some("email"), Some(&r), props);
                    }
                }
                false
            }
        }
    }

    fn survey(&mut self, sent: i64, reference: &str, survey: &'static str) {
        let mut props = Map::new();
        props.insert("survey".into(), survey.into());
        self.emit(sent, "survey.sent", Some("email"), Some(reference), props);
        if self.rng.gen_bool(0.45) {
            let answered = self.soon_after(sent, 10 * MINUTE, 2 * DAY);
            let score = pick_weighted(&mut self.rng, &[(5, 45), (4, 30), (3, 12), (2, 7), (1, 6)]);
            let mut props = Map::new();
            props.insert("survey".into(), survey.into());
            props.insert("score".into(), Value::from(score));
            self.emit(
                answered,
                "survey.answered",
                Some("email"),
                Some(reference),
                props,
            );
        }
    }

    // --- the shop -----------------------------------------------------------

    fn shop(&mut self, first: i64, app_user: bool) {
        // Buy till you die: many buy once; the others buy at their own rate
        // until they silently drop out.
        let mut orders = vec![first];
        if self.rng.gen_bool(0.5) {
            let u: f64 = self.rng.r#gen();
            let per_month = 0.8 + 6.0 * u * u;
            let alive_until = first + (exponential(&mut self.rng, 150.0) * DAY as f64) as i64;
            let mut t = first;
            loop {
                let gap = exponential(&mut self.rng, 30.0 / per_month).max(0.5);
                t = self.days_later(t, gap, gap + 1.0);
                if t > alive_until || self.after_end(t) {
                    break;
                }
                orders.push(t);
            }
        }
        for &tp in &orders {
            let channel = if app_user && self.rng.gen_bool(0.6) {
                let lead = self.rng.gen_range(MINUTE..20 * MINUTE);
                self.app_session(tp - lead);
                "app"
            } else {
                "web"
            };
            self.order(tp, channel);
        }
        if self.rng.gen_bool(0.35) {
            let last = orders.last().copied().unwrap_or(first);
            let questions = self.rng.gen_range(1..=2);
            for _ in 0..questions {
                let t = self.days_later(first, 0.0, ((last - first) / DAY + 20) as f64);
                let channel = if self.rng.gen_bool(0.6) {
                    "email"
                } else {
                    "chat"
                };
                let subject = pick(&mut self.rng, &SHOP_SUBJECTS);
                let exchanges = self.rng.gen_range(1..=3);
                self.thread(t, channel, subject, exchanges);
            }
        }
    }

    fn order(&mut self, tp: i64, channel: &'static str) {
        let r = self.next_ref("ORD-", |c| &mut c.order);
        let ln_lo = 1_250f64.ln();
        let ln_hi = 24_000f64.ln();
        let raw = self.rng.gen_range(ln_lo..ln_hi).exp() as i64;
        let cents = match self.rng.gen_range(0..4) {
            0 => raw / 100 * 100 + 99,
            1 => raw / 50 * 50,
            2 => raw / 100 * 100 + 95,
            _ => raw,
        }
        .clamp(1_250, 24_000);
        let items = pick_weighted(&mut self.rng, &[(1, 40), (2, 28), (3, 15), (4, 10), (5, 7)]);
        let mut props = Map::new();
        props.insert("amount".into(), money(cents));
        props.insert("currency".into(), "GBP".into());
        props.insert("items".into(), Value::from(items));
        let mut purchase = Map::new();
        purchase.insert("amount".into(), money(cents));
        purchase.insert("currency".into(), "GBP".into());
        self.push(tp, "order.placed", Some(channel), Some(&r), props, true);
        self.emit(tp, "purchase", Some(channel), Some(&r), purchase);

        let u: f64 = self.rng.r#gen();
        let confirmed = if u < 0.91 {
            Some(tp + self.rng.gen_range(20..8 * MINUTE))
        } else if u < 0.97 {
            Some(add_business(
                tp,
                self.rng.gen_range(2 * HOUR..2 * BUSINESS_DAY),
            ))
        } else {
            None
        };
        let cancelled = self
            .rng
            .gen_bool(0.05)
            .then(|| self.soon_after(tp, 10 * MINUTE, 20 * HOUR));
        if let Some(c) = confirmed.filter(|c| cancelled.is_none_or(|x| *c < x)) {
            self.emit(c, "order.confirmed", Some("email"), Some(&r), Map::new());
        }
        if let Some(x) = cancelled {
            self.emit(x, "order.cancelled", Some(channel), Some(&r), Map::new());
            return;
        }
        let base = confirmed.unwrap_or(tp);
        let u: f64 = self.rng.r#gen();
        let dispatched = if u < 0.86 {
            add_business(
                base,
                self.rng.gen_range(30 * MINUTE..BUSINESS_DAY + 4 * HOUR),
            )
        } else if u < 0.975 {
            add_business(
                base,
                self.rng
                    .gen_range(2 * BUSINESS_DAY + HOUR..6 * BUSINESS_DAY),
            )
        } else {
            return; // never dispatched
        };
        let mut props = Map::new();
        let carrier = pick(&mut self.rng, &["Royal Mail", "DPD", "Evri"]);
        props.insert("carrier".into(), carrier.into());
        self.emit(dispatched, "order.dispatched", None, Some(&r), props);
        if self.rng.gen_bool(0.98) {
            let day = day_start(dispatched) + self.rng.gen_range(1..=3) * DAY;
            let delivered = day + 8 * HOUR + self.rng.gen_range(0..11 * HOUR);
            self.emit(delivered, "order.delivered", None, Some(&r), Map::new());
        }
    }

    // --- the front desk -------------------------------------------------

    /// A moment when the desk is open, on the day of `t` or the next open day.
    fn desk_time(&mut self, t: i64) -> i64 {
        let mut day = day_start(t);
        if t - day >= DESK_CLOSE - 20 * MINUTE {
            day += DAY;
        }
        if weekday(day) == 6 {
            day += DAY;
        }
        let earliest = (t - day).clamp(DESK_OPEN, DESK_CLOSE - 20 * MINUTE);
        day + self.rng.gen_range(earliest..DESK_CLOSE - 15 * MINUTE)
    }

    fn desk(&mut self, first: i64) {
        let visits = 1 + (exponential(&mut self.rng, 6.0) as u32).min(24);
        let gap = self.rng.gen_range(4.0..28.0);
        let mut t = self.desk_time(day_start(first));
        if self.rng.gen_bool(0.15) {
            let subject = pick(&mut self.rng, &DESK_SUBJECTS);
            let call = self.soon_after(first, HOUR, 3 * DAY);
            self.thread(call, "phone", subject, 1);
        }
        for _ in 0..visits {
            if self.after_end(t) {
                break;
            }
            self.visit(t);
            let next = t + (self.rng.gen_range(gap * 0.3..gap * 1.7) * DAY as f64) as i64;
            t = self.desk_time(next);
        }
    }

    fn visit(&mut self, arrived: i64) {
        let r = self.next_ref("VIS-", |c| &mut c.visit);
        let mut props = Map::new();
        props.insert("reason".into(), pick(&mut self.rng, &VISIT_REASONS).into());
        self.emit(arrived, "visit.arrived", Some("in_person"), Some(&r), props);
        let queued = arrived + self.rng.gen_range(5..90);
        self.emit(
            queued,
            "visit.queued",
            Some("in_person"),
            Some(&r),
            Map::new(),
        );
        let u: f64 = self.rng.r#gen();
        if u < 0.80 {
            let served = queued + self.rng.gen_range(2 * MINUTE..12 * MINUTE);
            let props = self.agent();
            self.emit(served, "visit.served", Some("in_person"), Some(&r), props);
        } else if u < 0.94 {
            let served = queued + self.rng.gen_range(15 * MINUTE..45 * MINUTE);
            let props = self.agent();
            self.emit(served, "visit.served", Some("in_person"), Some(&r), props);
        } else {
            let left = queued + self.rng.gen_range(8 * MINUTE..40 * MINUTE);
            self.emit(left, "visit.left", Some("in_person"), Some(&r), Map::new());
        }
        if self.rng.gen_bool(0.08) {
            let sent = self.soon_after(arrived, 2 * HOUR, DAY);
            self.survey(sent, &r, "visit");
        }
    }

    // --- the app ------------------------------------------------------------

    fn app_session(&mut self, at: i64) {
        let mut props = Map::new();
        props.insert(
            "duration_s".into(),
            Value::from(self.rng.gen_range(20..1_500)),
        );
        props.insert("platform".into(), self.platform.into());
        self.emit(at, "app.session", Some("app"), None, props);
    }

    fn app(&mut self, born: i64) {
        let per_month = self.rng.gen_range(1.0..12.0);
        let until = born + (exponential(&mut self.rng, 150.0) * DAY as f64) as i64;
        let mut t = self.soon_after(born, HOUR, 3 * DAY);
        while t <= until && !self.after_end(t) {
            self.app_session(t);
            let gap = exponential(&mut self.rng, 30.0 / per_month).max(0.05);
            t = self.soon_after(
                t,
                (gap * DAY as f64) as i64,
                (gap * DAY as f64) as i64 + 4 * HOUR,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

    fn end() -> Timestamp {
        "2025-06-30T18:00:00Z".parse().unwrap()
    }

    fn collect(opts: &DemoOptions) -> Vec<Vec<DemoEvent>> {
        let mut chunks = Vec::new();
        generate(opts, |chunk| -> Result<(), ()> {
            chunks.push(chunk);
            Ok(())
        })
        .unwrap();
        chunks
    }

    fn jsonl(opts: &DemoOptions) -> Vec<u8> {
        let mut buf = Vec::new();
        write_jsonl(opts, &mut buf).unwrap();
        buf
    }

    fn prop<'a>(e: &'a DemoEvent, key: &str) -> Option<&'a Value> {
        e.properties.get(key)
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let opts = DemoOptions::new(7, 300, end());
        let a = jsonl(&opts);
        let b = jsonl(&opts);
        assert!(!a.is_empty());
        assert_eq!(a, b);
        let c = jsonl(&DemoOptions {
            seed: 8,
            ..opts.clone()
        });
        assert_ne!(a, c);
        let d = jsonl(&DemoOptions {
            end: "2025-07-01T18:00:00Z".parse().unwrap(),
            ..opts
        });
        assert_ne!(a, d);
    }

    #[test]
    fn write_jsonl_counts_and_lines_parse() {
        let opts = DemoOptions::new(3, 150, end());
        let mut buf = Vec::new();
        let n = write_jsonl(&opts, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count() as u64, n);
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let at = first["at"].as_str().unwrap();
        assert!(at.ends_with('Z'), "{at}");
        assert!(at.parse::<Timestamp>().is_ok());
        assert!(first["type"].is_string());
        assert!(first.get("kind").is_none());
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v["id"].as_str().unwrap().starts_with("demo-3-"));
            if let Some(p) = v.get("properties") {
                assert!(!p.as_object().unwrap().is_empty());
            }
        }
    }

    #[test]
    fn chunking_and_empty_cases() {
        let opts = DemoOptions::new(1, CHUNK_CUSTOMERS * 2 + 10, end());
        let mut sizes = Vec::new();
        let mut customers_per_chunk = Vec::new();
        generate(&opts, |chunk| -> Result<(), ()> {
            sizes.push(chunk.len());
            customers_per_chunk.push(
                chunk
                    .iter()
                    .map(|e| e.customer.clone())
                    .collect::<BTreeSet<_>>(),
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes.len(), 3);
        assert_eq!(customers_per_chunk[0].len(), CHUNK_CUSTOMERS);
        assert_eq!(customers_per_chunk[2].len(), 10);
        assert!(customers_per_chunk[0].is_disjoint(&customers_per_chunk[1]));

        // A sink error stops generation and is returned.
        let mut calls = 0;
        let r = generate(&opts, |_| {
            calls += 1;
            Err("stop")
        });
        assert_eq!(r, Err("stop"));
        assert_eq!(calls, 1);

        assert!(collect(&DemoOptions::new(1, 0, end())).is_empty());
        let none = DemoOptions {
            months: 0,
            ..DemoOptions::new(1, 10, end())
        };
        assert!(collect(&none).is_empty());
        // Extreme inputs do not panic.
        let wide = DemoOptions {
            months: u32::MAX,
            ..DemoOptions::new(1, 20, end())
        };
        assert!(!collect(&wide).is_empty());
        let early = DemoOptions {
            months: 1,
            ..DemoOptions::new(1, 20, Timestamp::MIN)
        };
        let _ = collect(&early);
        let late = DemoOptions::new(1, 20, Timestamp::MAX);
        // Sub-second ends, also before 1970, are respected.
        for end in ["1969-12-31T23:59:58.5Z", "2025-06-30T18:00:00.25Z"] {
            let end: Timestamp = end.parse().unwrap();
            let opts = DemoOptions::new(5, 50, end);
            let start = window_start(end, opts.months);
            let events = collect(&opts);
            assert!(!events.is_empty());
            assert!(events
                .iter()
                .flatten()
                .all(|e| e.at >= start && e.at <= end));
        }
        let late = collect(&late);
        assert!(late.iter().flatten().all(|e| e.at <= Timestamp::MAX));
    }

    #[test]
    fn a_customer_does_not_depend_on_the_total() {
        let small = collect(&DemoOptions::new(11, 40, end()));
        let large = collect(&DemoOptions::new(11, 400, end()));
        let first = |chunks: &[Vec<DemoEvent>]| -> Vec<DemoEvent> {
            chunks
                .iter()
                .flatten()
                .filter(|e| e.customer == "cus_000001")
                .cloned()
                .collect()
        };
        assert_eq!(first(&small), first(&large));
    }

    #[test]
    fn invariants_and_mix_for_2000_customers() {
        let customers = 2_000;
        let opts = DemoOptions::new(42, customers, end());
        let chunks = collect(&opts);
        let start = window_start(opts.end, opts.months);
        let all: Vec<&DemoEvent> = chunks.iter().flatten().collect();

        // Range, ids, chunk order.
        let mut ids = HashSet::new();
        for chunk in &chunks {
            for pair in chunk.windows(2) {
                assert!(
                    (pair[0].at, &pair[0].id) < (pair[1].at, &pair[1].id),
                    "chunk not sorted"
                );
            }
        }
        for e in &all {
            assert!(e.at >= start && e.at <= opts.end, "{} out of range", e.at);
            assert!(ids.insert(e.id.as_str()), "duplicate id {}", e.id);
            assert_eq!(e.at.subsec_nanosecond(), 0);
        }

        // First event of every customer carries the profile.
        let mut seen: HashMap<&str, &DemoEvent> = HashMap::new();
        for e in &all {
            seen.entry(e.customer.as_str()).or_insert(e);
        }
        assert_eq!(seen.len(), customers);
        let mut emails = HashSet::new();
        for e in seen.values() {
            assert!(e.customer_name.is_some(), "{e:?}");
            let email = e.customer_email.as_deref().unwrap();
            assert!(email.contains("@example."), "{email}");
            assert!(emails.insert(email.to_string()), "duplicate email {email}");
            assert!(e.customer_timezone.is_some());
        }

        // Causality (all events in time order; a customer lives in one chunk).
        let mut bookings: HashMap<&str, (&str, Timestamp, Timestamp)> = HashMap::new();
        let mut confirmed: HashSet<&str> = HashSet::new();
        let mut placed: HashMap<&str, (&str, Timestamp)> = HashMap::new();
        let mut dispatched: HashMap<&str, Timestamp> = HashMap::new();
        let mut queued: HashMap<&str, Timestamp> = HashMap::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut follow_ups: HashMap<&str, usize> = HashMap::new();
        let mut reminders = 0;
        for chunk in &chunks {
            for e in chunk {
                *counts.entry(e.kind.as_str()).or_default() += 1;
                let r = e.reference.as_deref();
                match e.kind.as_str() {
                    "booking.created" => {
                        let starts: Timestamp = prop(e, "starts_at")
                            .and_then(Value::as_str)
                            .unwrap()
                            .parse()
                            .unwrap();
                        let days = (starts.as_second() - e.at.as_second()) / DAY;
                        assert!((2..=42).contains(&days), "{days}");
                        assert!(weekday(starts.as_second()) < 5);
                        assert_eq!(prop(e, "currency").unwrap(), "GBP");
                        assert!(r.unwrap().starts_with("BK-"));
                        bookings.insert(r.unwrap(), (e.customer.as_str(), e.at, starts));
                    }
                    "booking.confirmed" | "booking.cancelled" => {
                        let (cust, created, _) = bookings[r.unwrap()];
                        assert_eq!(cust, e.customer);
                        assert!(e.at > created);
                        if e.kind == "booking.confirmed" {
                            assert!(confirmed.insert(r.unwrap()));
                        }
                    }
                    "message.sent" if prop(e, "template").is_some() => {
                        reminders += 1;
                        let (cust, _, starts) = bookings[r.unwrap()];
                        assert_eq!(cust, e.customer);
                        assert!(confirmed.contains(r.unwrap()));
                        assert!(e.at >= starts - jiff::SignedDuration::from_hours(24));
                        assert!(e.at < starts);
                    }
                    "message.received" | "message.sent" => {
                        let r = r.unwrap();
                        assert!(r.starts_with("TH-") || r.starts_with("BK-"));
                        if e.kind == "message.received"
                            && r.starts_with("BK-")
                            && !confirmed.contains(r)
                        {
                            *follow_ups.entry(r).or_default() += 1;
                        }
                    }
                    "order.placed" => {
                        let amount = prop(e, "amount").and_then(Value::as_f64).unwrap();
                        assert!((12.5..=240.0).contains(&amount), "{amount}");
                        assert_eq!((amount * 100.0).round() / 100.0, amount);
                        placed.insert(r.unwrap(), (e.customer.as_str(), e.at));
                    }
                    "purchase" | "order.confirmed" | "order.cancelled" => {
                        let (cust, at) = placed[r.unwrap()];
                        assert_eq!(cust, e.customer);
                        assert!(e.at >= at);
                    }
                    "order.dispatched" => {
                        let (_, at) = placed[r.unwrap()];
                        assert!(e.at > at);
                        dispatched.insert(r.unwrap(), e.at);
                    }
                    "order.delivered" => assert!(e.at > dispatched[r.unwrap()]),
                    "visit.queued" => {
                        queued.insert(r.unwrap(), e.at);
                    }
                    "visit.served" | "visit.left" => assert!(e.at > queued[r.unwrap()]),
                    _ => {}
                }
            }
        }
        // Booking follow-ups only count while the booking is still unconfirmed.
        let stranded = follow_ups
            .iter()
            .filter(|(r, n)| **n >= 3 && !confirmed.contains(*r))
            .count();

        let per_customer: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, e| {
            *m.entry(e.customer.as_str()).or_default() += 1;
            m
        });
        let mut orders_per_customer: HashMap<&str, usize> = HashMap::new();
        for e in all.iter().filter(|e| e.kind == "order.placed") {
            *orders_per_customer.entry(e.customer.as_str()).or_default() += 1;
        }
        let once = orders_per_customer.values().filter(|n| **n == 1).count();
        let shoppers = orders_per_customer.len();
        let venue_customers = all
            .iter()
            .filter(|e| e.kind == "booking.created")
            .map(|e| e.customer.as_str())
            .collect::<HashSet<_>>()
            .len();
        let desk_customers = all
            .iter()
            .filter(|e| e.kind == "visit.arrived")
            .map(|e| e.customer.as_str())
            .collect::<HashSet<_>>()
            .len();
        let channels: BTreeSet<&str> = all.iter().filter_map(|e| e.channel.as_deref()).collect();

        let avg = all.len() as f64 / customers as f64;
        println!("events: {} ({avg:.1} per customer)", all.len());
        for (kind, n) in &counts {
            println!("  {kind:<18} {n:>6}");
        }
        println!(
            "bookings {} confirmed {} reminders {reminders}; stranded (>=3 unanswered follow-ups) {stranded}",
            bookings.len(),
            confirmed.len()
        );
        println!(
            "shop customers {shoppers} once {once}; venue customers {venue_customers}; desk customers {desk_customers}"
        );
        println!("channels {channels:?}");

        assert!((15.0..=40.0).contains(&avg), "{avg}");
        let ratio = confirmed.len() as f64 / bookings.len() as f64;
        assert!((0.7..0.97).contains(&ratio), "{ratio}");
        assert!(counts["booking.cancelled"] > 0);
        assert!(reminders > 0 && reminders < confirmed.len());
        assert!(stranded >= 5, "{stranded}");
        assert!(once * 2 > shoppers && once < shoppers, "{once}/{shoppers}");
        let share = |n: usize| n as f64 / customers as f64;
        assert!((0.2..0.4).contains(&share(venue_customers)));
        assert!((0.4..0.6).contains(&share(shoppers)));
        assert!((0.18..0.35).contains(&share(desk_customers)));
        assert_eq!(counts["purchase"], counts["order.placed"]);
        assert!(counts["order.confirmed"] < counts["order.placed"]);
        assert!(counts["order.dispatched"] < counts["order.placed"]);
        assert!(counts["visit.served"] < counts["visit.queued"]);
        assert!(counts["visit.left"] > 0);
        for kind in [
            "app.session",
            "message.received",
            "message.sent",
            "order.delivered",
            "order.cancelled",
            "survey.sent",
            "survey.answered",
        ] {
            assert!(counts.get(kind).copied().unwrap_or(0) > 0, "{kind}");
        }
        for channel in ["email", "phone", "chat", "web", "in_person", "app"] {
            assert!(channels.contains(channel), "{channel}");
        }
        let many = per_customer.values().filter(|n| **n >= 40).count();
        assert!(many > 0 && many < customers / 2);
    }

    #[test]
    fn business_hours_helpers() {
        // 2025-06-27 is a Friday.
        let fri: Timestamp = "2025-06-27T17:00:00Z".parse().unwrap();
        let t = add_business(fri.as_second(), HOUR);
        assert_eq!(rfc3339(t), "2025-06-30T09:30:00Z");
        let sat: Timestamp = "2025-06-28T12:00:00Z".parse().unwrap();
        assert_eq!(
            rfc3339(align_business(sat.as_second())),
            "2025-06-30T09:00:00Z"
        );
        assert_eq!(weekday(fri.as_second()), 4);
    }

    #[test]
    #[ignore]
    fn speed_200k_customers() {
        let opts = DemoOptions::new(1, 200_000, end());
        let started = std::time::Instant::now();
        let mut n = 0usize;
        generate(&opts, |chunk| -> Result<(), ()> {
            n += chunk.len();
            Ok(())
        })
        .unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "generate: {n} events for 200000 customers in {secs:.2}s = {:.0} events/s",
            n as f64 / secs
        );
        let started = std::time::Instant::now();
        let written = write_jsonl(&opts, &mut std::io::sink()).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "write_jsonl: {written} events in {secs:.2}s = {:.0} events/s",
            written as f64 / secs
        );
    }
}
