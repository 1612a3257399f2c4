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
mod tests;
