//! Journeys (`[[journeys]]`): the definitions, a journey's report per step over the journeys entered in a
//! period, its most frequent paths, and where one customer is in each journey. The store loads the events of
//! the journey's types and the frustrating obligations; `domain::journey` does the rest. Every type here is
//! serialisable: the CLI prints it as JSON and the API answers with it.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use super::Service;
use crate::domain::journey::{
    self, BucketTimes, Fact, FactKind, Instance, Journey, PathCount, Report,
};
use crate::store::StoreError;

pub use crate::domain::journey::UNHAPPY;

#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    #[error("no journey named {0:?} (see `seen journeys list`)")]
    Unknown(String),
    #[error("`from` ({from}) must be before `to` ({to})")]
    EmptyPeriod { from: Timestamp, to: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The period a report covers: journeys entered in `[from, to)`, events seen up to `as_of`.
/// `to` defaults to `as_of`; `from` to the first entry (all journeys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub as_of: Timestamp,
}

/// `seen journeys paths`: the most frequent sequences of event types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PathsReport {
    pub journey: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// Journeys entered in the period.
    pub entered: u64,
    /// Most journeys first.
    #[schema(value_type = Vec<Object>)]
    pub paths: Vec<PathCount>,
}

/// Where one customer is in one journey (one row per ref with `per = "ref"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CustomerJourney {
    pub journey: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub entered: Timestamp,
    /// The last step reached, and since when.
    pub step: String,
    pub customer_sees: bool,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// The step it waits for (`null` when finished).
    pub next_step: Option<String>,
    pub completed: bool,
    /// Inside its window and waiting longer than the next step's p90 over every journey entered so far.
    pub stuck: bool,
    /// The window ended before the journey finished.
    pub expired: bool,
}

/// What the dashboard's journey page shows, from one load of the journey's events: the report, the
/// time per step week by week (by week of entry) and the most frequent paths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneyOverview {
    pub report: Report,
    pub weekly: Vec<BucketTimes>,
    pub paths: Vec<PathCount>,
}

/// Each journey's p90 time per step, by journey name: what "stuck" is judged against on a customer's page.
pub type StepP90s = std::collections::HashMap<String, Vec<Option<i64>>>;

impl Service {
    /// Replaces the journey definitions (`Config::journeys`); a new service has none.
    pub fn with_journeys(mut self, journeys: std::sync::Arc<Vec<Journey>>) -> Service {
        self.journeys = journeys;
        self
    }

    /// Brings the progress the store keeps per journey up to date (at start, in the background: the first
    /// report after a large import then reads only its rows).
    pub async fn catch_up_journeys(&self) -> Result<(), StoreError> {
        for journey in self.journeys.iter() {
            self.store.catch_up_journey(journey.clone()).await?;
        }
        Ok(())
    }

    /// The journey definitions, in configuration order.
    pub fn journeys(&self) -> &[Journey] {
        &self.journeys
    }

    fn journey(&self, name: &str) -> Result<&Journey, JourneyError> {
        self.journeys
            .iter()
            .find(|j| j.name == name)
            .ok_or_else(|| JourneyError::Unknown(name.to_string()))
    }

    /// Every instance of `journey` entered by `until`, seeing its events up to `until`, and what frustrated
    /// customers up to `until`. Without `paths`, from the progress the store keeps per key where it keeps
    /// one (instances without paths; the facts of the journey's keys, read there); otherwise one pass over
    /// the events (the unhappy answers from it, the other facts still to read).
    async fn journey_instances(
        &self,
        journey: &Journey,
        until: Timestamp,
        paths: bool,
    ) -> Result<(Vec<Instance>, Frustration), StoreError> {
        if !paths {
            if let Some((instances, facts)) =
                self.store.kept_journey(journey.clone(), until).await?
            {
                return Ok((instances, Frustration::Matched(facts)));
            }
        }
        let mut kinds = journey.event_types();
        if !kinds.iter().any(|k| k == UNHAPPY) {
            kinds.push(UNHAPPY.to_string());
        }
        let events = self.store.journey_events(kinds, until).await?;
        let unhappy = events
            .iter()
            .filter(|e| e.kind == UNHAPPY)
            .cloned()
            .collect();
        Ok((
            journey::instances(journey, &events, until),
            Frustration::Unhappy(unhappy),
        ))
    }

    /// The instances and the resolved `[from, to)` of a period.
    async fn period_instances(
        &self,
        journey: &Journey,
        period: Period,
        paths: bool,
    ) -> Result<Loaded, JourneyError> {
        let to = period.to.unwrap_or(period.as_of);
        if let Some(from) = period.from {
            if from >= to {
                return Err(JourneyError::EmptyPeriod { from, to });
            }
        }
        // Nothing after the last window of the period can count.
        let until = period.as_of.min(end_of_window(to, journey.window));
        let (instances, frustration) = self.journey_instances(journey, until, paths).await?;
        let from = period
            .from
            .or_else(|| instances.iter().map(Instance::entered).min())
            .unwrap_or(to)
            .min(to);
        Ok(Loaded {
            instances,
            frustration,
            from,
            to,
        })
    }

    /// The report of journey `name` over the journeys entered in the period (see `domain::journey::report`).
    pub async fn journey_report(&self, name: &str, period: Period) -> Result<Report, JourneyError> {
        let journey = self.journey(name)?;
        let (report, instances, ..) = self.loaded_report(journey, period, false).await?;
        // Freed beside the answer (hundreds of thousands of small allocations), not before it.
        std::thread::spawn(move || drop(instances));
        Ok(report)
    }

    /// The report over a period, with the instances and resolved `[from, to)` it was computed from.
    async fn loaded_report(
        &self,
        journey: &Journey,
        period: Period,
        paths: bool,
    ) -> Result<(Report, Vec<Instance>, Timestamp, Timestamp), JourneyError> {
        let Loaded {
            instances,
            frustration,
            from,
            to,
        } = self.period_instances(journey, period, paths).await?;
        let report = match frustration {
            Frustration::Matched(facts) => {
                journey::report_matched(journey, &instances, &facts, from, to, period.as_of)
            }
            Frustration::Unhappy(unhappy) => {
                let facts = self
                    .journey_facts(journey, period.as_of, from, to, unhappy)
                    .await?;
                journey::report(journey, &instances, &facts, from, to, period.as_of)
            }
        };
        Ok((report, instances, from, to))
    }

    /// The frustrating facts (breaches, nudges, unhappy answers) a report over `[from, to)` can attribute.
    async fn journey_facts(
        &self,
        journey: &Journey,
        as_of: Timestamp,
        from: Timestamp,
        to: Timestamp,
        unhappy: Vec<journey::JourneyEvent>,
    ) -> Result<Vec<Fact>, StoreError> {
        let until = as_of.min(end_of_window(to, journey.window));
        let mut facts = self.store.journey_facts(from, until).await?;
        facts.extend(
            unhappy
                .into_iter()
                .filter(|e| e.at >= from && e.at <= until)
                .map(|e| Fact {
                    customer: e.customer,
                    reference: e.reference,
                    at: e.at,
                    kind: FactKind::Unhappy,
                }),
        );
        Ok(facts)
    }

    /// The report, the weekly times per step and the `top` paths of journey `name` over the period, from
    /// one load of its events and facts (the dashboard's journey page).
    pub async fn journey_overview(
        &self,
        name: &str,
        period: Period,
        top: usize,
    ) -> Result<JourneyOverview, JourneyError> {
        let journey = self.journey(name)?;
        let (report, instances, from, to) = self.loaded_report(journey, period, true).await?;
        Ok(JourneyOverview {
            report,
            weekly: journey::times_by_bucket(
                journey,
                &instances,
                from,
                to,
                SignedDuration::from_hours(24 * 7),
            ),
            paths: journey::paths(&instances, from, to, top),
        })
    }

    /// The `top` most frequent paths of journey `name` entered in the period.
    pub async fn journey_paths(
        &self,
        name: &str,
        period: Period,
        top: usize,
    ) -> Result<PathsReport, JourneyError> {
        let journey = self.journey(name)?;
        let Loaded {
            instances,
            from,
            to,
            ..
        } = self.period_instances(journey, period, true).await?;
        Ok(PathsReport {
            journey: journey.name.clone(),
            from,
            to,
            as_of: period.as_of,
            entered: journey::entered_in(&instances, from, to).len() as u64,
            paths: journey::paths(&instances, from, to, top),
        })
    }

    /// Where `customer` is in each journey as of `as_of`, journeys in configuration order, then by entry.
    /// Whether one is stuck is judged against the p90 of every journey of its kind entered by `as_of`.
    pub async fn customer_journeys(
        &self,
        customer: &str,
        as_of: Timestamp,
    ) -> Result<Vec<CustomerJourney>, JourneyError> {
        self.customer_journeys_judged(customer, as_of, None).await
    }

    /// As `customer_journeys`, judging "stuck" against the given p90s (the dashboard's cached figures)
    /// instead of loading every journey of each kind.
    pub async fn customer_journeys_judged(
        &self,
        customer: &str,
        as_of: Timestamp,
        p90s: Option<&StepP90s>,
    ) -> Result<Vec<CustomerJourney>, JourneyError> {
        let events: Vec<journey::JourneyEvent> = self
            .store
            .customer_events(customer)
            .await?
            .into_iter()
            .map(|e| journey::JourneyEvent {
                customer: e.customer,
                reference: e.reference,
                kind: e.kind,
                at: e.at,
            })
            .collect();
        let computed: StepP90s;
        let p90s = match p90s {
            Some(given) => given,
            None => {
                let mut all = StepP90s::new();
                for j in self.journeys.iter() {
                    if journey::instances(j, &events, as_of).is_empty() {
                        continue;
                    }
                    let (instances, _) = self.journey_instances(j, as_of, false).await?;
                    let first = instances
                        .iter()
                        .map(Instance::entered)
                        .min()
                        .unwrap_or(as_of);
                    let report = journey::report(j, &instances, &[], first, as_of, as_of);
                    all.insert(j.name.clone(), step_p90s(&report));
                }
                computed = all;
                &computed
            }
        };
        Ok(self.journeys_of(&events, as_of, p90s))
    }

    /// Where the customer whose `events` these are is in each journey (no I/O); "stuck" against `p90s`
    /// (a journey missing from them is never stuck).
    pub fn journeys_of(
        &self,
        events: &[journey::JourneyEvent],
        as_of: Timestamp,
        p90s: &StepP90s,
    ) -> Vec<CustomerJourney> {
        let mut out = Vec::new();
        for j in self.journeys.iter() {
            let none = Vec::new();
            let p90s = p90s.get(&j.name).unwrap_or(&none);
            for i in &journey::instances(j, events, as_of) {
                let last = i.last_step();
                out.push(CustomerJourney {
                    journey: j.name.clone(),
                    reference: i.key.reference.clone(),
                    entered: i.entered(),
                    step: j.steps[last].name.clone(),
                    customer_sees: j.steps[last].customer_sees,
                    since: i.reached[last].unwrap_or(i.entered()),
                    next_step: j.steps.get(last + 1).map(|s| s.name.clone()),
                    completed: i.completed(),
                    stuck: journey::is_stuck(j, i, p90s, as_of),
                    expired: !i.completed() && as_of > end_of_window(i.entered(), j.window),
                });
            }
        }
        out
    }
}

/// A report's p90 per step, as "stuck" is judged.
pub fn step_p90s(report: &Report) -> Vec<Option<i64>> {
    report
        .steps
        .iter()
        .map(|s| s.p90_seconds_from_previous)
        .collect()
}

/// What frustrated customers, as loaded with a journey's instances.
enum Frustration {
    /// Every fact of the journey's keys, matched to the instances (from the progress a store keeps).
    Matched(Vec<journey::MatchedFact>),
    /// Only the unhappy answers (from the pass over the events); the obligations are still to read.
    Unhappy(Vec<journey::JourneyEvent>),
}

/// A period's journeys as loaded: the instances, what frustrated customers, and the resolved `[from, to)`.
struct Loaded {
    instances: Vec<Instance>,
    frustration: Frustration,
    from: Timestamp,
    to: Timestamp,
}

fn end_of_window(t: Timestamp, window: SignedDuration) -> Timestamp {
    t.checked_add(window).unwrap_or(Timestamp::MAX)
}
