//! The shop story: a customer orders on the web or in the app, once or at their own pace until they
//! silently drop out ("buy till you die"); the shop confirms, dispatches in office hours and the
//! carrier delivers — mostly. Some shoppers write in with questions; some of those become support tickets.

use rand::Rng;
use serde_json::{Map, Value};

use super::customer::{exponential, money, pick, pick_weighted, props, Customer};
use super::time::{day_start, BUSINESS_DAY, DAY, HOUR, MINUTE};

const SHOP_SUBJECTS: [&str; 6] = [
    "Where is my order?",
    "Question about sizing",
    "Return request",
    "Change of delivery address",
    "Discount code not working",
    "Product question",
];
const CARRIERS: [&str; 3] = ["Royal Mail", "DPD", "Evri"];
/// Number of items in an order, with weights.
const ITEMS: [(i32, u32); 5] = [(1, 40), (2, 28), (3, 15), (4, 10), (5, 7)];
/// Smallest and largest order, in pence.
const SMALLEST: i64 = 1_250;
const LARGEST: i64 = 24_000;

impl Customer<'_> {
    pub(super) fn shop(&mut self, first: i64, app_user: bool) {
        let orders = self.order_times(first);
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
                // Some requests go to the support desk as tickets; the others are conversations.
                if channel == "email" && self.rng.gen_bool(0.4) {
                    self.ticket(t, subject);
                    continue;
                }
                let exchanges = self.rng.gen_range(1..=3);
                self.thread(t, channel, subject, exchanges);
            }
        }
    }

    /// When the customer orders: many buy once; the others buy at their own rate until they drop out.
    fn order_times(&mut self, first: i64) -> Vec<i64> {
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
        orders
    }

    /// One order placed at `tp` (a form: it carries the customer's name and email).
    fn order(&mut self, tp: i64, channel: &'static str) {
        let r = self.next_ref("ORD-", |c| &mut c.order);
        let cents = self.order_amount();
        let items = pick_weighted(&mut self.rng, &ITEMS);
        let placed = props([
            ("amount", money(cents)),
            ("currency", "GBP".into()),
            ("items", Value::from(items)),
        ]);
        let purchase = props([("amount", money(cents)), ("currency", "GBP".into())]);
        self.emit_form(tp, "order.placed", Some(channel), Some(&r), placed);
        self.emit(tp, "purchase", Some(channel), Some(&r), purchase);

        let u: f64 = self.rng.r#gen();
        let confirmed = if u < 0.91 {
            Some(tp + self.rng.gen_range(20..8 * MINUTE))
        } else if u < 0.97 {
            let delay = self.rng.gen_range(2 * HOUR..2 * BUSINESS_DAY);
            Some(self.hours.add_business(tp, delay))
        } else {
            None
        };
        let cancelled = self
            .rng
            .gen_bool(0.05)
            .then(|| self.soon_after(tp, 10 * MINUTE, 20 * HOUR));
        // `confirm-order` promises confirmation within the hour.
        if confirmed.is_none_or(|c| c > tp + HOUR) && cancelled.is_none_or(|x| x > tp + HOUR) {
            self.let_down(tp + HOUR, &r);
        }
        if let Some(c) = confirmed.filter(|c| cancelled.is_none_or(|x| *c < x)) {
            self.emit(c, "order.confirmed", Some("email"), Some(&r), Map::new());
        }
        if let Some(x) = cancelled {
            self.emit(x, "order.cancelled", Some(channel), Some(&r), Map::new());
            return;
        }
        self.dispatch(confirmed.unwrap_or(tp), confirmed, &r);
    }

    /// Seen's stage update: the order journey tells the customer "still working on it" a day after the
    /// confirmation when the order is not packed by then (`tell_customer_after = "1d"`), and records it as
    /// the actions job does. A fixed two minutes after it fell due, with no random draw.
    fn tell_still_working(&mut self, confirmed: Option<i64>, packed: Option<i64>, r: &str) {
        let Some(due) = confirmed.map(|c| c + DAY) else {
            return;
        };
        if packed.is_none_or(|p| p > due) {
            let sent = props([
                ("automated", true.into()),
                ("template", "still-working".into()),
            ]);
            self.emit(
                due + 2 * MINUTE,
                "journey.stage_update",
                Some("email"),
                Some(r),
                sent,
            );
        }
    }

    /// A shop price in pence: log-uniform, mostly rounded the way shops round.
    fn order_amount(&mut self) -> i64 {
        let ln_lo = (SMALLEST as f64).ln();
        let ln_hi = (LARGEST as f64).ln();
        let raw = self.rng.gen_range(ln_lo..ln_hi).exp() as i64;
        match self.rng.gen_range(0..4) {
            0 => raw / 100 * 100 + 99,
            1 => raw / 50 * 50,
            2 => raw / 100 * 100 + 95,
            _ => raw,
        }
        .clamp(SMALLEST, LARGEST)
    }

    /// Dispatch in office hours after `base` (mostly within a business day, sometimes days late,
    /// now and then never), then delivery by the carrier.
    fn dispatch(&mut self, base: i64, confirmed: Option<i64>, r: &str) {
        let u: f64 = self.rng.r#gen();
        let delay = if u < 0.86 {
            self.rng.gen_range(30 * MINUTE..BUSINESS_DAY + 4 * HOUR)
        } else if u < 0.975 {
            self.rng
                .gen_range(2 * BUSINESS_DAY + HOUR..6 * BUSINESS_DAY)
        } else {
            self.let_down(base + 2 * DAY, r);
            self.tell_still_working(confirmed, None, r);
            return; // never dispatched
        };
        let dispatched = self.hours.add_business(base, delay);
        // `dispatch-order` promises dispatch within two days of the order.
        if dispatched > base + 2 * DAY {
            self.let_down(base + 2 * DAY, r);
        }
        // Backstage: the warehouse packs the order (`order.packed`, unseen by the customer) somewhere
        // between the order and its dispatch; a slow dispatch was mostly a slow packing. From the times
        // alone, with no random draw, so the rest of the story stays as it was.
        let share = 30 + dispatched.rem_euclid(61); // 30..90 % of the way
        let packed = base + (dispatched - base) * share / 100;
        self.tell_still_working(confirmed, Some(packed), r);
        self.emit(packed, "order.packed", None, Some(r), Map::new());
        let carrier = props([("carrier", pick(&mut self.rng, &CARRIERS).into())]);
        self.emit(dispatched, "order.dispatched", None, Some(r), carrier);
        if self.rng.gen_bool(0.98) {
            let day = day_start(dispatched) + self.rng.gen_range(1..=3) * DAY;
            let delivered = day + 8 * HOUR + self.rng.gen_range(0..11 * HOUR);
            self.emit(delivered, "order.delivered", None, Some(r), Map::new());
            // `survey-after-delivery` asks CSAT a day later.
            self.ask(delivered + DAY, r, "csat", "survey-after-delivery", None);
        }
    }
}
