//! Time in the demo: whole UNIX seconds, the history window, the business's opening hours (on
//! [`Calendar`]) and the customers' waking hours.
//!
//! The office (staff answering messages, confirming bookings, dispatching orders) is open Monday to
//! Friday 09:00-17:30 UTC, the calendar the default policies judge it by; the front desk is open
//! Monday to Saturday 09:00-17:00 UTC. Customers act in their own waking hours, on a fixed offset
//! from UTC (summer time is ignored).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use rand::Rng;

use super::customer::Customer;
use crate::domain::Calendar;

pub(super) const MINUTE: i64 = 60;
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;
/// Length of one business day of the office (09:00-17:30).
pub(super) const BUSINESS_DAY: i64 = 8 * HOUR + 30 * MINUTE;
/// The front desk starts serving its last visitors at 16:45 (it closes at 17:00).
pub(super) const DESK_LAST_VISIT: i64 = 16 * HOUR + 45 * MINUTE;
// Arrivals end at 16:40 (`Hours::desk_arrivals`), so a visit can always be drawn before the last one.
const _: () = assert!(DESK_LAST_VISIT > 16 * HOUR + 40 * MINUTE);
/// Later than every window: where business time would run past the last instant a [`Timestamp`]
/// holds (only with an end close to the year 9999).
pub(super) const BEYOND: i64 = 253_402_207_201;

pub(super) fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

pub(super) fn rfc3339(t: i64) -> String {
    Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

/// The history window, in whole seconds: every event is within `[start, end]`.
pub(super) struct Window {
    pub(super) start: i64,
    pub(super) end: i64,
    /// Range of UTC day starts on which a customer may first appear; chosen so that the first
    /// event, whatever the customer's timezone, is in range.
    pub(super) first_day: i64,
    pub(super) last_day: i64,
}

impl Window {
    pub(super) fn new(end: Timestamp, months: u32) -> Option<Window> {
        let start_ts = window_start(end, months);
        // Round the start up and the end down to whole seconds (`as_second` truncates towards
        // zero, and sub-second parts carry the sign).
        let start = start_ts.as_second() + i64::from(start_ts.subsec_nanosecond() > 0);
        let end = end.as_second() - i64::from(end.subsec_nanosecond() < 0);
        let first_day = day_start(start) + 2 * DAY;
        let last_day = day_start(end) - 2 * DAY;
        (first_day <= last_day).then_some(Window {
            start,
            end,
            first_day,
            last_day,
        })
    }
}

/// `end` minus `months` calendar months (in UTC), or the earliest timestamp if that is out of range.
pub(super) fn window_start(end: Timestamp, months: u32) -> Timestamp {
    Span::new()
        .try_months(i64::from(months))
        .ok()
        .and_then(|span| end.to_zoned(TimeZone::UTC).checked_sub(span).ok())
        .map(|zoned| zoned.timestamp())
        .unwrap_or(Timestamp::MIN)
}

/// The business's opening hours.
pub(super) struct Hours {
    office: Calendar,
    /// When a visitor may still turn up at the front desk and be served that day: it is open
    /// 09:00-17:00, and someone arriving from 16:40 on comes back the next day it is open.
    desk_arrivals: Calendar,
}

impl Hours {
    pub(super) fn new() -> Hours {
        let desk: BTreeMap<String, Vec<String>> = ["mon", "tue", "wed", "thu", "fri", "sat"]
            .into_iter()
            .map(|day| (day.to_string(), vec!["09:00-16:40".to_string()]))
            .collect();
        // Fixed zone and hours, so these cannot fail (the unit tests build them).
        Hours {
            office: Calendar::default_office("UTC").expect("the demo's office calendar is valid"),
            desk_arrivals: Calendar::new("demo front desk", "UTC", &desk, &[])
                .expect("the demo's front-desk calendar is valid"),
        }
    }

    /// `t` plus `secs` (at least 1) seconds of office time, at a moment the office is open: a span
    /// that ends at closing time ends at the next opening instead.
    pub(super) fn add_business(&self, t: i64, secs: i64) -> i64 {
        Timestamp::from_second(t)
            .ok()
            .and_then(|start| {
                let due = self
                    .office
                    .add(start, SignedDuration::from_secs(secs.max(1)));
                self.office.next_open(due.ok()?)
            })
            .map_or(BEYOND, |due| due.as_second())
    }

    /// The first day the office opens, from the UTC day starting at `day` on (a UTC day start).
    pub(super) fn office_day_from(&self, day: i64) -> i64 {
        next_open(&self.office, day).map_or(BEYOND, day_start)
    }

    /// The first moment from `t` on at which a visitor can still be served at the front desk that
    /// day, or `None` past the supported range.
    pub(super) fn desk_arrival_from(&self, t: i64) -> Option<i64> {
        next_open(&self.desk_arrivals, t)
    }
}

fn next_open(calendar: &Calendar, t: i64) -> Option<i64> {
    let t = Timestamp::from_second(t).ok()?;
    calendar.next_open(t).map(|open| open.as_second())
}

/// Weights of the local hours 07:00 … 23:00 at which customers act.
const LOCAL_HOUR_WEIGHTS: [u32; 17] = [2, 4, 7, 9, 9, 8, 8, 8, 7, 7, 6, 6, 6, 7, 6, 4, 1];
const LOCAL_HOUR_TOTAL: u32 = {
    let mut total = 0;
    let mut i = 0;
    while i < LOCAL_HOUR_WEIGHTS.len() {
        total += LOCAL_HOUR_WEIGHTS[i];
        i += 1;
    }
    total
};

impl Customer<'_> {
    /// A moment during the customer's waking hours on the local day that contains `day` (a UTC
    /// day start).
    pub(super) fn local_time_on(&mut self, day: i64) -> i64 {
        let local_midnight = day - self.offset;
        let mut x = self.rng.gen_range(0..LOCAL_HOUR_TOTAL);
        let mut hour = 7;
        for (h, w) in LOCAL_HOUR_WEIGHTS.iter().enumerate() {
            if x < *w {
                hour = 7 + h as i64;
                break;
            }
            x -= w;
        }
        local_midnight + hour * HOUR + self.rng.gen_range(0..HOUR)
    }

    /// A waking-hours moment roughly `min_days..max_days` days after `after`, always strictly
    /// later than `after`.
    pub(super) fn days_later(&mut self, after: i64, min_days: f64, max_days: f64) -> i64 {
        let delay = (self.rng.gen_range(min_days..max_days) * DAY as f64) as i64;
        let day = day_start(after + delay + self.offset);
        let t = self.local_time_on(day);
        t + i64::from(t <= after) * DAY
    }

    /// `after` plus a delay in `min..max` seconds, moved to the next morning if it falls in the
    /// customer's night.
    pub(super) fn soon_after(&mut self, after: i64, min: i64, max: i64) -> i64 {
        let t = after + self.rng.gen_range(min.max(1)..max.max(2));
        let local = t + self.offset;
        let hour = local.rem_euclid(DAY) / HOUR;
        if hour < 7 {
            day_start(local) - self.offset + 7 * HOUR + self.rng.gen_range(0..90 * MINUTE)
        } else {
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn business_time_runs_in_office_hours() {
        let hours = Hours::new();
        // 2025-06-27 is a Friday: an hour from 17:00 is Monday 09:30.
        assert_eq!(
            rfc3339(hours.add_business(at("2025-06-27T17:00:00Z"), HOUR)),
            "2025-06-30T09:30:00Z"
        );
        // Counting starts at the next opening.
        assert_eq!(
            rfc3339(hours.add_business(at("2025-06-28T12:00:00Z"), 30 * MINUTE)),
            "2025-06-30T09:30:00Z"
        );
        // Ending exactly at closing time means the next opening, when someone is there.
        assert_eq!(
            rfc3339(hours.add_business(at("2025-06-27T17:00:00Z"), 30 * MINUTE)),
            "2025-06-30T09:00:00Z"
        );
        assert_eq!(
            rfc3339(hours.add_business(at("2025-06-26T09:00:00Z"), BUSINESS_DAY)),
            "2025-06-27T09:00:00Z"
        );
        // Office days: Friday is one, Saturday and Sunday are not.
        let friday = at("2025-06-27T00:00:00Z");
        assert_eq!(hours.office_day_from(friday), friday);
        assert_eq!(hours.office_day_from(friday + DAY), friday + 3 * DAY);
        assert_eq!(hours.office_day_from(friday + 2 * DAY), friday + 3 * DAY);
    }

    #[test]
    fn the_office_keeps_the_hours_of_the_default_configuration() {
        let config = crate::config::Config::defaults().unwrap();
        let office = &config.file.calendars["office"];
        let configured =
            Calendar::new("office", &office.timezone, &office.hours, &office.holidays).unwrap();
        let ours = Hours::new().office;
        let monday = at("2025-06-30T00:00:00Z");
        for step in 0..(14 * 24 * 4) {
            let t = Timestamp::from_second(monday + step * 15 * MINUTE).unwrap();
            assert_eq!(ours.is_open(t), configured.is_open(t), "{t}");
        }
        let day = ours.open_between(
            Timestamp::from_second(monday).unwrap(),
            Timestamp::from_second(monday + DAY).unwrap(),
        );
        assert_eq!(day.as_secs(), BUSINESS_DAY);
    }

    #[test]
    fn desk_arrivals_until_twenty_to_five_monday_to_saturday() {
        let hours = Hours::new();
        let from = |text: &str| hours.desk_arrival_from(at(text)).map(rfc3339);
        // 2025-06-28 is a Saturday.
        let cases = [
            ("2025-06-28T07:00:00Z", "2025-06-28T09:00:00Z"),
            ("2025-06-28T12:00:00Z", "2025-06-28T12:00:00Z"),
            ("2025-06-28T16:39:59Z", "2025-06-28T16:39:59Z"),
            ("2025-06-28T16:40:00Z", "2025-06-30T09:00:00Z"),
            ("2025-06-29T12:00:00Z", "2025-06-30T09:00:00Z"),
            ("2025-06-27T16:50:00Z", "2025-06-28T09:00:00Z"),
        ];
        for (t, expected) in cases {
            assert_eq!(from(t).as_deref(), Some(expected), "{t}");
        }
    }

    #[test]
    fn beyond_is_just_past_the_last_timestamp() {
        assert_eq!(BEYOND, Timestamp::MAX.as_second() + 1);
        let hours = Hours::new();
        assert_eq!(hours.add_business(BEYOND, HOUR), BEYOND);
        // Business time that would run past the last timestamp.
        assert_eq!(hours.add_business(BEYOND - HOUR, 3 * BUSINESS_DAY), BEYOND);
        assert_eq!(hours.desk_arrival_from(BEYOND), None);
    }
}
