//! The survey story: what the default survey policies ask (CSAT the day after a delivery, "have you ever
//! felt invisible?" two hours after a visit, and the venue's own NPS the day after an event), recorded the
//! way the actions job and the answer pages record it; how customers answer — mostly kindly, less so after
//! a promise to them was broken — and how staff follow up. And the customers who tap "Nobody got back to
//! me" (`customer.feels_ignored`), mostly after being let down.
//!
//! It runs last in a customer's life, over what the other stories left: the asks (in time order, so the
//! once-per-30-days rule applies as the sender applies it) and the moments the customer was let down.

use rand::Rng;
use serde_json::{Map, Value};

use super::customer::{pick, pick_weighted, props, Customer};
use super::time::{day_start, BUSINESS_DAY, DAY, HOUR, MINUTE};
use crate::domain::survey::{SurveyKind, FEELS_IGNORED};

/// At most one survey per customer in this span (`[actions] survey_every`).
const SURVEY_EVERY: i64 = 30 * DAY;
/// The CSAT survey's one reminder (`[surveys.csat] remind_after`).
const CSAT_REMIND_AFTER: i64 = 3 * DAY;
/// A let-down about something else still colours an answer for this long.
const REMEMBERED: i64 = 30 * DAY;

/// CSAT scores, with weights: a customer never let down, and one let down lately.
const CSAT_CONTENT: [(u8, u32); 5] = [(5, 52), (4, 33), (3, 8), (2, 4), (1, 3)];
const CSAT_LET_DOWN: [(u8, u32); 5] = [(5, 18), (4, 24), (3, 20), (2, 19), (1, 19)];
/// NPS scores 0-10, with weights.
const NPS_CONTENT: [(u8, u32); 11] = [
    (0, 1),
    (1, 1),
    (2, 1),
    (3, 1),
    (4, 2),
    (5, 3),
    (6, 5),
    (7, 10),
    (8, 18),
    (9, 26),
    (10, 32),
];
const NPS_LET_DOWN: [(u8, u32); 11] = [
    (0, 7),
    (1, 5),
    (2, 7),
    (3, 8),
    (4, 9),
    (5, 12),
    (6, 13),
    (7, 13),
    (8, 11),
    (9, 8),
    (10, 7),
];

const SURVEY_COMMENTS: [&str; 6] = [
    "Lovely staff, thank you.",
    "All fine, a bit slow.",
    "Nobody answered my email for days.",
    "I had to chase you twice.",
    "Great as always.",
    "The wait was far too long.",
];
const FEELS_IGNORED_COMMENTS: [&str; 5] = [
    "I wrote three days ago and heard nothing.",
    "Still waiting for someone to confirm.",
    "Is anyone reading these?",
    "My order has not moved and nobody replies.",
    "I just want an answer.",
];

/// A survey a policy asks, not yet sent: sending is decided in time order at the end of the customer's life.
pub(super) struct Ask {
    /// When the policy falls due.
    pub(super) due: i64,
    /// The ref of what it asks about (the trigger's).
    pub(super) reference: String,
    /// The `[surveys.NAME]` asked.
    pub(super) survey: &'static str,
    pub(super) kind: SurveyKind,
    pub(super) policy: &'static str,
    /// The trigger's channel.
    pub(super) channel: Option<&'static str>,
}

/// A moment a promise to the customer was broken (a reply, confirmation, dispatch or service came late or
/// never), and the ref it was about.
pub(super) struct LetDown {
    pub(super) at: i64,
    pub(super) reference: String,
}

impl Customer<'_> {
    /// A policy asks `survey` about `reference` at `due` (sent later, if at all: see [`Customer::surveys`]).
    pub(super) fn ask(
        &mut self,
        due: i64,
        reference: &str,
        survey: &'static str,
        policy: &'static str,
        channel: Option<&'static str>,
    ) {
        let kind = match survey {
            "csat" => SurveyKind::Csat,
            "nps" => SurveyKind::Nps,
            _ => SurveyKind::Invisible,
        };
        self.asks.push(Ask {
            due,
            reference: reference.to_string(),
            survey,
            kind,
            policy,
            channel,
        });
    }

    /// A promise about `reference` was broken at `at`.
    pub(super) fn let_down(&mut self, at: i64, reference: &str) {
        self.let_downs.push(LetDown {
            at,
            reference: reference.to_string(),
        });
    }

    /// The customer's surveys and "Nobody got back to me" taps, after every other story.
    pub(super) fn surveys(&mut self) {
        self.let_downs.sort_by_key(|l| l.at);
        let mut asks = std::mem::take(&mut self.asks);
        asks.sort_by_key(|a| a.due);
        let mut last_sent: Option<i64> = None;
        for ask in &asks {
            // The sender's pass after the due time, then quiet hours (21:00-08:00 the customer's time).
            let pass = ask.due + self.rng.gen_range(10..5 * MINUTE);
            let sent = self.outside_quiet_hours(pass);
            if self.after_end(sent) || last_sent.is_some_and(|last| sent - last < SURVEY_EVERY) {
                continue;
            }
            last_sent = Some(sent);
            self.send_survey(ask, sent);
        }
        self.speak_up();
    }

    /// The end of quiet hours if `t` falls in them, else `t`.
    fn outside_quiet_hours(&mut self, t: i64) -> i64 {
        let local = t + self.offset;
        let hour = local.rem_euclid(DAY) / HOUR;
        let morning = day_start(local) - self.offset + 8 * HOUR + self.rng.gen_range(0..5 * MINUTE);
        match hour {
            0..=7 => morning,
            21.. => morning + DAY,
            _ => t,
        }
    }

    /// Whether the customer answers a survey about `reference` at `at` as someone let down: always when it
    /// was this very thing, often when something else went wrong in the weeks before.
    fn upset(&mut self, reference: &str, at: i64) -> bool {
        let (mut this, mut lately) = (false, false);
        for l in self.let_downs.iter().filter(|l| l.at < at) {
            this |= l.reference == reference;
            lately |= at - l.at < REMEMBERED;
        }
        this || (lately && self.rng.gen_bool(0.25))
    }

    /// One survey message (as the actions job records it), and what the customer does with it.
    fn send_survey(&mut self, ask: &Ask, sent: i64) {
        let send = self.next_send();
        let mut fields = props([
            ("survey", ask.survey.into()),
            ("kind", ask.kind.as_str().into()),
            ("send", send.into()),
            ("policy", ask.policy.into()),
        ]);
        if let Some(channel) = ask.channel {
            fields.insert("channel".into(), channel.into());
        }
        let recorded = |template: &str| {
            let mut p = props([("automated", true.into()), ("template", template.into())]);
            p.extend(fields.clone());
            p
        };
        let r = ask.reference.as_str();
        self.emit(
            sent,
            "survey.sent",
            Some("email"),
            Some(r),
            recorded("survey"),
        );
        let upset = self.upset(r, sent);
        // Many never answer; customers who were let down answer a little more often.
        let answers = if upset { 0.42 } else { 0.33 };
        let answers_at = if self.rng.gen_bool(answers) {
            Some(self.soon_after(sent, 5 * MINUTE, 2 * DAY))
        } else if ask.kind == SurveyKind::Csat {
            // One reminder after three days; some answer then.
            let reminded = self.outside_quiet_hours(sent + CSAT_REMIND_AFTER);
            self.emit(
                reminded,
                "survey.reminded",
                Some("email"),
                Some(r),
                recorded("survey-reminder"),
            );
            self.rng
                .gen_bool(0.18)
                .then(|| self.soon_after(reminded, 5 * MINUTE, DAY))
        } else {
            None
        };
        if let Some(at) = answers_at {
            self.answer(ask, &fields, at, upset);
        }
    }

    /// The customer answers at `at` (the answer page's events), perhaps with a comment; an unhappy answer
    /// is followed up by staff, mostly within a business day.
    fn answer(&mut self, ask: &Ask, fields: &Map<String, Value>, at: i64, upset: bool) {
        let score = match ask.kind {
            SurveyKind::Csat => pick_weighted(
                &mut self.rng,
                if upset { &CSAT_LET_DOWN } else { &CSAT_CONTENT },
            ),
            SurveyKind::Nps => pick_weighted(
                &mut self.rng,
                if upset { &NPS_LET_DOWN } else { &NPS_CONTENT },
            ),
            SurveyKind::Invisible => u8::from(self.rng.gen_bool(if upset { 0.55 } else { 0.05 })),
        };
        let label = ask
            .kind
            .answers()
            .into_iter()
            .find(|(s, _)| *s == score)
            .map(|(_, l)| l)
            .unwrap_or_default();
        let mut answered = fields.clone();
        answered.insert("question".into(), ask.kind.default_question().into());
        let commented = answered.clone();
        answered.insert("score".into(), score.into());
        answered.insert("answer".into(), label.into());
        let r = ask.reference.as_str();
        let unhappy = ask.kind.is_unhappy(score);
        self.emit(
            at,
            "survey.answered",
            Some("web"),
            Some(r),
            answered.clone(),
        );
        if unhappy {
            self.emit(at, "survey.unhappy", Some("web"), Some(r), answered);
        }
        if self.rng.gen_bool(if unhappy { 0.35 } else { 0.1 }) {
            let comment = pick(&mut self.rng, &SURVEY_COMMENTS);
            let mut p = commented;
            p.insert("comment".into(), comment.into());
            let later = at + self.rng.gen_range(MINUTE..5 * MINUTE);
            self.emit(later, "survey.comment", Some("web"), Some(r), p);
        }
        if unhappy {
            self.reach_out(at, r);
        }
    }

    /// Staff mark the customer contacted after an unhappy answer (the dashboard's "contacted" keeps the
    /// `told-us` and `follow-up` promises): mostly within a business day, sometimes later, now and then never.
    fn reach_out(&mut self, told: i64, reference: &str) {
        let u: f64 = self.rng.r#gen();
        let delay = if u < 0.72 {
            self.rng.gen_range(15 * MINUTE..6 * HOUR)
        } else if u < 0.88 {
            self.rng.gen_range(BUSINESS_DAY + HOUR..3 * BUSINESS_DAY)
        } else {
            return;
        };
        let at = self.hours.add_business(told, delay);
        let by = format!("{}@demo.example", pick(&mut self.rng, &STAFF_LOGINS));
        let contacted = props([("by", by.into()), ("via", "dashboard".into())]);
        self.emit(
            at,
            "message.sent",
            Some("staff"),
            Some(reference),
            contacted,
        );
    }

    /// "Nobody got back to me": now and then a customer let down taps it a little later (at most once a
    /// fortnight), and a few who were only kept waiting do too; some add a comment; most then hear from
    /// staff about what they were waiting for.
    fn speak_up(&mut self) {
        let mut moments: Vec<(i64, String)> = Vec::new();
        let mut last: Option<i64> = None;
        for l in &self.let_downs {
            if last.is_some_and(|t| l.at - t < 14 * DAY) {
                continue;
            }
            if self.rng.gen_bool(0.03) {
                moments.push((l.at, l.reference.clone()));
                last = Some(l.at);
            }
        }
        if self.let_downs.is_empty() && self.rng.gen_bool(0.005) {
            // Waiting on something, within the promise's time: the customer taps anyway.
            let waiting: Vec<(i64, String)> = self
                .out
                .iter()
                .filter(|raw| ["message.received", "order.placed"].contains(&raw.kind))
                .filter_map(|raw| Some((raw.at, raw.reference.clone()?)))
                .collect();
            if !waiting.is_empty() {
                let (at, reference) = waiting[self.rng.gen_range(0..waiting.len())].clone();
                moments.push((at, reference));
            }
        }
        for (at, reference) in moments {
            self.feels_ignored(at, &reference);
        }
    }

    fn feels_ignored(&mut self, let_down: i64, reference: &str) {
        let at = self.soon_after(let_down, HOUR, 2 * DAY);
        let via = if self.rng.gen_bool(0.55) {
            "status_page"
        } else {
            "message_link"
        };
        self.emit(
            at,
            FEELS_IGNORED,
            Some("web"),
            None,
            props([("via", via.into())]),
        );
        if self.rng.gen_bool(0.35) {
            let comment = pick(&mut self.rng, &FEELS_IGNORED_COMMENTS);
            let p = props([
                ("about", "feels_ignored".into()),
                ("comment", comment.into()),
            ]);
            let later = at + self.rng.gen_range(MINUTE..8 * MINUTE);
            self.emit(later, "customer.comment", Some("web"), None, p);
        }
        // Someone gets back to them about what they were waiting for (it keeps `heard`, opened without a ref).
        let u: f64 = self.rng.r#gen();
        let delay = if u < 0.65 {
            self.rng.gen_range(20 * MINUTE..BUSINESS_DAY)
        } else if u < 0.85 {
            self.rng.gen_range(BUSINESS_DAY + HOUR..3 * BUSINESS_DAY)
        } else {
            return;
        };
        let reply = self.hours.add_business(at, delay);
        let agent = self.agent();
        self.emit(reply, "message.sent", Some("email"), Some(reference), agent);
    }
}

/// The dashboard logins staff mark customers contacted with.
const STAFF_LOGINS: [&str; 5] = ["priya", "tom", "aisha", "ben", "chloe"];
