//! Journeys: ordered steps (each one or more event types) that one customer, or one customer's booking or
//! order (`ref`), goes through. From events to journey instances (when each step was reached), and from
//! instances to a report per step: how many reached it, conversion, time taken, which slow steps lose
//! customers, frustration (breaches, nudges, unhappy answers) by the step a journey was in, and who is stuck.
//! Pure: `as_of` is an argument and events after it are not seen; the result never depends on the order
//! the events arrive in (they are sorted per key by time, then at one instant by the first step their type
//! serves, then by type; which of two events of one type at one instant comes first changes nothing).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::report::percentile;

/// The event type whose events count as `unhappy` on the step a journey was in.
pub const UNHAPPY: &str = "survey.unhappy";

/// What makes one journey: a customer's whole life, or each of their refs (a booking, an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Per {
    /// One journey per (customer, ref); events without a ref take part in none.
    Ref,
    /// One journey per customer; refs are ignored.
    Customer,
}

impl Per {
    pub fn parse(text: &str) -> Option<Per> {
        match text {
            "ref" => Some(Per::Ref),
            "customer" => Some(Per::Customer),
            _ => None,
        }
    }
}

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    pub name: String,
    /// Event types any one of which reaches the step.
    pub events: Vec<String>,
    /// Frontstage (`true`) or backstage (`false`: work the customer does not see).
    pub customer_sees: bool,
    /// Backstage steps only: how long after the previous step the customer is told "still working on it".
    #[serde(serialize_with = "serialize_opt_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub tell_customer_after: Option<SignedDuration>,
}

/// A validated journey definition (`[[journeys]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Journey {
    pub name: String,
    pub per: Per,
    /// Later steps count only within this span after the entry.
    #[serde(serialize_with = "serialize_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub window: SignedDuration,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JourneyError {
    #[error("journey {journey:?}: {message}")]
    Invalid { journey: String, message: String },
}

impl Journey {
    /// Checks what the type cannot: a name, a positive window, at least one step, step names unique and
    /// not empty, each step with at least one event type, `tell_customer_after` only on backstage steps
    /// after the first and positive. Event types need not be known: a journey may wait for events yet to come.
    pub fn new(
        name: &str,
        per: Per,
        window: SignedDuration,
        steps: Vec<Step>,
    ) -> Result<Journey, JourneyError> {
        let invalid = |message: String| JourneyError::Invalid {
            journey: name.to_string(),
            message,
        };
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(invalid("`name` must not be empty".into()));
        }
        if window <= SignedDuration::ZERO {
            return Err(invalid("`window` must be a positive span".into()));
        }
        if steps.is_empty() {
            return Err(invalid("`steps` needs at least one step".into()));
        }
        for (k, step) in steps.iter().enumerate() {
            if step.name.trim().is_empty() {
                return Err(invalid(format!("steps[{k}]: `name` must not be empty")));
            }
            if steps[..k].iter().any(|s| s.name == step.name) {
                return Err(invalid(format!(
                    "steps[{k}]: step name {:?} is used twice",
                    step.name
                )));
            }
            if step.events.is_empty() || step.events.iter().any(|e| e.trim().is_empty()) {
                return Err(invalid(format!(
                    "steps[{k}] {:?}: `events` needs at least one event type",
                    step.name
                )));
            }
            if let Some(after) = step.tell_customer_after {
                if step.customer_sees || k == 0 {
                    return Err(invalid(format!(
                        "steps[{k}] {:?}: `tell_customer_after` is for a step after the first that the \
                         customer does not see (customer_sees = false)",
                        step.name
                    )));
                }
                if after <= SignedDuration::ZERO {
                    return Err(invalid(format!(
                        "steps[{k}] {:?}: `tell_customer_after` must be a positive span",
                        step.name
                    )));
                }
                if after >= window {
                    return Err(invalid(format!(
                        "steps[{k}] {:?}: `tell_customer_after` must be shorter than the journey's \
                         `window` (the step cannot count after it)",
                        step.name
                    )));
                }
            }
        }
        Ok(Journey {
            name: name.to_string(),
            per,
            window,
            steps,
        })
    }

    /// Every event type any step counts, sorted, once each: what a store must load.
    pub fn event_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .steps
            .iter()
            .flat_map(|s| s.events.iter().cloned())
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// The key an event belongs to (`None`: it takes part in no journey of this definition).
    fn key_of<'a>(&self, customer: &'a str, reference: Option<&'a str>) -> Option<KeyRef<'a>> {
        match self.per {
            Per::Customer => Some((customer, None)),
            Per::Ref => reference.map(|r| (customer, Some(r))),
        }
    }
}

/// An event as journeys read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyEvent {
    pub customer: String,
    pub reference: Option<String>,
    pub kind: String,
    pub at: Timestamp,
}

/// What one journey is of: a customer, and with `per = "ref"` one of their refs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Key {
    pub customer: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

type KeyRef<'a> = (&'a str, Option<&'a str>);

/// One journey: its key, when it was entered and when each step was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub key: Key,
    /// `reached[0]` is the entry; `None` from the first step not reached on.
    pub reached: Vec<Option<Timestamp>>,
    /// The types of the key's events of this journey from the entry to the end of the window (or `as_of`),
    /// in time order (at one instant, in step order), repeats in a row counted once: the path it took.
    pub path: Vec<String>,
}

impl Instance {
    pub fn entered(&self) -> Timestamp {
        // An instance exists only once entered: reached[0] is always set.
        self.reached
            .first()
            .copied()
            .flatten()
            .unwrap_or(Timestamp::MIN)
    }

    /// Index of the last step reached.
    pub fn last_step(&self) -> usize {
        self.reached
            .iter()
            .take_while(|r| r.is_some())
            .count()
            .saturating_sub(1)
    }

    /// The step the journey was in at `t` (its last step reached at or before `t`); `None` before the entry.
    pub fn step_at(&self, t: Timestamp) -> Option<usize> {
        let n = self
            .reached
            .iter()
            .take_while(|r| r.is_some_and(|r| r <= t))
            .count();
        n.checked_sub(1)
    }

    pub fn completed(&self) -> bool {
        self.reached.last().is_some_and(Option::is_some)
    }
}

/// Every journey entered by `as_of`, from events in any order (those after `as_of` are not seen), sorted
/// by (entry, key).
pub fn instances(journey: &Journey, events: &[JourneyEvent], as_of: Timestamp) -> Vec<Instance> {
    let stepper = Stepper::new(journey);
    let mut by_key: FxHashMap<KeyRef<'_>, Vec<&JourneyEvent>> = FxHashMap::default();
    for event in events {
        if event.at > as_of || !stepper.follows(&event.kind) {
            continue;
        }
        if let Some(key) = journey.key_of(&event.customer, event.reference.as_deref()) {
            by_key.entry(key).or_default().push(event);
        }
    }
    let mut out: Vec<Instance> = by_key
        .into_iter()
        .filter_map(|(key, mut list)| {
            list.sort_by(|a, b| stepper.order((a.at, &a.kind), (b.at, &b.kind)));
            instance(&stepper, key, &list, as_of)
        })
        .collect();
    out.sort_unstable_by(|a, b| (a.entered(), &a.key).cmp(&(b.entered(), &b.key)));
    out
}

/// One key's journey from its events sorted by time (then step, then type); `None` if it never entered.
fn instance(
    stepper: &Stepper<'_>,
    key: KeyRef<'_>,
    sorted: &[&JourneyEvent],
    as_of: Timestamp,
) -> Option<Instance> {
    let journey = stepper.journey;
    let counts = |kind: &str, k: usize| stepper.counts(kind, k);
    let reached = reach(journey, &counts, sorted, |e| (e.at, e.kind.as_str()), as_of)?;
    let entry = reached[0]?;
    let end = entry
        .checked_add(journey.window)
        .unwrap_or(Timestamp::MAX)
        .min(as_of);
    let mut path: Vec<String> = Vec::new();
    let start = sorted.partition_point(|e| e.at < entry);
    for e in sorted[start..].iter().take_while(|e| e.at <= end) {
        if path.last() != Some(&e.kind) {
            path.push(e.kind.clone());
        }
    }
    Some(Instance {
        key: Key {
            customer: key.0.to_string(),
            reference: key.1.map(str::to_string),
        },
        reached,
        path,
    })
}

/// When each step was reached, from one key's events sorted by time (then step, then type), seeing none
/// after `as_of`: the entry is the first event of the first step's types; step k is reached by the first
/// event of its types at or after step k − 1 was reached and within the window. `None`: never entered.
fn reach<E>(
    journey: &Journey,
    counts: &impl Fn(&str, usize) -> bool,
    sorted: &[E],
    of: impl Fn(&E) -> (Timestamp, &str),
    as_of: Timestamp,
) -> Option<Vec<Option<Timestamp>>> {
    let entry = sorted
        .iter()
        .map(&of)
        .find(|(at, kind)| *at <= as_of && counts(kind, 0))?
        .0;
    let end = entry
        .checked_add(journey.window)
        .unwrap_or(Timestamp::MAX)
        .min(as_of);
    let mut reached = vec![None; journey.steps.len()];
    reached[0] = Some(entry);
    let mut previous = entry;
    for (k, slot) in reached.iter_mut().enumerate().skip(1) {
        let from = sorted.partition_point(|e| of(e).0 < previous);
        let found = sorted[from..]
            .iter()
            .map(&of)
            .take_while(|(at, _)| *at <= end)
            .find(|(_, kind)| counts(kind, k));
        match found {
            Some((at, _)) => {
                *slot = Some(at);
                previous = at;
            }
            None => break,
        }
    }
    Some(reached)
}

/// What a store keeps of one key between reports, so that a report reads one row per journey instead of
/// every event: when each step was reached seeing every event so far (the window applied, no `as_of`), and
/// the key's latest event of the journey's types. [`Instance::from_progress`] gives the journey at any moment
/// from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub reached: Vec<Option<Timestamp>>,
    pub last_at: Option<Timestamp>,
}

/// Keeps [`Progress`] as events arrive: an event later than every one the key has seen moves it on; any
/// other (earlier, or at the same instant: the order at one instant is by step) asks for a replay of the
/// key's events. The result is always what [`instances`] computes from all the events.
pub struct Stepper<'a> {
    journey: &'a Journey,
    steps_of: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Stepper<'a> {
    pub fn new(journey: &'a Journey) -> Stepper<'a> {
        let mut steps_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (k, step) in journey.steps.iter().enumerate() {
            for kind in &step.events {
                steps_of.entry(kind.as_str()).or_default().push(k);
            }
        }
        Stepper { journey, steps_of }
    }

    /// Whether events of this type take part in the journey.
    pub fn follows(&self, kind: &str) -> bool {
        self.steps_of.contains_key(kind)
    }

    /// The journey's own text for a type it follows (so a caller keeps no copy of each event's type).
    pub fn kind(&self, text: &str) -> Option<&'a str> {
        self.steps_of.get_key_value(text).map(|(kind, _)| *kind)
    }

    /// Whether an event of this type reaches step `k`.
    fn counts(&self, kind: &str, k: usize) -> bool {
        self.steps_of.get(kind).is_some_and(|s| s.contains(&k))
    }

    /// The order a key's events are read in: by time; at one instant the earlier step's type first (three
    /// steps at one moment read in order), then by type.
    pub fn order(&self, a: (Timestamp, &str), b: (Timestamp, &str)) -> std::cmp::Ordering {
        let rank = |kind: &str| self.steps_of.get(kind).and_then(|s| s.first().copied());
        (a.0, rank(a.1), a.1).cmp(&(b.0, rank(b.1), b.1))
    }

    /// A key that has seen no event.
    pub fn start(&self) -> Progress {
        Progress {
            reached: vec![None; self.journey.steps.len()],
            last_at: None,
        }
    }

    /// Moves `progress` on by one event of the key. `false` (and `progress` unchanged) when the event is
    /// not later than every event the key has seen: replay the key's events instead.
    pub fn advance(&self, progress: &mut Progress, kind: &str, at: Timestamp) -> bool {
        if progress.last_at.is_some_and(|last| at <= last) {
            return false;
        }
        progress.last_at = Some(at);
        let Some(steps) = self.steps_of.get(kind) else {
            return true;
        };
        let mut k = progress.reached.iter().take_while(|r| r.is_some()).count();
        match progress.reached.first().copied().flatten() {
            None => {
                if !steps.contains(&0) {
                    return true;
                }
                progress.reached[0] = Some(at);
                k = 1;
            }
            Some(entry) => {
                if at
                    > entry
                        .checked_add(self.journey.window)
                        .unwrap_or(Timestamp::MAX)
                {
                    return true;
                }
            }
        }
        // One event may reach several steps in a row (a type serving each of them).
        while k < progress.reached.len() && steps.contains(&k) {
            progress.reached[k] = Some(at);
            k += 1;
        }
        true
    }

    /// A key's progress from all its events, in any order (types the journey does not follow are skipped).
    pub fn replay(&self, events: &[(Timestamp, &str)]) -> Progress {
        let mut sorted: Vec<(Timestamp, &str)> = events
            .iter()
            .copied()
            .filter(|(_, kind)| self.follows(kind))
            .collect();
        sorted.sort_by(|a, b| self.order(*a, *b));
        let counts = |kind: &str, k: usize| self.counts(kind, k);
        Progress {
            reached: reach(self.journey, &counts, &sorted, |e| *e, Timestamp::MAX)
                .unwrap_or_else(|| vec![None; self.journey.steps.len()]),
            last_at: sorted.last().map(|e| e.0),
        }
    }
}

/// The steps reached by `as_of`, in place: `false` if not entered by then.
fn cut_at(reached: &mut [Option<Timestamp>], as_of: Timestamp) -> bool {
    if reached
        .first()
        .copied()
        .flatten()
        .is_none_or(|entry| entry > as_of)
    {
        return false;
    }
    for r in reached.iter_mut() {
        *r = r.filter(|r| *r <= as_of);
    }
    true
}

impl Instance {
    /// One key's journey as of `as_of` from its kept reach times (seeing every event), without a path;
    /// `None` if not entered by then. The steps are reached in time order and none after the window counts,
    /// so this is what [`instances`] computes with the same `as_of` (but for the path).
    pub fn from_progress(
        key: Key,
        mut reached: Vec<Option<Timestamp>>,
        as_of: Timestamp,
    ) -> Option<Instance> {
        cut_at(&mut reached, as_of).then(|| Instance {
            key,
            reached,
            path: Vec::new(),
        })
    }
}

/// Something that frustrated a customer, of one key (with `per = "customer"` the ref is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub customer: String,
    pub reference: Option<String>,
    pub at: Timestamp,
    pub kind: FactKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    /// An obligation of the key became breached (at its breach time).
    Breach,
    /// An obligation of the key opened then, and was nudged this many times.
    Nudges(u32),
    /// A `survey.unhappy` event of the key.
    Unhappy,
}

/// The report's figures for one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepReport {
    pub name: String,
    pub customer_sees: bool,
    pub reached: u64,
    /// reached / the previous step's reached (the first step: reached / entered); `null` when that is 0.
    pub conversion_from_previous: Option<f64>,
    /// reached / entered; `null` when none entered.
    pub conversion_from_entry: Option<f64>,
    /// The previous step's reached − reached (the first step: 0).
    pub drop_off: u64,
    /// Over the journeys that reached the step: seconds between reaching the previous step and this one
    /// (nearest rank: the value at rank ⌈p·n⌉ of the ascending list). `null` for the first step or when none.
    pub median_seconds_from_previous: Option<i64>,
    pub p90_seconds_from_previous: Option<i64>,
    /// This step's median / the sum of all steps' medians; `null` without a median or when the sum is 0.
    pub time_share: Option<f64>,
    /// Among the journeys that reached this step in more than its median: the share that reached the last step.
    pub completion_if_slow: Option<f64>,
    /// Among those that reached it in at most its median: the share that reached the last step.
    pub completion_if_fast: Option<f64>,
    /// Obligations of the journeys that became breached while they were in this step.
    pub breaches: u64,
    /// Nudges of the obligations opened while the journeys were in this step.
    pub nudges: u64,
    /// `survey.unhappy` events while the journeys were in this step.
    pub unhappy: u64,
}

/// A journey not finished, still inside its window, waiting longer than the next step's p90.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stuck {
    pub customer: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The last step reached.
    pub step: String,
    /// When it was reached.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub since: Timestamp,
}

/// A journey's report over the journeys entered in `[from, to)`, seeing events up to `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub journey: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub as_of: Timestamp,
    pub entered: u64,
    pub completed: u64,
    pub steps: Vec<StepReport>,
    /// Oldest first.
    pub stuck: Vec<Stuck>,
}

/// The instances entered in `[from, to)`.
pub fn entered_in(instances: &[Instance], from: Timestamp, to: Timestamp) -> Vec<&Instance> {
    instances
        .iter()
        .filter(|i| (from..to).contains(&i.entered()))
        .collect()
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Seconds from reaching step `k - 1` to reaching step `k`, if reached.
fn seconds_to(instance: &Instance, k: usize) -> Option<i64> {
    let this = instance.reached.get(k).copied().flatten()?;
    let previous = instance.reached.get(k.checked_sub(1)?).copied().flatten()?;
    Some(this.duration_since(previous).as_secs())
}

/// The report of `journey` over `instances` (from [`instances`] with the same `as_of`), counting those
/// entered in `[from, to)`, with the frustration `facts` attributed to the step each journey was in.
pub fn report(
    journey: &Journey,
    instances: &[Instance],
    facts: &[Fact],
    from: Timestamp,
    to: Timestamp,
    as_of: Timestamp,
) -> Report {
    let matched = match_facts(journey, instances, facts);
    report_matched(journey, instances, &matched, from, to, as_of)
}

/// A frustrating fact matched to its journey: the index of its key's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedFact {
    pub instance: usize,
    pub at: Timestamp,
    pub kind: FactKind,
}

/// Each fact of a key with an instance, matched to it (by index into `instances`); the others are dropped.
pub fn match_facts(journey: &Journey, instances: &[Instance], facts: &[Fact]) -> Vec<MatchedFact> {
    let mut by_key: FxHashMap<KeyRef<'_>, usize> = FxHashMap::default();
    by_key.reserve(instances.len());
    for (n, i) in instances.iter().enumerate() {
        by_key.insert((&i.key.customer, i.key.reference.as_deref()), n);
    }
    facts
        .iter()
        .filter_map(|fact| {
            let key = journey.key_of(&fact.customer, fact.reference.as_deref())?;
            Some(MatchedFact {
                instance: *by_key.get(&key)?,
                at: fact.at,
                kind: fact.kind,
            })
        })
        .collect()
}

/// [`report`] with the facts already matched to `instances` (a store that keeps journeys per key matches
/// them as it reads them, by its own keys).
pub fn report_matched(
    journey: &Journey,
    instances: &[Instance],
    facts: &[MatchedFact],
    from: Timestamp,
    to: Timestamp,
    as_of: Timestamp,
) -> Report {
    let chosen = entered_in(instances, from, to);
    let entered = chosen.len() as u64;
    let completed = chosen.iter().filter(|i| i.completed()).count() as u64;
    let n = journey.steps.len();
    let mut reached = vec![0u64; n];
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); n];
    for i in &chosen {
        for k in 0..n {
            if i.reached[k].is_some() {
                reached[k] += 1;
            }
            if let Some(secs) = seconds_to(i, k) {
                times[k].push(secs);
            }
        }
    }
    for t in &mut times {
        t.sort_unstable();
    }
    let medians: Vec<Option<i64>> = times.iter().map(|t| percentile(t, 50)).collect();
    let p90s: Vec<Option<i64>> = times.iter().map(|t| percentile(t, 90)).collect();
    let sum: i64 = medians.iter().flatten().sum();
    // Per step, among the journeys that reached it: (slow, of them completed) and (fast, of them completed),
    // slow meaning more than the step's median. One pass: each instance is read once.
    let mut split = vec![((0u64, 0u64), (0u64, 0u64)); n];
    for i in &chosen {
        let done = u64::from(i.completed());
        for (k, slot) in split.iter_mut().enumerate() {
            let (Some(secs), Some(median)) = (seconds_to(i, k), medians[k]) else {
                continue;
            };
            let side = if secs > median {
                &mut slot.0
            } else {
                &mut slot.1
            };
            side.0 += 1;
            side.1 += done;
        }
    }
    let frustration = attribute(journey, instances, facts, from, to, as_of);
    let steps = journey
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| {
            let previous = if k == 0 { entered } else { reached[k - 1] };
            let median = medians[k];
            let completion = |slow: bool| {
                median?;
                let (group, done) = if slow { split[k].0 } else { split[k].1 };
                share(done, group)
            };
            StepReport {
                name: step.name.clone(),
                customer_sees: step.customer_sees,
                reached: reached[k],
                conversion_from_previous: share(reached[k], previous),
                conversion_from_entry: share(reached[k], entered),
                drop_off: previous.saturating_sub(reached[k]),
                median_seconds_from_previous: median,
                p90_seconds_from_previous: p90s[k],
                time_share: median.filter(|_| sum > 0).map(|m| m as f64 / sum as f64),
                completion_if_slow: completion(true),
                completion_if_fast: completion(false),
                breaches: frustration[k].0,
                nudges: frustration[k].1,
                unhappy: frustration[k].2,
            }
        })
        .collect();
    Report {
        journey: journey.name.clone(),
        from,
        to,
        as_of,
        entered,
        completed,
        steps,
        stuck: stuck(journey, &chosen, &p90s, as_of),
    }
}

/// (breaches, nudges, unhappy) per step: each fact of a journey's key between its entry and the end of its
/// window (and `as_of`), counted at the step the journey was in at that moment.
fn attribute(
    journey: &Journey,
    instances: &[Instance],
    facts: &[MatchedFact],
    from: Timestamp,
    to: Timestamp,
    as_of: Timestamp,
) -> Vec<(u64, u64, u64)> {
    let mut out = vec![(0u64, 0u64, 0u64); journey.steps.len()];
    for fact in facts {
        if fact.at > as_of {
            continue;
        }
        let Some(instance) = instances.get(fact.instance) else {
            continue;
        };
        if !(from..to).contains(&instance.entered()) {
            continue;
        }
        let end = instance
            .entered()
            .checked_add(journey.window)
            .unwrap_or(Timestamp::MAX);
        if fact.at > end {
            continue;
        }
        let Some(k) = instance.step_at(fact.at) else {
            continue;
        };
        match fact.kind {
            FactKind::Breach => out[k].0 += 1,
            FactKind::Nudges(n) => out[k].1 += u64::from(n),
            FactKind::Unhappy => out[k].2 += 1,
        }
    }
    out
}

/// Whether a journey is stuck at `as_of`: not finished, inside its window, and waiting on the next step
/// longer than that step's p90 (`p90s` per step, as in the report).
pub fn is_stuck(
    journey: &Journey,
    instance: &Instance,
    p90s: &[Option<i64>],
    as_of: Timestamp,
) -> bool {
    if instance.completed() {
        return false;
    }
    let end = instance
        .entered()
        .checked_add(journey.window)
        .unwrap_or(Timestamp::MAX);
    if as_of > end {
        return false;
    }
    let last = instance.last_step();
    let (Some(Some(since)), Some(Some(p90))) = (instance.reached.get(last), p90s.get(last + 1))
    else {
        return false;
    };
    as_of.duration_since(*since).as_secs() > *p90
}

fn stuck(
    journey: &Journey,
    chosen: &[&Instance],
    p90s: &[Option<i64>],
    as_of: Timestamp,
) -> Vec<Stuck> {
    let mut out: Vec<Stuck> = chosen
        .iter()
        .filter(|i| is_stuck(journey, i, p90s, as_of))
        .map(|i| {
            let last = i.last_step();
            Stuck {
                customer: i.key.customer.clone(),
                reference: i.key.reference.clone(),
                step: journey.steps[last].name.clone(),
                since: i.reached[last].unwrap_or(Timestamp::MIN),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.since, &a.customer, &a.reference).cmp(&(b.since, &b.customer, &b.reference))
    });
    out
}

/// The time taken per step by the journeys entered in one bucket of a period (a week on the dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketTimes {
    /// The bucket's first instant.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    /// Journeys entered in it.
    pub entered: u64,
    /// Per step, as in the report: nearest-rank median and p90 of the seconds from the previous step.
    pub median_seconds: Vec<Option<i64>>,
    pub p90_seconds: Vec<Option<i64>>,
}

/// Per bucket of `bucket` from `from` (the last one cut at `to`): the median and p90 time of each step
/// over the journeys entered in that bucket — the same figures the report gives for its whole period.
pub fn times_by_bucket(
    journey: &Journey,
    instances: &[Instance],
    from: Timestamp,
    to: Timestamp,
    bucket: SignedDuration,
) -> Vec<BucketTimes> {
    let n = journey.steps.len();
    let width = bucket.as_secs().max(1);
    let span = to.duration_since(from).as_secs();
    if span <= 0 {
        return Vec::new();
    }
    let buckets = ((span + width - 1) / width) as usize;
    let mut times: Vec<Vec<Vec<i64>>> = vec![vec![Vec::new(); n]; buckets];
    let mut entered = vec![0u64; buckets];
    for i in entered_in(instances, from, to) {
        let b = (i.entered().duration_since(from).as_secs() / width) as usize;
        let Some(slot) = times.get_mut(b) else {
            continue;
        };
        entered[b] += 1;
        for (k, list) in slot.iter_mut().enumerate() {
            if let Some(secs) = seconds_to(i, k) {
                list.push(secs);
            }
        }
    }
    times
        .into_iter()
        .enumerate()
        .map(|(b, mut steps)| {
            for list in &mut steps {
                list.sort_unstable();
            }
            BucketTimes {
                start: from
                    .checked_add(SignedDuration::from_secs(width * b as i64))
                    .unwrap_or(to),
                entered: entered[b],
                median_seconds: steps.iter().map(|t| percentile(t, 50)).collect(),
                p90_seconds: steps.iter().map(|t| percentile(t, 90)).collect(),
            }
        })
        .collect()
}

/// One path (sequence of event types) and how many journeys took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathCount {
    pub path: Vec<String>,
    pub journeys: u64,
    /// How many of them reached the last step.
    pub completed: u64,
}

/// The `top` most frequent paths of the journeys entered in `[from, to)`: most journeys first, then by
/// path.
pub fn paths(instances: &[Instance], from: Timestamp, to: Timestamp, top: usize) -> Vec<PathCount> {
    let mut counts: HashMap<&[String], (u64, u64)> = HashMap::new();
    for i in entered_in(instances, from, to) {
        let c = counts.entry(i.path.as_slice()).or_default();
        c.0 += 1;
        c.1 += u64::from(i.completed());
    }
    let mut out: Vec<PathCount> = counts
        .into_iter()
        .map(|(path, (journeys, completed))| PathCount {
            path: path.to_vec(),
            journeys,
            completed,
        })
        .collect();
    out.sort_by(|a, b| {
        b.journeys
            .cmp(&a.journeys)
            .then_with(|| a.path.cmp(&b.path))
    });
    out.truncate(top);
    out
}

fn serialize_secs<S: serde::Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.as_secs())
}

fn serialize_opt_secs<S: serde::Serializer>(
    d: &Option<SignedDuration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
#[path = "journey_tests.rs"]
mod tests;
