//! The questions people ask, over `dyn Store` + the engine: the only way the edges (`api`, `dashboard`)
//! reach the store. "As of" a moment at or after the latest event, the stored obligations answer; for an
//! earlier moment, the same engine replays the events up to it, so time travel can never disagree with
//! live results. `queue` is the dashboard's work queue, `insights` its figures, `accounts` users, keys,
//! sessions and the audit and work logs, `records` stored rows shown as they are.

mod accounts;
pub mod cohorts;
mod deliveries;
pub mod insights;
pub mod journeys;
mod mailboxes;
pub mod public;
mod queue;
mod records;
mod search;
pub mod status;
pub mod visits;

pub use accounts::NewSession;
pub use queue::{Queue, QueueFilter, QueueRow};

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::policy::NEVER;
use crate::domain::report::{invisible_customers, Invisible, PolicySummary, SummaryBuilder};
use crate::domain::{Closure, Engine, Event, Obligation, Status};
use crate::store::{CustomerRecord, Ingested, ObligationFilter, Store, StoreError};

const REPLAY_PAGE: usize = 2_000;

#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    /// `[[journeys]]` (see `journeys.rs`; `with_journeys`).
    journeys: Arc<Vec<crate::domain::journey::Journey>>,
    /// The front desk (see `visits.rs`; `with_visits`).
    desk: Arc<visits::Desk>,
}

/// An obligation with its status as of a moment (what `seen obligations` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ObligationView {
    pub policy: String,
    pub customer: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[schema(value_type = String, example = "breached")]
    pub status: Status,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: Timestamp,
    /// `null` while paused (the clock is stopped: there is no due time until it starts again).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub breach_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    /// How it was closed: kept, cancelled or rescheduled (`null` while not closed).
    #[schema(value_type = Option<String>, example = "rescheduled")]
    pub closure: Option<Closure>,
    pub closed_by: Option<String>,
    pub trigger_event: String,
    pub nudges: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_nudge_at: Option<Timestamp>,
    /// While paused (waiting on the customer): since when.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paused_since: Option<Timestamp>,
    /// While paused: the policy's own time (business time with a calendar) left when the clock stopped,
    /// in seconds.
    pub paused_left: Option<i64>,
    /// Time spent paused in pauses that ended, in the policy's own time, in seconds.
    pub paused_total: i64,
}

impl ObligationView {
    /// The view as of `as_of`: a close after it has not happened yet.
    pub fn new(o: &Obligation, as_of: Timestamp) -> ObligationView {
        let closed = o.closed_by_time(as_of);
        let paused = o.paused_since.filter(|since| *since <= as_of && !closed);
        let deadline = |t: Timestamp| (t != NEVER).then_some(t);
        ObligationView {
            policy: o.policy.to_string(),
            customer: o.customer.clone(),
            reference: o.reference.clone(),
            status: o.status(as_of),
            opened_at: o.opened_at,
            due_at: deadline(o.due_at),
            breach_at: deadline(o.breach_at),
            closed_at: o.closed_at.filter(|_| closed),
            closure: o.closure.filter(|_| closed),
            closed_by: o.closed_by.clone().filter(|_| closed),
            trigger_event: o.trigger_event.clone(),
            nudges: o.nudges,
            last_nudge_at: o.last_nudge_at,
            paused_since: paused,
            paused_left: o
                .paused_left
                .filter(|_| paused.is_some())
                .map(|d| d.as_secs()),
            paused_total: o.paused_total.as_secs(),
        }
    }

    /// How its clock stopped, for people: "paused 2d 3h waiting on the customer; 1h 40m of business time
    /// left" while paused as of `as_of`, else "paused 1d 4h in all" if it ever was ("business" time when the
    /// policy counts a calendar's open time).
    pub fn pause_note(&self, as_of: Timestamp, engine: &Engine) -> Option<String> {
        use crate::domain::span::format_span;
        let Some(since) = self.paused_since else {
            return (self.paused_total > 0).then(|| {
                format!(
                    "paused {} in all",
                    format_span(jiff::SignedDuration::from_secs(self.paused_total))
                )
            });
        };
        let business = engine
            .policy(&self.policy)
            .is_some_and(|p| p.calendar().is_some());
        let left = self.paused_left.unwrap_or(0);
        // Business time is counted in hours (a "day" of it would read as 24 hours of the clock).
        let left = if business {
            let (hours, minutes) = (left / 3_600, left % 3_600 / 60);
            match (hours, minutes) {
                (0, m) => format!("{m}m"),
                (h, 0) => format!("{h}h"),
                (h, m) => format!("{h}h {m}m"),
            }
        } else {
            format_span(jiff::SignedDuration::from_secs(left))
        };
        Some(format!(
            "paused {} waiting on the customer; {left} of {}time left",
            format_span(as_of.duration_since(since)),
            if business { "business " } else { "" }
        ))
    }

    /// The due time as the views print it: the time, or why there is none.
    pub fn due_text(&self, when: impl Fn(Timestamp) -> String) -> String {
        match self.due_at {
            Some(due) => when(due),
            None if self.paused_since.is_some() => "when the customer answers".to_string(),
            None => "never (not a promise)".to_string(),
        }
    }
}

/// An invisible customer (`customer`, `waiting`, `nudges`, `reasons`, from `Invisible`) with the profile's
/// name and email: one `customer` key per item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvisibleView {
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(flatten)]
    pub invisible: Invisible,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub profile: CustomerRecord,
    pub invisible: bool,
    pub events: Vec<EventView>,
    pub obligations: Vec<ObligationView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub channel: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        EventView {
            id: e.id.clone(),
            kind: e.kind.clone(),
            at: e.at,
            channel: e.channel.clone(),
            reference: e.reference.clone(),
            properties: e.properties_value(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    pub customers: u64,
    pub events: u64,
    pub invisible_now: u64,
    pub policies: Vec<PolicySummary>,
    /// Time to reply to inbound messages (policies triggered by `message.received`), in seconds.
    pub reply_time_p50: Option<i64>,
    pub reply_time_p90: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestCounts {
    pub accepted: u64,
    pub duplicates: u64,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, engine: Arc<Engine>) -> Service {
        Service {
            store,
            engine,
            journeys: Arc::default(),
            desk: Arc::default(),
        }
    }

    /// The service as the configuration sets it up: its engine, journeys and front desk.
    pub fn for_config(store: Arc<dyn Store>, config: &crate::config::Config) -> Service {
        // The zone was checked when the configuration loaded (`dashboard_settings`).
        let zone = config
            .file
            .business_timezone()
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Service::new(store, config.engine.clone())
            .with_journeys(config.journeys.clone())
            .with_visits(config.visits.clone(), zone)
    }

    /// The store itself, for what is not a question: the CLI's maintenance commands (backup, recompute,
    /// retention), the jobs and tests. The edges never call it; they ask the methods here
    /// (`app::tests::edges_ask_the_service` checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Batches of different customers worth storing at once (see `Store::parallel_writers`).
    pub fn parallel_writers(&self) -> usize {
        self.store.parallel_writers()
    }

    pub async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let visits = self.desk.hears(&events);
        let results = self.store.ingest(events).await?;
        if visits {
            self.desk.touch();
        }
        Ok(results)
    }

    /// A bulk import of about `expected_events` starts: the store may set aside its read-side indexes
    /// until `end_bulk` (see `Ingestion::begin_bulk`). Answers whether it did.
    pub async fn begin_bulk(&self, expected_events: Option<u64>) -> Result<bool, StoreError> {
        self.store.begin_bulk(expected_events).await
    }

    /// The bulk import ended, well or not: what `begin_bulk` set aside is built again.
    pub async fn end_bulk(&self) -> Result<usize, StoreError> {
        self.store.end_bulk().await
    }

    /// Bulk import of one lane's batch (see `Store::ingest_bulk`).
    pub async fn ingest_bulk(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let visits = self.desk.hears(&events);
        let results = self.store.ingest_bulk(events).await?;
        if visits {
            self.desk.touch();
        }
        Ok(results)
    }

    /// Stored obligations are complete and final for any moment at or after the latest event.
    async fn is_live(&self, as_of: Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .store
            .latest_event_at()
            .await?
            .is_none_or(|latest| latest <= as_of))
    }

    /// Calls `f` with every customer's obligations as of `as_of`, replayed from events up to then.
    async fn replay(
        &self,
        as_of: Timestamp,
        mut f: impl FnMut(&CustomerRecord, Vec<Obligation>),
    ) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let page = self.store.histories(after, REPLAY_PAGE).await?;
            for (customer, events) in &page.histories {
                let upto: Vec<&Event> = events.iter().filter(|e| e.at <= as_of).collect();
                f(customer, self.engine.evaluate(&upto));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    pub async fn invisible(&self, as_of: Timestamp) -> Result<Vec<InvisibleView>, StoreError> {
        Ok(self.invisible_first(as_of, usize::MAX).await?.1)
    }

    /// How many customers are invisible, and the first `limit` of them (longest wait first) with their
    /// profiles: only those profiles are read.
    pub async fn invisible_first(
        &self,
        as_of: Timestamp,
        limit: usize,
    ) -> Result<(usize, Vec<InvisibleView>), StoreError> {
        let mut invisible = self.invisible_reasons(as_of).await?;
        let total = invisible.len();
        invisible.truncate(limit);
        let ids = invisible.iter().map(|i| i.customer.clone()).collect();
        let profiles: HashMap<String, CustomerRecord> = self
            .store
            .customers(ids)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let views = invisible
            .into_iter()
            .map(|invisible| {
                let profile = profiles.get(&invisible.customer);
                InvisibleView {
                    name: profile.and_then(|p| p.name.clone()),
                    email: profile.and_then(|p| p.email.clone()),
                    invisible,
                }
            })
            .collect();
        Ok((total, views))
    }

    /// Who is invisible as of `as_of` and why, longest wait first, without their profiles (the work queue reads
    /// profiles only for the rows it shows).
    pub async fn invisible_reasons(&self, as_of: Timestamp) -> Result<Vec<Invisible>, StoreError> {
        Ok(if self.is_live(as_of).await? {
            let obligations = self.store.unclosed_breached(as_of).await?;
            invisible_customers(&obligations, as_of)
        } else {
            let mut all = Vec::new();
            self.replay(as_of, |_, obligations| {
                all.extend(obligations.into_iter().filter(|o| o.is_invisible(as_of)));
            })
            .await?;
            invisible_customers(&all, as_of)
        })
    }

    pub async fn customer(
        &self,
        id: &str,
        as_of: Timestamp,
    ) -> Result<Option<CustomerView>, StoreError> {
        let Some(profile) = self.store.customer(id).await? else {
            return Ok(None);
        };
        let events: Vec<Event> = self
            .store
            .customer_events(id)
            .await?
            .into_iter()
            .filter(|e| e.at <= as_of)
            .collect();
        let obligations = if self.is_live(as_of).await? {
            self.store.customer_obligations(id).await?
        } else {
            self.engine.evaluate(&events)
        };
        Ok(Some(CustomerView {
            invisible: obligations.iter().any(|o| o.is_invisible(as_of)),
            events: events.iter().map(EventView::from).collect(),
            obligations: obligations
                .iter()
                .filter(|o| o.opened_at <= as_of)
                .map(|o| ObligationView::new(o, as_of))
                .collect(),
            profile,
        }))
    }

    /// Calls `f` with every obligation matching the filter and status, as of `as_of`.
    pub async fn for_each_obligation(
        &self,
        filter: ObligationFilter,
        status: Option<Status>,
        as_of: Timestamp,
        mut f: impl FnMut(ObligationView) -> bool,
    ) -> Result<(), StoreError> {
        let keep = |o: &Obligation| {
            o.opened_at <= as_of
                && filter.policy.as_deref().is_none_or(|p| *o.policy == *p)
                && filter.customer.as_deref().is_none_or(|c| o.customer == c)
                && status.is_none_or(|s| o.status(as_of) == s)
        };
        if self.is_live(as_of).await? {
            let mut page = ObligationFilter {
                limit: Some(10_000),
                ..filter.clone()
            };
            loop {
                let rows = self.store.obligations(page.clone()).await?;
                let last = rows.last().map(|(row, _)| *row);
                for (_, o) in &rows {
                    if keep(o) && !f(ObligationView::new(o, as_of)) {
                        return Ok(());
                    }
                }
                match last {
                    Some(last) if rows.len() == 10_000 => page.after = Some(last),
                    _ => return Ok(()),
                }
            }
        }
        let mut go_on = true;
        self.replay(as_of, |_, obligations| {
            for o in obligations.iter().filter(|o| keep(o)) {
                if go_on && !f(ObligationView::new(o, as_of)) {
                    go_on = false;
                }
            }
        })
        .await
    }

    pub async fn summary(&self, as_of: Timestamp) -> Result<Summary, StoreError> {
        let mut builder = SummaryBuilder::default();
        let mut reply_times = Vec::new();
        let reply_policies: Vec<&str> = self
            .engine
            .policies()
            .iter()
            .filter(|p| p.is_trigger("message.received"))
            .map(|p| &*p.name)
            .collect();
        let mut add = |o: &Obligation| {
            builder.add(o, as_of);
            if reply_policies.contains(&&*o.policy)
                && matches!(o.status(as_of), Status::Kept | Status::KeptLate)
            {
                if let Some(closed) = o.closed_at {
                    reply_times.push(closed.duration_since(o.opened_at).as_secs());
                }
            }
        };
        if self.is_live(as_of).await? {
            let mut after = None;
            loop {
                let rows = self
                    .store
                    .obligations(ObligationFilter {
                        after,
                        limit: Some(50_000),
                        ..Default::default()
                    })
                    .await?;
                for (_, o) in &rows {
                    add(o);
                }
                match rows.last() {
                    Some((row, _)) if rows.len() == 50_000 => after = Some(*row),
                    _ => break,
                }
            }
        } else {
            self.replay(as_of, |_, obligations| {
                obligations.iter().for_each(&mut add)
            })
            .await?;
        }
        reply_times.sort_unstable();
        let order: Vec<&str> = self.engine.policies().iter().map(|p| &*p.name).collect();
        let (policies, invisible_now) = builder.finish(&order);
        let counts = self.store.counts().await?;
        Ok(Summary {
            as_of,
            customers: counts.customers,
            events: counts.events,
            invisible_now,
            policies,
            reply_time_p50: crate::domain::report::percentile(&reply_times, 50),
            reply_time_p90: crate::domain::report::percentile(&reply_times, 90),
        })
    }
}

/// How survey figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SurveyGroup {
    All,
    Policy,
    Channel,
    Team,
    Survey,
    Day,
    Week,
    Month,
}

impl SurveyGroup {
    pub fn parse(text: &str) -> Option<SurveyGroup> {
        <SurveyGroup as clap::ValueEnum>::from_str(text, true).ok()
    }

    fn key(self, event: &Event, properties: &serde_json::Value) -> String {
        let text = |name: &str| {
            properties[name]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "-".to_string())
        };
        let utc = event.at.to_zoned(jiff::tz::TimeZone::UTC);
        match self {
            SurveyGroup::All => "all".into(),
            SurveyGroup::Policy => text("policy"),
            SurveyGroup::Channel => text("channel"),
            SurveyGroup::Team => text("team"),
            SurveyGroup::Survey => text("survey"),
            SurveyGroup::Day => utc.strftime("%Y-%m-%d").to_string(),
            SurveyGroup::Week => utc.strftime("%G-W%V").to_string(),
            SurveyGroup::Month => utc.strftime("%Y-%m").to_string(),
        }
    }
}

impl Service {
    /// Survey figures (sent, answered, CSAT, NPS, felt-invisible rate, response rate) per group. Each send
    /// counts its latest answer only: changing an answer never counts twice. A `customer.feels_ignored` tap
    /// is a "yes, I felt invisible" no survey asked for (`domain::survey::FEELS_IGNORED` has the rule): in
    /// the felt-invisible rate, not in the response rate, under the survey "feels-ignored".
    pub async fn survey_summary(
        &self,
        by: SurveyGroup,
        since: Option<Timestamp>,
    ) -> Result<std::collections::BTreeMap<String, crate::domain::survey::SurveyStats>, StoreError>
    {
        self.survey_stats_by(|event, properties| by.key(event, properties), since)
            .await
    }

    /// Survey figures per key of each `survey.sent` / `survey.answered` event (latest answer per send) and
    /// each `customer.feels_ignored` tap (the first per customer and UTC day; its key is asked of the
    /// properties `{"survey": "feels-ignored", "kind": "invisible"}`: no policy, channel or team).
    pub async fn survey_stats_by(
        &self,
        key: impl Fn(&Event, &serde_json::Value) -> String,
        since: Option<Timestamp>,
    ) -> Result<std::collections::BTreeMap<String, crate::domain::survey::SurveyStats>, StoreError>
    {
        use crate::domain::survey::{group_stats, Answer, SurveyKind, FEELS_IGNORED_SURVEY};
        let events = self
            .store
            .events_of_types(vec!["survey.sent".into(), "survey.answered".into()], since)
            .await?;
        let mut sent = Vec::new();
        let mut latest: HashMap<String, (String, Answer)> = HashMap::new();
        for event in &events {
            let properties = event.properties_value();
            let key = key(event, &properties);
            if event.kind == "survey.sent" {
                sent.push(key);
                continue;
            }
            let (Some(send), Some(kind), Some(score)) = (
                properties["send"].as_str(),
                properties["kind"].as_str().and_then(SurveyKind::parse),
                properties["score"]
                    .as_u64()
                    .and_then(|s| u8::try_from(s).ok()),
            ) else {
                continue;
            };
            // Events come in time order: a later answer to the same send replaces the earlier one.
            latest.insert(send.to_string(), (key, Answer { kind, score }));
        }
        let mut answers: Vec<(String, Answer)> = latest.into_values().collect();
        answers.sort_by(|a, b| a.0.cmp(&b.0));
        let taps = self.store.feels_ignored(since).await?;
        let grouping = serde_json::json!({
            "survey": FEELS_IGNORED_SURVEY,
            "kind": SurveyKind::Invisible.as_str(),
        });
        let mut tapped = std::collections::HashSet::new();
        let feels_ignored: Vec<String> = taps
            .iter()
            .filter(|tap| {
                let day = tap.at.to_zoned(jiff::tz::TimeZone::UTC).date();
                tapped.insert((tap.customer.as_str(), day))
            })
            .map(|tap| key(tap, &grouping))
            .collect();
        Ok(group_stats(
            sent.iter().map(String::as_str),
            answers.iter().map(|(k, a)| (k.as_str(), a.clone())),
            feels_ignored.iter().map(String::as_str),
        ))
    }
}
