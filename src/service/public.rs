//! The public promise figures (`[public]`): per published policy, this calendar month's kept-on-time rate
//! and the median and p90 time to keep it, from the `Insights` aggregates — counts and durations only, no
//! customer at all — and how a policy's deadline and a duration read in words.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;

use crate::config::PublishedPromise;
use crate::domain::policy::{Policy, PolicyKind, Within};
use crate::domain::trend::{percentiles_by_bucket, Tally, Window};
use crate::service::Service;
use crate::store::StoreError;

/// This month's figures for every published promise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicFigures {
    /// The calendar month, "2026-01", in the business's time zone.
    pub month: String,
    /// Its first instant.
    pub from: Timestamp,
    pub as_of: Timestamp,
    pub promises: Vec<PublicPromise>,
}

/// One published promise's figures this month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicPromise {
    pub policy: String,
    pub label: String,
    /// "within 8 h 30 min of business hours".
    pub within: String,
    /// Promises falling due this month whose outcome is known: kept on time, kept late or broken.
    pub decided: u64,
    pub kept_on_time: u64,
    /// Kept on time, in percent of `decided` (`None` before any is decided).
    pub kept_rate: Option<f64>,
    /// Median and 90th percentile of the time from the promise to keeping it (kept ones, clock time).
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

/// The calendar month holding `now` in `zone`, as a one-bucket window (promises falling due later in the
/// month count as open).
pub fn month_window(now: Timestamp, zone: &TimeZone) -> Option<(String, Window)> {
    let here = now.to_zoned(zone.clone());
    let start = here.first_of_month().ok()?.start_of_day().ok()?;
    let end = start.checked_add(1.month()).ok()?;
    let step = end.timestamp().duration_since(start.timestamp());
    let month = start.strftime("%Y-%m").to_string();
    Some((
        month,
        Window {
            from: start.timestamp(),
            step,
            buckets: 1,
            now,
        },
    ))
}

impl Service {
    /// The figures of the published promises for the month holding `now` in `zone`.
    pub async fn public_figures(
        &self,
        published: &[PublishedPromise],
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<PublicFigures, StoreError> {
        let Some((month, window)) = month_window(now, zone) else {
            return Err(StoreError::Task(format!(
                "no calendar month holds {now} in the business's time zone"
            )));
        };
        let policies: Vec<String> = published.iter().map(|p| p.policy.clone()).collect();
        let counts = self.store.promise_counts(window, policies).await?;
        let mut promises = Vec::with_capacity(published.len());
        for p in published {
            let mut tally = Tally::default();
            for c in counts.iter().filter(|c| c.policy == p.policy) {
                tally.add(&Tally {
                    kept: c.kept,
                    late: c.late,
                    breached: c.breached,
                    cancelled: c.cancelled,
                    open: c.open,
                });
            }
            let durations = self.store.kept_durations(window, p.policy.clone()).await?;
            let percentiles = percentiles_by_bucket(&window, &durations)
                .first()
                .copied()
                .flatten();
            promises.push(PublicPromise {
                policy: p.policy.clone(),
                label: p.label.clone(),
                within: p.within.clone(),
                decided: tally.decided(),
                kept_on_time: tally.kept,
                kept_rate: tally.kept_rate(),
                median_seconds: percentiles.map(|(p50, _)| p50),
                p90_seconds: percentiles.map(|(_, p90)| p90),
            });
        }
        Ok(PublicFigures {
            month,
            from: window.from,
            as_of: now,
            promises,
        })
    }
}

/// How a policy's deadline reads on the public page: "within 8 h 30 min of business hours", "within 1 h",
/// "within 4 h to 25 h 30 min of business hours" (a span chosen by a property), "on time" (a scheduled
/// promise).
pub fn deadline_phrase(policy: &Policy) -> String {
    match &policy.kind {
        PolicyKind::Expect { within, calendar } => {
            let span = match within {
                Within::Fixed(span) => span_words(*span),
                Within::ByProperty { spans, default, .. } => {
                    let (lo, hi) = spans
                        .iter()
                        .map(|(_, s)| *s)
                        .fold((*default, *default), |(lo, hi), s| (lo.min(s), hi.max(s)));
                    if lo == hi {
                        span_words(lo)
                    } else {
                        format!("{} to {}", span_words(lo), span_words(hi))
                    }
                }
            };
            match calendar {
                Some(_) => format!("within {span} of business hours"),
                None => format!("within {span}"),
            }
        }
        PolicyKind::Schedule { .. } => "on time".to_string(),
    }
}

/// A duration for people: "1 h 12 min", "45 min", "30 s", "2 days 3 h"; at most two units, rounded down.
pub fn span_words(span: SignedDuration) -> String {
    let mut secs = span.as_secs().unsigned_abs();
    let units: [(u64, &str, &str); 4] = [
        (86_400, " day", " days"),
        (3_600, " h", " h"),
        (60, " min", " min"),
        (1, " s", " s"),
    ];
    let mut parts = Vec::new();
    for (size, one, many) in units {
        if secs >= size && parts.len() < 2 {
            let n = secs / size;
            parts.push(format!("{n}{}", if n == 1 { one } else { many }));
            secs %= size;
        } else if !parts.is_empty() {
            break;
        }
    }
    if parts.is_empty() {
        return "0 s".to_string();
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_words() {
        let s = SignedDuration::from_secs;
        assert_eq!(span_words(s(72 * 60)), "1 h 12 min");
        assert_eq!(span_words(s(45 * 60)), "45 min");
        assert_eq!(span_words(s(30)), "30 s");
        assert_eq!(span_words(s(0)), "0 s");
        assert_eq!(span_words(s(86_400)), "1 day");
        assert_eq!(span_words(s(2 * 86_400 + 3 * 3_600 + 59)), "2 days 3 h");
        assert_eq!(span_words(s(8 * 3_600 + 30 * 60)), "8 h 30 min");
        // Two units at most, and no gap: 1 h 0 min 5 s reads "1 h".
        assert_eq!(span_words(s(3_605)), "1 h");
    }

    #[test]
    fn the_deadline_phrase_comes_from_the_policy() {
        let config = crate::config::Config::defaults().unwrap();
        let phrase = |name: &str| {
            let policy = config
                .engine
                .policies()
                .iter()
                .find(|p| &*p.name == name)
                .unwrap();
            deadline_phrase(policy)
        };
        assert_eq!(phrase("reply"), "within 8 h 30 min of business hours");
        assert_eq!(phrase("confirm-order"), "within 1 h");
        assert_eq!(phrase("dispatch-order"), "within 2 days");
        assert_eq!(
            phrase("resolve"),
            "within 4 h to 1 day 1 h of business hours"
        );
        assert_eq!(phrase("booking-reminder"), "on time");
    }

    #[test]
    fn the_month_is_the_business_s_calendar_month() {
        let zone = TimeZone::get("Europe/Lisbon").unwrap();
        // 31 March 23:30 UTC is already 1 April 00:30 in Lisbon (summer time).
        let (month, w) = month_window("2026-03-31T23:30:00Z".parse().unwrap(), &zone).unwrap();
        assert_eq!(month, "2026-04");
        assert_eq!(w.from, "2026-03-31T23:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(w.to(), "2026-04-30T23:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(w.buckets, 1);
    }
}
