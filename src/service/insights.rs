//! The figures behind the dashboard's overview and promises pages: trends over a window of buckets,
//! computed from the store's aggregates (`store::insights`) with the pure arithmetic of `domain::trend`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::trend::{percentiles_by_bucket, rate, unseen_at_bucket_ends, Tally, Window};
use crate::service::Service;
use crate::store::StoreError;

/// One line of a chart: a value per bucket (`None`: no data).
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub as_of: Timestamp,
    /// The first instant of each bucket.
    pub starts: Vec<Timestamp>,
    pub invisible_now: u64,
    /// Customers invisible at each bucket's end.
    pub invisible: Series,
    /// Of the customers with a promise falling due in the bucket, the percentage left unseen by one.
    pub invisible_rate: Series,
    /// Kept on time, % of decided promises: "all" first, then one series per policy.
    pub kept_rate: Vec<Series>,
    /// Hours from a customer's message to our reply: p50 and p90.
    pub reply_hours: Vec<Series>,
    /// Minutes in a queue until served: p50 and p90.
    pub queue_minutes: Vec<Series>,
    /// CSAT (% 4–5), NPS, felt-invisible rate (% yes).
    pub csat: Series,
    pub nps: Series,
    pub felt_invisible: Series,
    /// Totals over the whole window.
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub promises: Tally,
    pub kept_rate: Option<f64>,
    pub survey_answers: u64,
    pub csat: Option<f64>,
    pub nps: Option<f64>,
    pub felt_invisible: Option<f64>,
}

/// Per policy, per bucket, and by team and agent.
#[derive(Debug, Clone, Serialize)]
pub struct Promises {
    pub as_of: Timestamp,
    pub starts: Vec<Timestamp>,
    pub policies: Vec<PolicyTrend>,
    pub by_team: Vec<Breakdown>,
    pub by_agent: Vec<Breakdown>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyTrend {
    pub policy: String,
    pub total: Tally,
    pub kept_rate: Option<f64>,
    pub buckets: Vec<Tally>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    pub policy: String,
    /// The team (or agent) name; "—" when none is known.
    pub who: String,
    pub tally: Tally,
    pub kept_rate: Option<f64>,
}

fn to_f64(v: Option<i64>, per: f64) -> Option<f64> {
    v.map(|x| x as f64 / per)
}

impl Service {
    /// Promise policies (those that can breach), in configuration order.
    pub fn promise_policies(&self) -> Vec<String> {
        self.engine
            .policies()
            .iter()
            .filter(|p| p.promise)
            .map(|p| p.name.to_string())
            .collect()
    }

    fn policies_triggered_by(&self, kind: &str) -> Vec<String> {
        self.engine
            .policies()
            .iter()
            .filter(|p| p.promise && p.is_trigger(kind))
            .map(|p| p.name.to_string())
            .collect()
    }

    /// p50/p90 series of the time to keep these policies' promises, in units of `per` seconds.
    async fn duration_series(
        &self,
        window: Window,
        policies: Vec<String>,
        per: f64,
    ) -> Result<Vec<Series>, StoreError> {
        let mut samples = Vec::new();
        for policy in policies {
            samples.extend(self.store.kept_durations(window, policy).await?);
        }
        let p = percentiles_by_bucket(&window, &samples);
        Ok(vec![
            Series {
                name: "p50".into(),
                values: p.iter().map(|v| to_f64(v.map(|(a, _)| a), per)).collect(),
            },
            Series {
                name: "p90".into(),
                values: p.iter().map(|v| to_f64(v.map(|(_, b)| b), per)).collect(),
            },
        ])
    }

    pub async fn overview(&self, window: Window) -> Result<Overview, StoreError> {
        let policies = self.promise_policies();
        let n = window.buckets as usize;
        let begun = window.begun() as usize;
        let counts = self.store.promise_counts(window, policies.clone()).await?;
        let mut per_policy: BTreeMap<&str, Vec<Tally>> = BTreeMap::new();
        let mut all = vec![Tally::default(); n];
        let mut totals = Totals::default();
        for c in &counts {
            let Some(slot) = all.get_mut(c.bucket as usize) else {
                continue;
            };
            let tally = Tally {
                kept: c.kept,
                late: c.late,
                breached: c.breached,
                cancelled: c.cancelled,
                open: c.open,
            };
            slot.add(&tally);
            totals.promises.add(&tally);
            let series = per_policy
                .entry(c.policy.as_str())
                .or_insert_with(|| vec![Tally::default(); n]);
            if let Some(s) = series.get_mut(c.bucket as usize) {
                s.add(&tally);
            }
        }
        totals.kept_rate = totals.promises.kept_rate();
        let mut kept_rate = vec![Series {
            name: "all promises".into(),
            values: all.iter().map(Tally::kept_rate).collect(),
        }];
        for policy in &policies {
            if let Some(series) = per_policy.get(policy.as_str()) {
                kept_rate.push(Series {
                    name: policy.clone(),
                    values: series.iter().map(Tally::kept_rate).collect(),
                });
            }
        }

        let customers = self.store.bucket_customers(window, policies).await?;
        let mut invisible_rate = vec![None; n];
        for c in customers {
            if let Some(slot) = invisible_rate.get_mut(c.bucket as usize) {
                *slot = rate(c.unseen, c.customers);
            }
        }
        let spans = self.store.unseen_spans(window).await?;
        let invisible_now = {
            let mut now: Vec<&str> = spans
                .iter()
                .filter(|s| s.until.is_none() && s.from < window.now)
                .map(|s| s.customer.as_str())
                .collect();
            now.sort_unstable();
            now.dedup();
            now.len() as u64
        };
        let invisible = unseen_at_bucket_ends(
            &window,
            spans.into_iter().map(|s| (s.customer, s.from, s.until)),
        );

        let reply_hours = self
            .duration_series(
                window,
                self.policies_triggered_by("message.received"),
                3_600.0,
            )
            .await?;
        let queue_minutes = self
            .duration_series(window, self.policies_triggered_by("visit.queued"), 60.0)
            .await?;

        let surveys = self
            .survey_stats_by(
                |event, _| {
                    window
                        .bucket_of(event.at)
                        .map(|k| format!("{k:06}"))
                        .unwrap_or_default()
                },
                Some(window.from),
            )
            .await?;
        let survey_series =
            |f: &dyn Fn(&crate::domain::survey::SurveyStats) -> Option<f64>| -> Vec<Option<f64>> {
                (0..n)
                    .map(|k| surveys.get(&format!("{k:06}")).and_then(f))
                    .collect()
            };
        let csat = Series {
            name: "CSAT (% satisfied)".into(),
            values: survey_series(&|s| s.csat),
        };
        let nps = Series {
            name: "NPS".into(),
            values: survey_series(&|s| s.nps),
        };
        let felt_invisible = Series {
            name: "felt invisible (% yes)".into(),
            values: survey_series(&|s| s.felt_invisible_rate),
        };
        // The period's totals are its buckets' together (events outside every bucket have the key "").
        let mut all = crate::domain::survey::SurveyStats::default();
        for stats in surveys
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(_, s)| s)
        {
            all.merge(stats);
        }
        totals.survey_answers = all.answered;
        totals.csat = all.csat;
        totals.nps = all.nps;
        totals.felt_invisible = all.felt_invisible_rate;
        // Buckets that have not begun have no figures, not zeros.
        let cut = |mut s: Series| {
            for v in s.values.iter_mut().skip(begun) {
                *v = None;
            }
            s
        };
        Ok(Overview {
            as_of: window.now,
            starts: (0..window.buckets).map(|k| window.start(k)).collect(),
            invisible_now,
            invisible: Series {
                name: "invisible customers".into(),
                values: invisible.iter().map(|v| v.map(|x| x as f64)).collect(),
            },
            invisible_rate: cut(Series {
                name: "left unseen (%)".into(),
                values: invisible_rate,
            }),
            kept_rate: kept_rate.into_iter().map(cut).collect(),
            reply_hours,
            queue_minutes,
            csat,
            nps,
            felt_invisible,
            totals,
        })
    }

    /// Promises per policy and bucket, and by team (routes on policy and channel) and by agent.
    pub async fn promises(
        &self,
        window: Window,
        team_of: impl Fn(&str, Option<&str>) -> Option<String>,
    ) -> Result<Promises, StoreError> {
        let policies = self.promise_policies();
        let n = window.buckets as usize;
        let counts = self.store.promise_counts(window, policies.clone()).await?;
        let mut trends: Vec<PolicyTrend> = policies
            .iter()
            .map(|p| PolicyTrend {
                policy: p.clone(),
                total: Tally::default(),
                kept_rate: None,
                buckets: vec![Tally::default(); n],
            })
            .collect();
        for c in &counts {
            if let Some(t) = trends.iter_mut().find(|t| t.policy == c.policy) {
                let tally = Tally {
                    kept: c.kept,
                    late: c.late,
                    breached: c.breached,
                    cancelled: c.cancelled,
                    open: c.open,
                };
                t.total.add(&tally);
                if let Some(b) = t.buckets.get_mut(c.bucket as usize) {
                    b.add(&tally);
                }
            }
        }
        for t in &mut trends {
            t.kept_rate = t.total.kept_rate();
        }
        trends.retain(|t| t.total != Tally::default());

        let rows = self.store.attribution(window, policies).await?;
        let mut teams: BTreeMap<(String, String), Tally> = BTreeMap::new();
        let mut agents: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for r in &rows {
            let tally = Tally {
                kept: r.kept,
                late: r.late,
                breached: r.breached,
                cancelled: r.cancelled,
                open: r.open,
            };
            let team = team_of(&r.policy, r.channel.as_deref()).unwrap_or_else(|| "—".into());
            teams
                .entry((r.policy.clone(), team))
                .or_default()
                .add(&tally);
            let agent = r.agent.clone().unwrap_or_else(|| "—".into());
            agents
                .entry((r.policy.clone(), agent))
                .or_default()
                .add(&tally);
        }
        let breakdown = |m: BTreeMap<(String, String), Tally>| {
            m.into_iter()
                .map(|((policy, who), tally)| Breakdown {
                    policy,
                    who,
                    kept_rate: tally.kept_rate(),
                    tally,
                })
                .collect()
        };
        Ok(Promises {
            as_of: window.now,
            starts: (0..window.buckets).map(|k| window.start(k)).collect(),
            policies: trends,
            by_team: breakdown(teams),
            by_agent: breakdown(agents),
        })
    }
}
