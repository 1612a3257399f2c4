//! The demo generator's tests: determinism, chunking, extreme inputs, and the invariants and mix of
//! a 2 000-customer business.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::time::{window_start, DAY};
use super::*;
use crate::domain::event::parse_event_json;

fn end() -> Timestamp {
    "2025-06-30T18:00:00Z".parse().unwrap()
}

fn collect(opts: &DemoOptions) -> Vec<Vec<Event>> {
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

/// An event's properties (empty when it has none).
fn props(e: &Event) -> Map<String, Value> {
    match e.properties_value() {
        Value::Object(map) => map,
        other => panic!("properties {other} are not an object"),
    }
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
    let first = |chunks: &[Vec<Event>]| -> Vec<Event> {
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
    let all: Vec<&Event> = chunks.iter().flatten().collect();
    range_ids_and_order(&opts, &chunks);
    first_events_carry_the_profile(&all, customers);
    // Causality (all events in time order; a customer lives in one chunk).
    let mut causality = Causality::default();
    for e in &all {
        causality.see(e);
    }
    the_mix_is_believable(&all, &causality, customers);
}

fn range_ids_and_order(opts: &DemoOptions, chunks: &[Vec<Event>]) {
    let start = window_start(opts.end, opts.months);
    let mut ids = HashSet::new();
    for chunk in chunks {
        for pair in chunk.windows(2) {
            assert!(
                (pair[0].at, &pair[0].id) < (pair[1].at, &pair[1].id),
                "chunk not sorted"
            );
        }
    }
    for e in chunks.iter().flatten() {
        assert!(e.at >= start && e.at <= opts.end, "{} out of range", e.at);
        assert!(ids.insert(e.id.as_str()), "duplicate id {}", e.id);
        assert_eq!(e.at.subsec_nanosecond(), 0);
    }
}

fn first_events_carry_the_profile(all: &[&Event], customers: usize) {
    let mut seen: HashMap<&str, &Event> = HashMap::new();
    for e in all {
        seen.entry(e.customer.as_str()).or_insert(e);
    }
    assert_eq!(seen.len(), customers);
    let mut emails = HashSet::new();
    for e in seen.values() {
        assert!(e.profile.name.is_some(), "{e:?}");
        let email = e.profile.email.as_deref().unwrap();
        assert!(email.contains("@example."), "{email}");
        assert!(emails.insert(email.to_string()), "duplicate email {email}");
        assert!(e.profile.timezone.is_some());
    }
}

/// What the causality checks have seen so far, by reference.
#[derive(Default)]
struct Causality<'a> {
    bookings: HashMap<&'a str, (&'a str, Timestamp, Timestamp)>,
    confirmed: HashSet<&'a str>,
    placed: HashMap<&'a str, (&'a str, Timestamp)>,
    dispatched: HashMap<&'a str, Timestamp>,
    queued: HashMap<&'a str, Timestamp>,
    counts: BTreeMap<&'a str, usize>,
    follow_ups: HashMap<&'a str, usize>,
    reminders: usize,
    /// Tickets: customer, when opened, whether waiting on the customer now.
    tickets: HashMap<&'a str, (&'a str, Timestamp, bool)>,
}

impl<'a> Causality<'a> {
    fn see(&mut self, e: &'a Event) {
        *self.counts.entry(e.kind.as_str()).or_default() += 1;
        let r = e.reference.as_deref();
        let p = props(e);
        match e.kind.as_str() {
            "booking.created" => self.booking_created(e, &p),
            "booking.confirmed" | "booking.cancelled" => {
                let (cust, created, _) = self.bookings[r.unwrap()];
                assert_eq!(cust, e.customer);
                assert!(e.at > created);
                if e.kind == "booking.confirmed" {
                    assert!(self.confirmed.insert(r.unwrap()));
                }
            }
            "booking.rescheduled" => {
                let r = r.unwrap();
                let (cust, created, old) = self.bookings[r];
                assert_eq!(cust, e.customer);
                assert!(self.confirmed.contains(r), "only confirmed bookings move");
                assert!(e.at > created && e.at < old);
                let starts: Timestamp = p["starts_at"].as_str().unwrap().parse().unwrap();
                assert!(starts > old);
                self.bookings.insert(r, (cust, created, starts));
            }
            "ticket.opened" => {
                let r = r.unwrap();
                assert!(r.starts_with("TK-"));
                assert!(["urgent", "high", "normal"].contains(&p["priority"].as_str().unwrap()));
                assert!(self
                    .tickets
                    .insert(r, (e.customer.as_str(), e.at, false))
                    .is_none());
            }
            "ticket.waiting_on_customer" | "ticket.resolved" => {
                let r = r.unwrap();
                let (cust, opened, _) = self.tickets[r];
                assert_eq!(cust, e.customer);
                assert!(e.at > opened);
                let waiting = e.kind == "ticket.waiting_on_customer";
                self.tickets.insert(r, (cust, opened, waiting));
            }
            "message.sent" if p.get("template").is_some() => {
                self.reminders += 1;
                let (cust, _, starts) = self.bookings[r.unwrap()];
                assert_eq!(cust, e.customer);
                assert!(self.confirmed.contains(r.unwrap()));
                assert!(e.at >= starts - jiff::SignedDuration::from_hours(24));
                assert!(e.at < starts);
            }
            "message.received" | "message.sent" => {
                let r = r.unwrap();
                // Conversations, bookings and tickets; staff also get back to a customer about an
                // order or a visit (after an unhappy answer, or a "Nobody got back to me").
                assert!(
                    ["TH-", "BK-", "TK-", "ORD-", "VIS-"]
                        .iter()
                        .any(|prefix| r.starts_with(prefix)),
                    "{r}"
                );
                if let Some((cust, opened, waiting)) = self.tickets.get(r).copied() {
                    assert_eq!(cust, e.customer);
                    assert!(e.at > opened);
                    // The customer's answer ends the wait.
                    if waiting && e.kind == "message.received" {
                        self.tickets.insert(r, (cust, opened, false));
                    }
                }
                if e.kind == "message.received"
                    && r.starts_with("BK-")
                    && !self.confirmed.contains(r)
                {
                    *self.follow_ups.entry(r).or_default() += 1;
                }
            }
            _ => self.shop_and_desk(e, &p),
        }
    }

    fn booking_created(&mut self, e: &'a Event, p: &Map<String, Value>) {
        let r = e.reference.as_deref();
        let starts: Timestamp = p
            .get("starts_at")
            .and_then(Value::as_str)
            .unwrap()
            .parse()
            .unwrap();
        let days = (starts.as_second() - e.at.as_second()) / DAY;
        assert!((2..=42).contains(&days), "{days}");
        let weekday = starts.to_zoned(TimeZone::UTC).weekday();
        assert!(weekday.to_monday_zero_offset() < 5, "{weekday:?}");
        assert_eq!(p.get("currency").unwrap(), "GBP");
        assert!(r.unwrap().starts_with("BK-"));
        self.bookings
            .insert(r.unwrap(), (e.customer.as_str(), e.at, starts));
    }

    fn shop_and_desk(&mut self, e: &'a Event, p: &Map<String, Value>) {
        let r = e.reference.as_deref();
        match e.kind.as_str() {
            "order.placed" => {
                let amount = p.get("amount").and_then(Value::as_f64).unwrap();
                assert!((12.5..=240.0).contains(&amount), "{amount}");
                assert_eq!((amount * 100.0).round() / 100.0, amount);
                self.placed.insert(r.unwrap(), (e.customer.as_str(), e.at));
            }
            "purchase" | "order.confirmed" | "order.cancelled" | "order.packed" => {
                let (cust, at) = self.placed[r.unwrap()];
                assert_eq!(cust, e.customer);
                assert!(e.at >= at);
            }
            "order.dispatched" => {
                let (_, at) = self.placed[r.unwrap()];
                assert!(e.at > at);
                self.dispatched.insert(r.unwrap(), e.at);
            }
            "order.delivered" => assert!(e.at > self.dispatched[r.unwrap()]),
            "visit.queued" => {
                self.queued.insert(r.unwrap(), e.at);
            }
            "visit.served" | "visit.left" => assert!(e.at > self.queued[r.unwrap()]),
            _ => {}
        }
    }

    /// Bookings with at least three follow-ups while still unconfirmed.
    fn stranded(&self) -> usize {
        self.follow_ups
            .iter()
            .filter(|(r, n)| **n >= 3 && !self.confirmed.contains(*r))
            .count()
    }
}

/// How many customers have an event of this kind.
fn customers_with(all: &[&Event], kind: &str) -> usize {
    all.iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.customer.as_str())
        .collect::<HashSet<_>>()
        .len()
}

fn the_mix_is_believable(all: &[&Event], causality: &Causality<'_>, customers: usize) {
    let Causality {
        bookings,
        confirmed,
        counts,
        reminders,
        ..
    } = causality;
    // Booking follow-ups only count while the booking is still unconfirmed.
    let stranded = causality.stranded();
    let mut orders_per_customer: HashMap<&str, usize> = HashMap::new();
    for e in all.iter().filter(|e| e.kind == "order.placed") {
        *orders_per_customer.entry(e.customer.as_str()).or_default() += 1;
    }
    let once = orders_per_customer.values().filter(|n| **n == 1).count();
    let shoppers = orders_per_customer.len();
    let venue_customers = customers_with(all, "booking.created");
    let desk_customers = customers_with(all, "visit.arrived");

    let avg = all.len() as f64 / customers as f64;
    println!("events: {} ({avg:.1} per customer)", all.len());
    for (kind, n) in counts {
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

    assert!((15.0..=40.0).contains(&avg), "{avg}");
    let ratio = confirmed.len() as f64 / bookings.len() as f64;
    assert!((0.7..0.97).contains(&ratio), "{ratio}");
    assert!(counts["booking.cancelled"] > 0);
    // Some bookings move; some tickets wait on the customer; a few tickets are never resolved.
    assert!(counts["booking.rescheduled"] > 5, "{counts:?}");
    assert!(counts["ticket.opened"] > 20, "{counts:?}");
    assert!(counts["ticket.waiting_on_customer"] > 10, "{counts:?}");
    assert!(
        counts["ticket.resolved"] < counts["ticket.opened"],
        "{counts:?}"
    );
    assert!(*reminders > 0 && *reminders < confirmed.len());
    assert!(stranded >= 5, "{stranded}");
    assert!(once * 2 > shoppers && once < shoppers, "{once}/{shoppers}");
    let share = |n: usize| n as f64 / customers as f64;
    assert!((0.2..0.4).contains(&share(venue_customers)));
    assert!((0.4..0.6).contains(&share(shoppers)));
    assert!((0.18..0.35).contains(&share(desk_customers)));
    every_kind_and_channel_occurs(all, counts, customers);
    surveys_are_answered_as_the_answer_pages_record(all);
}

/// Every answer belongs to a send of the same customer and comes after it; unhappy answers repeat their
/// answer; the default surveys are all asked and answered, kindly more often than not; a few customers
/// tap "Nobody got back to me", some with a comment.
fn surveys_are_answered_as_the_answer_pages_record(all: &[&Event]) {
    use crate::domain::survey::{Answer, SurveyKind, SurveyStats};
    let mut sends: HashMap<String, (&str, Timestamp, Map<String, Value>)> = HashMap::new();
    let mut by_survey: BTreeMap<String, SurveyStats> = BTreeMap::new();
    let mut last_sent: HashMap<&str, Timestamp> = HashMap::new();
    let (mut unhappy, mut taps, mut tap_comments) = (0, 0, 0);
    for e in all {
        let p = props(e);
        match e.kind.as_str() {
            "survey.sent" => {
                let send = p["send"].as_str().unwrap().to_string();
                assert!(send.starts_with("survey-demo-42-"), "{send}");
                assert_eq!(p["automated"], true);
                // At most one survey per customer in 30 days.
                if let Some(before) = last_sent.insert(e.customer.as_str(), e.at) {
                    assert!(e.at.as_second() - before.as_second() >= 30 * DAY);
                }
                by_survey
                    .entry(p["survey"].as_str().unwrap().to_string())
                    .or_default()
                    .add_sent();
                assert!(sends.insert(send, (&e.customer, e.at, p)).is_none());
            }
            "survey.reminded" | "survey.answered" | "survey.unhappy" | "survey.comment" => {
                let (customer, sent, asked) = &sends[p["send"].as_str().unwrap()];
                assert_eq!(*customer, e.customer);
                assert!(e.at > *sent);
                for key in ["survey", "kind", "policy"] {
                    assert_eq!(p[key], asked[key], "{key}");
                }
                let kind = SurveyKind::parse(p["kind"].as_str().unwrap()).unwrap();
                if e.kind == "survey.answered" {
                    let score = u8::try_from(p["score"].as_u64().unwrap()).unwrap();
                    assert!(kind.accepts(score));
                    assert!(p["answer"].is_string() && p["question"].is_string());
                    let answer = Answer { kind, score };
                    let survey = p["survey"].as_str().unwrap().to_string();
                    by_survey.entry(survey).or_default().add_answer(&answer);
                }
                if e.kind == "survey.unhappy" {
                    let score = u8::try_from(p["score"].as_u64().unwrap()).unwrap();
                    assert!(kind.is_unhappy(score));
                    unhappy += 1;
                }
            }
            "customer.feels_ignored" => {
                assert!(["status_page", "message_link"].contains(&p["via"].as_str().unwrap()));
                assert_eq!(e.channel.as_deref(), Some("web"));
                taps += 1;
            }
            "customer.comment" => {
                assert_eq!(p["about"], "feels_ignored");
                tap_comments += 1;
            }
            _ => {}
        }
    }
    for (survey, s) in &by_survey {
        println!(
            "survey {survey}: sent {} answered {} ({:.0}%) csat {:?} nps {:?} felt invisible {:?}",
            s.sent,
            s.answered,
            s.response_rate.unwrap_or(0.0),
            s.csat,
            s.nps,
            s.felt_invisible_rate
        );
    }
    println!("unhappy answers {unhappy}; feels_ignored taps {taps}, with a comment {tap_comments}");
    let rate = |survey: &str, f: fn(&SurveyStats) -> Option<f64>| f(&by_survey[survey]).unwrap();
    // Many never answer.
    for survey in ["csat", "nps", "felt-invisible"] {
        let response = rate(survey, |s| s.response_rate);
        assert!((20.0..60.0).contains(&response), "{survey}: {response}");
    }
    assert!((55.0..95.0).contains(&rate("csat", |s| s.csat)));
    assert!((0.0..80.0).contains(&rate("nps", |s| s.nps)));
    let felt = rate("felt-invisible", |s| s.felt_invisible_rate);
    assert!((3.0..40.0).contains(&felt), "{felt}");
    assert!(unhappy > 10, "{unhappy}");
    assert!((5..200).contains(&taps), "{taps}");
    assert!(tap_comments > 0 && tap_comments < taps);
}

fn every_kind_and_channel_occurs(all: &[&Event], counts: &BTreeMap<&str, usize>, customers: usize) {
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
        "survey.reminded",
        "survey.unhappy",
        "survey.comment",
        "customer.feels_ignored",
        "customer.comment",
    ] {
        assert!(counts.get(kind).copied().unwrap_or(0) > 0, "{kind}");
    }
    let channels: BTreeSet<&str> = all.iter().filter_map(|e| e.channel.as_deref()).collect();
    println!("channels {channels:?}");
    for channel in ["email", "phone", "chat", "web", "in_person", "app"] {
        assert!(channels.contains(channel), "{channel}");
    }
    let per_customer: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e.customer.as_str()).or_default() += 1;
        m
    });
    let many = per_customer.values().filter(|n| **n >= 40).count();
    assert!(many > 0 && many < customers / 2);
}

#[test]
fn every_event_passes_validation_and_round_trips_as_a_json_line() {
    let opts = DemoOptions::new(9, 300, end());
    let events: Vec<Event> = collect(&opts).into_iter().flatten().collect();
    let text = String::from_utf8(jsonl(&opts)).unwrap();
    assert_eq!(text.lines().count(), events.len());
    for (line, event) in text.lines().zip(&events) {
        let parsed = parse_event_json(line)
            .and_then(|input| input.validate(end(), &mut || unreachable!()))
            .unwrap();
        assert_eq!(&parsed, event);
        assert_eq!(&validate(event, end()).unwrap(), event);
    }
    // Before 1970 an event is refused, as from any client.
    let early = DemoOptions {
        months: 12,
        ..DemoOptions::new(1, 20, "1970-06-01T00:00:00Z".parse().unwrap())
    };
    let refused = collect(&early)
        .into_iter()
        .flatten()
        .filter_map(|e| validate(&e, early.end).err())
        .next()
        .unwrap();
    assert_eq!(refused.field, "at");
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

/// The mailbox story is deterministic, every mail reads as what it is meant to be, and it holds each
/// case threading must handle.
#[test]
fn the_mailbox_is_deterministic_and_every_mail_reads_as_intended() {
    use crate::connectors::imap::mail::{read, Kind};
    let opts = DemoOptions::new(7, 1_000, end());
    let mails = mailbox(&opts);
    assert_eq!(mails, mailbox(&opts));
    assert_ne!(mails, mailbox(&DemoOptions::new(8, 1_000, end())));
    assert!(mailbox(&DemoOptions::new(7, 0, end())).is_empty());
    let ours = mailbox::our_addresses();
    let (mut received, mut sent, mut ignored, mut bounces) = (0, 0, 0, 0);
    let start = window_start(end(), opts.months);
    for m in &mails {
        assert!(
            m.at >= start && m.at <= end(),
            "{} outside the window",
            m.at
        );
        let mail = read(m.raw.as_bytes(), Some(m.at), m.role(), &ours)
            .unwrap_or_else(|e| panic!("{e}: {}", m.raw));
        match (&mail.kind, m.conversation) {
            (Kind::Received { .. }, Some(_)) => received += 1,
            (Kind::Sent { recipients }, Some(_)) => {
                assert_eq!(recipients.len(), 1);
                sent += 1
            }
            (Kind::Ignored(_), None) => ignored += 1,
            (Kind::Bounce { original, .. }, None) => {
                assert!(original.is_some(), "{}", m.raw);
                bounces += 1
            }
            (kind, conversation) => panic!("{kind:?} in conversation {conversation:?}: {}", m.raw),
        }
        // The Date header is what the event's time comes from.
        assert_eq!(mail.at, m.at, "{}", m.raw);
    }
    let conversations: BTreeSet<usize> = mails.iter().filter_map(|m| m.conversation).collect();
    assert_eq!(conversations.len(), 200);
    assert!(
        received > 300 && sent > 200,
        "{received} received, {sent} sent"
    );
    assert!(ignored > 50, "{ignored} ignored");
    assert_eq!(bounces, 4);
    for (needle, what) in [
        ("\r\nReferences: ", "Gmail-style replies"),
        ("\r\nThread-Index: ", "Outlook replies"),
        ("\r\nSubject: AW: ", "German Outlook replies"),
        (".r424b2d4d", "answers to Seen's confirmations"),
        ("@phone.venue.example>", "replies to a parent never seen"),
        (
            "\r\nAuto-Submitted: auto-replied\r\nX-Autoreply",
            "out-of-office replies",
        ),
        ("\r\nList-Id: ", "newsletters"),
    ] {
        assert!(mails.iter().any(|m| m.raw.contains(needle)), "no {what}");
    }
}

/// The front desk speaks the visit vocabulary as a real desk would: every check-in names a configured type,
/// the location, the visitor's first name and a quote; every call and service is by a demo login at a counter
/// serving the visit's type (after a transfer, the new type); about two quotes in three hold the actual wait.
#[test]
fn the_front_desk_is_believable() {
    use super::front_desk::{visit_type, COUNTERS, LOCATION};
    use crate::domain::visit::{accuracy, fold, State};
    let opts = DemoOptions::new(5, 400, end());
    let events: Vec<Event> = collect(&opts).into_iter().flatten().collect();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for e in &events {
        if let Some(name) = e.profile.name.as_deref() {
            names.entry(e.customer.as_str()).or_insert(name);
        }
    }
    // Events are in time order within a block, and a customer's are all in one block.
    let mut types: HashMap<&str, String> = HashMap::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind.starts_with("visit.")) {
        *counts.entry(e.kind.as_str()).or_default() += 1;
        assert_eq!(e.channel.as_deref(), Some("in_person"));
        let r = e.reference.as_deref().unwrap();
        assert!(r.starts_with("VIS-"), "{r}");
        let p = props(e);
        let text = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or_default();
        match e.kind.as_str() {
            "visit.queued" => {
                assert!(visit_type(text("visit_type")).is_some(), "{p:?}");
                assert_eq!(text("location"), LOCATION);
                let first = names[e.customer.as_str()].split(' ').next().unwrap();
                assert_eq!(text("first_name"), first);
                let quote = &p["estimate"];
                let (low, high) = (quote["low_s"].as_i64(), quote["high_s"].as_i64());
                assert!(low.unwrap() >= 0 && low < high, "{quote}");
                assert!(quote["counters"].as_u64().unwrap() >= 1, "{quote}");
                assert!(quote["ahead"].is_u64() && quote["basis"] == "history");
                types.insert(r, text("visit_type").to_string());
            }
            "visit.called" | "visit.served" => {
                assert!(text("by").ends_with("@demo.example"), "{p:?}");
                let t = visit_type(&types[r]).unwrap();
                let counter = COUNTERS.iter().position(|c| *c == text("counter"));
                assert!(
                    counter.is_some_and(|c| t.counters.contains(&c)),
                    "{} does not serve {}",
                    text("counter"),
                    t.name
                );
            }
            "visit.transferred" => {
                assert_eq!(text("from_type"), types[r]);
                assert_ne!(text("visit_type"), text("from_type"));
                assert!(visit_type(text("visit_type")).is_some());
                assert!(text("by").ends_with("@demo.example"));
                types.insert(r, text("visit_type").to_string());
            }
            "visit.finished" | "visit.no_show" => {
                assert!(text("by").ends_with("@demo.example"), "{p:?}")
            }
            _ => {}
        }
    }
    println!("visit events {counts:?}");
    for kind in ["finished", "transferred", "no_show", "left"] {
        assert!(
            counts.contains_key(format!("visit.{kind}").as_str()),
            "no {kind}"
        );
    }
    let visits = fold(&events);
    assert_eq!(visits.len(), counts["visit.queued"]);
    let finished = visits.iter().filter(|v| v.state == State::Finished).count();
    let left = visits.iter().filter(|v| v.state == State::Left).count();
    assert!(
        finished * 10 > visits.len() * 8,
        "{finished} of {}",
        visits.len()
    );
    assert!(left * 100 < visits.len() * 10, "{left} of {}", visits.len());
    let quoted = accuracy(&visits, Timestamp::MIN, Timestamp::MAX);
    println!("{} visits; {quoted:?}", visits.len());
    assert!(quoted.quoted > 300, "{quoted:?}");
    let share = quoted.within_share.unwrap();
    assert!((50.0..=85.0).contains(&share), "{quoted:?}");
}
