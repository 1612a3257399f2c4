//! The tickets story: a shopper's request becomes a support ticket with a priority. Staff answer, often
//! ask the customer for something and wait (the `resolve` promise's clock stops), the customer answers (it
//! starts again) or never does, and staff resolve it — mostly in time, sometimes late, sometimes never.

use rand::Rng;
use serde_json::Map;

use super::customer::{pick_weighted, props, Customer};
use super::time::{BUSINESS_DAY, DAY, HOUR, MINUTE};

impl Customer<'_> {
    /// A ticket opened at `t0` about `subject`.
    pub(super) fn ticket(&mut self, t0: i64, subject: &'static str) {
        if self.after_end(t0) {
            return;
        }
        let r = self.next_ref("TK-", |c| &mut c.ticket);
        let priority = pick_weighted(
            &mut self.rng,
            &[("urgent", 8), ("high", 22), ("normal", 70)],
        );
        let opened = props([("subject", subject.into()), ("priority", priority.into())]);
        self.emit(t0, "ticket.opened", Some("email"), Some(&r), opened);
        let hours = self.hours;
        let mut t = hours.add_business(t0, self.rng.gen_range(10 * MINUTE..3 * HOUR));
        let agent = self.agent();
        self.emit(t, "message.sent", Some("email"), Some(&r), agent);
        // Staff ask the customer for something (an order number, a photo) and wait, once or twice.
        let rounds = pick_weighted(&mut self.rng, &[(0u32, 45), (1, 40), (2, 15)]);
        for _ in 0..rounds {
            t += self.rng.gen_range(MINUTE..10 * MINUTE);
            self.emit(t, "ticket.waiting_on_customer", None, Some(&r), Map::new());
            if self.rng.gen_bool(0.12) {
                // The customer never answers: closed after a week of waiting.
                let closed = props([("reason", "no response from the customer".into())]);
                self.emit(t + 7 * DAY, "ticket.resolved", None, Some(&r), closed);
                return;
            }
            let answer = t + self.rng.gen_range(2 * HOUR..4 * DAY);
            self.emit(
                answer,
                "message.received",
                Some("email"),
                Some(&r),
                Map::new(),
            );
            t = hours.add_business(answer, self.rng.gen_range(15 * MINUTE..6 * HOUR));
            let agent = self.agent();
            self.emit(t, "message.sent", Some("email"), Some(&r), agent);
        }
        let target = match priority {
            "urgent" => 4 * HOUR,
            "high" => BUSINESS_DAY,
            _ => 3 * BUSINESS_DAY,
        };
        let u: f64 = self.rng.r#gen();
        let resolved = if u < 0.80 {
            Some(
                hours.add_business(
                    t,
                    self.rng
                        .gen_range(10 * MINUTE..(target / 3).max(20 * MINUTE)),
                ),
            )
        } else if u < 0.94 {
            Some(hours.add_business(t, target + self.rng.gen_range(HOUR..2 * BUSINESS_DAY)))
        } else {
            None // forgotten: an invisible customer
        };
        // `resolve` promises resolution within the priority's business time.
        if resolved.is_none_or(|at| at > hours.add_business(t, target)) {
            self.let_down(hours.add_business(t, target), &r);
        }
        if let Some(at) = resolved {
            let agent = self.agent();
            self.emit(at, "ticket.resolved", Some("email"), Some(&r), agent);
        }
    }
}
