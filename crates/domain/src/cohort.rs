//! Retention cohorts: customers grouped by the calendar month of their first qualifying event (their first
//! purchase, say), and the share of each group active in each later month, beside the churn model's mean
//! P(alive) of the group. Pure: months are cut in a time zone given as an argument, and "now" is an
//! argument; the store supplies each customer's first event and active months.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::Serialize;

/// The most months a report spans, from its first cohort to the month of "now" (one bit each in
/// [`ActiveMonths`]): more than ten years.
pub const MAX_MONTHS: usize = 128;

/// By default a customer is active in a month when they did anything in it: every event counts except
/// these, which the business (or Seen for it) does to the customer — messages and surveys sent, Seen's own
/// gone-quiet verdict, and the business's own steps on an order, booking, ticket or visit. `--active`
/// replaces the rule with a list of types.
pub const NOT_ACTIVITY: &[&str] = &[
    "message.sent",
    "message.acknowledged",
    "message.bounced",
    "survey.sent",
    "survey.reminded",
    "customer.gone_quiet",
    "journey.stage_update",
    "order.confirmed",
    "order.packed",
    "order.dispatched",
    "order.delivered",
    "booking.confirmed",
    "room.prepared",
    "ticket.resolved",
    "ticket.waiting_on_customer",
    "visit.served",
];

/// The most types a type list (`--active`) may name.
pub const MAX_TYPES: usize = 32;

/// A comma-separated list of event types ("purchase,visit.arrived"), each checked like an event's type.
pub fn parse_types(field: &'static str, text: &str) -> Result<Vec<String>, CohortError> {
    let mut types = Vec::new();
    for part in text.split(',') {
        let kind = crate::event::event_type(part.trim()).map_err(|e| invalid(field, e.reason))?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    if types.len() > MAX_TYPES {
        return Err(invalid(field, format!("at most {MAX_TYPES} types")));
    }
    Ok(types)
}

/// An input a report cannot be built from, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CohortError {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CohortError {
    CohortError {
        field,
        reason: reason.into(),
    }
}

/// Consecutive calendar months in one zone, from the month of a start through the month of "now".
#[derive(Debug, Clone)]
pub struct Months {
    /// The first month's first day.
    first: Date,
    /// `starts[i]` begins month i; the last entry ends the last month (so `len() + 1` entries).
    starts: Vec<Timestamp>,
}

fn month_start(day: Date, zone: &TimeZone) -> Result<Zoned, CohortError> {
    day.first_of_month()
        .to_zoned(zone.clone())
        .map_err(|e| invalid("from", format!("no month start in this time zone: {e}")))
}

impl Months {
    /// The months from the one containing `from` through the one containing `now`, in `zone`.
    pub fn through(
        from: Timestamp,
        now: Timestamp,
        zone: &TimeZone,
    ) -> Result<Months, CohortError> {
        if from > now {
            return Err(invalid("from", "is after now"));
        }
        let first = from.to_zoned(zone.clone()).date().first_of_month();
        let last = now.to_zoned(zone.clone()).date().first_of_month();
        let mut starts = Vec::new();
        let mut day = first;
        loop {
            starts.push(month_start(day, zone)?.timestamp());
            if day > last {
                break;
            }
            if starts.len() > MAX_MONTHS {
                return Err(invalid(
                    "from",
                    format!("at most {MAX_MONTHS} months before now"),
                ));
            }
            day = day
                .checked_add(1.month())
                .map_err(|e| invalid("from", e.to_string()))?;
        }
        Ok(Months { first, starts })
    }

    /// How many months.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first instant of month `i` (`i == len()`: the end of the last month).
    pub fn start(&self, i: usize) -> Timestamp {
        self.starts[i.min(self.len())]
    }

    /// Every month's start, then the last month's end: what a store buckets instants by.
    pub fn boundaries(&self) -> &[Timestamp] {
        &self.starts
    }

    /// The month `at` falls in, if any.
    pub fn index_of(&self, at: Timestamp) -> Option<usize> {
        month_index(&self.starts, at)
    }

    /// "2026-05" for month `i`.
    pub fn label(&self, i: usize) -> String {
        let day = self
            .first
            .checked_add((i as i64).months())
            .unwrap_or(self.first);
        format!("{:04}-{:02}", day.year(), day.month())
    }
}

/// The month (index into `boundaries`, whose last entry ends the last month) that `at` falls in, if any.
/// Written once for both stores, which bucket instants as they read them.
pub fn month_index<T: Ord + Copy>(boundaries: &[T], at: T) -> Option<usize> {
    let after = boundaries.partition_point(|s| *s <= at);
    (after > 0 && after < boundaries.len()).then(|| after - 1)
}

/// `--from` / `--to` / `?from=`: a month ("2026-05"), a day ("2026-05-14"), both in `zone`, or an RFC 3339
/// instant. A month or day means its first instant.
pub fn parse_bound(
    field: &'static str,
    text: &str,
    zone: &TimeZone,
) -> Result<Timestamp, CohortError> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let day = if text.len() == 7 {
        format!("{text}-01").parse::<Date>()
    } else {
        text.parse::<Date>()
    }
    .map_err(|_| {
        invalid(
            field,
            format!("{text:?}: expected a month (2026-05), a day (2026-05-14) or an RFC 3339 time"),
        )
    })?;
    day.to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|e| invalid(field, e.to_string()))
}

/// The months a customer was active in, one bit per month of a [`Months`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveMonths(u128);

impl ActiveMonths {
    /// Bit `i` set: active in month `i`.
    pub fn from_bits(bits: u128) -> ActiveMonths {
        ActiveMonths(bits)
    }

    pub fn insert(&mut self, month: usize) {
        if month < MAX_MONTHS {
            self.0 |= 1 << month;
        }
    }

    pub fn contains(self, month: usize) -> bool {
        month < MAX_MONTHS && self.0 & (1 << month) != 0
    }
}

/// One customer as a report needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Their first qualifying event, ever: it decides their cohort.
    pub joined: Timestamp,
    /// The months (of the report's [`Months`]) with at least one active event.
    pub active: ActiveMonths,
    /// The churn model's probability that they are still active, if the last fit scored them.
    pub p_alive: Option<f64>,
}

/// One later month of a cohort.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthShare {
    /// Months after the cohort's month (0: the month they joined).
    pub offset: usize,
    /// The cohort's customers with at least one active event in that month.
    pub active: u64,
    /// `active / customers` (`null` for a cohort of nobody).
    pub share: Option<f64>,
    /// False for the month in progress: its share can still grow.
    pub complete: bool,
}

/// Customers who joined in one calendar month, and how many stayed active.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cohort {
    /// "2026-05", in the report's time zone.
    pub month: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    pub customers: u64,
    /// Month 0, 1, 2… up to the month of "now".
    pub months: Vec<MonthShare>,
    /// Of the cohort's customers the last churn fit scored (buyers), how many.
    pub scored: u64,
    /// Their mean probability of still being active, by the churn model (`null`: none scored).
    pub p_alive: Option<f64>,
}

/// The cohorts of the months of `months` that start before `to` (empty months included), from `members`
/// (customers who joined before the first month or after the last are left out), as of `now`.
pub fn cohorts(
    months: &Months,
    to: Timestamp,
    now: Timestamp,
    members: impl IntoIterator<Item = Member>,
) -> Vec<Cohort> {
    let count = (0..months.len())
        .take_while(|&i| months.start(i) < to)
        .count();
    // Per cohort: size, active per offset, scored, sum of P(alive).
    let mut sizes = vec![0u64; count];
    let mut active = vec![vec![0u64; months.len()]; count];
    let mut scored = vec![0u64; count];
    let mut p_sum = vec![0f64; count];
    for m in members {
        let Some(c) = months.index_of(m.joined).filter(|&c| c < count) else {
            continue;
        };
        sizes[c] += 1;
        for month in c..months.len() {
            if m.active.contains(month) {
                active[c][month - c] += 1;
            }
        }
        if let Some(p) = m.p_alive.filter(|p| p.is_finite()) {
            scored[c] += 1;
            p_sum[c] += p;
        }
    }
    (0..count)
        .map(|c| Cohort {
            month: months.label(c),
            start: months.start(c),
            customers: sizes[c],
            months: (c..months.len())
                .map(|month| MonthShare {
                    offset: month - c,
                    active: active[c][month - c],
                    share: share(active[c][month - c], sizes[c]),
                    complete: months.start(month + 1) <= now,
                })
                .collect(),
            scored: scored[c],
            p_alive: (scored[c] > 0).then(|| p_sum[c] / scored[c] as f64),
        })
        .collect()
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Per offset, the share active over every cohort that has reached that offset, weighted by cohort size
/// (the "all cohorts" row); `None` where no such cohort has anyone.
pub fn average_by_offset(cohorts: &[Cohort]) -> Vec<Option<f64>> {
    let longest = cohorts.iter().map(|c| c.months.len()).max().unwrap_or(0);
    (0..longest)
        .map(|k| {
            let (part, whole) = cohorts
                .iter()
                .filter_map(|c| c.months.get(k).map(|m| (m.active, c.customers)))
                .fold((0, 0), |(p, w), (a, n)| (p + a, w + n));
            share(part, whole)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn member(joined: &str, active: &[usize], p: Option<f64>) -> Member {
        let mut months = ActiveMonths::default();
        for &m in active {
            months.insert(m);
        }
        Member {
            joined: t(joined),
            active: months,
            p_alive: p,
        }
    }

    #[test]
    fn months_run_from_the_month_of_from_through_the_month_of_now() {
        let m = Months::through(t("2026-01-15T10:00:00Z"), t("2026-04-02T00:00:00Z"), &utc())
            .expect("months");
        assert_eq!(m.len(), 4);
        assert_eq!(m.start(0), t("2026-01-01T00:00:00Z"));
        assert_eq!(m.start(3), t("2026-04-01T00:00:00Z"));
        assert_eq!(m.start(4), t("2026-05-01T00:00:00Z"));
        assert_eq!(m.label(0), "2026-01");
        assert_eq!(m.label(3), "2026-04");
        assert_eq!(m.boundaries().len(), 5);
    }

    #[test]
    fn month_edges_belong_to_the_month_they_start() {
        let m = Months::through(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"), &utc())
            .expect("months");
        assert_eq!(m.index_of(t("2025-12-31T23:59:59.999999999Z")), None);
        assert_eq!(m.index_of(t("2026-01-01T00:00:00Z")), Some(0));
        assert_eq!(m.index_of(t("2026-01-31T23:59:59.999999999Z")), Some(0));
        assert_eq!(m.index_of(t("2026-02-01T00:00:00Z")), Some(1));
        assert_eq!(m.index_of(t("2026-03-31T23:59:59Z")), Some(2));
        assert_eq!(m.index_of(t("2026-04-01T00:00:00Z")), None);
    }

    #[test]
    fn months_are_cut_in_the_zone_given() {
        let lisbon = TimeZone::get("Europe/Lisbon").expect("zone");
        // Summer time: Lisbon's July starts at 23:00 UTC on 30 June.
        let m = Months::through(
            t("2026-07-10T00:00:00Z"),
            t("2026-08-10T00:00:00Z"),
            &lisbon,
        )
        .expect("months");
        assert_eq!(m.start(0), t("2026-06-30T23:00:00Z"));
        assert_eq!(
            m.index_of(t("2026-07-31T23:30:00Z")),
            Some(1),
            "already August in Lisbon"
        );
        assert_eq!(
            m.index_of(t("2026-06-30T23:30:00Z")),
            Some(0),
            "already July in Lisbon"
        );
    }

    #[test]
    fn bounds_are_checked_and_name_their_parameter() {
        let now = t("2026-05-01T00:00:00Z");
        let err = Months::through(t("2026-06-01T00:00:00Z"), now, &utc()).unwrap_err();
        assert_eq!(err.field, "from");
        let err = Months::through(t("2000-01-01T00:00:00Z"), now, &utc()).unwrap_err();
        assert_eq!(err.field, "from");
        assert!(err.reason.contains("128"), "{err}");
        // Exactly MAX_MONTHS months is allowed.
        let m = Months::through(t("2015-10-01T00:00:00Z"), t("2026-05-31T00:00:00Z"), &utc())
            .expect("128 months");
        assert_eq!(m.len(), MAX_MONTHS);
        assert_eq!(
            parse_bound("to", "2026-13", &utc()).unwrap_err().field,
            "to"
        );
        assert!(parse_bound("from", "yesterday", &utc()).is_err());
    }

    #[test]
    fn bounds_read_months_days_and_instants() {
        let lisbon = TimeZone::get("Europe/Lisbon").expect("zone");
        assert_eq!(
            parse_bound("from", "2026-07", &lisbon).expect("month"),
            t("2026-06-30T23:00:00Z")
        );
        assert_eq!(
            parse_bound("from", "2026-01-14", &utc()).expect("day"),
            t("2026-01-14T00:00:00Z")
        );
        assert_eq!(
            parse_bound("from", "2026-01-14T09:00:00+01:00", &utc()).expect("instant"),
            t("2026-01-14T08:00:00Z")
        );
    }

    #[test]
    fn shares_per_cohort_and_offset_with_gaps_and_empty_months() {
        let months = Months::through(t("2026-01-01T00:00:00Z"), t("2026-04-15T00:00:00Z"), &utc())
            .expect("months");
        let members = vec![
            // January: active in Jan, skips Feb, back in Mar.
            member("2026-01-31T23:59:59Z", &[0, 2], Some(0.8)),
            // January too: only in Jan.
            member("2026-01-01T00:00:00Z", &[0], Some(0.2)),
            // February is empty. March: joined at its first instant, active Mar and Apr, never scored.
            member("2026-03-01T00:00:00Z", &[2, 3], None),
            // Joined before the first month: in no cohort.
            member("2025-12-31T23:59:59Z", &[0, 1, 2, 3], Some(0.9)),
        ];
        let to = t("2026-05-01T00:00:00Z");
        let now = t("2026-04-15T00:00:00Z");
        let c = cohorts(&months, to, now, members);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c.iter().map(|c| c.month.as_str()).collect::<Vec<_>>(),
            ["2026-01", "2026-02", "2026-03", "2026-04"]
        );
        let jan = &c[0];
        assert_eq!(jan.customers, 2);
        assert_eq!(
            jan.months.iter().map(|m| m.active).collect::<Vec<_>>(),
            [2, 0, 1, 0]
        );
        assert_eq!(jan.months[2].share, Some(0.5));
        assert_eq!(jan.months[1].share, Some(0.0));
        assert!(jan.months[2].complete);
        assert!(!jan.months[3].complete, "April is in progress");
        assert_eq!(jan.scored, 2);
        assert!((jan.p_alive.expect("scored") - 0.5).abs() < 1e-12);
        let feb = &c[1];
        assert_eq!(feb.customers, 0);
        assert_eq!(feb.months.len(), 3);
        assert!(feb.months.iter().all(|m| m.share.is_none()));
        assert_eq!(feb.p_alive, None);
        let mar = &c[2];
        assert_eq!(mar.customers, 1);
        assert_eq!(
            mar.months.iter().map(|m| m.share).collect::<Vec<_>>(),
            [Some(1.0), Some(1.0)]
        );
        assert_eq!((mar.scored, mar.p_alive), (0, None));
        assert_eq!(c[3].months.len(), 1);
        // All cohorts: month 0 = (2 + 1) / 3; month 1 = (0 + 1) / 3 over the cohorts that reached it.
        let avg = average_by_offset(&c);
        assert_eq!(avg.len(), 4);
        assert!((avg[0].expect("m0") - 1.0).abs() < 1e-12);
        assert!((avg[1].expect("m1") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(avg[2], Some(0.5));
    }

    #[test]
    fn to_cuts_the_cohorts_but_not_the_later_months() {
        let months = Months::through(t("2026-01-01T00:00:00Z"), t("2026-03-10T00:00:00Z"), &utc())
            .expect("months");
        let members = vec![
            member("2026-01-05T00:00:00Z", &[0, 2], None),
            member("2026-02-05T00:00:00Z", &[1, 2], None),
        ];
        let c = cohorts(
            &months,
            t("2026-02-01T00:00:00Z"),
            t("2026-03-10T00:00:00Z"),
            members,
        );
        assert_eq!(c.len(), 1, "only January starts before `to`");
        assert_eq!(c[0].customers, 1);
        assert_eq!(
            c[0].months.iter().map(|m| m.active).collect::<Vec<_>>(),
            [1, 0, 1]
        );
    }

    #[test]
    fn type_lists_are_checked_like_event_types() {
        assert_eq!(
            parse_types("active", "purchase, visit.arrived,purchase").expect("types"),
            ["purchase", "visit.arrived"]
        );
        let err = parse_types("active", "purchase,,x").unwrap_err();
        assert_eq!(err.field, "active");
        assert!(parse_types("by", "bad type").is_err());
        let many: Vec<String> = (0..=MAX_TYPES).map(|i| format!("t{i}")).collect();
        assert!(parse_types("by", &many.join(",")).is_err());
        assert_eq!(
            parse_types("by", &many[..MAX_TYPES].join(","))
                .expect("at most MAX_TYPES")
                .len(),
            MAX_TYPES
        );
    }

    #[test]
    fn month_index_is_the_one_bucketing_rule() {
        let b = [10, 20, 30];
        assert_eq!(month_index(&b, 9), None);
        assert_eq!(month_index(&b, 10), Some(0));
        assert_eq!(month_index(&b, 19), Some(0));
        assert_eq!(month_index(&b, 20), Some(1));
        assert_eq!(month_index(&b, 30), None);
        let mut a = ActiveMonths::default();
        a.insert(127);
        a.insert(500);
        assert!(a.contains(127) && !a.contains(126) && !a.contains(500));
    }
}
