//! The engine: a fold over one customer's events, sorted by (at, id), that opens, nudges and closes
//! obligations. Pure: the same events give the same obligations, live or in replay.

use std::borrow::Borrow;

use super::event::Event;
use super::obligation::{Closure, Obligation};
use super::policy::Policy;

#[derive(Debug, Clone)]
pub struct Engine {
    policies: Vec<Policy>,
    fingerprint: String,
}

impl Engine {
    /// `fingerprint` identifies the configuration; stored obligations made under another are recomputed.
    pub fn new(policies: Vec<Policy>, fingerprint: String) -> Engine {
        Engine {
            policies,
            fingerprint,
        }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| &*p.name == name)
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
        self.policies
            .iter()
            .any(|p| p.is_trigger(kind) || p.is_expect(kind) || p.is_cancel(kind))
    }

    /// All obligations of one customer's history. `events` must be sorted by `Event::sort_key`.
    pub fn evaluate<E: Borrow<Event>>(&self, events: &[E]) -> Vec<Obligation> {
        let mut state = Vec::new();
        self.apply(&mut state, events);
        state
    }

    /// Continues the fold: `state` holds the obligations from earlier events (at least every one not yet
    /// closed); `events` are sorted and all strictly later than those earlier events. Existing entries are
    /// updated in place, new obligations appended.
    pub fn apply<E: Borrow<Event>>(&self, state: &mut Vec<Obligation>, events: &[E]) {
        debug_assert!(events
            .windows(2)
            .all(|w| w[0].borrow().sort_key() <= w[1].borrow().sort_key()));
        let mut open: Vec<usize> = (0..state.len())
            .filter(|&i| !state[i].is_closed())
            .collect();
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
            start = end;
        }
    }

    fn open_or_nudge(&self, state: &mut Vec<Obligation>, open: &mut Vec<usize>, event: &Event) {
        for policy in self.policies.iter().filter(|p| p.is_trigger(&event.kind)) {
            let existing = open
                .iter()
                .copied()
                .find(|&i| state[i].policy == policy.name && state[i].reference == event.reference);
            if let Some(i) = existing {
                state[i].nudges += 1;
                state[i].last_nudge_at = Some(event.at);
                continue;
            }
            let Some((due_at, breach_at)) = policy.deadlines(event) else {
                continue;
            };
            open.push(state.len());
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
            });
        }
    }

    fn close(&self, state: &mut [Obligation], open: &mut Vec<usize>, event: &Event) {
        for policy in &self.policies {
            let cancels = policy.is_cancel(&event.kind);
            if !cancels && !policy.is_expect(&event.kind) {
                continue;
            }
            open.retain(|&i| {
                let obligation = &mut state[i];
                if obligation.policy != policy.name
                    || !refs_match(&obligation.reference, &event.reference)
                {
                    return true;
                }
                // A schedule is kept only from its due time on: too early does not count.
                if !cancels && policy.is_schedule() && event.at < obligation.due_at {
                    return true;
                }
                obligation.closed_at = Some(event.at);
                obligation.closure = Some(if cancels {
                    Closure::Cancelled
                } else {
                    Closure::Kept
                });
                obligation.closed_by = Some(event.id.clone());
                false
            });
        }
    }
}

/// An event without a ref closes every obligation of the customer; an obligation opened without a ref is
/// closed by any event; otherwise the refs must be equal.
fn refs_match(obligation: &Option<String>, event: &Option<String>) -> bool {
    match (obligation, event) {
        (_, None) | (None, _) => true,
        (Some(a), Some(b)) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obligation::Status;
    use crate::policy::{PolicyKind, ScheduleAt};
    use jiff::{SignedDuration, Timestamp};
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
        Policy {
            name: name.into(),
            kind: PolicyKind::Expect {
                within: SignedDuration::from_mins(within_mins),
                calendar: None,
            },
            trigger: vec![trigger.into()],
            expect: vec![expect.into()],
            cancel: if cancel.is_empty() {
                vec![]
            } else {
                vec![cancel.into()]
            },
            promise: true,
        }
    }

    fn reminder() -> Policy {
        Policy {
            name: "remind".into(),
            kind: PolicyKind::Schedule {
                at: ScheduleAt::parse("properties.starts_at - 24h").unwrap(),
                grace: SignedDuration::from_hours(1),
            },
            trigger: vec!["booking.confirmed".into()],
            expect: vec!["message.sent".into()],
            cancel: vec!["booking.cancelled".into()],
            promise: true,
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

    const KINDS: [&str; 6] = [
        "message.received",
        "message.sent",
        "booking.created",
        "booking.confirmed",
        "booking.cancelled",
        "app.session",
    ];

    fn arb_history() -> impl Strategy<Value = Vec<Event>> {
        let event = (
            0usize..KINDS.len(),
            0i64..400,
            prop::option::of(0u8..3),
            0i64..200,
        );
        prop::collection::vec(event, 0..40).prop_map(|raw| {
            let base = t("2026-01-05T00:00:00Z");
            let events = raw
                .into_iter()
                .enumerate()
                .map(|(i, (k, minutes, r, starts))| {
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
                    e.properties = Some(format!(r#"{{"starts_at":"{starts_at}"}}"#));
                    e
                })
                .collect();
            sorted(events)
        })
    }

    proptest! {
        /// Continuing from stored state gives what a replay from nothing gives.
        #[test]
        fn incremental_equals_replay(history in arb_history(), split in 0usize..40) {
            let engine = engine();
            let replay = engine.evaluate(&history);
            let mut cut = split.min(history.len());
            // The fast path is only taken for strictly later events: move the cut off a shared instant.
            while cut > 0 && cut < history.len() && history[cut - 1].at == history[cut].at {
                cut -= 1;
            }
            let mut state = engine.evaluate(&history[..cut]);
            engine.apply(&mut state, &history[cut..]);
            prop_assert_eq!(state, replay);
        }

        /// Every obligation's status over time follows the rules from its recorded times.
        #[test]
        fn statuses_are_consistent(history in arb_history()) {
            for o in engine().evaluate(&history) {
                prop_assert!(o.opened_at <= o.due_at && o.due_at <= o.breach_at);
                if let Some(closed) = o.closed_at {
                    prop_assert!(closed >= o.opened_at);
                    prop_assert_eq!(o.nudges == 0, o.last_nudge_at.is_none());
                }
            }
        }
    }
}
