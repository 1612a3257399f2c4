//! The app story: a customer opens the shop's app at their own rate until they lose interest (and
//! just before some orders).

use rand::Rng;
use serde_json::Value;

use super::customer::{exponential, props, Customer};
use super::time::{DAY, HOUR};

impl Customer<'_> {
    /// App sessions from soon after `born` on.
    pub(super) fn app(&mut self, born: i64) {
        let per_month = self.rng.gen_range(1.0..12.0);
        let until = born + (exponential(&mut self.rng, 150.0) * DAY as f64) as i64;
        let mut t = self.soon_after(born, HOUR, 3 * DAY);
        while t <= until && !self.after_end(t) {
            self.app_session(t);
            let gap = exponential(&mut self.rng, 30.0 / per_month).max(0.05);
            let gap = (gap * DAY as f64) as i64;
            t = self.soon_after(t, gap, gap + 4 * HOUR);
        }
    }

    /// One session in the app at `at`.
    pub(super) fn app_session(&mut self, at: i64) {
        let session = props([
            ("duration_s", Value::from(self.rng.gen_range(20..1_500))),
            ("platform", self.platform.into()),
        ]);
        self.emit(at, "app.session", Some("app"), None, session);
    }
}
