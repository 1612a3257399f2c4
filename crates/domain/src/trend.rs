//! Trends for the dashboard: a window cut into equal buckets, and the arithmetic on stored aggregates
//! (rates, percentiles, customers unseen at each bucket's end). Pure: "now" is part of the window.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::report::percentile;

/// `buckets` consecutive periods of `step`, the last one ending at `to`; statuses are as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Timestamp,
    pub step: SignedDuration,
    pub buckets: u32,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("a period needs at least one bucket of a positive length")]
    Empty,
    #[error("at most {max} buckets in a period")]
    TooMany { max: u32 },
}

/// Most buckets a chart shows.
pub const MAX_BUCKETS: u32 = 400;

impl Window {
    /// The `buckets` periods of `step` that end with the one holding `now` (buckets start at multiples
    /// of `step` since the Unix epoch, so days start at 00:00 UTC and windows are stable within a bucket).
    pub fn ending_at(
        now: Timestamp,
        step: SignedDuration,
        buckets: u32,
    ) -> Result<Window, WindowError> {
        if buckets == 0 || step <= SignedDuration::ZERO {
            return Err(WindowError::Empty);
        }
        if buckets > MAX_BUCKETS {
            return Err(WindowError::TooMany { max: MAX_BUCKETS });
        }
        let step_ns = step.as_nanos();
        let now_ns = now.as_nanosecond();
        let current = now_ns.div_euclid(step_ns) * step_ns;
        let from_ns = current - step_ns * i128::from(buckets - 1);
        let from = Timestamp::from_nanosecond(from_ns).map_err(|_| WindowError::Empty)?;
        Ok(Window {
            from,
            step,
            buckets,
            now,
        })
    }

    pub fn to(&self) -> Timestamp {
        self.start(self.buckets)
    }

    /// The start of bucket `k` (`k = buckets` is the window's end).
    pub fn start(&self, k: u32) -> Timestamp {
        let ns = self.from.as_nanosecond() + self.step.as_nanos() * i128::from(k);
        Timestamp::from_nanosecond(ns).unwrap_or(Timestamp::MAX)
    }

    /// The bucket holding `t`, if `t` is in the window.
    pub fn bucket_of(&self, t: Timestamp) -> Option<u32> {
        if t < self.from || t >= self.to() {
            return None;
        }
        let k = (t.as_nanosecond() - self.from.as_nanosecond()) / self.step.as_nanos();
        u32::try_from(k).ok()
    }

    /// The moment a "right now" figure is read for bucket `k`: its end, or `now` for the current bucket.
    pub fn reading_at(&self, k: u32) -> Timestamp {
        self.start(k + 1).min(self.now)
    }

    /// Buckets that have begun by `now` (later ones are in the future and have no figures).
    pub fn begun(&self) -> u32 {
        (0..self.buckets)
            .take_while(|k| self.start(*k) <= self.now)
            .count() as u32
    }
}

/// How many distinct customers were invisible at each bucket's reading moment (see `Window::reading_at`),
/// from spans `[from, until)` of invisibility.
pub fn unseen_at_bucket_ends<K: std::hash::Hash + Eq + Clone>(
    window: &Window,
    spans: impl IntoIterator<Item = (K, Timestamp, Option<Timestamp>)>,
) -> Vec<Option<u64>> {
    let begun = window.begun();
    let mut sets: Vec<HashSet<K>> = vec![HashSet::new(); begun as usize];
    for (customer, from, until) in spans {
        for (k, set) in sets.iter_mut().enumerate() {
            let at = window.reading_at(k as u32);
            // Invisible at `at`: breached strictly before it and not yet closed at it.
            if from < at && until.is_none_or(|u| u > at) {
                set.insert(customer.clone());
            }
        }
    }
    (0..window.buckets)
        .map(|k| sets.get(k as usize).map(|s| s.len() as u64))
        .collect()
}

/// p50 and p90 per bucket of `(bucket, seconds)` samples.
pub fn percentiles_by_bucket(window: &Window, samples: &[(u32, i64)]) -> Vec<Option<(i64, i64)>> {
    let mut per: Vec<Vec<i64>> = vec![Vec::new(); window.buckets as usize];
    for (k, secs) in samples {
        if let Some(v) = per.get_mut(*k as usize) {
            v.push(*secs);
        }
    }
    per.into_iter()
        .map(|mut v| {
            v.sort_unstable();
            percentile(&v, 50).zip(percentile(&v, 90))
        })
        .collect()
}

/// `part / whole` in percent; `None` for an empty whole.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Kept-rate counts of one series (one policy, or all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub kept: u64,
    pub late: u64,
    pub breached: u64,
    pub cancelled: u64,
    pub open: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.kept += other.kept;
        self.late += other.late;
        self.breached += other.breached;
        self.cancelled += other.cancelled;
        self.open += other.open;
    }

    /// Promises whose outcome is known (kept on time, late, or breached); cancelled and open ones do not count.
    pub fn decided(&self) -> u64 {
        self.kept + self.late + self.breached
    }

    /// Kept on time, in percent of decided promises.
    pub fn kept_rate(&self) -> Option<f64> {
        rate(self.kept, self.decided())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_end_with_the_bucket_holding_now() {
        let w = Window::ending_at(t("2026-11-24T15:30:00Z"), SignedDuration::from_hours(24), 7)
            .unwrap();
        assert_eq!(w.from, t("2026-11-18T00:00:00Z"));
        assert_eq!(w.to(), t("2026-11-25T00:00:00Z"));
        assert_eq!(w.bucket_of(t("2026-11-18T00:00:00Z")), Some(0));
        assert_eq!(w.bucket_of(t("2026-11-24T23:59:59Z")), Some(6));
        assert_eq!(w.bucket_of(t("2026-11-25T00:00:00Z")), None);
        assert_eq!(w.bucket_of(t("2026-11-17T23:59:59Z")), None);
        assert_eq!(w.reading_at(0), t("2026-11-19T00:00:00Z"));
        assert_eq!(w.reading_at(6), t("2026-11-24T15:30:00Z"));
        assert_eq!(w.begun(), 7);
        assert!(Window::ending_at(w.now, SignedDuration::ZERO, 7).is_err());
        assert!(Window::ending_at(w.now, SignedDuration::from_hours(1), 0).is_err());
        assert!(Window::ending_at(w.now, SignedDuration::from_hours(1), MAX_BUCKETS + 1).is_err());
    }

    #[test]
    fn unseen_customers_are_counted_once_per_reading() {
        let w = Window::ending_at(t("2026-11-03T12:00:00Z"), SignedDuration::from_hours(24), 3)
            .unwrap();
        // Readings: 11-02 00:00, 11-03 00:00, now (11-03 12:00).
        let spans = vec![
            // Customer 1: two promises broken over the first night; one is kept on 11-02 at noon.
            (
                1,
                t("2026-11-01T10:00:00Z"),
                Some(t("2026-11-02T12:00:00Z")),
            ),
            (1, t("2026-11-01T11:00:00Z"), None),
            // Customer 2: unseen from 11-02 06:00 until exactly the second reading (closed then: seen again).
            (
                2,
                t("2026-11-02T06:00:00Z"),
                Some(t("2026-11-03T00:00:00Z")),
            ),
            // Customer 3: breached exactly at the last reading: not yet invisible then.
            (3, t("2026-11-03T12:00:00Z"), None),
        ];
        assert_eq!(
            unseen_at_bucket_ends(&w, spans),
            vec![Some(1), Some(1), Some(1)]
        );
    }

    #[test]
    fn future_buckets_have_no_figures() {
        let w = Window {
            from: t("2026-11-01T00:00:00Z"),
            step: SignedDuration::from_hours(24),
            buckets: 3,
            now: t("2026-11-01T12:00:00Z"),
        };
        assert_eq!(w.begun(), 1);
        assert_eq!(
            unseen_at_bucket_ends(&w, vec![(1, t("2026-10-01T00:00:00Z"), None)]),
            vec![Some(1), None, None]
        );
    }

    #[test]
    fn percentiles_and_rates() {
        let w = Window::ending_at(t("2026-11-03T12:00:00Z"), SignedDuration::from_hours(24), 2)
            .unwrap();
        let samples = [
            (0, 10),
            (0, 20),
            (0, 30),
            (0, 40),
            (0, 50),
            (0, 60),
            (0, 70),
            (0, 80),
            (0, 90),
            (0, 100),
            (5, 1),
        ];
        assert_eq!(
            percentiles_by_bucket(&w, &samples),
            vec![Some((50, 90)), None]
        );
        assert_eq!(rate(1, 4), Some(25.0));
        assert_eq!(rate(0, 0), None);
        let tally = Tally {
            kept: 6,
            late: 2,
            breached: 2,
            cancelled: 5,
            open: 9,
        };
        assert_eq!(tally.decided(), 10);
        assert_eq!(tally.kept_rate(), Some(60.0));
        assert_eq!(Tally::default().kept_rate(), None);
    }
}
