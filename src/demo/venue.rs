//! The venue story: a customer asks about rooms, books one again and again (or once), the venue
//! confirms in office hours — or never, and the customer chases it — reminds them the day before, and
//! sometimes asks how it went.

use rand::Rng;
use serde_json::Value;

use super::customer::{exponential, money, pick, pick_weighted, props, Customer};
use super::time::{day_start, rfc3339, BUSINESS_DAY, DAY, HOUR, MINUTE};

/// (room, capacity, rate in pence).
const ROOMS: [(&str, u32, i64); 4] = [
    ("Boardroom", 12, 24_000),
    ("Garden Room", 40, 52_000),
    ("Studio", 20, 32_000),
    ("Library", 8, 18_000),
];
/// Hours of the day at which bookings start.
const BOOKING_SLOTS: [i64; 4] = [9, 10, 13, 14];

const VENUE_SUBJECTS: [&str; 6] = [
    "Room availability",
    "Meeting room hire",
    "Catering options",
    "Quote for a team away day",
    "Accessibility question",
    "Workshop booking",
];
const FOLLOW_UP_SUBJECTS: [&str; 4] = [
    "Is my booking confirmed?",
    "Following up on my booking",
    "Any update on my booking?",
    "Still waiting to hear back",
];

/// A booking as created: its reference, when it starts and which room.
struct Booking {
    reference: String,
    created: i64,
    starts: i64,
    room: &'static str,
}

impl Customer<'_> {
    pub(super) fn venue(&mut self, first: i64) {
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
        let booking = self.book(tc);
        let u: f64 = self.rng.r#gen();
        let hours = self.hours;
        let confirm_at = if u < 0.76 {
            Some(hours.add_business(tc, self.rng.gen_range(2 * MINUTE..55 * MINUTE)))
        } else if u < 0.90 {
            Some(hours.add_business(tc, self.rng.gen_range(90 * MINUTE..3 * BUSINESS_DAY)))
        } else {
            None
        };
        let starts = booking.starts;
        let cancel_at = if self.rng.gen_bool(0.08) {
            let t = self.soon_after(tc, HOUR, (starts - tc - 3 * HOUR).max(2 * HOUR));
            Some(t.min(starts - HOUR))
        } else {
            None
        };
        let confirm_at = confirm_at.filter(|c| cancel_at.is_none_or(|x| *c < x));
        let r = booking.reference.as_str();
        // `confirm-booking` promises confirmation within an office hour.
        let promised = hours.add_business(tc, HOUR);
        if confirm_at.is_none_or(|c| c > promised) && cancel_at.is_none_or(|x| x > promised) {
            self.let_down(promised, r);
        }
        if let Some(c) = confirm_at {
            // A confirmation repeats what it confirms: the reminder is scheduled from its `starts_at`.
            let confirmed = props([
                ("starts_at", rfc3339(starts).into()),
                ("room", booking.room.into()),
            ]);
            self.emit(c, "booking.confirmed", Some("email"), Some(r), confirmed);
        }
        if let Some(x) = cancel_at {
            let by = if self.rng.gen_bool(0.85) {
                "customer"
            } else {
                "venue"
            };
            let cancelled = props([("cancelled_by", by.into())]);
            self.emit(x, "booking.cancelled", Some("email"), Some(r), cancelled);
        }
        match confirm_at {
            Some(confirmed) => self.after_confirmation(&booking, confirmed, cancel_at),
            None if cancel_at.is_none() => self.chase(&booking),
            None => {}
        }
        confirm_at.is_some()
    }

    /// Creates a booking at `tc`, on an office day 3 to 40 days ahead, from the web, by email or by
    /// phone (a form: it carries the customer's name and email).
    fn book(&mut self, tc: i64) -> Booking {
        let reference = self.next_ref("BK-", |c| &mut c.booking);
        let ahead = day_start(tc) + self.rng.gen_range(3..=40) * DAY;
        let day = self.hours.office_day_from(ahead);
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
        let created = props([
            ("starts_at", rfc3339(starts).into()),
            ("room", room.into()),
            ("attendees", attendees.into()),
            ("amount", money(rate + catering)),
            ("currency", "GBP".into()),
        ]);
        self.emit_form(tc, "booking.created", channel, Some(&reference), created);
        Booking {
            reference,
            created: tc,
            starts,
            room,
        }
    }

    /// A confirmed booking: the reminder the day before (sometimes late, sometimes forgotten), and
    /// now and then a survey after the event.
    fn after_confirmation(&mut self, booking: &Booking, confirmed: i64, cancel_at: Option<i64>) {
        let due = booking.starts - DAY;
        let u: f64 = self.rng.r#gen();
        let reminder = if u < 0.86 {
            Some(due + self.rng.gen_range(0..HOUR - MINUTE))
        } else if u < 0.89 {
            Some(due + self.rng.gen_range(HOUR + MINUTE..6 * HOUR))
        } else {
            None // forgotten
        };
        let reminder = reminder.filter(|at| *at > confirmed && cancel_at.is_none_or(|x| *at < x));
        let r = booking.reference.as_str();
        // `booking-reminder` promises it within the hour after the day before.
        if cancel_at.is_none() && reminder.is_none_or(|at| at > due + HOUR) {
            self.let_down(due + HOUR, r);
        }
        // Now and then the customer moves the booking to another day, before or after the reminder.
        let moved = if cancel_at.is_none() && self.rng.gen_bool(0.07) {
            let at = self.soon_after(
                confirmed,
                HOUR,
                (booking.starts - confirmed - 2 * HOUR).max(2 * HOUR),
            );
            let at = at.min(booking.starts - HOUR);
            let ahead = day_start(booking.starts) + self.rng.gen_range(2..=21) * DAY;
            let starts =
                self.hours.office_day_from(ahead) + pick(&mut self.rng, &BOOKING_SLOTS) * HOUR;
            Some((at.max(confirmed + MINUTE), starts))
        } else {
            None
        };
        if let Some(at) = reminder.filter(|at| moved.is_none_or(|(m, _)| *at < m)) {
            let template = props([("template", "booking-reminder".into())]);
            self.emit(at, "message.sent", Some("email"), Some(r), template);
        }
        if let Some((at, starts)) = moved {
            let rescheduled = props([
                ("starts_at", rfc3339(starts).into()),
                ("previous_starts_at", rfc3339(booking.starts).into()),
                ("room", booking.room.into()),
            ]);
            self.emit(
                at,
                "booking.rescheduled",
                Some("email"),
                Some(r),
                rescheduled,
            );
            // The reminder for the new date, mostly in time.
            if self.rng.gen_bool(0.9) {
                let at = starts - DAY + self.rng.gen_range(0..HOUR - MINUTE);
                let template = props([("template", "booking-reminder".into())]);
                self.emit(at, "message.sent", Some("email"), Some(r), template);
            }
        }
        if cancel_at.is_none() {
            let starts = moved.map_or(booking.starts, |(_, starts)| starts);
            self.prepare_room(booking, confirmed, starts);
        }
        // The venue's own `survey-after-event` policy asks NPS the day after the event.
        if cancel_at.is_none() {
            let starts = moved.map_or(booking.starts, |(_, starts)| starts);
            self.ask(starts + DAY, r, "nps", "survey-after-event", Some("email"));
        }
    }

    /// Backstage: housekeeping sets the room up (`room.prepared`, which the customer does not see), mostly
    /// the afternoon before, now and then only in a rush on the morning itself, a few times never recorded.
    /// Chosen from the booking's own times, with no random draw, so the rest of the story stays as it was.
    fn prepare_room(&mut self, booking: &Booking, confirmed: i64, starts: i64) {
        let n = booking.created.rem_euclid(100);
        let prepared = match n {
            0..=3 => return,
            4..=15 => starts - 2 * HOUR + n * MINUTE,
            _ => starts - DAY + 2 * HOUR + (n % 24) * 10 * MINUTE,
        };
        // Never before it was confirmed: set up soon after a late confirmation instead.
        let prepared = prepared
            .max(confirmed + 20 * MINUTE + n * MINUTE)
            .min(starts - MINUTE);
        if prepared > confirmed {
            let room = props([("room", booking.room.into())]);
            self.emit(
                prepared,
                "room.prepared",
                None,
                Some(&booking.reference),
                room,
            );
        }
    }

    /// A booking left unconfirmed (and not cancelled): often the customer asks again and again and
    /// hears nothing.
    fn chase(&mut self, booking: &Booking) {
        if !self.rng.gen_bool(0.6) {
            return;
        }
        let follow_ups = self.rng.gen_range(2..=5);
        let mut t = booking.created;
        for _ in 0..follow_ups {
            t = self.days_later(t, 1.0, 4.0);
            if t > booking.starts + DAY {
                break;
            }
            let subject: Value = pick(&mut self.rng, &FOLLOW_UP_SUBJECTS).into();
            let r = booking.reference.as_str();
            self.emit(
                t,
                "message.received",
                Some("email"),
                Some(r),
                props([("subject", subject)]),
            );
        }
    }
}
