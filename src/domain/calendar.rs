//! Business-hours calendars and business-time arithmetic.
//!
//! A [`Calendar`] is an IANA time zone, weekly opening hours (several local
//! wall-clock intervals per weekday) and a set of local holiday dates.
//!
//! # Definition of "open"
//!
//! An instant `t` is open iff, converting `t` to the local civil datetime in
//! the calendar's zone (local date `d`, local time `x`), `d` is not a holiday
//! and `x` lies in `[start, end)` of one of the intervals configured for the
//! weekday of `d`. Everything else in this module is an efficient way of
//! computing with that definition:
//!
//! * in a spring-forward gap the skipped local times never occur, so they are
//!   never open;
//! * in a fall-back fold the repeated local times occur twice, and are open
//!   both times if an interval covers them;
//! * overnight opening is written as `22:00-24:00` on one day plus
//!   `00:00-02:00` on the next, and is continuous open time.
//!
//! Business time is measured in real elapsed time (differences of
//! [`Timestamp`]s), never in wall-clock differences.
//!
//! # How it is computed
//!
//! The timeline is cut at the zone's offset transitions. Between two
//! transitions the offset `o` is constant, so the local civil time of `t` is
//! simply `t + o` and the open instants of a local interval `[s, e)` on local
//! day `d` are exactly `[d + s - o, d + e - o)`, clipped to the segment. Walking
//! the segments in order and the local days within each segment yields the
//! open instants as an ordered sequence of ranges, from which
//! [`Calendar::add`], [`Calendar::open_between`] and [`Calendar::next_open`]
//! are computed with integer arithmetic only.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::{TimeZone, TimeZoneFollowingTransitions};
use jiff::{SignedDuration, Timestamp};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MINUTE: i128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;
/// How far to search for open time before giving up: 10 years (with leap days).
const SEARCH_HORIZON: i128 = 3_653 * NANOS_PER_DAY;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Weekday keys accepted in the opening-hours map, Monday first.
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Errors from building a calendar or computing with it.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The time zone name is not a known IANA time zone.
    #[error("calendar {calendar}: unknown time zone {timezone:?}")]
    UnknownTimeZone {
        calendar: String,
        timezone: String,
        #[source]
        source: jiff::Error,
    },
    /// A key of the opening-hours map is not a weekday key.
    #[error(
        "calendar {calendar}: unknown weekday {key:?} in hours: expected one of mon, tue, wed, thu, fri, sat, sun"
    )]
    UnknownWeekday { calendar: String, key: String },
    /// An opening interval is malformed or empty.
    #[error("calendar {calendar}: bad interval {interval:?} on {weekday}: {reason}")]
    BadInterval {
        calendar: String,
        weekday: String,
        interval: String,
        reason: &'static str,
    },
    /// Two opening intervals of the same weekday overlap.
    #[error("calendar {calendar}: overlapping intervals {first:?} and {second:?} on {weekday}")]
    OverlappingIntervals {
        calendar: String,
        weekday: String,
        first: String,
        second: String,
    },
    /// A holiday is not a valid `YYYY-MM-DD` date.
    #[error("calendar {calendar}: bad holiday {holiday:?}: {reason}")]
    BadHoliday {
        calendar: String,
        holiday: String,
        reason: &'static str,
    },
    /// Business time cannot be added backwards.
    #[error("calendar {calendar}: negative business-time span {span}")]
    NegativeSpan {
        calendar: String,
        span: SignedDuration,
    },
    /// The calendar has no opening hours on any weekday.
    #[error("calendar {calendar}: no opening hours configured")]
    NoOpeningHours { calendar: String },
    /// No open time was found within 10 years.
    #[error("calendar {calendar}: no open time within 10 years after {after}")]
    NoOpenTime { calendar: String, after: Timestamp },
    /// The result would lie outside the range of supported instants.
    #[error("calendar {calendar}: business-time result is out of the supported time range")]
    OutOfRange { calendar: String },
}

/// One opening interval of a day: local minutes since midnight, `[start, end)`,
/// with `end` at most 24:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: u16,
    end: u16,
}

/// A business-hours calendar: time zone, weekly opening hours and holidays.
#[derive(Clone, Debug)]
pub struct Calendar {
    name: String,
    tz: TimeZone,
    /// Opening intervals per weekday (index 0 = Monday), sorted, not overlapping.
    week: [Vec<Interval>; 7],
    /// Holidays as local dates, counted in days since 1970-01-01.
    holidays: BTreeSet<i64>,
}

impl Calendar {
    /// Builds a calendar.
    ///
    /// `hours` maps weekday keys (`mon tue wed thu fri sat sun`) to lists of
    /// local intervals `"HH:MM-HH:MM"` (end may be `"24:00"`). Intervals must
    /// have start before end and must not overlap within a day (touching is
    /// fine). `holidays` are local dates `"YYYY-MM-DD"` with no opening hours.
    pub fn new(
        name: &str,
        timezone: &str,
        hours: &BTreeMap<String, Vec<String>>,
        holidays: &[String],
    ) -> Result<Calendar, CalendarError> {
        let tz = TimeZone::get(timezone).map_err(|source| CalendarError::UnknownTimeZone {
            calendar: name.to_string(),
            timezone: timezone.to_string(),
            source,
        })?;

        let mut week: [Vec<Interval>; 7] = Default::default();
        for (key, specs) in hours {
            let Some(index) = WEEKDAYS.iter().position(|w| w == key) else {
                return Err(CalendarError::UnknownWeekday {
                    calendar: name.to_string(),
                    key: key.clone(),
                });
            };
            let mut parsed: Vec<(Interval, &str)> = Vec::with_capacity(specs.len());
            for spec in specs {
                let interval =
                    parse_interval(spec).map_err(|reason| CalendarError::BadInterval {
                        calendar: name.to_string(),
                        weekday: key.clone(),
                        interval: spec.clone(),
                        reason,
                    })?;
                parsed.push((interval, spec.as_str()));
            }
            parsed.sort_by_key(|(interval, _)| (interval.start, interval.end));
            for pair in parsed.windows(2) {
                if pair[0].0.end > pair[1].0.start {
                    return Err(CalendarError::OverlappingIntervals {
                        calendar: name.to_string(),
                        weekday: key.clone(),
                        first: pair[0].1.to_string(),
                        second: pair[1].1.to_string(),
                    });
                }
            }
            week[index] = parsed.into_iter().map(|(interval, _)| interval).collect();
        }

        let mut days = BTreeSet::new();
        for holiday in holidays {
            let day = parse_date(holiday).map_err(|reason| CalendarError::BadHoliday {
                calendar: name.to_string(),
                holiday: holiday.clone(),
                reason,
            })?;
            days.insert(day);
        }

        Ok(Calendar {
            name: name.to_string(),
            tz,
            week,
            holidays: days,
        })
    }

    /// The built-in default: Monday to Friday 09:00-17:30 in the given zone,
    /// no holidays. Its name is `"default"`.
    pub fn default_office(timezone: &str) -> Result<Calendar, CalendarError> {
        let hours: BTreeMap<String, Vec<String>> = WEEKDAYS[..5]
            .iter()
            .map(|day| (day.to_string(), vec!["09:00-17:30".to_string()]))
            .collect();
        Calendar::new("default", timezone, &hours, &[])
    }

    /// The calendar's name, as used in error messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calendar's time zone.
    pub fn timezone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether the instant `t` is within opening hours.
    pub fn is_open(&self, t: Timestamp) -> bool {
        let offset = i128::from(self.tz.to_offset(t).seconds()) * NANOS_PER_SECOND;
        let local = t.as_nanosecond() + offset;
        let time_of_day = local.rem_euclid(NANOS_PER_DAY);
        self.intervals_on(local_day(local)).iter().any(|interval| {
            minutes_to_nanos(interval.start) <= time_of_day
                && time_of_day < minutes_to_nanos(interval.end)
        })
    }

    /// The earliest instant `due >= start` such that the real elapsed open
    /// time in `[start, due)` equals `span`.
    ///
    /// A start outside opening hours starts counting at the next opening; a
    /// span that ends exactly at a closing time returns that closing instant;
    /// a zero span returns `start`. Errors on a negative span, on a calendar
    /// without opening hours, and when no open time is found within 10 years.
    pub fn add(&self, start: Timestamp, span: SignedDuration) -> Result<Timestamp, CalendarError> {
        if span.is_negative() {
            return Err(CalendarError::NegativeSpan {
                calendar: self.name.clone(),
                span,
            });
        }
        if span.is_zero() {
            return Ok(start);
        }
        if !self.has_hours() {
            return Err(CalendarError::NoOpeningHours {
                calendar: self.name.clone(),
            });
        }
        let max = Timestamp::MAX.as_nanosecond();
        let mut remaining = span.as_nanos();
        let mut after = start;
        let mut ranges = OpenRanges::new(self, start, horizon_from(start.as_nanosecond()));
        while let Some((lo, hi)) = ranges.next() {
            let len = hi - lo;
            if remaining <= len {
                return Timestamp::from_nanosecond(lo + remaining).map_err(|_| {
                    CalendarError::OutOfRange {
                        calendar: self.name.clone(),
                    }
                });
            }
            remaining -= len;
            // Keep searching as long as open time keeps turning up.
            ranges.limit = horizon_from(hi);
            if let Ok(end) = Timestamp::from_nanosecond(hi) {
                after = end;
            }
        }
        if ranges.limit >= max {
            Err(CalendarError::OutOfRange {
                calendar: self.name.clone(),
            })
        } else {
            Err(CalendarError::NoOpenTime {
                calendar: self.name.clone(),
                after,
            })
        }
    }

    /// The real elapsed open time in `[a, b)`; zero if `b <= a`.
    pub fn open_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        if b <= a || !self.has_hours() {
            return SignedDuration::ZERO;
        }
        let end = b.as_nanosecond();
        let total: i128 = OpenRanges::new(self, a, end)
            .map(|(lo, hi)| hi.min(end) - lo)
            .sum();
        SignedDuration::try_from_nanos_i128(total).unwrap_or(SignedDuration::MAX)
    }

    /// The earliest open instant `>= t` (`t` itself if it is open); `None` if
    /// there is no open time within 10 years.
    pub fn next_open(&self, t: Timestamp) -> Option<Timestamp> {
        if !self.has_hours() {
            return None;
        }
        let mut ranges = OpenRanges::new(self, t, horizon_from(t.as_nanosecond()));
        let (lo, _) = ranges.next()?;
        Timestamp::from_nanosecond(lo).ok()
    }

    fn has_hours(&self) -> bool {
        self.week.iter().any(|day| !day.is_empty())
    }

    /// The opening intervals of a local day (days since 1970-01-01).
    fn intervals_on(&self, day: i64) -> &[Interval] {
        if self.holidays.contains(&day) {
            &[]
        } else {
            &self.week[weekday_index(day)]
        }
    }
}

/// The open instants from a starting instant on, as ordered, non-overlapping
/// ranges `[lo, hi)` of nanoseconds since the Unix epoch.
///
/// The timeline is cut into segments of constant UTC offset. Within a segment
/// with offset `o`, the local interval `[s, e)` of local day `d` is open
/// exactly on `[d + s - o, d + e - o)`; those ranges are clipped to the
/// segment. Ranges are yielded while they start before `limit`.
struct OpenRanges<'a> {
    cal: &'a Calendar,
    transitions: TimeZoneFollowingTransitions<'a>,
    /// Start of the current segment (or the search start): nothing before it is yielded.
    floor: i128,
    /// UTC offset of the current segment, in nanoseconds.
    offset: i128,
    /// The transition that ends the current segment: instant and new offset.
    pending: Option<(i128, i128)>,
    /// Local day being scanned, in days since 1970-01-01.
    day: i64,
    /// Index of the next interval of `day` to look at.
    index: usize,
    /// Stop once the next range would start at or after this instant.
    limit: i128,
}

impl<'a> OpenRanges<'a> {
    fn new(cal: &'a Calendar, start: Timestamp, limit: i128) -> OpenRanges<'a> {
        let floor = start.as_nanosecond();
        let offset = i128::from(cal.tz.to_offset(start).seconds()) * NANOS_PER_SECOND;
        let mut ranges = OpenRanges {
            cal,
            transitions: cal.tz.following(start),
            floor,
            offset,
            pending: None,
            day: local_day(floor + offset),
            index: 0,
            limit,
        };
        ranges.pending = ranges.transition_after(floor);
        ranges
    }

    fn transition_after(&mut self, after: i128) -> Option<(i128, i128)> {
        self.transitions
            .by_ref()
            .map(|t| {
                (
                    t.timestamp().as_nanosecond(),
                    i128::from(t.offset().seconds()) * NANOS_PER_SECOND,
                )
            })
            .find(|&(at, _)| at > after)
    }
}

impl Iterator for OpenRanges<'_> {
    type Item = (i128, i128);

    fn next(&mut self) -> Option<(i128, i128)> {
        loop {
            let segment_end = self.pending.map_or(i128::MAX, |(at, _)| at);
            // The instant at which local day `day` starts under this segment's offset.
            let midnight = i128::from(self.day) * NANOS_PER_DAY - self.offset;
            if midnight >= segment_end {
                // The rest of this segment has been scanned: move to the next one.
                let (at, offset) = self.pending?;
                if at >= self.limit {
                    return None;
                }
                self.floor = at;
                self.offset = offset;
                self.pending = self.transition_after(at);
                self.day = local_day(at + offset);
                self.index = 0;
                continue;
            }
            if midnight >= self.limit {
                return None;
            }
            let Some(&interval) = self.cal.intervals_on(self.day).get(self.index) else {
                self.day += 1;
                self.index = 0;
                continue;
            };
            self.index += 1;
            let lo = (midnight + minutes_to_nanos(interval.start)).max(self.floor);
            let hi = (midnight + minutes_to_nanos(interval.end)).min(segment_end);
            if lo < hi {
                if lo >= self.limit {
                    return None;
                }
                return Some((lo, hi));
            }
        }
    }
}

/// The search limit 10 years after `from`, capped at the last supported instant.
fn horizon_from(from: i128) -> i128 {
    from.saturating_add(SEARCH_HORIZON)
        .min(Timestamp::MAX.as_nanosecond())
}

fn minutes_to_nanos(minutes: u16) -> i128 {
    i128::from(minutes) * NANOS_PER_MINUTE
}

/// The local day (days since 1970-01-01) of local nanoseconds since 1970-01-01T00:00.
fn local_day(local_nanos: i128) -> i64 {
    // Supported instants are within ±10,000 years, far inside i64 days.
    local_nanos.div_euclid(NANOS_PER_DAY) as i64
}

/// 0 = Monday .. 6 = Sunday, for days since 1970-01-01 (a Thursday).
fn weekday_index(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses `"HH:MM-HH:MM"` into minutes since midnight; the end may be `24:00`.
fn parse_interval(spec: &str) -> Result<Interval, &'static str> {
    const SYNTAX: &str = "expected HH:MM-HH:MM";
    let (start, end) = spec.split_once('-').ok_or(SYNTAX)?;
    let start = parse_time_of_day(start)?;
    let end = parse_time_of_day(end)?;
    if start >= end {
        return Err("start must be before end");
    }
    Ok(Interval { start, end })
}

/// Parses `"HH:MM"` (00:00 to 24:00) into minutes since midnight.
fn parse_time_of_day(text: &str) -> Result<u16, &'static str> {
    const SYNTAX: &str = "expected HH:MM-HH:MM";
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return Err(SYNTAX);
    }
    let hours = two_digits(bytes[0], bytes[1]).ok_or(SYNTAX)?;
    let minutes = two_digits(bytes[3], bytes[4]).ok_or(SYNTAX)?;
    if minutes >= 60 {
        return Err("minutes must be 00 to 59");
    }
    let total = hours * 60 + minutes;
    if total > MINUTES_PER_DAY {
        return Err("times must be 00:00 to 24:00");
    }
    Ok(total)
}

fn two_digits(tens: u8, ones: u8) -> Option<u16> {
    if tens.is_ascii_digit() && ones.is_ascii_digit() {
        Some(u16::from(tens - b'0') * 10 + u16::from(ones - b'0'))
    } else {
        None
    }
}

/// Parses `"YYYY-MM-DD"` into days since 1970-01-01.
fn parse_date(text: &str) -> Result<i64, &'static str> {
    const SYNTAX: &str = "expected YYYY-MM-DD";
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(SYNTAX);
    }
    let year_digits = two_digits(bytes[0], bytes[1])
        .zip(two_digits(bytes[2], bytes[3]))
        .ok_or(SYNTAX)?;
    let year = year_digits.0 * 100 + year_digits.1;
    let month = two_digits(bytes[5], bytes[6]).ok_or(SYNTAX)?;
    let day = two_digits(bytes[8], bytes[9]).ok_or(SYNTAX)?;
    // The year has four digits, so it always fits an i16.
    let date =
        jiff::civil::Date::new(year as i16, month as i8, day as i8).map_err(|_| "no such date")?;
    Ok(days_from_civil(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{Date, Time, Weekday};
    use proptest::prelude::*;

    // ----- helpers ---------------------------------------------------------

    fn hours(spec: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        spec.iter()
            .map(|(day, intervals)| {
                (
                    day.to_string(),
                    intervals.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn cal(zone: &str, spec: &[(&str, &[&str])], holidays: &[&str]) -> Calendar {
        Calendar::new("test", zone, &hours(spec), &strings(holidays)).unwrap()
    }

    const WEEKDAYS_9_1730: &[(&str, &[&str])] = &[
        ("mon", &["09:00-17:30"]),
        ("tue", &["09:00-17:30"]),
        ("wed", &["09:00-17:30"]),
        ("thu", &["09:00-17:30"]),
        ("fri", &["09:00-17:30"]),
    ];

    const EVERY_DAY_9_1730: &[(&str, &[&str])] = &[
        ("mon", &["09:00-17:30"]),
        ("tue", &["09:00-17:30"]),
        ("wed", &["09:00-17:30"]),
        ("thu", &["09:00-17:30"]),
        ("fri", &["09:00-17:30"]),
        ("sat", &["09:00-17:30"]),
        ("sun", &["09:00-17:30"]),
    ];

    const SPLIT_DAY: &[(&str, &[&str])] = &[
        ("mon", &["09:00-12:00", "13:00-17:30"]),
        ("tue", &["13:00-17:30", "09:00-12:00"]),
        ("wed", &["09:00-12:00", "13:00-17:30"]),
        ("thu", &["09:00-12:00", "13:00-17:30"]),
        ("fri", &["09:00-12:00", "13:00-17:30"]),
    ];

    /// An RFC 3339 instant with explicit offset, e.g. "2026-03-02T09:00:00+00:00".
    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    /// (what, start, business minutes, expected due)
    type Case = (&'static str, &'static str, i64, &'static str);

    fn check_cases(cal: &Calendar, cases: &[Case]) {
        for &(what, start, minutes, due) in cases {
            let start = ts(start);
            let due = ts(due);
            let got = cal.add(start, mins(minutes)).unwrap();
            assert_eq!(got, due, "add: {what}");
            assert_eq!(
                cal.open_between(start, due),
                mins(minutes),
                "open_between: {what}"
            );
        }
    }

    #[test]
    fn weekdays_of_dates_used_in_tables() {
        let expect = [
            ("2026-03-01", Weekday::Sunday),
            ("2026-03-02", Weekday::Monday),
            ("2026-03-06", Weekday::Friday),
            ("2026-03-08", Weekday::Sunday),
            ("2026-03-29", Weekday::Sunday),
            ("2026-10-23", Weekday::Friday),
            ("2026-10-25", Weekday::Sunday),
            ("2026-10-30", Weekday::Friday),
            ("2026-11-01", Weekday::Sunday),
            ("2026-04-05", Weekday::Sunday),
            ("2026-10-04", Weekday::Sunday),
        ];
        for (date, weekday) in expect {
            assert_eq!(date.parse::<Date>().unwrap().weekday(), weekday, "{date}");
        }
    }

    #[test]
    fn days_from_civil_matches_jiff() {
        let epoch = Date::constant(1970, 1, 1);
        let mut date = Date::constant(1600, 1, 1);
        while date < Date::constant(2500, 1, 1) {
            let expected = i64::from(epoch.until(date).unwrap().get_days());
            let got = days_from_civil(
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
            );
            assert_eq!(got, expected, "{date}");
            assert_eq!(
                weekday_index(got),
                date.weekday().to_monday_zero_offset() as usize,
                "{date}"
            );
            date = date.checked_add(jiff::Span::new().days(13)).unwrap();
        }
    }

    // ----- table tests: Europe/London ---------------------------------------

    #[test]
    fn london_office_table() {
        let office = Calendar::default_office("Europe/London").unwrap();
        assert_eq!(office.name(), "default");
        // Winter: GMT, local time == UTC.
        check_cases(
            &office,
            &[
                (
                    "same day",
                    "2026-03-02T10:00:00+00:00",
                    120,
                    "2026-03-02T12:00:00+00:00",
                ),
                (
                    "across a night",
                    "2026-03-02T16:00:00+00:00",
                    180,
                    "2026-03-03T10:30:00+00:00",
                ),
                (
                    "friday to monday",
                    "2026-03-06T16:30:00+00:00",
                    120,
                    "2026-03-09T10:00:00+00:00",
                ),
                (
                    "before opening",
                    "2026-03-02T07:00:00+00:00",
                    60,
                    "2026-03-02T10:00:00+00:00",
                ),
                (
                    "after closing",
                    "2026-03-02T18:00:00+00:00",
                    60,
                    "2026-03-03T10:00:00+00:00",
                ),
                (
                    "on a sunday",
                    "2026-03-01T12:00:00+00:00",
                    60,
                    "2026-03-02T10:00:00+00:00",
                ),
                (
                    "saturday night, one full day",
                    "2026-03-07T23:00:00+00:00",
                    510,
                    "2026-03-09T17:30:00+00:00",
                ),
                (
                    "due exactly at closing (full day)",
                    "2026-03-02T09:00:00+00:00",
                    510,
                    "2026-03-02T17:30:00+00:00",
                ),
                (
                    "due exactly at closing",
                    "2026-03-02T17:00:00+00:00",
                    30,
                    "2026-03-02T17:30:00+00:00",
                ),
                (
                    "one minute past a full day",
                    "2026-03-02T09:00:00+00:00",
                    511,
                    "2026-03-03T09:01:00+00:00",
                ),
                (
                    "start at closing",
                    "2026-03-02T17:30:00+00:00",
                    1,
                    "2026-03-03T09:01:00+00:00",
                ),
                (
                    "start one minute before opening",
                    "2026-03-02T08:59:00+00:00",
                    1,
                    "2026-03-02T09:01:00+00:00",
                ),
                (
                    "zero span when closed",
                    "2026-03-01T12:00:00+00:00",
                    0,
                    "2026-03-01T12:00:00+00:00",
                ),
                (
                    "one full week",
                    "2026-03-02T09:00:00+00:00",
                    5 * 510,
                    "2026-03-06T17:30:00+00:00",
                ),
                (
                    "two days over a weekend",
                    "2026-03-05T12:00:00+00:00",
                    1020,
                    "2026-03-09T12:00:00+00:00",
                ),
                // Spring forward (Sun 2026-03-29 01:00 GMT -> 02:00 BST) over the weekend.
                (
                    "dst spring: fri to mon",
                    "2026-03-27T16:30:00+00:00",
                    120,
                    "2026-03-30T10:00:00+01:00",
                ),
                (
                    "dst spring: one business day",
                    "2026-03-27T17:00:00+00:00",
                    510,
                    "2026-03-30T17:00:00+01:00",
                ),
                (
                    "dst spring: two business days",
                    "2026-03-27T09:00:00+00:00",
                    1020,
                    "2026-03-30T17:30:00+01:00",
                ),
                // Fall back (Sun 2026-10-25 02:00 BST -> 01:00 GMT) over the weekend.
                (
                    "dst fall: one business day",
                    "2026-10-23T17:00:00+01:00",
                    510,
                    "2026-10-26T17:00:00+00:00",
                ),
                (
                    "dst fall: two business days",
                    "2026-10-23T09:00:00+01:00",
                    1020,
                    "2026-10-26T17:30:00+00:00",
                ),
                (
                    "dst fall: fri to mon opening",
                    "2026-10-23T17:29:00+01:00",
                    2,
                    "2026-10-26T09:01:00+00:00",
                ),
            ],
        );
        assert_eq!(
            office.open_between(
                ts("2026-03-27T17:30:00+00:00"),
                ts("2026-03-30T09:00:00+01:00")
            ),
            SignedDuration::ZERO
        );
    }

    #[test]
    fn london_holidays_table() {
        let one = cal("Europe/London", WEEKDAYS_9_1730, &["2026-03-03"]);
        check_cases(
            &one,
            &[
                (
                    "holiday skipped",
                    "2026-03-02T16:00:00+00:00",
                    180,
                    "2026-03-04T10:30:00+00:00",
                ),
                (
                    "trigger on holiday",
                    "2026-03-03T10:00:00+00:00",
                    60,
                    "2026-03-04T10:00:00+00:00",
                ),
                (
                    "due at closing before holiday",
                    "2026-03-02T16:00:00+00:00",
                    90,
                    "2026-03-02T17:30:00+00:00",
                ),
            ],
        );
        let two = cal(
            "Europe/London",
            WEEKDAYS_9_1730,
            &["2026-03-04", "2026-03-03"],
        );
        check_cases(
            &two,
            &[(
                "two consecutive holidays",
                "2026-03-02T16:00:00+00:00",
                180,
                "2026-03-05T10:30:00+00:00",
            )],
        );
        let bridge = cal(
            "Europe/London",
            WEEKDAYS_9_1730,
            &["2026-03-06", "2026-03-09"],
        );
        check_cases(
            &bridge,
            &[(
                "friday and monday holidays around a weekend",
                "2026-03-05T17:00:00+00:00",
                60,
                "2026-03-10T09:30:00+00:00",
            )],
        );
        // A holiday on a Saturday changes nothing.
        let weekend = cal("Europe/London", WEEKDAYS_9_1730, &["2026-03-07"]);
        check_cases(
            &weekend,
            &[(
                "holiday on a closed day",
                "2026-03-06T17:00:00+00:00",
                60,
                "2026-03-09T09:30:00+00:00",
            )],
        );
    }

    #[test]
    fn london_split_day_table() {
        let split = cal("Europe/London", SPLIT_DAY, &[]);
        check_cases(
            &split,
            &[
                (
                    "crosses lunch",
                    "2026-03-02T11:00:00+00:00",
                    120,
                    "2026-03-02T14:00:00+00:00",
                ),
                (
                    "trigger during lunch",
                    "2026-03-02T12:30:00+00:00",
                    60,
                    "2026-03-02T14:00:00+00:00",
                ),
                (
                    "due exactly at lunch",
                    "2026-03-02T11:00:00+00:00",
                    60,
                    "2026-03-02T12:00:00+00:00",
                ),
                (
                    "before opening, over lunch",
                    "2026-03-02T07:00:00+00:00",
                    240,
                    "2026-03-02T14:00:00+00:00",
                ),
                (
                    "full split day",
                    "2026-03-02T09:00:00+00:00",
                    450,
                    "2026-03-02T17:30:00+00:00",
                ),
                (
                    "unsorted intervals (tuesday)",
                    "2026-03-03T11:30:00+00:00",
                    60,
                    "2026-03-03T13:30:00+00:00",
                ),
                (
                    "after closing, over next lunch",
                    "2026-03-02T18:00:00+00:00",
                    200,
                    "2026-03-03T13:20:00+00:00",
                ),
            ],
        );
        assert!(!split.is_open(ts("2026-03-02T12:00:00+00:00")));
        assert!(split.is_open(ts("2026-03-02T11:59:59.999999999+00:00")));
        assert!(split.is_open(ts("2026-03-02T13:00:00+00:00")));
        assert_eq!(
            split.next_open(ts("2026-03-02T12:00:00+00:00")),
            Some(ts("2026-03-02T13:00:00+00:00"))
        );
    }

    #[test]
    fn end_of_day_24_00() {
        let late = cal(
            "Europe/London",
            &[("mon", &["18:00-24:00"]), ("tue", &["09:00-17:00"])],
            &[],
        );
        check_cases(
            &late,
            &[
                (
                    "due at 24:00",
                    "2026-03-02T23:00:00+00:00",
                    60,
                    "2026-03-03T00:00:00+00:00",
                ),
                (
                    "whole evening",
                    "2026-03-02T17:00:00+00:00",
                    360,
                    "2026-03-03T00:00:00+00:00",
                ),
                (
                    "into next morning",
                    "2026-03-02T23:00:00+00:00",
                    120,
                    "2026-03-03T10:00:00+00:00",
                ),
            ],
        );
        assert!(late.is_open(ts("2026-03-02T23:59:59.999999999+00:00")));
        assert!(!late.is_open(ts("2026-03-03T00:00:00+00:00")));
    }

    #[test]
    fn overnight_opening_is_continuous() {
        let night = cal(
            "Europe/London",
            &[("mon", &["22:00-24:00"]), ("tue", &["00:00-02:00"])],
            &[],
        );
        check_cases(
            &night,
            &[
                (
                    "across midnight",
                    "2026-03-02T23:00:00+00:00",
                    120,
                    "2026-03-03T01:00:00+00:00",
                ),
                (
                    "whole night",
                    "2026-03-02T21:00:00+00:00",
                    240,
                    "2026-03-03T02:00:00+00:00",
                ),
                (
                    "one minute past the night",
                    "2026-03-02T21:00:00+00:00",
                    241,
                    "2026-03-09T22:01:00+00:00",
                ),
                (
                    "start after midnight",
                    "2026-03-03T00:30:00+00:00",
                    60,
                    "2026-03-03T01:30:00+00:00",
                ),
                (
                    "due exactly at midnight",
                    "2026-03-02T22:00:00+00:00",
                    120,
                    "2026-03-03T00:00:00+00:00",
                ),
            ],
        );
        assert!(night.is_open(ts("2026-03-03T00:00:00+00:00")));
        assert_eq!(
            night.next_open(ts("2026-03-02T21:00:00+00:00")),
            Some(ts("2026-03-02T22:00:00+00:00"))
        );
        assert_eq!(
            night.next_open(ts("2026-03-03T00:00:00+00:00")),
            Some(ts("2026-03-03T00:00:00+00:00"))
        );
    }

    #[test]
    fn london_dst_nights_between_open_days() {
        let daily = cal("Europe/London", EVERY_DAY_9_1730, &[]);
        check_cases(
            &daily,
            &[
                (
                    "spring: sat evening to sun",
                    "2026-03-28T17:00:00+00:00",
                    60,
                    "2026-03-29T09:30:00+01:00",
                ),
                (
                    "spring: sat full day",
                    "2026-03-28T09:00:00+00:00",
                    510,
                    "2026-03-28T17:30:00+00:00",
                ),
                (
                    "spring: sat and sun",
                    "2026-03-28T09:00:00+00:00",
                    1020,
                    "2026-03-29T17:30:00+01:00",
                ),
                (
                    "spring: sun full day",
                    "2026-03-29T09:00:00+01:00",
                    510,
                    "2026-03-29T17:30:00+01:00",
                ),
                (
                    "fall: sat evening to sun",
                    "2026-10-24T17:00:00+01:00",
                    60,
                    "2026-10-25T09:30:00+00:00",
                ),
                (
                    "fall: sat and sun",
                    "2026-10-24T09:00:00+01:00",
                    1020,
                    "2026-10-25T17:30:00+00:00",
                ),
                (
                    "fall: start in the fold",
                    "2026-10-25T01:30:00+00:00",
                    510,
                    "2026-10-25T17:30:00+00:00",
                ),
            ],
        );
        // The DST nights are closed.
        assert_eq!(
            daily.open_between(
                ts("2026-03-28T17:30:00+00:00"),
                ts("2026-03-29T09:00:00+01:00")
            ),
            SignedDuration::ZERO
        );
        assert_eq!(
            daily.open_between(
                ts("2026-10-24T17:30:00+01:00"),
                ts("2026-10-25T09:00:00+00:00")
            ),
            SignedDuration::ZERO
        );
    }

    #[test]
    fn london_intervals_containing_the_transition() {
        let early = cal("Europe/London", &[("sun", &["00:00-04:00"])], &[]);
        // Spring: local 00:00-01:00 GMT then 02:00-04:00 BST: 3h of real time.
        assert_eq!(
            early.open_between(ts("2026-03-28T12:00:00Z"), ts("2026-03-30T00:00:00Z")),
            SignedDuration::from_hours(3)
        );
        check_cases(
            &early,
            &[
                (
                    "spring: whole interval",
                    "2026-03-29T00:00:00+00:00",
                    180,
                    "2026-03-29T04:00:00+01:00",
                ),
                (
                    "spring: across the gap",
                    "2026-03-29T00:30:00+00:00",
                    60,
                    "2026-03-29T02:30:00+01:00",
                ),
                (
                    "spring: from saturday",
                    "2026-03-28T12:00:00+00:00",
                    60,
                    "2026-03-29T01:00:00+00:00",
                ),
                (
                    "spring: one minute too many",
                    "2026-03-28T12:00:00+00:00",
                    181,
                    "2026-04-05T00:01:00+01:00",
                ),
                // Fall: local 00:00-02:00 BST then 01:00-04:00 GMT: 5h of real time.
                (
                    "fall: whole interval",
                    "2026-10-24T12:00:00+00:00",
                    300,
                    "2026-10-25T04:00:00+00:00",
                ),
                (
                    "fall: first 01:30",
                    "2026-10-24T12:00:00+00:00",
                    90,
                    "2026-10-25T01:30:00+01:00",
                ),
                (
                    "fall: second 01:30",
                    "2026-10-24T12:00:00+00:00",
                    150,
                    "2026-10-25T01:30:00+00:00",
                ),
            ],
        );
        assert!(early.is_open(ts("2026-03-29T00:59:59Z")));
        assert!(early.is_open(ts("2026-03-29T01:00:00Z")));
        assert!(!early.is_open(ts("2026-03-29T03:00:00Z")));
        assert_eq!(
            early.open_between(ts("2026-10-24T12:00:00Z"), ts("2026-10-26T00:00:00Z")),
            SignedDuration::from_hours(5)
        );

        // Only the repeated hour's second half: open twice, with a gap between.
        let fold = cal("Europe/London", &[("sun", &["01:30-02:00"])], &[]);
        assert_eq!(
            fold.open_between(ts("2026-10-24T12:00:00Z"), ts("2026-10-26T00:00:00Z")),
            SignedDuration::from_hours(1)
        );
        check_cases(
            &fold,
            &[
                (
                    "fold: first pass",
                    "2026-10-25T00:00:00+00:00",
                    30,
                    "2026-10-25T01:00:00+00:00",
                ),
                (
                    "fold: into second pass",
                    "2026-10-25T00:00:00+00:00",
                    45,
                    "2026-10-25T01:45:00+00:00",
                ),
            ],
        );
        assert!(!fold.is_open(ts("2026-10-25T01:00:00Z")));
        assert_eq!(
            fold.next_open(ts("2026-10-25T01:00:00Z")),
            Some(ts("2026-10-25T01:30:00Z"))
        );

        // Entirely inside the spring-forward gap: never happens that day.
        let gap = cal("Europe/London", &[("sun", &["01:15-01:45"])], &[]);
        assert_eq!(
            gap.open_between(ts("2026-03-28T12:00:00Z"), ts("2026-03-30T00:00:00Z")),
            SignedDuration::ZERO
        );
        check_cases(
            &gap,
            &[(
                "gap: next sunday",
                "2026-03-28T12:00:00+00:00",
                10,
                "2026-04-05T01:25:00+01:00",
            )],
        );

        // Overnight opening across both transitions.
        let night = cal(
            "Europe/London",
            &[("sat", &["22:00-24:00"]), ("sun", &["00:00-02:00"])],
            &[],
        );
        assert_eq!(
            night.open_between(ts("2026-03-28T12:00:00Z"), ts("2026-03-30T00:00:00Z")),
            SignedDuration::from_hours(3)
        );
        assert_eq!(
            night.open_between(ts("2026-10-24T12:00:00Z"), ts("2026-10-26T00:00:00Z")),
            SignedDuration::from_hours(5)
        );
        check_cases(
            &night,
            &[
                (
                    "spring night",
                    "2026-03-28T21:00:00+00:00",
                    180,
                    "2026-03-29T01:00:00+00:00",
                ),
                (
                    "fall night",
                    "2026-10-24T21:00:00+00:00",
                    300,
                    "2026-10-25T02:00:00+00:00",
                ),
            ],
        );
    }

    // ----- table tests: America/New_York -------------------------------------

    #[test]
    fn new_york_office_table() {
        let office = Calendar::default_office("America/New_York").unwrap();
        check_cases(
            &office,
            &[
                (
                    "same day",
                    "2026-03-02T10:00:00-05:00",
                    120,
                    "2026-03-02T12:00:00-05:00",
                ),
                (
                    "across a night",
                    "2026-03-02T16:00:00-05:00",
                    180,
                    "2026-03-03T10:30:00-05:00",
                ),
                (
                    "friday to monday (over dst)",
                    "2026-03-06T16:30:00-05:00",
                    120,
                    "2026-03-09T10:00:00-04:00",
                ),
                (
                    "before opening",
                    "2026-03-02T07:00:00-05:00",
                    60,
                    "2026-03-02T10:00:00-05:00",
                ),
                (
                    "after closing",
                    "2026-03-02T18:00:00-05:00",
                    60,
                    "2026-03-03T10:00:00-05:00",
                ),
                (
                    "on a sunday",
                    "2026-03-01T12:00:00-05:00",
                    60,
                    "2026-03-02T10:00:00-05:00",
                ),
                (
                    "due exactly at closing",
                    "2026-03-02T09:00:00-05:00",
                    510,
                    "2026-03-02T17:30:00-05:00",
                ),
                (
                    "dst spring: one business day",
                    "2026-03-06T17:00:00-05:00",
                    510,
                    "2026-03-09T17:00:00-04:00",
                ),
                (
                    "dst fall: one business day",
                    "2026-10-30T17:00:00-04:00",
                    510,
                    "2026-11-02T17:00:00-05:00",
                ),
                (
                    "dst fall: two business days",
                    "2026-10-30T09:00:00-04:00",
                    1020,
                    "2026-11-02T17:30:00-05:00",
                ),
                (
                    "utc midnight is not local midnight",
                    "2026-03-02T23:30:00-05:00",
                    30,
                    "2026-03-03T09:30:00-05:00",
                ),
            ],
        );
        let holidays = cal(
            "America/New_York",
            WEEKDAYS_9_1730,
            &["2026-03-03", "2026-03-04"],
        );
        check_cases(
            &holidays,
            &[
                (
                    "two consecutive holidays",
                    "2026-03-02T16:00:00-05:00",
                    180,
                    "2026-03-05T10:30:00-05:00",
                ),
                (
                    "trigger on holiday",
                    "2026-03-03T10:00:00-05:00",
                    60,
                    "2026-03-05T10:00:00-05:00",
                ),
            ],
        );
        let split = cal("America/New_York", SPLIT_DAY, &[]);
        check_cases(
            &split,
            &[
                (
                    "crosses lunch",
                    "2026-03-02T11:00:00-05:00",
                    120,
                    "2026-03-02T14:00:00-05:00",
                ),
                (
                    "trigger during lunch",
                    "2026-03-02T12:30:00-05:00",
                    60,
                    "2026-03-02T14:00:00-05:00",
                ),
            ],
        );
    }

    #[test]
    fn new_york_dst() {
        let daily = cal("America/New_York", EVERY_DAY_9_1730, &[]);
        check_cases(
            &daily,
            &[
                (
                    "spring: sat evening to sun",
                    "2026-03-07T17:00:00-05:00",
                    60,
                    "2026-03-08T09:30:00-04:00",
                ),
                (
                    "spring: sat and sun",
                    "2026-03-07T09:00:00-05:00",
                    1020,
                    "2026-03-08T17:30:00-04:00",
                ),
                (
                    "fall: sat evening to sun",
                    "2026-10-31T17:00:00-04:00",
                    60,
                    "2026-11-01T09:30:00-05:00",
                ),
                (
                    "fall: sat and sun",
                    "2026-10-31T09:00:00-04:00",
                    1020,
                    "2026-11-01T17:30:00-05:00",
                ),
            ],
        );
        let early = cal("America/New_York", &[("sun", &["00:00-04:00"])], &[]);
        // Spring (02:00 EST -> 03:00 EDT): 3h.
        assert_eq!(
            early.open_between(ts("2026-03-07T12:00:00Z"), ts("2026-03-09T12:00:00Z")),
            SignedDuration::from_hours(3)
        );
        // Fall (02:00 EDT -> 01:00 EST): 5h.
        assert_eq!(
            early.open_between(ts("2026-10-31T12:00:00Z"), ts("2026-11-02T12:00:00Z")),
            SignedDuration::from_hours(5)
        );
        check_cases(
            &early,
            &[
                (
                    "spring: whole interval",
                    "2026-03-08T00:00:00-05:00",
                    180,
                    "2026-03-08T04:00:00-04:00",
                ),
                (
                    "spring: across the gap",
                    "2026-03-08T01:30:00-05:00",
                    60,
                    "2026-03-08T03:30:00-04:00",
                ),
                (
                    "fall: whole interval",
                    "2026-11-01T00:00:00-04:00",
                    300,
                    "2026-11-01T04:00:00-05:00",
                ),
                (
                    "fall: first 01:30",
                    "2026-11-01T00:00:00-04:00",
                    90,
                    "2026-11-01T01:30:00-04:00",
                ),
                (
                    "fall: second 01:30",
                    "2026-11-01T00:00:00-04:00",
                    150,
                    "2026-11-01T01:30:00-05:00",
                ),
            ],
        );
    }

    #[test]
    fn lord_howe_half_hour_dst() {
        let early = cal("Australia/Lord_Howe", &[("sun", &["00:00-04:00"])], &[]);
        // DST ends Sun 2026-04-05 02:00 +11:00 -> 01:30 +10:30: 4h30m.
        assert_eq!(
            early.open_between(
                ts("2026-04-04T12:00:00+11:00"),
                ts("2026-04-06T12:00:00+10:30")
            ),
            mins(270)
        );
        // DST starts Sun 2026-10-04 02:00 +10:30 -> 02:30 +11:00: 3h30m.
        assert_eq!(
            early.open_between(
                ts("2026-10-03T12:00:00+10:30"),
                ts("2026-10-05T12:00:00+11:00")
            ),
            mins(210)
        );
        check_cases(
            &early,
            &[
                (
                    "end of dst: second 01:45",
                    "2026-04-05T00:00:00+11:00",
                    135,
                    "2026-04-05T01:45:00+10:30",
                ),
                (
                    "start of dst: across the gap",
                    "2026-10-04T01:00:00+10:30",
                    90,
                    "2026-10-04T03:00:00+11:00",
                ),
            ],
        );
    }

    // ----- other behaviour -----------------------------------------------------

    #[test]
    fn sub_second_instants() {
        let office = Calendar::default_office("Europe/London").unwrap();
        check_cases(
            &office,
            &[(
                "half a second before closing",
                "2026-03-02T17:29:59.5+00:00",
                1,
                "2026-03-03T09:00:59.5+00:00",
            )],
        );
        assert_eq!(
            office
                .add(
                    ts("2026-03-02T17:29:59.5Z"),
                    SignedDuration::from_millis(500)
                )
                .unwrap(),
            ts("2026-03-02T17:30:00Z")
        );
        assert_eq!(
            office
                .add(
                    ts("2026-03-02T17:29:59.5Z"),
                    SignedDuration::from_millis(501)
                )
                .unwrap(),
            ts("2026-03-03T09:00:00.001Z")
        );
    }

    #[test]
    fn next_open_and_is_open() {
        let office = Calendar::default_office("Europe/London").unwrap();
        let open = ts("2026-03-02T10:00:00Z");
        assert!(office.is_open(open));
        assert_eq!(office.next_open(open), Some(open));
        assert!(!office.is_open(ts("2026-03-02T17:30:00Z")));
        assert!(office.is_open(ts("2026-03-02T09:00:00Z")));
        assert_eq!(
            office.next_open(ts("2026-03-02T17:30:00Z")),
            Some(ts("2026-03-03T09:00:00Z"))
        );
        assert_eq!(
            office.next_open(ts("2026-03-07T12:00:00Z")),
            Some(ts("2026-03-09T09:00:00Z"))
        );
        assert_eq!(office.timezone().iana_name(), Some("Europe/London"));
    }

    #[test]
    fn open_between_edge_cases() {
        let office = Calendar::default_office("Europe/London").unwrap();
        let a = ts("2026-03-02T10:00:00Z");
        let b = ts("2026-03-02T12:00:00Z");
        assert_eq!(office.open_between(a, b), SignedDuration::from_hours(2));
        assert_eq!(office.open_between(b, a), SignedDuration::ZERO);
        assert_eq!(office.open_between(a, a), SignedDuration::ZERO);
        // A whole (non-leap) year of a Mon-Fri office: 261 weekdays in 2026.
        assert_eq!(
            office.open_between(ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z")),
            mins(261 * 510)
        );
    }

    #[test]
    fn long_holiday_runs_are_skipped() {
        // Every day of 2026 is a holiday.
        let mut holidays = Vec::new();
        let mut date = Date::constant(2026, 1, 1);
        while date.year() == 2026 {
            holidays.push(date.to_string());
            date = date.tomorrow().unwrap();
        }
        let year_off = Calendar::new(
            "closed",
            "Europe/London",
            &hours(WEEKDAYS_9_1730),
            &holidays,
        )
        .unwrap();
        // 2027-01-01 is a Friday.
        assert_eq!(
            year_off
                .add(ts("2026-01-01T00:00:00Z"), SignedDuration::from_hours(1))
                .unwrap(),
            ts("2027-01-01T10:00:00Z")
        );
        assert_eq!(
            year_off.next_open(ts("2026-06-01T00:00:00Z")),
            Some(ts("2027-01-01T09:00:00Z"))
        );

        // More than ten years of holidays: no open time within the horizon.
        let mut holidays = Vec::new();
        let mut date = Date::constant(2026, 1, 1);
        while date.year() < 2037 {
            holidays.push(date.to_string());
            date = date.tomorrow().unwrap();
        }
        let decade_off = Calendar::new(
            "closed",
            "Europe/London",
            &hours(WEEKDAYS_9_1730),
            &holidays,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = decade_off
            .add(ts("2026-01-01T00:00:00Z"), SignedDuration::from_hours(1))
            .unwrap_err();
        assert!(matches!(err, CalendarError::NoOpenTime { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "calendar closed: no open time within 10 years after 2026-01-01T00:00:00Z"
        );
        assert_eq!(decade_off.next_open(ts("2026-01-01T00:00:00Z")), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // But starting later, the open time after the holidays is found.
        assert_eq!(
            decade_off.next_open(ts("2030-01-01T00:00:00Z")),
            Some(ts("2037-01-01T09:00:00Z"))
        );
    }

    #[test]
    fn long_spans_keep_going_past_ten_years() {
        let office = Calendar::default_office("UTC").unwrap();
        // 20 years of business time is ~77 calendar years of a 42.5h week.
        let span = SignedDuration::from_hours(20 * 365 * 24);
        let start = ts("2026-01-01T00:00:00Z");
        let due = office.add(start, span).unwrap();
        assert!(due > ts("2100-01-01T00:00:00Z"));
        assert_eq!(office.open_between(start, due), span);
    }

    #[test]
    fn adding_is_fast() {
        let office = Calendar::default_office("America/New_York").unwrap();
        let start = ts("2026-03-06T15:00:00Z");
        let started = std::time::Instant::now();
        for i in 0..1_000 {
            let due = office
                .add(start, SignedDuration::from_hours(48) + mins(i))
                .unwrap();
            assert!(due > start);
        }
        // Microseconds each, even unoptimised; generous bound for busy machines.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    // ----- errors ------------------------------------------------------------

    fn new_err(zone: &str, spec: &[(&str, &[&str])], holidays: &[&str]) -> CalendarError {
        Calendar::new("office", zone, &hours(spec), &strings(holidays)).unwrap_err()
    }

    #[test]
    fn error_bad_zone() {
        let err = new_err("Mars/Olympus_Mons", WEEKDAYS_9_1730, &[]);
        assert!(matches!(err, CalendarError::UnknownTimeZone { .. }));
        assert_eq!(
            err.to_string(),
            "calendar office: unknown time zone \"Mars/Olympus_Mons\""
        );
        assert!(Calendar::default_office("").is_err());
        assert!(Calendar::default_office("Europe/London").is_ok());
        assert!(Calendar::default_office("America/New_York").is_ok());
    }

    #[test]
    fn error_bad_weekday() {
        let err = new_err("UTC", &[("monday", &["09:00-17:00"])], &[]);
        assert!(matches!(err, CalendarError::UnknownWeekday { .. }));
        assert_eq!(
            err.to_string(),
            "calendar office: unknown weekday \"monday\" in hours: expected one of mon, tue, wed, thu, fri, sat, sun"
        );
        for key in ["Mon", "", "mo", "holiday"] {
            let err = new_err("UTC", &[(key, &["09:00-17:00"])], &[]);
            assert!(matches!(err, CalendarError::UnknownWeekday { .. }), "{key}");
        }
    }

    #[test]
    fn error_bad_interval_syntax() {
        let err = new_err("UTC", &[("mon", &["9-17"])], &[]);
        assert!(matches!(err, CalendarError::BadInterval { .. }));
        assert_eq!(
            err.to_string(),
            "calendar office: bad interval \"9-17\" on mon: expected HH:MM-HH:MM"
        );
        for bad in [
            "",
            "09:00",
            "9:00-17:00",
            "09:00 - 17:00",
            " 09:00-17:00",
            "09:00-17:00-18:00",
            "0900-1700",
            "09.00-17.00",
            "+9:00-17:00",
            "09:00-17:0x",
            "\u{661}\u{669}:00-17:00",
        ] {
            let err = new_err("UTC", &[("tue", &[bad])], &[]);
            assert!(matches!(err, CalendarError::BadInterval { .. }), "{bad:?}");
            assert!(err.to_string().contains("on tue"), "{err}");
        }
        for bad in ["09:60-17:00", "25:00-26:00", "09:00-24:01", "09:00-99:00"] {
            let err = new_err("UTC", &[("wed", &[bad])], &[]);
            assert!(matches!(err, CalendarError::BadInterval { .. }), "{bad:?}");
        }
        assert_eq!(
            new_err("UTC", &[("wed", &["09:60-17:00"])], &[]).to_string(),
            "calendar office: bad interval \"09:60-17:00\" on wed: minutes must be 00 to 59"
        );
    }

    #[test]
    fn error_start_not_before_end() {
        let err = new_err("UTC", &[("fri", &["17:00-09:00"])], &[]);
        assert_eq!(
            err.to_string(),
            "calendar office: bad interval \"17:00-09:00\" on fri: start must be before end"
        );
        for bad in ["09:00-09:00", "24:00-24:00", "00:00-00:00"] {
            let err = new_err("UTC", &[("fri", &[bad])], &[]);
            assert!(matches!(err, CalendarError::BadInterval { .. }), "{bad:?}");
        }
    }

    #[test]
    fn error_overlapping_intervals() {
        let err = new_err("UTC", &[("mon", &["09:00-12:00", "11:00-13:00"])], &[]);
        assert!(matches!(err, CalendarError::OverlappingIntervals { .. }));
        assert_eq!(
            err.to_string(),
            "calendar office: overlapping intervals \"09:00-12:00\" and \"11:00-13:00\" on mon"
        );
        // Unsorted input, containment and duplicates are caught too.
        let err = new_err("UTC", &[("thu", &["13:00-17:00", "09:00-13:30"])], &[]);
        assert_eq!(
            err.to_string(),
            "calendar office: overlapping intervals \"09:00-13:30\" and \"13:00-17:00\" on thu"
        );
        assert!(matches!(
            new_err("UTC", &[("thu", &["09:00-17:00", "10:00-11:00"])], &[]),
            CalendarError::OverlappingIntervals { .. }
        ));
        assert!(matches!(
            new_err("UTC", &[("thu", &["09:00-17:00", "09:00-17:00"])], &[]),
            CalendarError::OverlappingIntervals { .. }
        ));
        // Touching intervals are fine and behave as one.
        let touching = cal("UTC", &[("mon", &["12:00-13:00", "09:00-12:00"])], &[]);
        assert_eq!(
            touching
                .add(ts("2026-03-02T11:00:00Z"), SignedDuration::from_hours(2))
                .unwrap(),
            ts("2026-03-02T13:00:00Z")
        );
    }

    #[test]
    fn error_bad_holiday() {
        let err = new_err("UTC", WEEKDAYS_9_1730, &["2026-13-01"]);
        assert!(matches!(err, CalendarError::BadHoliday { .. }));
        assert_eq!(
            err.to_string(),
            "calendar office: bad holiday \"2026-13-01\": no such date"
        );
        assert_eq!(
            new_err("UTC", WEEKDAYS_9_1730, &["26-01-01"]).to_string(),
            "calendar office: bad holiday \"26-01-01\": expected YYYY-MM-DD"
        );
        for bad in [
            "2026-02-30",
            "2026-00-10",
            "2026/01/01",
            "2026-1-1",
            "20260101",
            "2026-01-01T00:00",
            "",
            "2026-01-0a",
        ] {
            let err = new_err("UTC", WEEKDAYS_9_1730, &["2026-12-25", bad]);
            assert!(matches!(err, CalendarError::BadHoliday { .. }), "{bad:?}");
        }
        // Leap day is a real date.
        let leap = Calendar::new(
            "x",
            "UTC",
            &hours(WEEKDAYS_9_1730),
            &strings(&["2028-02-29"]),
        );
        assert!(leap.is_ok());
    }

    #[test]
    fn error_no_hours_and_negative_span() {
        let start = ts("2026-03-02T10:00:00Z");
        for spec in [&[][..], &[("mon", &[][..]), ("sun", &[][..])][..]] {
            let empty = Calendar::new("empty", "Europe/London", &hours(spec), &[]).unwrap();
            let err = empty.add(start, SignedDuration::from_secs(1)).unwrap_err();
            assert!(matches!(err, CalendarError::NoOpeningHours { .. }));
            assert_eq!(
                err.to_string(),
                "calendar empty: no opening hours configured"
            );
            assert_eq!(empty.add(start, SignedDuration::ZERO).unwrap(), start);
            assert_eq!(empty.next_open(start), None);
            assert!(!empty.is_open(start));
            assert_eq!(
                empty.open_between(start, ts("2027-03-02T10:00:00Z")),
                SignedDuration::ZERO
            );
        }
        let office = Calendar::default_office("UTC").unwrap();
        let err = office
            .add(start, SignedDuration::from_secs(-1))
            .unwrap_err();
        assert!(matches!(err, CalendarError::NegativeSpan { .. }));
        assert_eq!(
            err.to_string(),
            "calendar default: negative business-time span -PT1S"
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        let office = Calendar::default_office("UTC").unwrap();
        let near_end = ts("9999-12-30T00:00:00Z");
        let err = office
            .add(near_end, SignedDuration::from_hours(100))
            .unwrap_err();
        assert!(matches!(err, CalendarError::OutOfRange { .. }), "{err}");
        assert!(office.next_open(near_end).is_some());
        assert!(office.open_between(Timestamp::MIN, Timestamp::MAX) > SignedDuration::ZERO);
    }

    // ----- brute-force oracle ----------------------------------------------------

    /// An independent implementation of the definition of "open", using only
    /// jiff's civil conversion.
    struct Oracle {
        tz: TimeZone,
        /// (weekday, start, end; None = 24:00)
        intervals: Vec<(Weekday, Time, Option<Time>)>,
        holidays: Vec<Date>,
    }

    impl Oracle {
        fn new(zone: &str, hours: &BTreeMap<String, Vec<String>>, holidays: &[String]) -> Oracle {
            let mut intervals = Vec::new();
            for (day, specs) in hours {
                let weekday = match day.as_str() {
                    "mon" => Weekday::Monday,
                    "tue" => Weekday::Tuesday,
                    "wed" => Weekday::Wednesday,
                    "thu" => Weekday::Thursday,
                    "fri" => Weekday::Friday,
                    "sat" => Weekday::Saturday,
                    "sun" => Weekday::Sunday,
                    other => panic!("weekday {other}"),
                };
                for spec in specs {
                    let (start, end) = spec.split_once('-').unwrap();
                    let start: Time = start.parse().unwrap();
                    let end: Option<Time> = if end == "24:00" {
                        None
                    } else {
                        Some(end.parse().unwrap())
                    };
                    intervals.push((weekday, start, end));
                }
            }
            Oracle {
                tz: TimeZone::get(zone).unwrap(),
                intervals,
                holidays: holidays.iter().map(|h| h.parse().unwrap()).collect(),
            }
        }

        fn is_open(&self, t: Timestamp) -> bool {
            let local = self.tz.to_datetime(t);
            let (date, time) = (local.date(), local.time());
            if self.holidays.contains(&date) {
                return false;
            }
            self.intervals.iter().any(|&(weekday, start, end)| {
                weekday == date.weekday() && start <= time && end.is_none_or(|end| time < end)
            })
        }
    }

    /// Open/closed for each minute of a window starting at `start` (on a minute
    /// grid; all test zones have whole-minute offsets and transitions, so each
    /// minute is entirely open or entirely closed).
    struct Window {
        start: Timestamp,
        open: Vec<bool>,
        /// prefix[i] = open minutes in [start, start + i min)
        prefix: Vec<i64>,
    }

    impl Window {
        fn new(oracle: &Oracle, start: Timestamp, minutes: usize) -> Window {
            let open: Vec<bool> = (0..minutes)
                .map(|i| oracle.is_open(start + mins(i as i64)))
                .collect();
            let mut prefix = vec![0];
            for &o in &open {
                prefix.push(prefix.last().unwrap() + i64::from(o));
            }
            Window {
                start,
                open,
                prefix,
            }
        }

        fn at(&self, i: usize) -> Timestamp {
            self.start + mins(i as i64)
        }

        /// Earliest minute index i with prefix[i] == span.
        fn add(&self, span: i64) -> Option<Timestamp> {
            self.prefix
                .iter()
                .position(|&p| p == span)
                .map(|i| self.at(i))
        }

        fn next_open(&self, from: usize) -> Option<Timestamp> {
            (from..self.open.len())
                .find(|&i| self.open[i])
                .map(|i| self.at(i))
        }
    }

    const ZONES: &[&str] = &[
        "Europe/London",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "UTC",
        "Pacific/Chatham",
    ];

    /// Times of day (minutes) near the DST transitions of the zones above.
    const INTERESTING: &[u16] = &[
        0, 60, 90, 105, 120, 135, 150, 165, 180, 225, 240, 1380, 1440,
    ];

    const WINDOW_MINUTES: usize = 8 * 1440;

    fn fmt_minutes(m: u16) -> String {
        format!("{:02}:{:02}", m / 60, m % 60)
    }

    fn day_strategy() -> impl Strategy<Value = Vec<String>> {
        let point = prop_oneof![
            3 => 0u16..=1440,
            2 => prop::sample::select(INTERESTING),
        ];
        (
            prop::collection::btree_set(point, 0..7),
            prop::collection::vec(any::<bool>(), 6),
        )
            .prop_map(|(points, flags)| {
                let points: Vec<u16> = points.into_iter().collect();
                points
                    .windows(2)
                    .zip(flags)
                    .filter(|(_, open)| *open)
                    .map(|(w, _)| format!("{}-{}", fmt_minutes(w[0]), fmt_minutes(w[1])))
                    .collect()
            })
    }

    fn week_strategy() -> impl Strategy<Value = BTreeMap<String, Vec<String>>> {
        prop::collection::vec(prop::option::weighted(0.75, day_strategy()), 7).prop_map(|days| {
            days.into_iter()
                .zip(WEEKDAYS)
                .filter_map(|(day, key)| day.map(|d| (key.to_string(), d)))
                .collect()
        })
    }

    /// Transitions of a zone in 2026-2027.
    fn transitions(tz: &TimeZone) -> Vec<Timestamp> {
        let end = ts("2028-01-01T00:00:00Z");
        tz.following(ts("2026-01-01T00:00:00Z"))
            .map(|t| t.timestamp())
            .take_while(|&t| t < end)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_brute_force_oracle(
            zone in prop::sample::select(ZONES),
            week in week_strategy(),
            near_transition in any::<bool>(),
            uniform_minute in 0i64..(720 * 1440),
            transition_index in 0usize..8,
            transition_delta in -4320i64..4320,
            holiday_offsets in prop::collection::vec(-3i64..10, 0..4),
            span_index in 0usize..=WINDOW_MINUTES,
            fraction in 0.0f64..=1.0,
            between in (0usize..=WINDOW_MINUTES, 0usize..=WINDOW_MINUTES),
            probe in 0usize..WINDOW_MINUTES,
        ) {
            let tz = TimeZone::get(zone).unwrap();
            let transitions = transitions(&tz);
            let start = if near_transition && !transitions.is_empty() {
                transitions[transition_index % transitions.len()] + mins(transition_delta)
            } else {
                ts("2026-01-01T00:00:00Z") + mins(uniform_minute)
            };
            let start_date = tz.to_datetime(start).date();
            let holidays: Vec<String> = holiday_offsets
                .iter()
                .map(|&k| start_date.checked_add(jiff::Span::new().days(k)).unwrap().to_string())
                .collect();
            let cal = Calendar::new("prop", zone, &week, &holidays).unwrap();
            let oracle = Oracle::new(zone, &week, &holidays);
            let window = Window::new(&oracle, start, WINDOW_MINUTES);

            // is_open agrees at the start and the end of every minute.
            for (i, &open) in window.open.iter().enumerate() {
                prop_assert_eq!(cal.is_open(window.at(i)), open, "minute {}", window.at(i));
                prop_assert_eq!(
                    cal.is_open(window.at(i) + SignedDuration::from_secs(59)),
                    open,
                    "end of minute {}", window.at(i)
                );
            }

            let total = *window.prefix.last().unwrap();
            // Spans that end at a minute of the window (often exactly at a closing time),
            // and arbitrary spans up to everything open in the window.
            let fraction_span = (total as f64 * fraction).floor() as i64;
            for span in [window.prefix[span_index], fraction_span, total] {
                let expected = window.add(span).unwrap();
                let due = cal.add(start, mins(span));
                prop_assert_eq!(due.as_ref().ok(), Some(&expected), "add {} min: {:?}", span, due);
                prop_assert_eq!(cal.open_between(start, expected), mins(span));
            }
            if total == 0 && week.values().all(|d| d.is_empty()) {
                prop_assert!(cal.add(start, mins(1)).is_err());
            }

            let (i, j) = between;
            let expected = if i <= j {
                window.prefix[j] - window.prefix[i]
            } else {
                0
            };
            prop_assert_eq!(cal.open_between(window.at(i), window.at(j)), mins(expected));

            if let Some(expected) = window.next_open(probe) {
                prop_assert_eq!(cal.next_open(window.at(probe)), Some(expected));
            }
        }
    }
}
