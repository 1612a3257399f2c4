//! The front-desk story: a customer calls now and then and visits the desk while it is open. Each visit is
//! for one of the default configuration's `[[visit_types]]` at its one location, "main": the visitor checks
//! in and is quoted a wait, is called to a counter that serves their type by whoever is on that counter's
//! shift, is served and finishes, and is sometimes asked how it went; now and then they are sent on to
//! another type (and wait again), do not come when called, or give up and walk out.
//!
//! Waits follow how busy the desk is: quiet first thing, a lunchtime peak, busy again before closing,
//! Saturdays busiest, and some days busier than others (the same for every visitor, so the weekday × hour
//! figures look like one desk's). The quote is what a decent estimator would have said: a range around the
//! true wait, off by a random error, that holds the actual wait about two times in three.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::customer::{exponential, pick, pick_weighted, props, Customer};
use super::profile::profile;
use super::time::{day_start, BEYOND, DAY, DESK_LAST_VISIT, HOUR, MINUTE};

const DESK_SUBJECTS: [&str; 3] = ["Opening hours", "Appointment question", "Collection"];

/// Where the visitors queue: the default configuration's one location.
pub(super) const LOCATION: &str = "main";
/// That location's counters.
pub(super) const COUNTERS: [&str; 3] = ["desk-1", "desk-2", "desk-3"];
/// The staff serving at the desk: the logins `seen demo` creates for the dashboard (`@demo.example`).
const STAFF: [&str; 5] = ["priya", "tom", "aisha", "ben", "chloe"];
/// How long each of them takes, relative to a type's usual service time.
const PACE: [f64; 5] = [0.9, 1.0, 1.05, 1.2, 0.95];

/// A visit type of the default configuration's `[[visit_types]]`.
pub(super) struct VisitType {
    pub(super) name: &'static str,
    /// Its target wait (its serve promise), in seconds.
    pub(super) target: i64,
    /// Its typical service time, in seconds.
    pub(super) service: i64,
    /// The counters serving it (indices into [`COUNTERS`]).
    pub(super) counters: &'static [usize],
    /// The types a visit of this type is sometimes sent on to.
    transfers_to: &'static [&'static str],
}

pub(super) static VISIT_TYPES: [VisitType; 5] = [
    VisitType {
        name: "collection",
        target: 5 * MINUTE,
        service: 3 * MINUTE,
        counters: &[0, 1, 2],
        transfers_to: &["returns", "payment"],
    },
    VisitType {
        name: "returns",
        target: 10 * MINUTE,
        service: 6 * MINUTE,
        counters: &[0, 1],
        transfers_to: &["payment"],
    },
    VisitType {
        name: "enquiry",
        target: 15 * MINUTE,
        service: 5 * MINUTE,
        counters: &[0, 1, 2],
        transfers_to: &["payment", "returns", "appointment"],
    },
    VisitType {
        name: "appointment",
        target: 5 * MINUTE,
        service: 15 * MINUTE,
        counters: &[2],
        transfers_to: &["payment"],
    },
    VisitType {
        name: "payment",
        target: 10 * MINUTE,
        service: 4 * MINUTE,
        counters: &[0, 1, 2],
        transfers_to: &["enquiry"],
    },
];

/// What visitors come for (indices into [`VISIT_TYPES`]), with weights.
pub(super) const VISIT_MIX: [(usize, u32); 5] = [(0, 34), (1, 18), (2, 22), (3, 10), (4, 16)];

/// The visit type called `name` (one of [`VISIT_TYPES`]).
pub(super) fn visit_type(name: &str) -> Option<&'static VisitType> {
    VISIT_TYPES.iter().find(|t| t.name == name)
}

/// Who is at a counter (an index into [`COUNTERS`]) at `t`: a rota by day and half-day shift (the afternoon
/// from 13:00), the same for every visitor, with a different person at each counter.
fn on_duty(t: i64, counter: usize) -> usize {
    let shift = t.div_euclid(DAY) * 2 + i64::from(t.rem_euclid(DAY) >= 13 * HOUR);
    let h = mix(shift as u64);
    let (first, step) = ((h % 5) as usize, 1 + ((h / 5) % 4) as usize);
    // 5 is prime and `step` is not a multiple of it: counters 0..3 get three different people.
    (first + counter * step) % STAFF.len()
}

/// How busy the desk is at an hour of the day (09..16, UTC like the desk's hours; 1 = an ordinary hour).
fn busy_hour(t: i64) -> f64 {
    match t.rem_euclid(DAY) / HOUR {
        ..=9 => 0.5,
        10 => 0.8,
        11 => 1.0,
        12 => 1.5,
        13 => 1.6,
        14 => 1.1,
        15 => 1.0,
        _ => 1.35,
    }
}

/// How busy the desk is at `t`: the hour, the weekday (Saturdays busiest, Mondays and Fridays busier than
/// midweek) and the day itself (some days are busier than others, for every visitor alike).
fn busy(t: i64) -> f64 {
    let day = t.div_euclid(DAY);
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = [1.1, 0.9, 0.95, 1.0, 1.15, 1.45, 1.0][(day + 3).rem_euclid(7) as usize];
    let this_day = 0.8 + 0.4 * unit(mix(day as u64 ^ 0x5EE7));
    busy_hour(t) * weekday * this_day
}

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash as a number in [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Standard normal (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.r#gen(), rng.r#gen());
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn login(staff: usize) -> String {
    format!("{}@demo.example", STAFF[staff])
}

impl Customer<'_> {
    pub(super) fn front_desk(&mut self, first: i64) {
        let first_name = self.first_name();
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
            self.visit(t, &first_name);
            let next = t + (self.rng.gen_range(gap * 0.3..gap * 1.7) * DAY as f64) as i64;
            t = self.desk_time(next);
        }
    }

    /// The customer's first name, as their profile has it. The profile is the first thing drawn from the
    /// customer's own random stream (see `live`), so replaying a copy of that stream from its start gives
    /// it again, without disturbing the stream itself.
    fn first_name(&self) -> String {
        let mut replay = self.rng.clone();
        replay.set_word_pos(0);
        let index = usize::try_from(replay.get_stream()).unwrap_or_default();
        let (p, _) = profile(index, &mut replay);
        p.name.split(' ').next().unwrap_or_default().to_string()
    }

    /// A moment when the desk is open, on the day of `t` or the next day it is open; more often at its
    /// busy hours.
    fn desk_time(&mut self, t: i64) -> i64 {
        let Some(from) = self.hours.desk_arrival_from(t) else {
            return BEYOND; // past the supported range: after every window
        };
        let day = day_start(from);
        let mut at = day + self.rng.gen_range(from - day..DESK_LAST_VISIT);
        for _ in 0..3 {
            if self.rng.gen_bool(busy_hour(at) / 1.6) {
                break;
            }
            at = day + self.rng.gen_range(from - day..DESK_LAST_VISIT);
        }
        at
    }

    /// How long a visitor of type `t` who checks in at `at` waits to be called: a median of about
    /// 0.4 of the type's target at an ordinary hour, more when the desk is busy, with a long tail (over
    /// the target about one time in eight overall, one in four at lunchtime).
    fn wait_for(&mut self, t: &VisitType, at: i64) -> i64 {
        let median = 0.38 * t.target as f64 * busy(at);
        let wait = median * (0.55 * normal(&mut self.rng)).exp();
        (wait as i64).clamp(20, 90 * MINUTE)
    }

    /// How long `staff` takes to serve a visitor of type `t`: around the type's service time.
    fn service_time(&mut self, t: &VisitType, staff: usize) -> i64 {
        let median = t.service as f64 * PACE[staff];
        let service = median * (0.4 * normal(&mut self.rng)).exp();
        (service as i64).max(30)
    }

    /// The quote at check-in for a visitor of type `t` who will wait `wait` seconds: a range around the
    /// wait as an estimator would have guessed it (off by a lognormal error of σ 0.45: with the rounding to
    /// whole minutes, about two ranges in three hold the wait), with the people ahead that such a wait means
    /// (as `domain::visit::estimate` reckons it) and the counters serving the type.
    fn quote(&mut self, t: &VisitType, wait: i64) -> Value {
        let mid = wait as f64 * (0.45 * normal(&mut self.rng)).exp();
        let low_s = (mid * 0.7 / 60.0).floor() as i64 * 60;
        let high_s = ((mid * 1.35 / 60.0).ceil() as i64 * 60).max(low_s + 60);
        let counters = t.counters.len();
        let ahead = (wait as f64 * counters as f64 / t.service as f64 - 0.5)
            .round()
            .max(0.0) as u32;
        json!({
            "low_s": low_s,
            "high_s": high_s,
            "ahead": ahead,
            "counters": counters,
            "basis": "history",
        })
    }

    fn visit(&mut self, arrived: i64, first_name: &str) {
        let r = self.next_ref("VIS-", |c| &mut c.visit);
        let kind = &VISIT_TYPES[pick_weighted(&mut self.rng, &VISIT_MIX)];
        let place = props([
            ("visit_type", kind.name.into()),
            ("location", LOCATION.into()),
        ]);
        self.emit(arrived, "visit.arrived", Some("in_person"), Some(&r), place);
        let queued = arrived + self.rng.gen_range(5..90);
        let wait = self.wait_for(kind, queued);
        let estimate = self.quote(kind, wait);
        let checked_in = props([
            ("visit_type", kind.name.into()),
            ("location", LOCATION.into()),
            ("first_name", first_name.into()),
            ("estimate", estimate),
        ]);
        self.emit(
            queued,
            "visit.queued",
            Some("in_person"),
            Some(&r),
            checked_in,
        );
        // Walking out is likelier the longer the wait: about one visitor in twenty.
        let walks_out = (0.01 + 0.05 * wait as f64 / kind.target as f64).min(0.4);
        let u: f64 = self.rng.r#gen();
        if u < walks_out {
            let left = queued + ((wait as f64 * self.rng.gen_range(0.5..1.0)) as i64).max(MINUTE);
            // Staff mark some walk-outs on the board; others leave from their visit page.
            let mut by = Map::new();
            if self.rng.gen_bool(0.5) {
                let counter = pick(&mut self.rng, kind.counters);
                by.insert("by".into(), login(on_duty(left, counter)).into());
            }
            self.emit(left, "visit.left", Some("in_person"), Some(&r), by);
            self.late(queued, left - queued, kind, &r);
            return;
        }
        let (called, staff, counter) = self.call(&r, kind, queued + wait);
        // `serve-queue` promises a call within the type's target wait.
        self.late(queued, wait, kind, &r);
        if u < walks_out + 0.02 {
            let gone = called + self.rng.gen_range(2 * MINUTE..5 * MINUTE);
            let by = props([("by", login(staff).into())]);
            self.emit(gone, "visit.no_show", Some("in_person"), Some(&r), by);
            return;
        }
        let served = self.serve(&r, called, staff, counter);
        // `survey-after-visit` asks whether they ever felt invisible two hours after they were served.
        self.ask(
            served + 2 * HOUR,
            &r,
            "felt-invisible",
            "survey-after-visit",
            Some("in_person"),
        );
        let service = self.service_time(kind, staff);
        if !self.rng.gen_bool(0.03) {
            self.finish_visit(&r, served + service, staff);
            return;
        }
        // Sent on to another type part-way through: waiting again, under that type's clock.
        let to = visit_type(pick(&mut self.rng, kind.transfers_to)).unwrap_or(kind);
        let at = served + (service as f64 * self.rng.gen_range(0.3..0.8)) as i64;
        let moved = props([
            ("by", login(staff).into()),
            ("visit_type", to.name.into()),
            ("from_type", kind.name.into()),
        ]);
        self.emit(at, "visit.transferred", Some("in_person"), Some(&r), moved);
        let wait = self.wait_for(to, at);
        let (called, staff, counter) = self.call(&r, to, at + wait);
        self.late(at, wait, to, &r);
        let served = self.serve(&r, called, staff, counter);
        let service = self.service_time(to, staff);
        self.finish_visit(&r, served + service, staff);
    }

    /// The visitor is called to one of the counters serving `t`, by whoever is on it at `at`: the moment,
    /// who and which counter.
    fn call(&mut self, r: &str, t: &VisitType, at: i64) -> (i64, usize, usize) {
        let counter = pick(&mut self.rng, t.counters);
        let staff = on_duty(at, counter);
        let called = props([
            ("by", login(staff).into()),
            ("counter", COUNTERS[counter].into()),
        ]);
        self.emit(at, "visit.called", Some("in_person"), Some(r), called);
        (at, staff, counter)
    }

    /// Service starts at the counter a little after the call; returns when.
    fn serve(&mut self, r: &str, called: i64, staff: usize, counter: usize) -> i64 {
        let at = called + self.rng.gen_range(10..=90);
        let served = props([
            ("by", login(staff).into()),
            ("counter", COUNTERS[counter].into()),
        ]);
        self.emit(at, "visit.served", Some("in_person"), Some(r), served);
        at
    }

    fn finish_visit(&mut self, r: &str, at: i64, staff: usize) {
        let by = props([("by", login(staff).into())]);
        self.emit(at, "visit.finished", Some("in_person"), Some(r), by);
    }

    /// A wait of `wait` seconds from `from` for type `t`: past its target, the `serve-queue` promise broke
    /// when the target ran out.
    fn late(&mut self, from: i64, wait: i64, t: &VisitType, r: &str) {
        if wait > t.target {
            self.let_down(from + t.target, r);
        }
    }
}
