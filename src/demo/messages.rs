//! The messages story: a customer writes (email, chat, phone) and staff answer in office hours —
//! mostly in time, sometimes late, sometimes out of hours, sometimes never.

use rand::Rng;
use serde_json::Map;

use super::customer::{props, Customer};
use super::time::{BUSINESS_DAY, HOUR, MINUTE};

impl Customer<'_> {
    /// A conversation started by the customer at `t0`, with up to `exchanges` back-and-forths.
    pub(super) fn thread(
        &mut self,
        t0: i64,
        channel: &'static str,
        subject: &'static str,
        exchanges: u32,
    ) {
        if self.after_end(t0) {
            return;
        }
        let r = self.next_ref("TH-", |c| &mut c.thread);
        let chat = channel == "chat";
        let opening = props([("subject", subject.into())]);
        self.emit(t0, "message.received", Some(channel), Some(&r), opening);
        let mut t = t0;
        for k in 0..exchanges {
            let reply = self.staff_reply(t, chat);
            // `reply` promises an answer within a business day.
            let promised = self.hours.add_business(t, BUSINESS_DAY);
            if reply.is_none_or(|at| at > promised) {
                self.let_down(promised, &r);
            }
            let Some(reply) = reply else {
                self.unanswered(t, channel, &r);
                break;
            };
            let agent = self.agent();
            self.emit(reply, "message.sent", Some(channel), Some(&r), agent);
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
    }

    /// The customer's message at `t` was not answered: some customers nudge once, some of those
    /// nudges are eventually answered.
    fn unanswered(&mut self, t: i64, channel: &'static str, r: &str) {
        if !self.rng.gen_bool(0.5) {
            return;
        }
        let nudge = self.days_later(t, 1.5, 4.0);
        self.emit(
            nudge,
            "message.received",
            Some(channel),
            Some(r),
            Map::new(),
        );
        if self.rng.gen_bool(0.4) {
            let reply = self
                .hours
                .add_business(nudge, self.rng.gen_range(10 * MINUTE..BUSINESS_DAY));
            let agent = self.agent();
            self.emit(reply, "message.sent", Some(channel), Some(r), agent);
        }
    }

    /// When staff answer a message received at `after`, if ever.
    fn staff_reply(&mut self, after: i64, chat: bool) -> Option<i64> {
        let u: f64 = self.rng.r#gen();
        let hours = self.hours;
        if u < 0.07 {
            None
        } else if u < 0.17 {
            // Late: more than a business day.
            let late = self.rng.gen_range(BUSINESS_DAY + HOUR..3 * BUSINESS_DAY);
            Some(hours.add_business(after, late))
        } else if u < 0.20 {
            // Someone answers out of hours.
            Some(after + self.rng.gen_range(10 * MINUTE..3 * HOUR))
        } else if chat {
            Some(hours.add_business(after, self.rng.gen_range(30..8 * MINUTE)))
        } else if self.rng.gen_bool(0.7) {
            Some(hours.add_business(after, self.rng.gen_range(5 * MINUTE..2 * HOUR)))
        } else {
            Some(hours.add_business(after, self.rng.gen_range(2 * HOUR..BUSINESS_DAY)))
        }
    }
}
