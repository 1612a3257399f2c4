//! From transactions to one recency/frequency/monetary summary per customer.

use serde::{Deserialize, Serialize};

use super::ChurnError;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// The unit all times (recency, T, horizons) are expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    /// An average Gregorian month: 30.4375 days (365.25 / 12), not calendar months.
    Month,
}

impl Period {
    /// Length of one period in days.
    pub fn days(self) -> f64 {
        match self {
            Period::Day => 1.0,
            Period::Week => 7.0,
            Period::Month => 30.4375,
        }
    }
}

impl std::str::FromStr for Period {
    type Err = ChurnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(Period::Day),
            "week" | "weeks" | "w" => Ok(Period::Week),
            "month" | "months" | "m" => Ok(Period::Month),
            other => Err(ChurnError::InvalidArgument(format!(
                "unknown period {other:?}; expected day, week or month"
            ))),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        })
    }
}

/// One purchase. Several on the same UTC day are one purchase occasion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub customer: String,
    pub at: jiff::Timestamp,
    pub value: f64,
}

impl Transaction {
    /// A purchase from its event's fields; the amount as [`purchase_value`] reads it.
    pub fn from_event(
        customer: String,
        at: jiff::Timestamp,
        properties: Option<&str>,
    ) -> Transaction {
        Transaction {
            customer,
            at,
            value: purchase_value(properties),
        }
    }
}

/// The amount of a purchase event: `properties.value` (a number, or a number in a string); 0 without
/// one, or when it is negative or not finite. Only that one field is read: the other properties are
/// skipped without being kept.
pub fn purchase_value(properties: Option<&str>) -> f64 {
    #[derive(Deserialize)]
    struct Amount {
        value: Option<serde_json::Value>,
    }
    properties
        .and_then(|text| serde_json::from_str::<Amount>(text).ok())
        .and_then(|amount| match amount.value {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .unwrap_or(0.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmOptions {
    pub period: Period,
    /// Exclusive end of the calibration window: transactions strictly before it count.
    pub calibration_end: jiff::Timestamp,
}

/// What the count models see of a customer, in periods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rfm {
    /// Number of repeat purchase occasions (occasions after the first).
    pub frequency: f64,
    /// Time from the first to the last purchase occasion.
    pub recency: f64,
    /// Time from the first purchase occasion to the end of calibration.
    pub t: f64,
}

impl Rfm {
    /// Checks what the likelihoods assume: finite, frequency a whole number >= 0,
    /// 0 <= recency <= T, and recency 0 when frequency is 0.
    pub fn validate(&self) -> Result<(), String> {
        let Rfm {
            frequency,
            recency,
            t,
        } = *self;
        if !(frequency.is_finite() && recency.is_finite() && t.is_finite()) {
            return Err(format!("non-finite values {self:?}"));
        }
        if frequency < 0.0 || frequency.fract() != 0.0 {
            return Err(format!("frequency {frequency} is not a whole number >= 0"));
        }
        if frequency > f64::from(u32::MAX) {
            return Err(format!("frequency {frequency} is too large"));
        }
        if recency < 0.0 || t < 0.0 {
            return Err(format!("negative recency {recency} or T {t}"));
        }
        if recency > t {
            return Err(format!("recency {recency} is larger than T {t}"));
        }
        if frequency == 0.0 && recency != 0.0 {
            return Err(format!("recency {recency} with no repeat purchases"));
        }
        Ok(())
    }
}

/// The summary of one customer over the calibration window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRfm {
    pub customer: String,
    pub rfm: Rfm,
    /// Mean value of the repeat occasions (the first purchase excluded, as in `lifetimes`);
    /// 0 when there are none.
    pub monetary: f64,
    /// First and last calibration transaction.
    pub first: jiff::Timestamp,
    pub last: jiff::Timestamp,
}

/// The UTC day number of an instant (days since 1970-01-01).
pub(crate) fn day_number(at: jiff::Timestamp) -> i64 {
    at.as_second().div_euclid(SECONDS_PER_DAY)
}

/// The UTC day of the last instant before `end` (the last day an exclusive end includes).
pub(crate) fn last_day_before(end: jiff::Timestamp) -> i64 {
    let nanos = end.as_nanosecond() - 1;
    nanos.div_euclid(NANOS_PER_DAY) as i64
}

pub(crate) fn check_values(transactions: &[Transaction]) -> Result<(), ChurnError> {
    for (index, t) in transactions.iter().enumerate() {
        if !t.value.is_finite() || t.value < 0.0 {
            return Err(ChurnError::InvalidValue {
                index,
                customer: t.customer.clone(),
                value: t.value,
            });
        }
    }
    Ok(())
}

/// Purchases in columns, grouped by buyer: one name per buyer and two columns (time, value) for the
/// purchases, so that millions of purchases are three machine words each and no object apiece.
///
/// Each buyer's purchases are in UTC-day order, and the purchases of one day in the order their values
/// are added up (a store gives them in (at, id) order). A buyer is added once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Purchases {
    buyers: Vec<String>,
    /// Where each buyer's purchases end in `at` and `value` (they start where the previous buyer's end).
    ends: Vec<usize>,
    at: Vec<jiff::Timestamp>,
    value: Vec<f64>,
}

impl Purchases {
    pub fn new() -> Purchases {
        Purchases::default()
    }

    /// Room for this many purchases.
    pub fn with_capacity(purchases: usize) -> Purchases {
        Purchases {
            at: Vec::with_capacity(purchases),
            value: Vec::with_capacity(purchases),
            ..Purchases::default()
        }
    }

    /// Adds one buyer and their purchases (time, value).
    pub fn push_buyer(
        &mut self,
        customer: String,
        purchases: impl IntoIterator<Item = (jiff::Timestamp, f64)>,
    ) {
        for (at, value) in purchases {
            self.at.push(at);
            self.value.push(value);
        }
        self.buyers.push(customer);
        self.ends.push(self.at.len());
    }

    /// The transactions grouped by customer; within a customer and a UTC day they keep their order.
    pub fn from_transactions(transactions: &[Transaction]) -> Purchases {
        let mut order: Vec<usize> = (0..transactions.len()).collect();
        // Stable: the transactions of one customer and day stay in the order given.
        order.sort_by(|&i, &j| {
            let (a, b) = (&transactions[i], &transactions[j]);
            a.customer
                .cmp(&b.customer)
                .then_with(|| day_number(a.at).cmp(&day_number(b.at)))
        });
        let mut purchases = Purchases::with_capacity(transactions.len());
        for run in order.chunk_by(|&i, &j| transactions[i].customer == transactions[j].customer) {
            purchases.push_buyer(
                transactions[run[0]].customer.clone(),
                run.iter()
                    .map(|&i| (transactions[i].at, transactions[i].value)),
            );
        }
        purchases
    }

    /// Number of purchases.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Number of buyers.
    pub fn buyers(&self) -> usize {
        self.buyers.len()
    }

    /// Each buyer with the positions of their purchases.
    fn groups(&self) -> impl Iterator<Item = (&str, std::ops::Range<usize>)> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        self.buyers
            .iter()
            .zip(starts.zip(self.ends.iter().copied()))
            .map(|(customer, (start, end))| (customer.as_str(), start..end))
    }
}

/// Summarises the transactions made before `options.calibration_end`, one row per customer seen
/// there, sorted by customer.
///
/// Times are counted in whole UTC days, like `lifetimes`' `summary_data_from_transaction_data`
/// with `freq='D'`, then divided by the period length: T runs from the day of the first occasion
/// to the last day before `calibration_end` (so for CDNOW, a first purchase on 1997-01-01 and
/// `calibration_end` 1997-10-01T00:00Z give T = 272/7 = 38.857 weeks, as in the paper's data).
pub fn rfm_summary(
    transactions: &[Transaction],
    options: &RfmOptions,
) -> Result<Vec<CustomerRfm>, ChurnError> {
    check_values(transactions)?;
    rfm_summary_of(&Purchases::from_transactions(transactions), options)
}

/// [`rfm_summary`] of purchases already in columns: one pass over each buyer's purchases, no map.
pub fn rfm_summary_of(
    purchases: &Purchases,
    options: &RfmOptions,
) -> Result<Vec<CustomerRfm>, ChurnError> {
    for (index, &value) in purchases.value.iter().enumerate() {
        if !value.is_finite() || value < 0.0 {
            let customer = purchases
                .groups()
                .find(|(_, rows)| rows.contains(&index))
                .map_or_else(String::new, |(customer, _)| customer.to_owned());
            return Err(ChurnError::InvalidValue {
                index,
                customer,
                value,
            });
        }
    }
    let last_day = last_day_before(options.calibration_end);
    let period_days = options.period.days();
    let mut days: Vec<Occasion> = Vec::new();
    let mut rows: Vec<usize> = Vec::new();
    let mut summaries = Vec::with_capacity(purchases.buyers());
    for (customer, range) in purchases.groups() {
        rows.clear();
        rows.extend(range.filter(|&i| purchases.at[i] < options.calibration_end));
        // In day order already (see `Purchases`); if not, a stable sort keeps each day's order.
        if !rows
            .windows(2)
            .all(|w| day_number(purchases.at[w[0]]) <= day_number(purchases.at[w[1]]))
        {
            rows.sort_by_key(|&i| day_number(purchases.at[i]));
        }
        days.clear();
        for &i in &rows {
            let (at, value) = (purchases.at[i], purchases.value[i]);
            let day = day_number(at);
            match days.last_mut() {
                Some(occasion) if occasion.day == day => {
                    occasion.value += value;
                    occasion.first = occasion.first.min(at);
                    occasion.last = occasion.last.max(at);
                }
                _ => days.push(Occasion {
                    day,
                    value: 0.0 + value,
                    first: at,
                    last: at,
                }),
            }
        }
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            continue;
        };
        let repeats = days.len() - 1;
        let monetary = if repeats == 0 {
            0.0
        } else {
            days.iter().skip(1).map(|o| o.value).sum::<f64>() / repeats as f64
        };
        summaries.push(CustomerRfm {
            customer: customer.to_owned(),
            rfm: Rfm {
                frequency: repeats as f64,
                recency: (last.day - first.day) as f64 / period_days,
                t: (last_day - first.day) as f64 / period_days,
            },
            monetary,
            first: first.first,
            last: last.last,
        });
    }
    summaries.sort_unstable_by(|a, b| a.customer.cmp(&b.customer));
    Ok(summaries)
}

/// One purchase occasion: a buyer's purchases of one UTC day.
#[derive(Debug, Clone, Copy)]
struct Occasion {
    day: i64,
    /// Total value that day.
    value: f64,
    /// First and last instant that day.
    first: jiff::Timestamp,
    last: jiff::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_reads_only_its_value() {
        let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let value = |p: Option<&str>| Transaction::from_event("c".into(), at, p).value;
        assert_eq!(
            value(Some(r#"{"value": 12.5, "items": [{"sku": "a"}]}"#)),
            12.5
        );
        assert_eq!(value(Some(r#"{"value": " 7 "}"#)), 7.0);
        assert_eq!(value(Some(r#"{"value": -3}"#)), 0.0);
        assert_eq!(value(Some(r#"{"value": "lots"}"#)), 0.0);
        assert_eq!(value(Some(r#"{"amount": 4}"#)), 0.0);
        assert_eq!(value(Some("not json")), 0.0);
        assert_eq!(value(None), 0.0);
    }

    fn tx(customer: &str, at: &str, value: f64) -> Transaction {
        Transaction {
            customer: customer.into(),
            at: at.parse().unwrap(),
            value,
        }
    }

    #[test]
    fn churn_rfm_counts_days_as_occasions_and_excludes_first_from_monetary() {
        let transactions = vec![
            tx("a", "2024-01-01T09:00:00Z", 10.0),
            tx("a", "2024-01-01T17:00:00Z", 5.0), // same day: one occasion of 15
            tx("a", "2024-01-08T10:00:00Z", 20.0),
            tx("a", "2024-01-15T10:00:00Z", 40.0),
            tx("a", "2024-01-29T10:00:00Z", 99.0), // after calibration
            tx("b", "2024-01-22T23:59:59Z", 7.0),
        ];
        let options = RfmOptions {
            period: Period::Week,
            calibration_end: "2024-01-29T00:00:00Z".parse().unwrap(),
        };
        let rows = rfm_summary(&transactions, &options).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].customer, "a");
        assert_eq!(
            rows[0].rfm,
            Rfm {
                frequency: 2.0,
                recency: 2.0,
                t: 27.0 / 7.0
            }
        );
        assert_eq!(rows[0].monetary, 30.0);
        assert_eq!(rows[0].first, "2024-01-01T09:00:00Z".parse().unwrap());
        assert_eq!(rows[0].last, "2024-01-15T10:00:00Z".parse().unwrap());
        assert_eq!(
            rows[1].rfm,
            Rfm {
                frequency: 0.0,
                recency: 0.0,
                t: 6.0 / 7.0
            }
        );
        assert_eq!(rows[1].monetary, 0.0);
    }

    /// The summary as it was first written (a map per customer and day), to check the one-pass summary
    /// against, bit for bit.
    fn summary_by_maps(transactions: &[Transaction], options: &RfmOptions) -> Vec<CustomerRfm> {
        use std::collections::BTreeMap;
        let last_day = last_day_before(options.calibration_end);
        let mut occasions: BTreeMap<&str, BTreeMap<i64, (f64, jiff::Timestamp, jiff::Timestamp)>> =
            BTreeMap::new();
        for t in transactions
            .iter()
            .filter(|t| t.at < options.calibration_end)
        {
            let o = occasions
                .entry(t.customer.as_str())
                .or_default()
                .entry(day_number(t.at))
                .or_insert((0.0, t.at, t.at));
            o.0 += t.value;
            o.1 = o.1.min(t.at);
            o.2 = o.2.max(t.at);
        }
        let days_per = options.period.days();
        occasions
            .into_iter()
            .map(|(customer, days)| {
                let (&first_day, first) = days.iter().next().unwrap();
                let (&final_day, last) = days.iter().next_back().unwrap();
                let repeats = days.len() - 1;
                CustomerRfm {
                    customer: customer.to_owned(),
                    rfm: Rfm {
                        frequency: repeats as f64,
                        recency: (final_day - first_day) as f64 / days_per,
                        t: (last_day - first_day) as f64 / days_per,
                    },
                    monetary: if repeats == 0 {
                        0.0
                    } else {
                        days.values().skip(1).map(|o| o.0).sum::<f64>() / repeats as f64
                    },
                    first: first.1,
                    last: last.2,
                }
            })
            .collect()
    }

    #[test]
    fn churn_rfm_one_pass_equals_the_maps_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20);
        let start = jiff::Timestamp::from_second(852_076_800).unwrap(); // 1997-01-01
        for round in 0..200 {
            let customers = rng.gen_range(1..40);
            let transactions: Vec<Transaction> = (0..rng.gen_range(0..400))
                .map(|_| Transaction {
                    customer: format!("c{}", rng.gen_range(0..customers)),
                    // Several purchases a day, some at the same instant, in no order.
                    at: start
                        + jiff::SignedDuration::from_secs(
                            rng.gen_range(0..60) * 86_400 + rng.gen_range(0..4) * 21_600,
                        ),
                    value: f64::from(rng.gen_range(0..10_000)) / 7.0,
                })
                .collect();
            let options = RfmOptions {
                period: [Period::Day, Period::Week, Period::Month][round % 3],
                calibration_end: start + jiff::SignedDuration::from_hours(24 * 50 + round as i64),
            };
            let expected = summary_by_maps(&transactions, &options);
            assert_eq!(rfm_summary(&transactions, &options).unwrap(), expected);
            // Grouped by buyer in (at) order, as a store gives them.
            let mut sorted = transactions.clone();
            sorted.sort_by(|a, b| a.customer.cmp(&b.customer).then(a.at.cmp(&b.at)));
            let by_maps = summary_by_maps(&sorted, &options);
            let mut purchases = Purchases::new();
            for run in sorted.chunk_by(|a, b| a.customer == b.customer) {
                purchases.push_buyer(run[0].customer.clone(), run.iter().map(|t| (t.at, t.value)));
            }
            assert_eq!(purchases.len(), sorted.len());
            assert_eq!(rfm_summary_of(&purchases, &options).unwrap(), by_maps);
        }
    }

    #[test]
    fn churn_rfm_rejects_bad_values() {
        for value in [f64::NAN, -1.0, f64::INFINITY] {
            let err = rfm_summary(
                &[tx("a", "2024-01-01T00:00:00Z", value)],
                &RfmOptions {
                    period: Period::Day,
                    calibration_end: "2024-02-01T00:00:00Z".parse().unwrap(),
                },
            )
            .unwrap_err();
            assert!(matches!(err, ChurnError::InvalidValue { index: 0, .. }));
        }
    }

    #[test]
    fn churn_rfm_validate() {
        let ok = Rfm {
            frequency: 1.0,
            recency: 1.0,
            t: 2.0,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            Rfm {
                frequency: 1.5,
                ..ok
            },
            Rfm {
                frequency: -1.0,
                ..ok
            },
            Rfm { recency: 3.0, ..ok },
            Rfm { t: f64::NAN, ..ok },
            Rfm {
                frequency: 0.0,
                ..ok
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn churn_period_month_is_average_month() {
        assert_eq!(Period::Month.days(), 30.4375);
        assert_eq!("week".parse::<Period>().unwrap(), Period::Week);
    }
}
