//! Visits on the premises: folds a front desk's `visit.*` events (check-in, call, serve, finish, transfer,
//! no-show, walk-out) into visits, answers who is waiting and how many are ahead, estimates waits from
//! learnt service times, and computes the desk's figures. Pure: "now" is always an argument.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::report::percentile;
use crate::trend::rate;

/// The visitor is on the premises (informational; the visit starts at `visit.queued`).
pub const ARRIVED: &str = "visit.arrived";
/// Checked in for a visit type at a location: the visit starts, waiting.
pub const QUEUED: &str = "visit.queued";
/// Called to a counter.
pub const CALLED: &str = "visit.called";
/// Service started.
pub const SERVED: &str = "visit.served";
/// Service ended.
pub const FINISHED: &str = "visit.finished";
/// Sent to another visit type: waiting again, for the new type.
pub const TRANSFERRED: &str = "visit.transferred";
/// Called but did not come.
pub const NO_SHOW: &str = "visit.no_show";
/// Walked out.
pub const LEFT: &str = "visit.left";
/// Every visit event type.
pub const KINDS: [&str; 8] = [
    ARRIVED,
    QUEUED,
    CALLED,
    SERVED,
    FINISHED,
    TRANSFERRED,
    NO_SHOW,
    LEFT,
];

/// Whether an event type is one of the visit events.
pub fn is_visit_kind(kind: &str) -> bool {
    KINDS.contains(&kind)
}

/// Where a visit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum State {
    Waiting,
    Called,
    Serving,
    Finished,
    NoShow,
    Left,
}

impl State {
    /// The state's name as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Called => "called",
            State::Serving => "serving",
            State::Finished => "finished",
            State::NoShow => "no_show",
            State::Left => "left",
        }
    }

    /// Still on the desk's hands: waiting, called or being served.
    pub fn is_open(self) -> bool {
        matches!(self, State::Waiting | State::Called | State::Serving)
    }
}

/// What an estimate was based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The type's service times at this hour of the week.
    History,
    /// The type's service times at any hour.
    Type,
    /// The configured typical service time.
    Prior,
}

/// A quoted wait: between `low_s` and `high_s` seconds, with `ahead` people ahead and `counters` serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    pub low_s: i64,
    pub high_s: i64,
    pub ahead: u32,
    pub counters: u32,
    pub basis: Basis,
}

impl Estimate {
    /// Whether a wait (seconds) fell inside the quoted range, ends included.
    pub fn contains(&self, wait_s: i64) -> bool {
        self.low_s <= wait_s && wait_s <= self.high_s
    }

    /// The middle of the range (seconds, rounded toward zero).
    pub fn mid_s(&self) -> i64 {
        ((i128::from(self.low_s) + i128::from(self.high_s)) / 2) as i64
    }
}

/// One waiting segment: from queueing (or a transfer) until called or served, or until it ended unserved
/// (a transfer before any call, a no-show while waiting, a walk-out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wait {
    pub visit_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
    /// Ended by a call, a service start or a finish (the visitor was attended to).
    pub served: bool,
}

/// One service segment: from `visit.served` until finished, transferred, or the visit otherwise ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    pub visit_type: String,
    pub by: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
}

/// One visit (one `ref`), folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    #[serde(rename = "ref")]
    pub reference: String,
    pub customer: String,
    pub first_name: Option<String>,
    /// The current type (the latest transfer's, or the one queued for).
    pub visit_type: String,
    pub location: String,
    /// The first `visit.queued`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub queued_at: Timestamp,
    /// `queued_at`, or the latest transfer.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub waiting_since: Timestamp,
    pub state: State,
    /// The call of the current wait (cleared by a transfer).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub called_at: Option<Timestamp>,
    pub called_by: Option<String>,
    pub counter: Option<String>,
    /// The latest service's start and who gave it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub served_at: Option<Timestamp>,
    pub served_by: Option<String>,
    /// Finished, no-show or left.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub ended_at: Option<Timestamp>,
    /// The `by` of the finish, no-show or walk-out.
    pub ended_by: Option<String>,
    /// Quoted on `visit.queued`.
    pub estimate: Option<Estimate>,
    pub transfers: u32,
    /// The `by` of each transfer that named one, in order.
    pub transferred_by: Vec<String>,
    /// One per queueing and per transfer, in order: `waits.len() == transfers + 1`.
    pub waits: Vec<Wait>,
    pub services: Vec<Service>,
    /// The latest event that changed the visit.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_at: Timestamp,
    /// The id of the event the current wait started with (the `visit.queued`, or the latest transfer):
    /// the trigger of the serve promise it is waiting under.
    pub opened_by: String,
}

impl Visit {
    /// The first wait ended by a call or service, in seconds.
    pub fn first_wait_s(&self) -> Option<i64> {
        self.first_served_wait().map(|(_, secs)| secs)
    }

    fn first_served_wait(&self) -> Option<(&Wait, i64)> {
        self.waits
            .iter()
            .find(|w| w.served)
            .and_then(|w| Some((w, secs(w.from, w.until?))))
    }

    /// Left before any service.
    fn abandoned(&self) -> bool {
        self.state == State::Left && self.services.is_empty()
    }

    fn queued(reference: &str, e: &Event, p: &Props) -> Visit {
        let visit_type = p.text("visit_type").unwrap_or_default();
        Visit {
            reference: reference.to_string(),
            customer: e.customer.clone(),
            first_name: p.text("first_name"),
            location: p.text("location").unwrap_or_default(),
            queued_at: e.at,
            waiting_since: e.at,
            state: State::Waiting,
            called_at: None,
            called_by: None,
            counter: None,
            served_at: None,
            served_by: None,
            ended_at: None,
            ended_by: None,
            estimate: p
                .0
                .get("estimate")
                .and_then(|v| Estimate::deserialize(v).ok()),
            transfers: 0,
            transferred_by: Vec::new(),
            waits: vec![Wait {
                visit_type: visit_type.clone(),
                from: e.at,
                until: None,
                served: false,
            }],
            services: Vec::new(),
            visit_type,
            last_at: e.at,
            opened_by: e.id.clone(),
        }
    }

    fn end_wait(&mut self, at: Timestamp, served: bool) {
        if let Some(w) = self.waits.last_mut().filter(|w| w.until.is_none()) {
            w.until = Some(at);
            w.served = served;
        }
    }

    fn end_service(&mut self, at: Timestamp) {
        if let Some(s) = self.services.last_mut().filter(|s| s.until.is_none()) {
            s.until = Some(at);
        }
    }

    fn end(&mut self, state: State, at: Timestamp, by: Option<String>, served: bool) {
        self.end_wait(at, served);
        self.end_service(at);
        self.state = state;
        self.ended_at = Some(at);
        self.ended_by = by;
    }

    /// Applies one later event of this visit; what does not fit the state is ignored.
    fn apply(&mut self, e: &Event, p: &Props) {
        use State::*;
        if !self.state.is_open() {
            return;
        }
        let at = e.at;
        let by = p.text("by");
        match (e.kind.as_str(), self.state) {
            (CALLED, Waiting) => {
                self.end_wait(at, true);
                self.state = Called;
                self.called_at = Some(at);
                self.called_by = by;
                self.counter = p.text("counter");
            }
            // Called again (the same wait): who and where may change.
            (CALLED, Called) => {
                self.called_by = by.or(self.called_by.take());
                self.counter = p.text("counter").or(self.counter.take());
            }
            (SERVED, Waiting | Called) => {
                self.end_wait(at, true);
                self.state = Serving;
                self.served_at = Some(at);
                self.served_by.clone_from(&by);
                self.counter = p.text("counter").or(self.counter.take());
                self.services.push(Service {
                    visit_type: self.visit_type.clone(),
                    by,
                    from: at,
                    until: None,
                });
            }
            // From waiting or called too: attended to, no service time known.
            (FINISHED, _) => self.end(Finished, at, by, true),
            (TRANSFERRED, _) => {
                self.end_wait(at, false);
                self.end_service(at);
                if let Some(t) = p.text("visit_type") {
                    self.visit_type = t;
                }
                self.transfers = self.transfers.saturating_add(1);
                self.opened_by.clone_from(&e.id);
                self.transferred_by.extend(by);
                self.state = Waiting;
                self.waiting_since = at;
                self.called_at = None;
                self.called_by = None;
                self.counter = None;
                self.waits.push(Wait {
                    visit_type: self.visit_type.clone(),
                    from: at,
                    until: None,
                    served: false,
                });
            }
            (NO_SHOW, _) => self.end(NoShow, at, by, false),
            (LEFT, _) => self.end(Left, at, by, false),
            _ => return,
        }
        self.last_at = at;
    }
}

/// An event's properties, parsed once.
struct Props(serde_json::Map<String, serde_json::Value>);

impl Props {
    fn of(e: &Event) -> Props {
        let map = e
            .properties
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Props(map)
    }

    /// As `Event::property_text`, with blank text read as absent.
    fn text(&self, name: &str) -> Option<String> {
        let text = match self.0.get(name)? {
            serde_json::Value::String(s) => s.trim().to_string(),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => v.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }
}

fn secs(from: Timestamp, until: Timestamp) -> i64 {
    until.duration_since(from).as_secs()
}

/// Folds visit events (any order; sorted here by `(at, id)`, then the rest of the event so the order is
/// total) into visits, one per ref, ordered by `queued_at` then ref. Events without a ref or of other
/// types are skipped; a ref's events before its first `visit.queued` are dropped, and a ref never queued
/// gives no visit (a window may have cut its check-in off). A second check-in while open and anything
/// after the visit ended are ignored, as is what does not fit the state (a call while being served).
pub fn fold(events: &[Event]) -> Vec<Visit> {
    let mut sorted: Vec<&Event> = events
        .iter()
        .filter(|e| e.reference.is_some() && is_visit_kind(&e.kind))
        .collect();
    sorted.sort_by(|a, b| fold_key(a).cmp(&fold_key(b)));
    let mut by_ref: FxHashMap<&str, Visit> = FxHashMap::default();
    for e in sorted {
        let Some(reference) = e.reference.as_deref() else {
            continue;
        };
        match by_ref.get_mut(reference) {
            Some(visit) => visit.apply(e, &Props::of(e)),
            None if e.kind == QUEUED => {
                by_ref.insert(reference, Visit::queued(reference, e, &Props::of(e)));
            }
            None => {}
        }
    }
    let mut out: Vec<Visit> = by_ref.into_values().collect();
    out.sort_by(|a, b| (a.queued_at, &a.reference).cmp(&(b.queued_at, &b.reference)));
    out
}

/// `Event::sort_key`, then the rest of the event: a total order, so the input's order never matters.
type FoldKey<'a> = (
    Timestamp,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

fn fold_key(e: &Event) -> FoldKey<'_> {
    let (at, id) = e.sort_key();
    let (reference, properties) = (e.reference.as_deref(), e.properties.as_deref());
    (at, id, &e.kind, reference, &e.customer, properties)
}

fn queue_key(v: &Visit) -> (Timestamp, &str) {
    (v.waiting_since, &v.reference)
}

/// Waiting visits (state Waiting) at `location` (None = all), longest waiting first (`waiting_since`,
/// then ref).
pub fn waiting<'a>(visits: &'a [Visit], location: Option<&str>) -> Vec<&'a Visit> {
    let mut out: Vec<&Visit> = visits
        .iter()
        .filter(|v| v.state == State::Waiting && location.is_none_or(|l| v.location == l))
        .collect();
    out.sort_by(|a, b| queue_key(a).cmp(&queue_key(b)));
    out
}

/// How many are ahead of this visit: Waiting visits at the same location and type with an earlier
/// `(waiting_since, reference)`. For many visits at once, `positions`.
pub fn ahead(visits: &[Visit], visit: &Visit) -> u32 {
    let key = queue_key(visit);
    let n = visits
        .iter()
        .filter(|v| {
            v.state == State::Waiting
                && v.location == visit.location
                && v.visit_type == visit.visit_type
                && queue_key(v) < key
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `ahead` of every Waiting visit, by ref, in one sort (refs are unique in `fold`'s output).
pub fn positions(visits: &[Visit]) -> FxHashMap<&str, u32> {
    let mut queue: Vec<&Visit> = visits
        .iter()
        .filter(|v| v.state == State::Waiting)
        .collect();
    queue.sort_by(|a, b| (line(a), queue_key(a)).cmp(&(line(b), queue_key(b))));
    let mut out = FxHashMap::with_capacity_and_hasher(queue.len(), Default::default());
    let (mut previous, mut position): (Option<&Visit>, u32) = (None, 0);
    for v in queue {
        position = match previous {
            Some(p) if line(p) == line(v) => position.saturating_add(1),
            _ => 0,
        };
        out.insert(v.reference.as_str(), position);
        previous = Some(v);
    }
    out
}

fn line(v: &Visit) -> (&str, &str) {
    (&v.location, &v.visit_type)
}

/// What is ahead of a NEW visitor joining now: Waiting visits of that type at that location.
pub fn queue_length(visits: &[Visit], location: &str, visit_type: &str) -> u32 {
    let n = visits
        .iter()
        .filter(|v| {
            v.state == State::Waiting && v.location == location && v.visit_type == visit_type
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The next visit for a counter that serves `types` at `location`: the longest-waiting Waiting visit whose
/// type is in `types` (empty = any type).
pub fn next_for<'a>(visits: &'a [Visit], location: &str, types: &[String]) -> Option<&'a Visit> {
    visits
        .iter()
        .filter(|v| {
            v.state == State::Waiting
                && v.location == location
                && (types.is_empty() || types.contains(&v.visit_type))
        })
        .min_by(|a, b| queue_key(a).cmp(&queue_key(b)))
}

/// Fewest samples a mean is taken from.
pub const MIN_SAMPLES: u32 = 8;
const HOURS_OF_WEEK: usize = 168;

/// Running count, mean and sum of squared deviations (Welford).
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: u32,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        let d = x - self.mean;
        self.mean += d / f64::from(self.n);
        self.m2 += d * (x - self.mean);
    }

    /// (mean, sample standard deviation, count) once there are `MIN_SAMPLES`.
    fn summary(&self) -> Option<(f64, f64, u32)> {
        (self.n >= MIN_SAMPLES).then(|| {
            let sd = (self.m2 / f64::from(self.n - 1)).max(0.0).sqrt();
            (self.mean, sd, self.n)
        })
    }
}

#[derive(Debug, Clone)]
struct TypeTimes {
    all: Moments,
    by_hour: Vec<Moments>,
}

/// Service-time samples (seconds) per visit type and hour of the week (0 = Monday 00:00–01:00 local,
/// 167 = Sunday 23:00).
#[derive(Debug, Clone, Default)]
pub struct ServiceTimes {
    types: FxHashMap<String, TypeTimes>,
}

impl ServiceTimes {
    /// From completed Service segments of the given visits that started in `[since, until)`, at the hour of
    /// the week of their start in `tz`.
    pub fn learn(
        visits: &[Visit],
        tz: &TimeZone,
        since: Timestamp,
        until: Timestamp,
    ) -> ServiceTimes {
        let mut out = ServiceTimes::default();
        let services = visits.iter().flat_map(|v| &v.services);
        for s in services.filter(|s| (since..until).contains(&s.from)) {
            let Some(end) = s.until else { continue };
            let times = out
                .types
                .entry(s.visit_type.clone())
                .or_insert_with(|| TypeTimes {
                    all: Moments::default(),
                    by_hour: vec![Moments::default(); HOURS_OF_WEEK],
                });
            let x = secs(s.from, end) as f64;
            times.all.add(x);
            if let Some(slot) = times.by_hour.get_mut(hour_of_week(s.from, tz) as usize) {
                slot.add(x);
            }
        }
        out
    }

    /// Mean and standard deviation (seconds) and sample count for a type at an hour of the week: that
    /// hour's samples if there are `MIN_SAMPLES` (basis History), else the type's whole samples if there
    /// are (basis Type), else None.
    pub fn for_slot(&self, visit_type: &str, hour_of_week: u32) -> Option<(f64, f64, u32, Basis)> {
        let times = self.types.get(visit_type)?;
        let hour = times
            .by_hour
            .get(hour_of_week as usize)
            .and_then(Moments::summary);
        match hour {
            Some((m, s, n)) => Some((m, s, n, Basis::History)),
            None => times.all.summary().map(|(m, s, n)| (m, s, n, Basis::Type)),
        }
    }

    /// How many service times were learnt for a type.
    pub fn samples(&self, visit_type: &str) -> usize {
        self.types.get(visit_type).map_or(0, |t| t.all.n as usize)
    }
}

/// The hour of the week of a moment in `tz`: 0 = Monday 00:00–01:00, 167 = Sunday 23:00–24:00.
pub fn hour_of_week(at: Timestamp, tz: &TimeZone) -> u32 {
    let dt = tz.to_datetime(at);
    let day = u32::from(dt.weekday().to_monday_zero_offset().unsigned_abs());
    day * 24 + u32::from(dt.hour().unsigned_abs())
}

/// The wait a new visitor can expect with `ahead` people of their type ahead and `counters` (0 is taken
/// as 1) counters serving it. `service` is `ServiceTimes::for_slot`'s answer; without one, `prior_s` is
/// the typical service time (basis Prior, standard deviation half of it).
///
/// The visitor waits for the `ahead` services and about half of the one in progress, shared by the
/// counters: mean = (ahead + 0.5)·m / c, sd = s·√(ahead + 1) / c but at least 0.25·m / c; the range is
/// mean − sd (not below 0) rounded down to the minute to mean + 1.3·sd rounded up, at least a minute wide.
pub fn estimate(
    ahead: u32,
    counters: u32,
    service: Option<(f64, f64, u32, Basis)>,
    prior_s: i64,
) -> Estimate {
    let counters = counters.max(1);
    let (m, s, basis) = match service {
        Some((m, s, _, basis)) => (m, s, basis),
        None => (prior_s as f64, prior_s as f64 / 2.0, Basis::Prior),
    };
    let sane = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let (m, s, c) = (sane(m), sane(s), f64::from(counters));
    let mean = (f64::from(ahead) + 0.5) * m / c;
    let sd = (s * (f64::from(ahead) + 1.0).sqrt() / c).max(0.25 * m / c);
    let low_s = (((mean - sd).max(0.0) / 60.0).floor() as i64).saturating_mul(60);
    let high_s = (((mean + 1.3 * sd) / 60.0).ceil() as i64).saturating_mul(60);
    Estimate {
        low_s,
        high_s: high_s.max(low_s.saturating_add(60)),
        ahead,
        counters,
        basis,
    }
}

/// What figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Type,
    Location,
    Staff,
    Hour,
}

/// The desk's figures for one group over visits queued in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    /// The type, location, staff member, local hour of check-in ("00".."23"), or "all".
    pub group: String,
    /// Visits queued in the period (Type: by the type queued for; Staff: the visits they served).
    pub visits: u64,
    /// First waits (`Visit::first_wait_s`) of the visits that were attended to.
    pub waits_p50_s: Option<i64>,
    pub waits_p90_s: Option<i64>,
    /// Completed services.
    pub service_p50_s: Option<i64>,
    pub service_p90_s: Option<i64>,
    /// Waits longer than their type's target (open ones measured to `now`), and their percent share of
    /// the waits whose type has a target.
    pub over_target: u64,
    pub over_target_share: Option<f64>,
    /// Left before any service, and percent of `visits`.
    pub abandoned: u64,
    pub abandoned_share: Option<f64>,
    pub no_shows: u64,
    pub transfers: u64,
    /// `visits` per local clock hour in which any visit of the period checked in.
    pub visits_per_hour: Option<f64>,
    /// Completed services and their total seconds.
    pub served: u64,
    pub serving_s: i64,
}

#[derive(Debug, Default)]
struct Acc {
    visits: u64,
    first_waits: Vec<i64>,
    services: Vec<i64>,
    over: u64,
    with_target: u64,
    abandoned: u64,
    no_shows: u64,
    transfers: u64,
}

type Targets = HashMap<String, SignedDuration>;

impl Acc {
    fn wait(&mut self, w: &Wait, targets: &Targets, now: Timestamp) {
        if let Some(target) = targets.get(&w.visit_type) {
            self.with_target += 1;
            if w.until.unwrap_or(now).duration_since(w.from) > *target {
                self.over += 1;
            }
        }
    }

    fn service(&mut self, s: &Service) {
        if let Some(until) = s.until {
            self.services.push(secs(s.from, until));
        }
    }

    /// The whole visit in this group.
    fn visit(&mut self, v: &Visit, targets: &Targets, now: Timestamp) {
        self.visits += 1;
        self.first_waits.extend(v.first_wait_s());
        v.waits.iter().for_each(|w| self.wait(w, targets, now));
        v.services.iter().for_each(|s| self.service(s));
        self.abandoned += u64::from(v.abandoned());
        self.no_shows += u64::from(v.state == State::NoShow);
        self.transfers += u64::from(v.transfers);
    }

    fn figures(mut self, group: String, slots: usize) -> Figures {
        self.first_waits.sort_unstable();
        self.services.sort_unstable();
        Figures {
            group,
            visits: self.visits,
            waits_p50_s: percentile(&self.first_waits, 50),
            waits_p90_s: percentile(&self.first_waits, 90),
            service_p50_s: percentile(&self.services, 50),
            service_p90_s: percentile(&self.services, 90),
            over_target: self.over,
            over_target_share: rate(self.over, self.with_target),
            abandoned: self.abandoned,
            abandoned_share: rate(self.abandoned, self.visits),
            no_shows: self.no_shows,
            transfers: self.transfers,
            visits_per_hour: (slots > 0).then(|| self.visits as f64 / slots as f64),
            served: self.services.len() as u64,
            serving_s: self
                .services
                .iter()
                .fold(0i64, |sum, s| sum.saturating_add(*s)),
        }
    }
}

fn in_period(visits: &[Visit], from: Timestamp, to: Timestamp) -> Vec<&Visit> {
    visits
        .iter()
        .filter(|v| (from..to).contains(&v.queued_at))
        .collect()
}

/// Distinct local (date, hour) slots in which any of the visits checked in.
fn slots(visits: &[&Visit], tz: &TimeZone) -> usize {
    let slots: FxHashSet<(jiff::civil::Date, i8)> = visits
        .iter()
        .map(|v| {
            let dt = tz.to_datetime(v.queued_at);
            (dt.date(), dt.hour())
        })
        .collect();
    slots.len()
}

fn group<'m>(groups: &'m mut BTreeMap<String, Acc>, key: &str) -> &'m mut Acc {
    groups.entry(key.to_string()).or_default()
}

/// Figures per group for visits queued in `[from, to)`, sorted by group; `targets` maps a visit type to
/// its target wait; `now` closes still-open waits for the over-target check.
///
/// Location and Hour (local hour of `queued_at`) put the whole visit in one group. Type puts each part
/// under its own type: the visit under the type queued for, each wait and service under theirs, a
/// transfer under the type left, a walk-out or no-show under the type waited for at the end. Staff puts
/// under each person (the `by` of a Service) the visits they served (their first waits and all their
/// waits), the services they gave, and the no-shows, walk-outs and transfers they recorded.
pub fn figures(
    visits: &[Visit],
    by: GroupBy,
    targets: &HashMap<String, SignedDuration>,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Vec<Figures> {
    let visits = in_period(visits, from, to);
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for v in &visits {
        match by {
            GroupBy::Location => group(&mut groups, &v.location).visit(v, targets, now),
            GroupBy::Hour => {
                let hour = format!("{:02}", tz.to_datetime(v.queued_at).hour());
                group(&mut groups, &hour).visit(v, targets, now);
            }
            GroupBy::Type => {
                let queued_for = v.waits.first().map_or(&v.visit_type, |w| &w.visit_type);
                group(&mut groups, queued_for).visits += 1;
                if let Some((w, secs)) = v.first_served_wait() {
                    group(&mut groups, &w.visit_type).first_waits.push(secs);
                }
                for w in &v.waits {
                    group(&mut groups, &w.visit_type).wait(w, targets, now);
                }
                for s in &v.services {
                    group(&mut groups, &s.visit_type).service(s);
                }
                for pair in v.waits.windows(2) {
                    group(&mut groups, &pair[0].visit_type).transfers += 1;
                }
                let at_end = group(&mut groups, &v.visit_type);
                at_end.abandoned += u64::from(v.abandoned());
                at_end.no_shows += u64::from(v.state == State::NoShow);
            }
            GroupBy::Staff => {
                let people: BTreeSet<&str> =
                    v.services.iter().filter_map(|s| s.by.as_deref()).collect();
                for person in people {
                    let acc = group(&mut groups, person);
                    acc.visits += 1;
                    acc.first_waits.extend(v.first_wait_s());
                    v.waits.iter().for_each(|w| acc.wait(w, targets, now));
                }
                for s in &v.services {
                    if let Some(person) = &s.by {
                        group(&mut groups, person).service(s);
                    }
                }
                if let Some(person) = &v.ended_by {
                    let acc = group(&mut groups, person);
                    acc.abandoned += u64::from(v.abandoned());
                    acc.no_shows += u64::from(v.state == State::NoShow);
                }
                for person in &v.transferred_by {
                    group(&mut groups, person).transfers += 1;
                }
            }
        }
    }
    let slots = slots(&visits, tz);
    groups
        .into_iter()
        .map(|(name, acc)| acc.figures(name, slots))
        .collect()
}

/// The figures of all visits queued in `[from, to)` as one row (group "all").
pub fn totals(
    visits: &[Visit],
    targets: &HashMap<String, SignedDuration>,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Figures {
    let visits = in_period(visits, from, to);
    let mut acc = Acc::default();
    visits.iter().for_each(|v| acc.visit(v, targets, now));
    acc.figures("all".to_string(), slots(&visits, tz))
}

/// Weekday × hour (Monday first, local time of `queued_at`) of visits queued in `[from, to)`: how many
/// checked in, and the median first wait (seconds) of those attended to.
pub fn heatmap(
    visits: &[Visit],
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> [[(u32, Option<i64>); 24]; 7] {
    let mut counts = [[0u32; 24]; 7];
    let mut waits: Vec<Vec<i64>> = vec![Vec::new(); HOURS_OF_WEEK];
    for v in in_period(visits, from, to) {
        let h = hour_of_week(v.queued_at, tz) as usize;
        if let Some(c) = counts.get_mut(h / 24).and_then(|d| d.get_mut(h % 24)) {
            *c = c.saturating_add(1);
        }
        if let (Some(cell), Some(w)) = (waits.get_mut(h), v.first_wait_s()) {
            cell.push(w);
        }
    }
    let mut out = [[(0u32, None); 24]; 7];
    for (h, mut cell) in waits.into_iter().enumerate() {
        cell.sort_unstable();
        let (day, hour) = (h / 24, h % 24);
        out[day][hour] = (counts[day][hour], percentile(&cell, 50));
    }
    out
}

/// How well quoted waits matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accuracy {
    /// Visits with a quote whose quoted wait ended by a call or service.
    pub quoted: u64,
    /// Median of |actual − middle of the quote|.
    pub median_abs_error_s: Option<i64>,
    /// Percent of the actual waits inside the quoted range.
    pub within_share: Option<f64>,
    /// At least 20 quotes, at least 60 % of them right.
    pub trusted: bool,
}

/// Quoted vs actual for visits queued in `[from, to)` with an estimate whose first wait (the one quoted
/// for; not a wait after a transfer) ended by a call or service.
pub fn accuracy(visits: &[Visit], from: Timestamp, to: Timestamp) -> Accuracy {
    let mut errors = Vec::new();
    let mut within = 0u64;
    for v in in_period(visits, from, to) {
        let (Some(quote), Some(wait)) = (v.estimate, v.waits.first()) else {
            continue;
        };
        let Some(until) = wait.until.filter(|_| wait.served) else {
            continue;
        };
        let actual = secs(wait.from, until);
        errors.push(actual.saturating_sub(quote.mid_s()).saturating_abs());
        within += u64::from(quote.contains(actual));
    }
    errors.sort_unstable();
    let quoted = errors.len() as u64;
    let within_share = rate(within, quoted);
    Accuracy {
        quoted,
        median_abs_error_s: percentile(&errors, 50),
        within_share,
        trusted: quoted >= 20 && within_share.is_some_and(|s| s >= 60.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// `HH:MM[:SS]` on Monday 2026-03-02 UTC (Paris is an hour ahead), or a full RFC 3339 timestamp.
    fn t(at: &str) -> Timestamp {
        match at.len() {
            5 => format!("2026-03-02T{at}:00Z").parse().unwrap(),
            8 => format!("2026-03-02T{at}Z").parse().unwrap(),
            _ => at.parse().unwrap(),
        }
    }

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn ev(id: usize, kind: &str, reference: Option<&str>, at: Timestamp, props: Value) -> Event {
        Event {
            id: format!("e{id:03}"),
            kind: kind.to_string(),
            customer: format!("cust-{}", reference.unwrap_or("none")),
            at,
            channel: None,
            reference: reference.map(str::to_string),
            properties: Some(props.to_string()),
            profile: Default::default(),
        }
    }

    /// Events from a table, one a line: `ref kind at key=value…` (ref `-` = none; a kind without a dot is
    /// `visit.<kind>`; `quote=LOW-HIGH` is the estimate); `#` starts a comment.
    fn events(table: &str) -> Vec<Event> {
        let lines = table
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim());
        let rows = lines.filter(|l| !l.is_empty()).enumerate().map(|(i, line)| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut props = serde_json::Map::new();
            for word in &words[3..] {
                let (key, value) = word.split_once('=').unwrap();
                let value = match value.split_once('-') {
                    Some((low, high)) if key == "quote" => json!({"low_s": low.parse::<i64>().unwrap(),
                        "high_s": high.parse::<i64>().unwrap(), "ahead": 0, "counters": 1, "basis": "prior"}),
                    _ => json!(value),
                };
                let key = if key == "quote" { "estimate" } else { key };
                props.insert(key.to_string(), value);
            }
            let kind = match words[1].contains('.') {
                true => words[1].to_string(),
                false => format!("visit.{}", words[1]),
            };
            let reference = (words[0] != "-").then_some(words[0]);
            ev(i, &kind, reference, t(words[2]), Value::Object(props))
        });
        rows.collect()
    }

    /// v1–v5 check in in the 09 local hour, v6–v8 (still waiting at 09:40Z) in the 10 one.
    const HISTORY: &str = "
        v1 queued 08:00 visit_type=passport location=north first_name=Ann quote=300-900
        v1 queued 08:02 visit_type=general location=south  # a second check-in: ignored
        v1 called 08:10 by=ann counter=1
        v1 served 08:11 by=ann counter=1
        v1 shop.purchase 08:12                             # not a visit event
        v1 finished 08:20 by=ann
        v2 queued 08:05 visit_type=passport location=north quote=600-1140
        v2 served 08:20 by=ann                             # served without a call
        v2 finished 08:35 by=ann
        v3 queued 08:10 visit_type=general location=north quote=60-180
        v3 called 08:15 by=bob counter=2
        v3 served 08:16 by=bob
        v3 transferred 08:30 by=bob visit_type=passport from_type=general
        v3 served 08:40 by=ann
        v3 finished 08:50 by=ann
        v4 queued 08:20 visit_type=general location=south quote=600-1500
        v4 called 08:50 by=bob
        v4 no_show 08:55 by=bob
        v4 served 09:00 by=bob                             # after the end: ignored
        v5 arrived 08:29
        v5 queued 08:30 visit_type=general location=south quote=0-600
        v5 left 09:00
        v6 queued 09:10 visit_type=passport location=north quote=0-600
        v7 queued 09:15 visit_type=passport location=north
        v8 queued 09:20 visit_type=general location=north
        ghost called 08:00 by=ann                          # never queued (cut off): no visit
        - queued 08:00 visit_type=general location=north   # no ref
    ";

    /// The history, folded from its events given in reverse.
    fn visits() -> Vec<Visit> {
        let mut history = events(HISTORY);
        history.reverse();
        fold(&history)
    }

    fn targets() -> Targets {
        let target = |ty: &str, mins| (ty.to_string(), SignedDuration::from_mins(mins));
        HashMap::from([target("passport", 10), target("general", 20)])
    }

    /// The day as a period, and "now" at 09:40Z.
    fn day() -> (Timestamp, Timestamp, Timestamp) {
        (t("00:00"), t("2026-03-03T00:00:00Z"), t("09:40"))
    }

    #[test]
    fn folds_the_desk_into_visits() {
        let visits = visits();
        let summary: Vec<String> = visits
            .iter()
            .map(|v| {
                format!(
                    "{} {} {:?}",
                    v.reference,
                    v.state.as_str(),
                    v.first_wait_s()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "v1 finished Some(600)",
                "v2 finished Some(900)",
                "v3 finished Some(300)",
                "v4 no_show Some(1800)",
                "v5 left None",
                "v6 waiting None",
                "v7 waiting None",
                "v8 waiting None",
            ]
        );
        let v1 = &visits[0];
        assert_eq!(
            (v1.first_name.as_deref(), v1.visit_type.as_str()),
            (Some("Ann"), "passport")
        );
        assert_eq!(
            (v1.called_at, v1.counter.as_deref()),
            (Some(t("08:10")), Some("1"))
        );
        let quote = Estimate {
            low_s: 300,
            high_s: 900,
            ahead: 0,
            counters: 1,
            basis: Basis::Prior,
        };
        assert_eq!(v1.estimate, Some(quote));

        let v3 = &visits[2];
        let now = (
            v3.visit_type.as_str(),
            v3.transfers,
            v3.waiting_since,
            v3.called_at,
        );
        assert_eq!(now, ("passport", 1, t("08:30"), None));
        assert_eq!(
            (v3.served_at, v3.served_by.as_deref()),
            (Some(t("08:40")), Some("ann"))
        );
        assert_eq!(v3.transferred_by, ["bob"]);
        let wait = |ty: &str, from, until| Wait {
            visit_type: ty.into(),
            from: t(from),
            until: Some(t(until)),
            served: true,
        };
        let waits = [
            wait("general", "08:10", "08:15"),
            wait("passport", "08:30", "08:40"),
        ];
        assert_eq!(v3.waits, waits);
        let service = |ty: &str, by: &str, from, until| Service {
            visit_type: ty.into(),
            by: Some(by.into()),
            from: t(from),
            until: Some(t(until)),
        };
        let services = [
            service("general", "bob", "08:16", "08:30"),
            service("passport", "ann", "08:40", "08:50"),
        ];
        assert_eq!(v3.services, services);

        let v4 = &visits[3];
        let end = (v4.ended_at, v4.ended_by.as_deref(), v4.last_at);
        assert_eq!(end, (Some(t("08:55")), Some("bob"), t("08:55")));
        let v5 = &visits[4];
        assert_eq!(
            (v5.waits[0].until, v5.waits[0].served),
            (Some(t("09:00")), false)
        );
    }

    #[test]
    fn odd_sequences() {
        let visits = fold(&events(
            "
            late called 08:00                # before its check-in: dropped
            late queued 08:05 visit_type=general
            late served 08:06 by=ann
            moved queued 08:00 visit_type=general
            moved transferred 08:05 visit_type=passport
            moved called 08:15
            walked queued 08:00 visit_type=general
            walked served 08:01
            walked left 08:03
            ",
        ));
        let find = |r: &str| visits.iter().find(|v| v.reference == r).unwrap();
        let late = find("late");
        let late = (late.queued_at, late.state, late.first_wait_s());
        assert_eq!(late, (t("08:05"), State::Serving, Some(60)));
        // Transferred before any call: that wait ended unserved; the one that counts is the second.
        let moved = find("moved");
        assert!(!moved.waits[0].served);
        assert_eq!(
            (moved.state, moved.first_wait_s()),
            (State::Called, Some(600))
        );
        let walked = find("walked");
        assert_eq!(
            (walked.state, walked.services[0].until),
            (State::Left, Some(t("08:03")))
        );
        assert!(!walked.abandoned(), "served before leaving");
    }

    #[test]
    fn the_queue() {
        let visits = visits();
        let refs = |vs: Vec<&Visit>| vs.iter().map(|v| v.reference.clone()).collect::<Vec<_>>();
        assert_eq!(refs(waiting(&visits, None)), ["v6", "v7", "v8"]);
        assert!(waiting(&visits, Some("south")).is_empty());
        let expected: FxHashMap<&str, u32> =
            [("v6", 0), ("v7", 1), ("v8", 0)].into_iter().collect();
        assert_eq!(positions(&visits), expected);
        assert_eq!(
            (ahead(&visits, &visits[5]), ahead(&visits, &visits[6])),
            (0, 1)
        );
        assert_eq!(queue_length(&visits, "north", "passport"), 2);
        assert_eq!(queue_length(&visits, "north", "general"), 1);
        assert_eq!(queue_length(&visits, "south", "general"), 0);
        let next = |loc, types: &[&str]| {
            let types: Vec<String> = types.iter().map(|s| s.to_string()).collect();
            next_for(&visits, loc, &types).map(|v| v.reference.as_str())
        };
        assert_eq!(next("north", &[]), Some("v6"));
        assert_eq!(next("north", &["general"]), Some("v8"));
        assert_eq!(next("north", &["general", "passport"]), Some("v6"));
        assert_eq!(next("south", &[]), None);
    }

    /// A figures row on a line: visits, waits p50/p90, service p50/p90, over target=share, abandoned=share,
    /// no-shows, transfers, visits per hour, served/serving seconds.
    fn brief(f: &Figures) -> String {
        let n = |x: Option<i64>| x.map_or("-".to_string(), |x| x.to_string());
        let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
        let (waits, service) = (
            (f.waits_p50_s, f.waits_p90_s),
            (f.service_p50_s, f.service_p90_s),
        );
        format!(
            "{} v{} w{}/{} s{}/{} over{}={} ab{}={} ns{} tr{} vph{} sv{}/{}",
            f.group,
            f.visits,
            n(waits.0),
            n(waits.1),
            n(service.0),
            n(service.1),
            f.over_target,
            pct(f.over_target_share),
            f.abandoned,
            pct(f.abandoned_share),
            f.no_shows,
            f.transfers,
            pct(f.visits_per_hour),
            f.served,
            f.serving_s
        )
    }

    #[test]
    fn figures_by_hand() {
        let visits = visits();
        let (from, to, now) = day();
        let rows = |by| -> Vec<String> {
            let figures = figures(&visits, by, &targets(), &paris(), from, to, now);
            figures.iter().map(brief).collect()
        };
        // First waits 300 600 900 1800; services 540 600 840 900 (v3: bob 840 general, ann 600 passport).
        // Over target (passport 600 s, general 1200 s; strictly longer): v2 900, v4 1800, v5 1800 (left),
        // v6 1800 and v7 1500 (still waiting at 09:40); not v1 600, v3 300 and 600, v8 1200.
        // Two local hours (09, 10) had check-ins. Nearest rank: p50 of 4 is the 2nd, p90 the 4th.
        let by_type = [
            "general v4 w300/1800 s840/840 over2=50.0 ab1=25.0 ns1 tr1 vph2.0 sv1/840",
            "passport v4 w600/900 s600/900 over3=60.0 ab0=0.0 ns0 tr0 vph2.0 sv3/2040",
        ];
        assert_eq!(rows(GroupBy::Type), by_type);
        let by_location = [
            "north v6 w600/900 s600/900 over3=42.9 ab0=0.0 ns0 tr1 vph3.0 sv4/2880",
            "south v2 w1800/1800 s-/- over2=100.0 ab1=50.0 ns1 tr0 vph1.0 sv0/0",
        ];
        assert_eq!(rows(GroupBy::Location), by_location);
        let by_staff = [
            "ann v3 w600/900 s600/900 over1=25.0 ab0=0.0 ns0 tr0 vph1.5 sv3/2040",
            "bob v1 w300/300 s840/840 over0=0.0 ab0=0.0 ns1 tr1 vph0.5 sv1/840",
        ];
        assert_eq!(rows(GroupBy::Staff), by_staff);
        let by_hour = [
            "09 v5 w600/1800 s600/900 over3=50.0 ab1=20.0 ns1 tr1 vph2.5 sv4/2880",
            "10 v3 w-/- s-/- over2=66.7 ab0=0.0 ns0 tr0 vph1.5 sv0/0",
        ];
        assert_eq!(rows(GroupBy::Hour), by_hour);

        let all = totals(&visits, &targets(), &paris(), from, to, now);
        let expected = Figures {
            group: "all".into(),
            visits: 8,
            waits_p50_s: Some(600),
            waits_p90_s: Some(1800),
            service_p50_s: Some(600),
            service_p90_s: Some(900),
            over_target: 5,
            over_target_share: Some(500.0 / 9.0),
            abandoned: 1,
            abandoned_share: Some(12.5),
            no_shows: 1,
            transfers: 1,
            visits_per_hour: Some(4.0),
            served: 4,
            serving_s: 2880,
        };
        assert_eq!(all, expected);
        let later = totals(&visits, &targets(), &paris(), t("09:00"), to, now);
        let later = (later.visits, later.visits_per_hour, later.over_target);
        assert_eq!(later, (3, Some(3.0), 2));
    }

    #[test]
    fn heatmap_cells() {
        let (from, to, _) = day();
        let mut expected = [[(0u32, None); 24]; 7];
        expected[0][9] = (5, Some(600)); // Monday 09 local: waits 300 600 900 1800, lower median
        expected[0][10] = (3, None);
        assert_eq!(heatmap(&visits(), &paris(), from, to), expected);
    }

    #[test]
    fn accuracy_of_quotes() {
        let (from, to, _) = day();
        // v1 600 in 300–900 (mid 600, off 0); v2 900 in 600–1140 (mid 870, off 30); v3 300 not in
        // 60–180 (off 180); v4 1800 not in 600–1500 (off 750); v5 left and v6 waits: not counted.
        let expected = Accuracy {
            quoted: 4,
            median_abs_error_s: Some(30),
            within_share: Some(50.0),
            trusted: false,
        };
        assert_eq!(accuracy(&visits(), from, to), expected);
        let e = Estimate {
            low_s: 300,
            high_s: 900,
            ahead: 0,
            counters: 1,
            basis: Basis::Type,
        };
        let e = (e.contains(300), e.contains(900), e.contains(901), e.mid_s());
        assert_eq!(e, (true, true, false, 600));

        let right = |n: usize| {
            let table: String = (0..n)
                .map(|i| format!("q{i} queued 08:00 quote=0-600\nq{i} called 08:05\n"))
                .collect();
            accuracy(&fold(&events(&table)), from, to)
        };
        let twenty = right(20);
        let twenty = (
            twenty.quoted,
            twenty.median_abs_error_s,
            twenty.within_share,
            twenty.trusted,
        );
        assert_eq!(twenty, (20, Some(0), Some(100.0), true));
        assert!(!right(19).trusted);
        assert_eq!(accuracy(&[], from, to).within_share, None);
    }

    #[test]
    fn estimates_by_hand() {
        let e = |low_s, high_s, ahead, counters, basis| Estimate {
            low_s,
            high_s,
            ahead,
            counters,
            basis,
        };
        // mean 2.5·300 = 750; sd 120·√3 = 207.8 (floor 75); 542.2 → 540; 750 + 270.2 = 1020.2 → 1080.
        let history = Some((300.0, 120.0, 10, Basis::History));
        assert_eq!(
            estimate(2, 1, history, 600),
            e(540, 1080, 2, 1, Basis::History)
        );
        // Prior 600, sd 300: mean 300; 0; 300 + 390 = 690 → 720; 0 counters taken as 1.
        assert_eq!(estimate(0, 0, None, 600), e(0, 720, 0, 1, Basis::Prior));
        // mean 3.5·240/2 = 420; sd 0 → floor 0.25·240/2 = 30; 390 → 360; 459 → 480.
        let steady = Some((240.0, 0.0, 9, Basis::Type));
        assert_eq!(estimate(3, 2, steady, 0), e(360, 480, 3, 2, Basis::Type));
        // Nothing to go on: still a minute wide.
        assert_eq!(estimate(0, 1, None, 0), e(0, 60, 0, 1, Basis::Prior));
        let nonsense = Some((f64::NAN, f64::INFINITY, 8, Basis::Type));
        assert_eq!(estimate(5, 1, nonsense, 600), e(0, 60, 5, 1, Basis::Type));
        let huge = estimate(u32::MAX, 1, Some((1e300, 1e300, 8, Basis::Type)), 0);
        assert_eq!((huge.low_s, huge.high_s), (i64::MAX, i64::MAX));
    }

    #[test]
    fn learns_service_times_by_hour_of_week() {
        // passport: 100, 200 … 800 s, all from Monday 08:0i UTC (09 Paris); general: 300 s, four on
        // Monday and four on Tuesday at 08 UTC; one passport service still open.
        let mut table = String::from("open queued 08:00 visit_type=passport\nopen served 08:01\n");
        for i in 0..8 {
            let end = format!(
                "08:{:02}:{:02}",
                i + (100 * (i + 1)) / 60,
                (100 * (i + 1)) % 60
            );
            let p = format!("p{i} queued 08:0{i} visit_type=passport\np{i} served 08:0{i}\n");
            table += &format!("{p}p{i} finished {end}\n");
            let day = if i < 4 { "02" } else { "03" };
            let at = |m: u32| format!("2026-03-{day}T08:{m:02}:00Z");
            table += &format!("g{i} queued {} visit_type=general\n", at(10));
            table += &format!("g{i} served {}\ng{i} finished {}\n", at(10), at(15));
        }
        let visits = fold(&events(&table));
        let week_end = t("2026-03-09T00:00:00Z");
        let times = ServiceTimes::learn(&visits, &paris(), t("00:00"), week_end);
        let samples = |ty| times.samples(ty);
        assert_eq!(
            (samples("passport"), samples("general"), samples("x")),
            (8, 8, 0)
        );
        // Mean 450; deviations ±50 ±150 ±250 ±350 square to 420 000; / 7 = 60 000; √ = 244.95.
        let (m, s, n, basis) = times.for_slot("passport", 9).unwrap();
        assert_eq!((m, n, basis), (450.0, 8, Basis::History));
        assert!((s - 60_000f64.sqrt()).abs() < 1e-9, "{s}");
        assert_eq!(
            times.for_slot("passport", 10).map(|x| x.3),
            Some(Basis::Type)
        );
        assert_eq!(
            times.for_slot("general", 9),
            Some((300.0, 0.0, 8, Basis::Type))
        );
        assert_eq!(
            times.for_slot("general", 500),
            Some((300.0, 0.0, 8, Basis::Type))
        );
        let tuesday = ServiceTimes::learn(&visits, &paris(), t("2026-03-03T00:00:00Z"), week_end);
        assert_eq!(
            (tuesday.samples("general"), tuesday.for_slot("general", 33)),
            (4, None)
        );
    }

    #[test]
    fn hours_of_the_week() {
        assert_eq!(hour_of_week(t("08:00"), &paris()), 9);
        assert_eq!(hour_of_week(t("08:00"), &TimeZone::UTC), 8);
        assert_eq!(hour_of_week(t("2026-03-01T23:30:00Z"), &paris()), 0);
        assert_eq!(hour_of_week(t("2026-03-08T22:30:00Z"), &paris()), 167);
        assert!(KINDS.iter().all(|k| is_visit_kind(k)) && !is_visit_kind("visit.other"));
    }

    fn arb_events() -> impl Strategy<Value = Vec<Event>> {
        let kinds = [
            ARRIVED,
            QUEUED,
            QUEUED,
            CALLED,
            SERVED,
            FINISHED,
            TRANSFERRED,
            NO_SHOW,
            LEFT,
            "x",
        ];
        let refs = [Some("a"), Some("b"), Some("c"), Some("d"), Some("e"), None];
        let op = (
            0usize..6,
            0usize..10,
            0i64..90,
            0usize..4,
            0usize..2,
            0usize..2,
        );
        prop::collection::vec(op, 0..60).prop_map(move |ops| {
            let event = |(i, (r, k, minute, by, ty, loc)): (usize, _)| {
                let (ty, loc) = (["x", "y"][ty], ["n", "s"][loc]);
                let mut p =
                    json!({"visit_type": ty, "location": loc, "counter": 1, "estimate": "junk"});
                if let Some(by) = ["ann", "bob", "cy"].get(by) {
                    p["by"] = json!(by);
                } else {
                    p["estimate"] = json!({"low_s": 0, "high_s": 60, "ahead": 0, "counters": 1,
                        "basis": "type"});
                }
                let at = t("08:00") + SignedDuration::from_mins(minute);
                ev(i, kinds[k], refs[r], at, p)
            };
            ops.into_iter().enumerate().map(event).collect()
        })
    }

    proptest! {
        /// Any sequence folds without panicking into consistent visits, whatever the input order, and
        /// `positions` agrees with `ahead`.
        #[test]
        fn fold_is_robust_and_order_free(
            (events, shuffled) in arb_events().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle()))
        ) {
            let visits = fold(&events);
            let mut sorted = events.clone();
            sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            prop_assert_eq!(&fold(&sorted), &visits);
            prop_assert_eq!(&fold(&shuffled), &visits);
            let positions = positions(&visits);
            for v in &visits {
                let open_wait = v.waits.last().is_some_and(|w| w.until.is_none());
                let open_service = v.services.last().is_some_and(|s| s.until.is_none());
                prop_assert_eq!(v.waits.len(), v.transfers as usize + 1);
                prop_assert_eq!(v.state == State::Waiting, open_wait);
                prop_assert_eq!(v.state == State::Serving, open_service);
                let closed = |from, until: Option<Timestamp>| until.is_some_and(|u| u >= from);
                prop_assert!(v.waits.iter().rev().skip(1).all(|w| closed(w.from, w.until)));
                prop_assert!(v.services.iter().rev().skip(1).all(|s| closed(s.from, s.until)));
                if v.state == State::Waiting {
                    let position = positions.get(v.reference.as_str()).copied();
                    prop_assert_eq!(position, Some(ahead(&visits, v)));
                }
            }
            prop_assert_eq!(positions.len(), waiting(&visits, None).len());
            let (from, to, now) = day();
            for by in [GroupBy::Type, GroupBy::Location, GroupBy::Staff, GroupBy::Hour] {
                figures(&visits, by, &targets(), &paris(), from, to, now);
            }
            totals(&visits, &targets(), &paris(), from, to, now);
            heatmap(&visits, &paris(), from, to);
            accuracy(&visits, from, to);
            ServiceTimes::learn(&visits, &paris(), from, to);
        }
    }
}
