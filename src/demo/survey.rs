//! The survey story: after a booked event or a visit, the business asks for a score; some customers
//! answer, most of them kindly.

use rand::Rng;
use serde_json::Value;

use super::customer::{pick_weighted, props, Customer};
use super::time::{DAY, MINUTE};

/// How customers score, with weights.
const SCORES: [(i32, u32); 5] = [(5, 45), (4, 30), (3, 12), (2, 7), (1, 6)];

impl Customer<'_> {
    /// Survey `survey` about `reference`, sent at `sent`.
    pub(super) fn survey(&mut self, sent: i64, reference: &str, survey: &'static str) {
        let asked = props([("survey", survey.into())]);
        self.emit(sent, "survey.sent", Some("email"), Some(reference), asked);
        if self.rng.gen_bool(0.45) {
            let answered = self.soon_after(sent, 10 * MINUTE, 2 * DAY);
            let score = pick_weighted(&mut self.rng, &SCORES);
            let answer = props([("survey", survey.into()), ("score", Value::from(score))]);
            self.emit(
                answered,
                "survey.answered",
                Some("email"),
                Some(reference),
                answer,
            );
        }
    }
}
