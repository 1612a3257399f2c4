//! `Calendar`'s tests: tables for Europe/London and America/New_York (opening hours, holidays, DST gaps and
//! folds), other behaviour, configuration errors, and properties against a brute-force oracle of "open".

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
