//! The front-desk story: a customer calls now and then and visits the desk while it is open; they
//! queue, are served (quickly or slowly) or give up and leave, and are sometimes asked how it went.

use rand::Rng;
use serde_json::Map;

use super::customer::{exponential, pick, props, Customer};
use super::time::{day_start, BEYOND, DAY, DESK_LAST_VISIT, HOUR, MINUTE};

const DESK_SUBJECTS: [&str; 3] = ["Opening hours", "Appointment question", "Collection"];
const VISIT_REASONS: [&str; 5] = ["collection", "returns", "appointment", "enquiry", "payment"];

impl Customer<'_> {
    pub(super) fn front_desk(&mut self, first: i64) {
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

    /// A moment when the desk is open, on the day of `t` or the next day it is open.
    fn desk_time(&mut self, t: i64) -> i64 {
        let Some(from) = self.hours.desk_arrival_from(t) else {
            return BEYOND; // past the supported range: after every window
        };
        let day = day_start(from);
        day + self.rng.gen_range(from - day..DESK_LAST_VISIT)
    }

    fn visit(&mut self, arrived: i64) {
        let r = self.next_ref("VIS-", |c| &mut c.visit);
        let reason = props([("reason", pick(&mut self.rng, &VISIT_REASONS).into())]);
        self.emit(
            arrived,
            "visit.arrived",
            Some("in_person"),
            Some(&r),
            reason,
        );
        let queued = arrived + self.rng.gen_range(5..90);
        self.emit(
            queued,
            "visit.queued",
            Some("in_person"),
            Some(&r),
            Map::new(),
        );
        let u: f64 = self.rng.r#gen();
        if u < 0.94 {
            let wait = if u < 0.80 {
                self.rng.gen_range(2 * MINUTE..12 * MINUTE)
            } else {
                self.rng.gen_range(15 * MINUTE..45 * MINUTE)
            };
            let agent = self.agent();
            self.emit(
                queued + wait,
                "visit.served",
                Some("in_person"),
                Some(&r),
                agent,
            );
            // `serve-queue` promises service within 15 minutes.
            if wait > 15 * MINUTE {
                self.let_down(queued + 15 * MINUTE, &r);
            }
            // `survey-after-visit` asks whether they ever felt invisible two hours later.
            self.ask(
                queued + wait + 2 * HOUR,
                &r,
                "felt-invisible",
                "survey-after-visit",
                Some("in_person"),
            );
        } else {
            let left = queued + self.rng.gen_range(8 * MINUTE..40 * MINUTE);
            self.emit(left, "visit.left", Some("in_person"), Some(&r), Map::new());
            if left - queued > 15 * MINUTE {
                self.let_down(queued + 15 * MINUTE, &r);
            }
        }
    }
}
