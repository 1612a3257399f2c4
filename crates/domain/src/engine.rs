//! The engine: a fold over one customer's events, sorted by (at, id), that opens, nudges and closes
//! obligations. Pure: the same events give the same obligations, live or in replay.

use std::borrow::Borrow;
use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::event::Event;
use super::obligation::{Closure, Obligation};
use super::policy::{Policy, NEVER};

#[derive(Debug, Clone)]
pub struct Engine {
    policies: Vec<Policy>,
    /// Each policy's position in `policies`, by name.
    positions: HashMap<std::sync::Arc<str>, usize>,
    fingerprint: String,
    open_warning: usize,
}

impl Engine {
    /// `fingerprint` identifies the configuration; stored obligations made under another are recomputed.
    pub fn new(policies: Vec<Policy>, fingerprint: String) -> Engine {
        // The first of a name wins, as a search in order would find it (configuration refuses twins).
        let mut positions = HashMap::new();
        for (p, policy) in policies.iter().enumerate() {
            positions.entry(policy.name.clone()).or_insert(p);
        }
        Engine {
            policies,
            positions,
            fingerprint,
            open_warning: 10_000,
        }
    }

    /// How many unclosed obligations of one customer are worth a warning (the stores log it once).
    pub fn with_open_warning(mut self, open: usize) -> Engine {
        self.open_warning = open;
        self
    }

    pub fn open_warning(&self) -> usize {
        self.open_warning
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.positions.get(name).map(|&p| &self.policies[p])
    }

    /// A stored policy name, shared with the engine's own where the policy still exists (no allocation
    /// per obligation read).
    pub fn policy_name(&self, name: &str) -> std::sync::Arc<str> {
        self.policy(name)
            .map_or_else(|| name.into(), |p| p.name.clone())
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Does any policy care about this event type?
    pub fn is_relevant(&self, kind: &str) -> bool {
        self.policies.iter().any(|p| p.cares_about(kind))
    }

    /// All obligations of one customer's history. `events` must be sorted by `Event::sort_key`.
    pub fn evaluate<E: Borrow<Event>>(&self, events: &[E]) -> Vec<Obligation> {
        let mut state = Vec::new();
        self.apply(&mut state, events);
        state
    }

    /// Continues the fold: `state` holds the obligations from earlier events (at least every one not yet
    /// closed); `events` are sorted and all strictly later than those earlier events. Existing entries are
    /// updated in place, new obligations appended. Returns how many are unclosed afterwards.
    ///
    /// Within one instant: triggers, then keeps, cancels and reschedules, then resumes, then pauses. The
    /// unclosed obligations are indexed by (policy, ref), so an event costs the obligations it can touch,
    /// not every unclosed one of the customer.
    pub fn apply<E: Borrow<Event>>(&self, state: &mut Vec<Obligation>, events: &[E]) -> usize {
        debug_assert!(events
            .windows(2)
            .all(|w| w[0].borrow().sort_key() <= w[1].borrow().sort_key()));
        let mut open = Open::new(self, state);
        let mut start = 0;
        while start < events.len() {
            let at = events[start].borrow().at;
            let end = start
                + events[start..]
                    .iter()
                    .take_while(|e| Borrow::<Event>::borrow(*e).at == at)
                    .count();
            let group = &events[start..end];
            // Within one instant, triggers go first: an answer "at or after" the trigger keeps it.
            for event in group {
                self.open_or_nudge(state, &mut open, event.borrow());
            }
            for event in group {
                self.close(state, &mut open, event.borrow());
            }
            for event in group {
                self.resume(state, &open, event.borrow());
            }
            for event in group {
                self.pause(state, &open, event.borrow());
            }
            start = end;
        }
        open.count
    }

    fn open_or_nudge(&self, state: &mut Vec<Obligation>, open: &mut Open, event: &Event) {
        for (p, policy) in self.policies.iter().enumerate() {
            if !policy.is_trigger(&event.kind) {
                continue;
            }
            if let Some(i) = open.exact(p, &event.reference) {
                state[i].nudges += 1;
                state[i].last_nudge_at = Some(event.at);
                continue;
            }
            self.open_new(state, open, p, event);
        }
    }

    /// Opens the obligation `event` makes under policy `p`, if it makes one.
    fn open_new(&self, state: &mut Vec<Obligation>, open: &mut Open, p: usize, event: &Event) {
        let policy = &self.policies[p];
        let Some((due_at, breach_at)) = policy.deadlines(event) else {
            return;
        };
        open.insert(p, event.reference.clone(), state.len());
        state.push(Obligation {
            policy: policy.name.clone(),
            customer: event.customer.clone(),
            reference: event.reference.clone(),
            opened_at: event.at,
            due_at,
            breach_at,
            closed_at: None,
            closure: None,
            closed_by: None,
            trigger_event: event.id.clone(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: SignedDuration::ZERO,
        });
    }

    fn close(&self, state: &mut Vec<Obligation>, open: &mut Open, event: &Event) {
        for (p, policy) in self.policies.iter().enumerate() {
            let reschedules = policy.is_reschedule(&event.kind);
            let cancels = policy.is_cancel(&event.kind);
            if !reschedules && !cancels && !policy.is_expect(&event.kind) {
                continue;
            }
            let candidates = if reschedules {
                open.exact(p, &event.reference).into_iter().collect()
            } else {
                open.matching(p, &event.reference)
            };
            for i in candidates {
                let obligation = &mut state[i];
                // A schedule is kept only from its due time on: too early does not count.
                if !cancels && !reschedules && policy.is_schedule() && event.at < obligation.due_at
                {
                    continue;
                }
                if obligation.is_paused() {
                    // Closed while waiting on the customer: on time, with the time that was left.
                    end_pause(policy, obligation, event.at);
                }
                obligation.closed_at = Some(event.at);
                obligation.closure = Some(if reschedules {
                    Closure::Rescheduled
                } else if cancels {
                    Closure::Cancelled
                } else {
                    Closure::Kept
                });
                obligation.closed_by = Some(event.id.clone());
                let reference = obligation.reference.clone();
                open.remove(p, &reference, i);
            }
            if reschedules {
                // The new date, exactly as a trigger would open it (nothing if it is already past).
                self.open_new(state, open, p, event);
            }
        }
    }

    fn resume(&self, state: &mut [Obligation], open: &Open, event: &Event) {
        for (p, policy) in self.policies.iter().enumerate() {
            if !policy.is_resume(&event.kind) {
                continue;
            }
            for i in open.matching(p, &event.reference) {
                if state[i].is_paused() {
                    end_pause(policy, &mut state[i], event.at);
                }
            }
        }
    }

    fn pause(&self, state: &mut [Obligation], open: &Open, event: &Event) {
        for (p, policy) in self.policies.iter().enumerate() {
            if !policy.is_pause(&event.kind) || policy.is_schedule() {
                continue;
            }
            for i in open.matching(p, &event.reference) {
                let obligation = &mut state[i];
                // Already paused, or past due (a breach stays a breach): nothing changes.
                if obligation.is_paused() || event.at > obligation.due_at {
                    continue;
                }
                obligation.paused_left = Some(policy.time_between(event.at, obligation.due_at));
                obligation.paused_since = Some(event.at);
                obligation.due_at = NEVER;
                obligation.breach_at = NEVER;
            }
        }
    }
}

/// Starts the clock again at `at`: the time that was left at the pause runs from `at`, and the pause's
/// length (the policy's own time) is added to the total.
fn end_pause(policy: &Policy, obligation: &mut Obligation, at: Timestamp) {
    let (Some(since), Some(left)) = (obligation.paused_since, obligation.paused_left) else {
        return;
    };
    obligation.paused_total += policy.time_between(since, at);
    let due = policy.time_after(at, left);
    obligation.due_at = due;
    obligation.breach_at = if policy.promise { due } else { NEVER };
    obligation.paused_since = None;
    obligation.paused_left = None;
}

/// The unclosed obligations of a fold by policy (its position in the engine) and ref: positions in the
/// state, in the order they were opened.
struct Open {
    by_policy: Vec<HashMap<Option<String>, Vec<usize>>>,
    count: usize,
}

impl Open {
    fn new(engine: &Engine, state: &[Obligation]) -> Open {
        let mut open = Open {
            by_policy: vec![HashMap::new(); engine.policies.len()],
            count: 0,
        };
        for (i, o) in state.iter().enumerate() {
            if o.is_closed() {
                continue;
            }
            // Obligations of a policy no longer configured are left as they are.
            if let Some(&p) = engine.positions.get(&o.policy) {
                open.insert(p, o.reference.clone(), i);
            }
        }
        open
    }

    fn insert(&mut self, p: usize, reference: Option<String>, i: usize) {
        self.by_policy[p].entry(reference).or_default().push(i);
        self.count += 1;
    }

    fn remove(&mut self, p: usize, reference: &Option<String>, i: usize) {
        if let Some(list) = self.by_policy[p].get_mut(reference) {
            if let Some(k) = list.iter().position(|&j| j == i) {
                list.remove(k);
                self.count -= 1;
                if list.is_empty() {
                    self.by_policy[p].remove(reference);
                }
            }
        }
    }

    /// The first unclosed obligation of policy `p` with exactly this ref.
    fn exact(&self, p: usize, reference: &Option<String>) -> Option<usize> {
        self.by_policy[p].get(reference)?.first().copied()
    }

    /// The unclosed obligations of policy `p` an event with this ref acts on (`refs_match`), in the
    /// order they were opened.
    fn matching(&self, p: usize, reference: &Option<String>) -> Vec<usize> {
        let map = &self.by_policy[p];
        let mut found: Vec<usize> = match reference {
            None => map.values().flatten().copied().collect(),
            Some(_) => map
                .get(reference)
                .into_iter()
                .chain(map.get(&None))
                .flatten()
                .copied()
                .collect(),
        };
        found.sort_unstable();
        found
    }
}

/// An event without a ref closes every obligation of the customer; an obligation opened without a ref is
/// closed by any event; otherwise the refs must be equal. (The rule `Open::matching` implements with its
/// index; kept here as the tests' oracle.)
#[cfg(test)]
fn refs_match(obligation: &Option<String>, event: &Option<String>) -> bool {
    match (obligation, event) {
        (_, None) | (None, _) => true,
        (Some(a), Some(b)) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::calendar::Calendar;
    use crate::obligation::Status;
    use crate::policy::{PolicyKind, ScheduleAt, Within};
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn expect_policy(
        name: &str,
        trigger: &str,
        expect: &str,
        cancel: &str,
        within_mins: i64,
    ) -> Policy {
        Policy::new(
            name,
            PolicyKind::Expect {
                within: Within::Fixed(SignedDuration::from_mins(within_mins)),
                calendar: None,
            },
            vec![trigger.into()],
            vec![expect.into()],
            if cancel.is_empty() {
                vec![]
            } else {
                vec![cancel.into()]
            },
        )
    }

    fn reminder() -> Policy {
        Policy {
            reschedule: vec!["booking.rescheduled".into()],
            ..Policy::new(
                "remind",
                PolicyKind::Schedule {
                    at: ScheduleAt::parse("properties.starts_at - 24h").unwrap(),
                    grace: SignedDuration::from_hours(1),
                },
                vec!["booking.confirmed".into()],
                vec!["message.sent".into()],
                vec!["booking.cancelled".into()],
            )
        }
    }

    fn engine() -> Engine {
        Engine::new(
            vec![
                expect_policy("reply", "message.received", "message.sent", "", 60),
                expect_policy(
                    "confirm",
                    "booking.created",
                    "booking.confirmed",
                    "booking.cancelled",
                    60,
                ),
                reminder(),
            ],
            "test".into(),
        )
    }

    fn ev(id: &str, kind: &str, at: &str, reference: Option<&str>) -> Event {
        Event {
            id: id.into(),
            kind: kind.into(),
            customer: "c1".into(),
            at: t(at),
            channel: None,
            reference: reference.map(Into::into),
            properties: None,
            profile: Default::default(),
        }
    }

    fn with_start(mut e: Event, starts_at: &str) -> Event {
        e.properties = Some(format!(r#"{{"starts_at":"{starts_at}"}}"#));
        e
    }

    fn sorted(mut events: Vec<Event>) -> Vec<Event> {
        events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        events
    }

    #[test]
    fn kept_late_breached_and_nudges() {
        let events = sorted(vec![
            ev("1", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "message.received", "2026-01-05T10:30:00Z", Some("T1")),
            ev("3", "message.received", "2026-01-05T12:00:00Z", Some("T1")),
            ev("4", "message.sent", "2026-01-05T13:00:00Z", Some("T1")),
            ev("5", "message.received", "2026-01-05T14:00:00Z", Some("T2")),
        ]);
        let obligations = engine().evaluate(&events);
        assert_eq!(obligations.len(), 2);
        let first = &obligations[0];
        assert_eq!(first.nudges, 2);
        assert_eq!(
            first.due_at,
            t("2026-01-05T11:00:00Z"),
            "nudges do not move the due time"
        );
        assert_eq!(first.status(t("2026-01-05T10:59:00Z")), Status::Open);
        assert_eq!(first.status(t("2026-01-05T12:00:00Z")), Status::Breached);
        assert_eq!(first.status(t("2026-02-01T00:00:00Z")), Status::KeptLate);
        assert_eq!(first.closed_by.as_deref(), Some("4"));
        let second = &obligations[1];
        assert!(second.is_invisible(t("2026-01-05T15:00:01Z")));
    }

    #[test]
    fn refs_match_rules() {
        // An answer without a ref keeps every open obligation of that policy.
        let events = sorted(vec![
            ev("1", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "message.received", "2026-01-05T10:01:00Z", Some("T2")),
            ev("3", "message.sent", "2026-01-05T10:30:00Z", None),
        ]);
        let obligations = engine().evaluate(&events);
        assert!(obligations.iter().all(|o| o.closure == Some(Closure::Kept)));

        // An answer on another ref keeps nothing; a trigger without ref is kept by any ref.
        let events = sorted(vec![
            ev("1", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "message.received", "2026-01-05T10:01:00Z", None),
            ev("3", "message.sent", "2026-01-05T10:30:00Z", Some("T9")),
        ]);
        let obligations = engine().evaluate(&events);
        assert_eq!(obligations[0].closure, None);
        assert_eq!(obligations[1].closure, Some(Closure::Kept));
    }

    #[test]
    fn answer_before_trigger_does_not_keep_and_same_instant_does() {
        let events = sorted(vec![
            ev("1", "message.sent", "2026-01-05T09:00:00Z", Some("T1")),
            ev("2", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
        ]);
        assert_eq!(engine().evaluate(&events)[0].closure, None);
        // Same instant, and the answer's id sorts first: it still counts.
        let events = sorted(vec![
            ev("a", "message.sent", "2026-01-05T10:00:00Z", Some("T1")),
            ev("b", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
        ]);
        assert_eq!(engine().evaluate(&events)[0].closure, Some(Closure::Kept));
    }

    #[test]
    fn cancel_rules() {
        let events = sorted(vec![
            ev("1", "booking.created", "2026-01-05T10:00:00Z", Some("B1")),
            ev("2", "booking.cancelled", "2026-01-05T10:30:00Z", Some("B1")),
            ev("3", "booking.created", "2026-01-05T10:00:00Z", Some("B2")),
            ev("4", "booking.cancelled", "2026-01-05T12:00:00Z", Some("B2")),
        ]);
        let obligations = engine().evaluate(&events);
        let later = t("2026-02-01T00:00:00Z");
        let status = |r: &str| {
            obligations
                .iter()
                .find(|o| o.reference.as_deref() == Some(r))
                .unwrap()
                .status(later)
        };
        assert_eq!(status("B1"), Status::Cancelled);
        assert_eq!(status("B2"), Status::Breached);
        // After close, a new trigger opens a new obligation instead of nudging.
        let events = sorted(vec![
            ev("1", "message.received", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "message.sent", "2026-01-05T10:10:00Z", Some("T1")),
            ev("3", "message.received", "2026-01-05T10:20:00Z", Some("T1")),
        ]);
        let obligations = engine().evaluate(&events);
        assert_eq!(obligations.len(), 2);
        assert_eq!(obligations[1].nudges, 0);
    }

    #[test]
    fn schedule_rules() {
        let confirm = |id: &str, at: &str, starts: &str| {
            with_start(ev(id, "booking.confirmed", at, Some("B1")), starts)
        };
        // Reminder window is [starts-24h, starts-23h].
        let base = [confirm("1", "2026-01-01T10:00:00Z", "2026-01-10T09:00:00Z")];
        let run = |extra: Vec<Event>| {
            let mut events = base.to_vec();
            events.extend(extra);
            engine().evaluate(&sorted(events))
        };
        let kept = run(vec![ev(
            "2",
            "message.sent",
            "2026-01-09T09:30:00Z",
            Some("B1"),
        )]);
        assert_eq!(kept[0].due_at, t("2026-01-09T09:00:00Z"));
        assert_eq!(kept[0].breach_at, t("2026-01-09T10:00:00Z"));
        assert_eq!(kept[0].status(t("2026-02-01T00:00:00Z")), Status::Kept);

        let too_early = run(vec![ev(
            "2",
            "message.sent",
            "2026-01-09T08:59:59Z",
            Some("B1"),
        )]);
        assert_eq!(too_early[0].closure, None);
        assert_eq!(
            too_early[0].status(t("2026-01-09T10:00:01Z")),
            Status::Breached
        );

        let late = run(vec![ev("2", "message.sent", "2026-01-09T10:30:00Z", None)]);
        assert_eq!(late[0].status(t("2026-02-01T00:00:00Z")), Status::KeptLate);

        let cancelled = run(vec![ev(
            "2",
            "booking.cancelled",
            "2026-01-05T10:00:00Z",
            Some("B1"),
        )]);
        assert_eq!(
            cancelled[0].status(t("2026-02-01T00:00:00Z")),
            Status::Cancelled
        );

        // Confirmed less than 24 h before the start: the reminder time is past, nothing opens.
        let past =
            engine().evaluate(&[confirm("1", "2026-01-09T12:00:00Z", "2026-01-10T09:00:00Z")]);
        assert!(past.is_empty());
        // No starts_at: nothing opens.
        let missing = engine().evaluate(&[ev(
            "1",
            "booking.confirmed",
            "2026-01-09T12:00:00Z",
            Some("B1"),
        )]);
        assert!(missing.is_empty());
    }

    const KINDS: [&str; 10] = [
        "message.received",
        "message.sent",
        "booking.created",
        "booking.confirmed",
        "booking.cancelled",
        "booking.rescheduled",
        "ticket.opened",
        "ticket.waiting_on_customer",
        "ticket.resolved",
        "app.session",
    ];

    const PRIORITIES: [&str; 4] = ["urgent", "High", "low", ""];

    /// Histories of up to 40 events over about four days from `base` (15-minute steps), with refs,
    /// start times and priorities.
    fn arb_history() -> impl Strategy<Value = Vec<Event>> {
        let event = (
            0usize..KINDS.len(),
            0i64..400,
            prop::option::of(0u8..3),
            0i64..200,
            0usize..PRIORITIES.len(),
        );
        let base = prop::sample::select(vec![
            "2026-01-05T00:00:00Z",
            "2026-03-27T00:00:00Z",
            "2026-10-23T00:00:00Z",
        ]);
        (base, prop::collection::vec(event, 0..40)).prop_map(|(base, raw)| {
            let base = t(base);
            let events = raw
                .into_iter()
                .enumerate()
                .map(|(i, (k, minutes, r, starts, p))| {
                    let at = base + SignedDuration::from_mins(minutes * 15);
                    let mut e = Event {
                        id: format!("e{i:03}"),
                        kind: KINDS[k].into(),
                        customer: "c1".into(),
                        at,
                        channel: None,
                        reference: r.map(|r| format!("R{r}")),
                        properties: None,
                        profile: Default::default(),
                    };
                    let starts_at = at + SignedDuration::from_hours(starts);
                    e.properties = Some(format!(
                        r#"{{"starts_at":"{starts_at}","priority":"{}"}}"#,
                        PRIORITIES[p]
                    ));
                    e
                })
                .collect();
            sorted(events)
        })
    }

    /// Every kind of policy: clock and calendar (London, across both DST changes and holidays), pauses,
    /// priorities, schedules with reschedules.
    fn every_policy() -> Engine {
        let mut policies = engine().policies().to_vec();
        policies.push(resolve(Some(london())));
        let mut clock = resolve(None);
        clock.name = "resolve-clock".into();
        policies.push(clock);
        Engine::new(policies, "every".into())
    }

    proptest! {
        /// Continuing from stored state gives what a replay from nothing gives.
        #[test]
        fn incremental_equals_replay(history in arb_history(), split in 0usize..40) {
            let engine = every_policy();
            let replay = engine.evaluate(&history);
            let mut cut = split.min(history.len());
            // The fast path is only taken for strictly later events: move the cut off a shared instant.
            while cut > 0 && cut < history.len() && history[cut - 1].at == history[cut].at {
                cut -= 1;
            }
            let mut state = engine.evaluate(&history[..cut]);
            let open = engine.apply(&mut state, &history[cut..]);
            prop_assert_eq!(open, replay.iter().filter(|o| !o.is_closed()).count());
            prop_assert_eq!(state, replay);
        }

        /// Every obligation's status over time follows the rules from its recorded times.
        #[test]
        fn statuses_are_consistent(history in arb_history()) {
            for o in every_policy().evaluate(&history) {
                prop_assert!(o.opened_at <= o.due_at && o.due_at <= o.breach_at);
                prop_assert_eq!(o.paused_since.is_some(), o.paused_left.is_some());
                prop_assert!(o.paused_total >= SignedDuration::ZERO);
                if o.is_paused() {
                    prop_assert_eq!((o.due_at, o.breach_at, o.closed_at), (NEVER, NEVER, None));
                }
                if let Some(closed) = o.closed_at {
                    prop_assert!(closed >= o.opened_at);
                    prop_assert_eq!(o.nudges == 0, o.last_nudge_at.is_none());
                }
            }
        }
    }

    // ----- pause and resume, priorities, reschedules ----------------------------------------------

    fn resolve(calendar: Option<Arc<Calendar>>) -> Policy {
        Policy {
            pause: vec!["ticket.waiting_on_customer".into()],
            resume: vec!["message.received".into()],
            ..Policy::new(
                "resolve",
                PolicyKind::Expect {
                    within: Within::ByProperty {
                        property: "priority".into(),
                        spans: vec![
                            ("urgent".into(), SignedDuration::from_mins(60)),
                            ("high".into(), SignedDuration::from_mins(240)),
                        ],
                        default: SignedDuration::from_mins(600),
                    },
                    calendar,
                },
                vec!["ticket.opened".into()],
                vec!["ticket.resolved".into()],
                vec!["ticket.cancelled".into()],
            )
        }
    }

    fn desk(calendar: Option<Arc<Calendar>>) -> Engine {
        Engine::new(vec![resolve(calendar), reminder()], "desk".into())
    }

    fn priority(mut e: Event, value: &str) -> Event {
        e.properties = Some(format!(r#"{{"priority":{value}}}"#));
        e
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    #[test]
    fn a_pause_stops_the_clock_and_a_resume_starts_the_time_that_was_left() {
        let events = sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "2",
                "ticket.waiting_on_customer",
                "2026-01-05T12:00:00Z",
                Some("T1"),
            ),
            ev("3", "message.received", "2026-01-06T09:00:00Z", Some("T1")),
        ]);
        let engine = desk(None);
        let o = &engine.evaluate(&events[..2])[0];
        assert_eq!(o.status(t("2026-01-05T12:00:00Z")), Status::Paused);
        assert_eq!(o.status(t("2026-01-05T11:00:00Z")), Status::Open);
        assert_eq!((o.due_at, o.breach_at), (NEVER, NEVER));
        assert_eq!(o.paused_since, Some(t("2026-01-05T12:00:00Z")));
        assert_eq!(o.paused_left, Some(mins(480)));
        assert!(
            !o.is_invisible(t("2027-01-01T00:00:00Z")),
            "never breached while paused"
        );
        let o = &engine.evaluate(&events)[0];
        assert_eq!(
            o.due_at,
            t("2026-01-06T17:00:00Z"),
            "8 h left from the resume"
        );
        assert_eq!(o.breach_at, o.due_at);
        assert_eq!(o.paused_total, mins(21 * 60));
        assert_eq!((o.paused_since, o.paused_left), (None, None));
        assert_eq!(o.status(t("2026-01-06T17:00:01Z")), Status::Breached);
    }

    #[test]
    fn pauses_that_change_nothing() {
        let engine = desk(None);
        // Past due: a breach stays a breach.
        let late = engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "2",
                "ticket.waiting_on_customer",
                "2026-01-05T20:00:01Z",
                Some("T1"),
            ),
        ]));
        assert_eq!(late[0].paused_since, None);
        assert_eq!(late[0].status(t("2026-01-06T00:00:00Z")), Status::Breached);
        // At the due instant itself it is not late yet: paused with nothing left.
        let due = engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "2",
                "ticket.waiting_on_customer",
                "2026-01-05T20:00:00Z",
                Some("T1"),
            ),
            ev("3", "message.received", "2026-01-07T08:00:00Z", Some("T1")),
        ]));
        assert_eq!(due[0].due_at, t("2026-01-07T08:00:00Z"));
        // A pause while paused keeps the first; a resume while running changes nothing.
        let twice = engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "message.received", "2026-01-05T10:30:00Z", Some("T1")),
            ev(
                "3",
                "ticket.waiting_on_customer",
                "2026-01-05T11:00:00Z",
                Some("T1"),
            ),
            ev(
                "4",
                "ticket.waiting_on_customer",
                "2026-01-05T15:00:00Z",
                Some("T1"),
            ),
            ev("5", "message.received", "2026-01-05T16:00:00Z", Some("T1")),
        ]));
        assert_eq!(twice[0].due_at, t("2026-01-05T16:00:00Z") + mins(540));
        assert_eq!(twice[0].paused_total, mins(300));
        // Another ticket's pause does not touch this one; a pause without a ref pauses every ticket.
        let other = engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev("2", "ticket.opened", "2026-01-05T10:00:00Z", Some("T2")),
            ev(
                "3",
                "ticket.waiting_on_customer",
                "2026-01-05T11:00:00Z",
                Some("T2"),
            ),
            ev(
                "4",
                "ticket.waiting_on_customer",
                "2026-01-05T12:00:00Z",
                None,
            ),
        ]));
        assert_eq!(other[0].paused_since, Some(t("2026-01-05T12:00:00Z")));
        assert_eq!(other[1].paused_since, Some(t("2026-01-05T11:00:00Z")));
    }

    #[test]
    fn closing_while_paused_is_on_time_and_triggers_nudge() {
        let engine = desk(None);
        let events = sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "2",
                "ticket.waiting_on_customer",
                "2026-01-05T11:00:00Z",
                Some("T1"),
            ),
            ev("3", "ticket.opened", "2026-01-07T09:00:00Z", Some("T1")),
            ev("4", "ticket.resolved", "2026-01-09T09:00:00Z", Some("T1")),
        ]);
        let o = &engine.evaluate(&events)[0];
        assert_eq!(o.nudges, 1, "a trigger while paused is a nudge");
        assert_eq!(o.closure, Some(Closure::Kept));
        assert_eq!(o.status(t("2026-02-01T00:00:00Z")), Status::Kept);
        assert_eq!(o.paused_since, None);
        assert_eq!(
            o.paused_total,
            t("2026-01-09T09:00:00Z").duration_since(t("2026-01-05T11:00:00Z"))
        );
        assert_eq!(o.due_at, t("2026-01-09T09:00:00Z") + mins(540));
    }

    #[test]
    fn within_one_instant_keeps_go_before_resumes_and_resumes_before_pauses() {
        let engine = desk(None);
        // Paused, then at one instant: the customer writes (resume) and staff mark it waiting again.
        let o = &engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "2",
                "ticket.waiting_on_customer",
                "2026-01-05T11:00:00Z",
                Some("T1"),
            ),
            ev("b", "message.received", "2026-01-05T13:00:00Z", Some("T1")),
            ev(
                "a",
                "ticket.waiting_on_customer",
                "2026-01-05T13:00:00Z",
                Some("T1"),
            ),
        ]))[0];
        assert_eq!(
            o.paused_since,
            Some(t("2026-01-05T13:00:00Z")),
            "still waiting"
        );
        assert_eq!(o.paused_total, mins(120));
        assert_eq!(o.paused_left, Some(mins(540)));
        // Resolved and marked waiting at one instant: resolved.
        let o = &engine.evaluate(&sorted(vec![
            ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
            ev(
                "a",
                "ticket.waiting_on_customer",
                "2026-01-05T11:00:00Z",
                Some("T1"),
            ),
            ev("b", "ticket.resolved", "2026-01-05T11:00:00Z", Some("T1")),
        ]))[0];
        assert_eq!((o.closure, o.paused_since), (Some(Closure::Kept), None));
    }

    #[test]
    fn the_trigger_chooses_the_target_by_priority() {
        let engine = desk(None);
        let due = |value: &str| {
            let e = priority(
                ev("1", "ticket.opened", "2026-01-05T10:00:00Z", Some("T1")),
                value,
            );
            engine.evaluate(&[e])[0].due_at
        };
        assert_eq!(due(r#""urgent""#), t("2026-01-05T11:00:00Z"));
        assert_eq!(
            due(r#""URGENT""#),
            t("2026-01-05T11:00:00Z"),
            "case-insensitive"
        );
        assert_eq!(due(r#""High""#), t("2026-01-05T14:00:00Z"));
        assert_eq!(
            due(r#""whenever""#),
            t("2026-01-05T20:00:00Z"),
            "unknown: the default"
        );
        assert_eq!(due("null"), t("2026-01-05T20:00:00Z"));
        let plain = engine.evaluate(&[ev("1", "ticket.opened", "2026-01-05T10:00:00Z", None)]);
        assert_eq!(
            plain[0].due_at,
            t("2026-01-05T20:00:00Z"),
            "missing: the default"
        );
    }

    #[test]
    fn a_reschedule_moves_the_reminder() {
        let confirm = with_start(
            ev("1", "booking.confirmed", "2026-01-01T10:00:00Z", Some("B1")),
            "2026-01-10T09:00:00Z",
        );
        let moved = |id: &str, at: &str, starts: &str| {
            with_start(ev(id, "booking.rescheduled", at, Some("B1")), starts)
        };
        let engine = desk(None);
        let all = engine.evaluate(&sorted(vec![
            confirm.clone(),
            moved("2", "2026-01-03T10:00:00Z", "2026-01-20T09:00:00Z"),
        ]));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].closure, Some(Closure::Rescheduled));
        assert_eq!(all[0].status(t("2026-02-01T00:00:00Z")), Status::Cancelled);
        assert_eq!(all[1].due_at, t("2026-01-19T09:00:00Z"));
        assert_eq!(all[1].trigger_event, "2");
        // The reminder for the old date was already sent: the new date still gets one.
        let all = engine.evaluate(&sorted(vec![
            confirm.clone(),
            ev("2", "message.sent", "2026-01-09T09:10:00Z", Some("B1")),
            moved("3", "2026-01-09T12:00:00Z", "2026-01-20T09:00:00Z"),
        ]));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].closure, Some(Closure::Kept));
        assert_eq!(all[1].due_at, t("2026-01-19T09:00:00Z"));
        // Moved after the reminder was due and missed: that stays a breach.
        let all = engine.evaluate(&sorted(vec![
            confirm.clone(),
            moved("2", "2026-01-09T12:00:00Z", "2026-01-20T09:00:00Z"),
        ]));
        assert_eq!(all[0].status(t("2026-02-01T00:00:00Z")), Status::Breached);
        // Moved to a time whose reminder is already past: nothing new opens.
        let all = engine.evaluate(&sorted(vec![
            confirm.clone(),
            moved("2", "2026-01-03T10:00:00Z", "2026-01-03T20:00:00Z"),
        ]));
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].closure, Some(Closure::Rescheduled));
        // Another booking's reschedule leaves this one alone.
        let mut other = moved("2", "2026-01-03T10:00:00Z", "2026-01-20T09:00:00Z");
        other.reference = Some("B2".into());
        let all = engine.evaluate(&sorted(vec![confirm, other]));
        assert_eq!(all[0].closure, None);
        assert_eq!(all.len(), 2);
    }

    /// A calendar with both DST changes in range and a holiday.
    fn london() -> Arc<Calendar> {
        let hours: std::collections::BTreeMap<String, Vec<String>> =
            ["mon", "tue", "wed", "thu", "fri"]
                .into_iter()
                .map(|d| {
                    (
                        d.to_string(),
                        vec!["09:00-12:30".to_string(), "13:30-17:30".to_string()],
                    )
                })
                .chain([("sat".to_string(), vec!["00:30-02:30".to_string()])])
                .collect();
        Arc::new(
            Calendar::new(
                "london",
                "Europe/London",
                &hours,
                &["2026-03-30".to_string(), "2026-10-26".to_string()],
            )
            .unwrap(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Brute force: on a calendar, the due time after a pause and resume is the first minute at which
        /// the open minutes outside the pause add up to the target, counted one by one.
        #[test]
        fn a_resumed_due_time_counts_open_minutes_outside_the_pause(
            week in prop::sample::select(vec!["2026-03-23T00:00:00Z", "2026-10-19T00:00:00Z"]),
            start in 0i64..(7 * 1440),
            within in 0i64..1500,
            pause_after in 0i64..3000,
            pause_for in 0i64..6000,
        ) {
            let calendar = london();
            let policy = Policy {
                pause: vec!["pause".into()],
                resume: vec!["resume".into()],
                ..Policy::new(
                    "p",
                    PolicyKind::Expect { within: Within::Fixed(mins(within)), calendar: Some(calendar.clone()) },
                    vec!["open".into()],
                    vec!["keep".into()],
                    vec![],
                )
            };
            let engine = Engine::new(vec![policy], "p".into());
            let opened = t(week) + mins(start);
            let paused = opened + mins(pause_after);
            let resumed = paused + mins(pause_for);
            let o = engine.evaluate(&[
                ev("1", "open", &opened.to_string(), None),
                ev("2", "pause", &paused.to_string(), None),
                ev("3", "resume", &resumed.to_string(), None),
            ])[0].clone();
            // Minute by minute: is the clock running in [m, m + 1 min)?
            let open_minute = |m: Timestamp| calendar.is_open(m);
            let mut counted = 0;
            let mut m = opened;
            let original_due = loop {
                if counted == within { break m; }
                if open_minute(m) { counted += 1; }
                m += mins(1);
            };
            if paused > original_due {
                prop_assert_eq!(o.due_at, original_due, "paused past due: nothing changes");
                prop_assert_eq!(o.paused_total, SignedDuration::ZERO);
            } else {
                let (mut counted, mut m, mut paused_minutes) = (0, opened, 0);
                let due = loop {
                    if counted == within && m >= resumed { break m; }
                    let running = m < paused || m >= resumed;
                    if open_minute(m) {
                        if running { counted += 1 } else { paused_minutes += 1 }
                    }
                    m += mins(1);
                };
                prop_assert_eq!(o.due_at, due, "opened {} paused {} resumed {}", opened, paused, resumed);
                prop_assert_eq!(o.paused_total, mins(paused_minutes));
            }
        }

        /// The index finds exactly the obligations the rule says an event acts on.
        #[test]
        fn the_open_index_matches_the_rule(
            refs in prop::collection::vec(prop::option::of(0u8..4), 0..30),
            closed in prop::collection::vec(any::<bool>(), 30),
            probe in prop::option::of(0u8..5),
        ) {
            let engine = engine();
            let state: Vec<Obligation> = refs.iter().enumerate().map(|(i, r)| {
                let mut o = engine.evaluate(&[ev(&format!("e{i}"), "message.received", "2026-01-05T10:00:00Z", r.map(|r| format!("R{r}")).as_deref())])[0].clone();
                if closed[i] { o.closed_at = Some(o.opened_at); o.closure = Some(Closure::Kept); }
                o
            }).collect();
            let open = Open::new(&engine, &state);
            let probe = probe.map(|r| format!("R{r}"));
            let expected: Vec<usize> = (0..state.len())
                .filter(|&i| !state[i].is_closed() && refs_match(&state[i].reference, &probe))
                .collect();
            prop_assert_eq!(open.matching(0, &probe), expected);
            prop_assert_eq!(open.count, state.iter().filter(|o| !o.is_closed()).count());
        }
    }
}
