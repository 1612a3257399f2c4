//! The ingestion fold, written once for both stores. For each customer of a batch it decides, from the
//! events that were accepted and the customer's last stored time, how their obligations move (from nothing,
//! onward from the unclosed ones, or a replay of the whole history), and it turns the result into the rows
//! to insert and update. Pure: each backend loads what a step asks for and writes what it returns, with its
//! own statements (SQLite one customer at a time under its single writer; PostgreSQL a whole batch at once
//! through `UNNEST` arrays).

use std::collections::HashMap;

use super::Ingested;
use crate::domain::{Engine, Event, Obligation};

/// The positions of a batch's events sorted by (customer, at, id): each customer's events are contiguous and
/// in fold order, and customers come in the order both stores lock them in.
pub(crate) fn customer_order(events: &[Event]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&events[a], &events[b]);
        a.customer
            .cmp(&b.customer)
            .then_with(|| a.sort_key().cmp(&b.sort_key()))
    });
    order
}

/// The runs of `order` (from `customer_order`) that belong to one customer each.
pub(crate) fn by_customer<'e, 'o>(
    events: &'e [Event],
    order: &'o [usize],
) -> impl Iterator<Item = &'o [usize]> + use<'e, 'o> {
    order.chunk_by(move |&a, &b| events[a].customer == events[b].customer)
}

/// The events of one customer's run that were stored (neither duplicates nor conflicts), in fold order.
pub(crate) fn accepted<'a>(
    events: &'a [Event],
    run: &[usize],
    results: &[Ingested],
) -> Vec<&'a Event> {
    run.iter()
        .filter(|&&i| results[i] == Ingested::Accepted)
        .map(|&i| &events[i])
        .collect()
}

/// The profile fields in the order `Activity::fields` keeps them (and both schemas name their columns).
pub(crate) const PROFILE_FIELDS: [&str; 4] = ["email", "name", "phone", "timezone"];

/// What a customer's accepted events change on their row: how many, the first and last times, and for each
/// profile field the latest value carried with its time. The stores keep a field only if its time is not
/// older than the stored one's, so the profile follows event time whatever the arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Activity<'a> {
    pub events: i64,
    pub first_at: i64,
    pub last_at: i64,
    /// By `PROFILE_FIELDS`: the latest value and its `at` (nanoseconds).
    pub fields: [Option<(&'a str, i64)>; 4],
}

impl<'a> Activity<'a> {
    /// `None` when nothing was accepted (the row does not change).
    pub fn of(accepted: &[&'a Event]) -> Option<Activity<'a>> {
        let (first, last) = (accepted.first()?, accepted.last()?);
        let latest = |field: usize| {
            accepted.iter().rev().find_map(|e| {
                let p = &e.profile;
                let value = [&p.email, &p.name, &p.phone, &p.timezone][field];
                value.as_deref().map(|v| (v, super::nanos(e.at)))
            })
        };
        Some(Activity {
            events: accepted.len() as i64,
            first_at: super::nanos(first.at),
            last_at: super::nanos(last.at),
            fields: [latest(0), latest(1), latest(2), latest(3)],
        })
    }
}

/// How one customer's obligations move with the events of a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// No accepted event matters to any policy: the stored obligations stay as they are.
    Unchanged,
    /// The customer has no stored history: the relevant events alone make their obligations.
    New(Vec<&'a Event>),
    /// Every relevant event is after the customer's last stored one: the fold continues from the unclosed
    /// obligations (the backend loads them and calls `Writes::onward`).
    Onward(Vec<&'a Event>),
    /// An event at or before the customer's last stored one (a late arrival): the whole history is
    /// replayed, the oracle path (the backend loads it and calls `Writes::replay`).
    Replay,
}

impl<'a> Step<'a> {
    /// `accepted`: the customer's accepted events of the batch, in fold order. `last_at`: the latest `at`
    /// (nanoseconds) of their events stored before this batch, `None` when there were none.
    pub fn decide(engine: &Engine, last_at: Option<i64>, accepted: &[&'a Event]) -> Step<'a> {
        let relevant: Vec<&Event> = accepted
            .iter()
            .copied()
            .filter(|e| engine.is_relevant(&e.kind))
            .collect();
        let Some(earliest) = relevant.first() else {
            return Step::Unchanged;
        };
        match last_at {
            None => Step::New(relevant),
            Some(last_at) if super::nanos(earliest.at) <= last_at => Step::Replay,
            Some(_) => Step::Onward(relevant),
        }
    }
}

/// The refs whose unclosed obligations the fast path must load for these events: the fold touches only
/// obligations with one of the events' refs, or with none (an obligation without a ref is acted on by any
/// event). `None` when some event has no ref: it may act on every unclosed obligation of its policy, so all
/// are loaded. Loading only these keeps a batch's cost to what it can touch, however many are open.
pub(crate) fn touched_refs(relevant: &[&Event]) -> Option<Vec<String>> {
    let mut refs: Vec<String> = Vec::with_capacity(relevant.len());
    for event in relevant {
        refs.push(event.reference.clone()?);
    }
    refs.sort_unstable();
    refs.dedup();
    Some(refs)
}

/// What the scheduler noticed of stored obligations: `noticed_at` by (customer, policy, trigger event). A
/// replay deletes and re-inserts a customer's rows; this carries the mark over to the same obligation.
#[derive(Debug, Default)]
pub(crate) struct Noticed(HashMap<(String, String, String), i64>);

impl Noticed {
    pub fn insert(&mut self, customer: String, policy: String, trigger_event: String, at: i64) {
        self.0.insert((customer, policy, trigger_event), at);
    }

    /// Kept only while the obligation stays unclosed.
    fn of(&self, o: &Obligation) -> Option<i64> {
        if o.is_closed() || self.0.is_empty() {
            return None;
        }
        let key = (
            o.customer.clone(),
            o.policy.to_string(),
            o.trigger_event.clone(),
        );
        self.0.get(&key).copied()
    }
}

/// The obligation rows a batch writes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Writes {
    /// Stored rows (by row id) whose obligation changed; the row keeps its id, `noticed_at` and `planned`
    /// (unless its deadlines moved: then it is planned again).
    pub updates: Vec<(i64, Obligation)>,
    /// New rows, with the `noticed_at` a replay carried over.
    pub inserts: Vec<(Obligation, Option<i64>)>,
    /// Obligations whose deadlines a pause or resume moved: their pending warnings, breach alerts and
    /// escalations are for times that no longer hold, and are skipped (the planner queues the new ones).
    pub moved: Vec<Moved>,
}

/// An obligation whose deadline-timed outbox rows no longer hold, except those whose key ends in `keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    pub customer: String,
    pub policy: String,
    pub trigger_event: String,
    /// The key suffix of the rows planned for the current deadline (`None` while paused: none holds).
    pub keep: Option<String>,
}

/// Why a moved obligation's pending rows are skipped (the outbox row's detail).
pub(crate) const MOVED_DETAIL: &str =
    "not needed: the deadline moved (the clock was stopped while waiting on the customer)";

impl Moved {
    fn of(o: &Obligation) -> Moved {
        Moved {
            customer: o.customer.clone(),
            policy: o.policy.to_string(),
            trigger_event: o.trigger_event.clone(),
            keep: (!o.is_paused()).then(|| crate::domain::action::deadline_suffix(o)),
        }
    }

    /// A pattern for `key LIKE`: the rows to keep end in the current suffix (`None` while paused: all go).
    pub fn keep_pattern(&self) -> Option<String> {
        self.keep.as_ref().map(|suffix| format!("%{suffix}"))
    }
}

impl Writes {
    /// `Step::New`: every obligation of the events is a new row.
    pub fn new_history(&mut self, engine: &Engine, relevant: &[&Event]) {
        self.inserts
            .extend(engine.evaluate(relevant).into_iter().map(|o| (o, None)));
    }

    /// `Step::Onward`: continues from the customer's unclosed obligations as stored, `(row id,
    /// obligation)` in row order. Changed ones become updates, new ones inserts, unchanged ones nothing.
    pub fn onward(
        &mut self,
        engine: &Engine,
        unclosed: Vec<(i64, Obligation)>,
        relevant: &[&Event],
    ) {
        let mut state: Vec<Obligation> = unclosed.iter().map(|(_, o)| o.clone()).collect();
        engine.apply(&mut state, relevant);
        // `apply` updates the given obligations in place and appends the new ones.
        let mut state = state.into_iter();
        for ((row, old), obligation) in unclosed.iter().zip(state.by_ref()) {
            if *old != obligation {
                if (old.due_at, old.breach_at) != (obligation.due_at, obligation.breach_at) {
                    self.moved.push(Moved::of(&obligation));
                }
                self.updates.push((*row, obligation));
            }
        }
        self.inserts.extend(state.map(|o| (o, None)));
    }

    /// `Step::Replay` (and recomputes): the customer's whole history, sorted by (at, id), gives every
    /// obligation anew; the backend has deleted the stored rows. What the scheduler noticed is kept.
    pub fn replay(&mut self, engine: &Engine, history: &[Event], noticed: &Noticed) {
        let relevant: Vec<&Event> = history
            .iter()
            .filter(|e| engine.is_relevant(&e.kind))
            .collect();
        let obligations = engine.evaluate(&relevant);
        // Rows planned before the replay for deadlines a pause has since moved no longer hold.
        self.moved.extend(
            obligations
                .iter()
                .filter(|o| o.is_paused() || !o.paused_total.is_zero())
                .map(Moved::of),
        );
        self.inserts.extend(obligations.into_iter().map(|o| {
            let noticed_at = noticed.of(&o);
            (o, noticed_at)
        }));
    }
}

/// Logs, once per customer and process, that a customer has more unclosed obligations than
/// `[storage] warn_open_obligations` (the backends count them when a batch opened new ones).
pub(crate) fn warn_open(customer: &str, open: usize, limit: usize) {
    use std::sync::{Mutex, OnceLock};
    static WARNED: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let mut warned = WARNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if warned.len() > 10_000 {
        warned.clear();
    }
    if warned.insert(customer.to_string()) {
        tracing::warn!(
            customer,
            open,
            limit,
            "a customer has more unclosed obligations than [storage] warn_open_obligations: is an integration opening a promise per event?"
        );
    }
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::policy::{Policy, PolicyKind, Within};
    use crate::domain::{Closure, ProfileUpdate};
    use crate::store::nanos;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// "reply": a received message expects a sent one within an hour.
    fn engine() -> Engine {
        Engine::new(
            vec![Policy::new(
                "reply",
                PolicyKind::Expect {
                    within: Within::Fixed(SignedDuration::from_mins(60)),
                    calendar: None,
                },
                vec!["message.received".into()],
                vec!["message.sent".into()],
                vec![],
            )],
            "test".into(),
        )
    }

    fn ev(id: &str, kind: &str, at: &str, reference: &str) -> Event {
        Event {
            id: id.into(),
            kind: kind.into(),
            customer: "c1".into(),
            at: t(at),
            channel: None,
            reference: Some(reference.into()),
            properties: None,
            profile: ProfileUpdate::default(),
        }
    }

    fn received(id: &str, at: &str, reference: &str) -> Event {
        ev(id, "message.received", at, reference)
    }

    fn sent(id: &str, at: &str, reference: &str) -> Event {
        ev(id, "message.sent", at, reference)
    }

    fn refs(events: &[Event]) -> Vec<&Event> {
        events.iter().collect()
    }

    #[test]
    fn a_new_customer_starts_from_nothing_with_only_relevant_events() {
        let engine = engine();
        let events = [
            ev("0", "page.viewed", "2026-01-05T09:00:00Z", "T1"),
            received("1", "2026-01-05T10:00:00Z", "T1"),
            received("2", "2026-01-05T10:05:00Z", "T2"),
        ];
        let step = Step::decide(&engine, None, &refs(&events));
        assert_eq!(step, Step::New(vec![&events[1], &events[2]]));
        let Step::New(relevant) = step else {
            unreachable!()
        };
        let mut writes = Writes::default();
        writes.new_history(&engine, &relevant);
        assert!(writes.updates.is_empty());
        let inserted: Vec<(&str, Option<i64>)> = writes
            .inserts
            .iter()
            .map(|(o, noticed)| (o.trigger_event.as_str(), *noticed))
            .collect();
        assert_eq!(inserted, [("1", None), ("2", None)]);
    }

    #[test]
    fn events_no_policy_cares_about_change_no_obligation() {
        let events = [ev("0", "page.viewed", "2026-01-05T09:00:00Z", "T1")];
        for last_at in [None, Some(i64::MIN), Some(i64::MAX)] {
            assert_eq!(
                Step::decide(&engine(), last_at, &refs(&events)),
                Step::Unchanged
            );
        }
        assert_eq!(Step::decide(&engine(), None, &[]), Step::Unchanged);
    }

    #[test]
    fn events_after_the_last_stored_one_take_the_fast_path() {
        let events = [received("3", "2026-01-05T12:00:00Z", "T3")];
        let last_at = nanos(t("2026-01-05T11:59:59Z"));
        assert_eq!(
            Step::decide(&engine(), Some(last_at), &refs(&events)),
            Step::Onward(vec![&events[0]])
        );
    }

    #[test]
    fn an_event_at_or_before_the_last_stored_one_replays_the_history() {
        let events = [
            received("3", "2026-01-05T11:00:00Z", "T3"),
            received("4", "2026-01-05T13:00:00Z", "T4"),
        ];
        for last in ["2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z"] {
            assert_eq!(
                Step::decide(&engine(), Some(nanos(t(last))), &refs(&events)),
                Step::Replay,
                "last stored at {last}"
            );
        }
        // An irrelevant late event does not: only events a policy cares about move obligations.
        let events = [
            ev("5", "page.viewed", "2026-01-05T08:00:00Z", "T1"),
            received("6", "2026-01-05T13:00:00Z", "T6"),
        ];
        assert_eq!(
            Step::decide(
                &engine(),
                Some(nanos(t("2026-01-05T12:00:00Z"))),
                &refs(&events)
            ),
            Step::Onward(vec![&events[1]])
        );
    }

    #[test]
    fn only_accepted_events_are_folded() {
        let events = [
            received("1", "2026-01-05T08:00:00Z", "T1"),
            received("2", "2026-01-05T13:00:00Z", "T2"),
            received("3", "2026-01-05T09:00:00Z", "T3"),
        ];
        let order = customer_order(&events);
        assert_eq!(order, [0, 2, 1]);
        let results = [Ingested::Duplicate, Ingested::Accepted, Ingested::Conflict];
        let accepted = accepted(&events, &order, &results);
        assert_eq!(accepted, [&events[1]]);
        // The early duplicate and conflict do not make this a late arrival.
        let last_at = nanos(t("2026-01-05T12:00:00Z"));
        assert_eq!(
            Step::decide(&engine(), Some(last_at), &accepted),
            Step::Onward(vec![&events[1]])
        );
        assert_eq!(Activity::of(&accepted).map(|a| a.events), Some(1));
        assert_eq!(Activity::of(&[]), None);
    }

    #[test]
    fn the_diff_updates_changed_rows_in_place_and_inserts_new_ones() {
        let engine = engine();
        let history = [
            received("1", "2026-01-05T10:00:00Z", "T1"),
            received("2", "2026-01-05T10:10:00Z", "T2"),
        ];
        let stored: Vec<(i64, Obligation)> = engine
            .evaluate(&history)
            .into_iter()
            .zip([41, 42])
            .map(|(o, row)| (row, o))
            .collect();
        let batch = [
            sent("3", "2026-01-05T10:30:00Z", "T2"),
            received("4", "2026-01-05T10:40:00Z", "T4"),
        ];
        let mut writes = Writes::default();
        writes.onward(&engine, stored.clone(), &refs(&batch));

        // T1 is untouched: no write, so its row keeps what the scheduler and planner marked on it.
        assert_eq!(writes.updates.len(), 1);
        let (row, kept) = &writes.updates[0];
        assert_eq!(*row, 42, "the changed obligation keeps its row");
        assert_eq!(kept.trigger_event, "2");
        assert_eq!(kept.closure, Some(Closure::Kept));
        assert_eq!(kept.closed_by.as_deref(), Some("3"));
        assert_eq!(writes.inserts.len(), 1);
        assert_eq!(writes.inserts[0].0.trigger_event, "4");
        assert_eq!(writes.inserts[0].1, None);
    }

    #[test]
    fn a_replay_keeps_what_the_scheduler_noticed_while_unclosed() {
        let engine = engine();
        let history = [
            received("1", "2026-01-05T10:00:00Z", "T1"),
            received("2", "2026-01-05T10:10:00Z", "T2"),
            sent("3", "2026-01-05T12:00:00Z", "T2"),
        ];
        let mut noticed = Noticed::default();
        noticed.insert("c1".into(), "reply".into(), "1".into(), 7);
        noticed.insert("c1".into(), "reply".into(), "2".into(), 8);
        noticed.insert("c2".into(), "reply".into(), "1".into(), 9);
        let mut writes = Writes::default();
        writes.replay(&engine, &history, &noticed);
        let inserted: Vec<(&str, bool, Option<i64>)> = writes
            .inserts
            .iter()
            .map(|(o, n)| (o.trigger_event.as_str(), o.is_closed(), *n))
            .collect();
        // T2 was kept (late) since it was noticed: closed obligations drop the mark.
        assert_eq!(inserted, [("1", false, Some(7)), ("2", true, None)]);
        assert!(writes.updates.is_empty());
    }

    #[test]
    fn activity_takes_each_profile_field_from_the_latest_event_carrying_it() {
        let mut a = received("1", "2026-01-05T10:00:00Z", "T1");
        a.profile.email = Some("old@example.com".into());
        a.profile.name = Some("Ann".into());
        let mut b = received("2", "2026-01-05T11:00:00Z", "T1");
        b.profile.email = Some("new@example.com".into());
        let c = received("3", "2026-01-05T12:00:00Z", "T1");
        let activity = Activity::of(&[&a, &b, &c]).unwrap();
        assert_eq!(activity.events, 3);
        assert_eq!(activity.first_at, nanos(a.at));
        assert_eq!(activity.last_at, nanos(c.at));
        assert_eq!(
            activity.fields,
            [
                Some(("new@example.com", nanos(b.at))),
                Some(("Ann", nanos(a.at))),
                None,
                None
            ]
        );
    }

    #[test]
    fn a_batch_is_grouped_by_customer_in_fold_order() {
        let mut events = vec![
            received("b2", "2026-01-05T11:00:00Z", "T"),
            received("a1", "2026-01-05T12:00:00Z", "T"),
            received("b1", "2026-01-05T10:00:00Z", "T"),
        ];
        events[0].customer = "b".into();
        events[1].customer = "a".into();
        events[2].customer = "b".into();
        let order = customer_order(&events);
        let runs: Vec<Vec<&str>> = by_customer(&events, &order)
            .map(|run| run.iter().map(|&i| events[i].id.as_str()).collect())
            .collect();
        assert_eq!(runs, [vec!["a1"], vec!["b1", "b2"]]);
    }

    /// A store in memory: rows by id, with the backends' write semantics.
    #[derive(Default)]
    struct Rows {
        rows: Vec<(i64, Obligation)>,
        next: i64,
        history: Vec<Event>,
    }

    impl Rows {
        fn ingest(&mut self, engine: &Engine, mut batch: Vec<Event>) {
            batch.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            let last_at = self.history.iter().map(|e| nanos(e.at)).max();
            self.history.extend(batch.iter().cloned());
            self.history.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            let accepted = refs(&batch);
            let mut writes = Writes::default();
            match Step::decide(engine, last_at, &accepted) {
                Step::Unchanged => {}
                Step::New(relevant) => writes.new_history(engine, &relevant),
                Step::Onward(relevant) => {
                    let unclosed = self
                        .rows
                        .iter()
                        .filter(|(_, o)| !o.is_closed())
                        .cloned()
                        .collect();
                    writes.onward(engine, unclosed, &relevant);
                }
                Step::Replay => {
                    self.rows.clear();
                    writes.replay(engine, &self.history, &Noticed::default());
                }
            }
            for (row, o) in writes.updates {
                if let Some(slot) = self.rows.iter_mut().find(|(r, _)| *r == row) {
                    slot.1 = o;
                }
            }
            for (o, _) in writes.inserts {
                self.next += 1;
                self.rows.push((self.next, o));
            }
        }
    }

    fn sorted_by_trigger(mut obligations: Vec<Obligation>) -> Vec<Obligation> {
        obligations.sort_by(|a, b| a.trigger_event.cmp(&b.trigger_event));
        obligations
    }

    proptest! {
        /// Incremental == replay: however a history is cut into batches and in whatever order they come,
        /// the rows the fold leaves are the obligations of the whole history.
        #[test]
        fn batches_in_any_order_fold_to_the_whole_history(
            kinds in proptest::collection::vec((0u8..3, 0u8..3, 0u32..600), 1..30),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            seed in any::<u64>(),
        ) {
            let start = t("2026-01-05T09:00:00Z");
            let events: Vec<Event> = kinds.iter().enumerate().map(|(i, (kind, reference, minute))| {
                let kind = ["message.received", "message.sent", "page.viewed"][*kind as usize];
                let mut e = ev(&format!("{i:03}"), kind, "2026-01-05T09:00:00Z", "");
                e.at = start + SignedDuration::from_mins(i64::from(*minute));
                e.reference = Some(format!("T{reference}"));
                e
            }).collect();
            let engine = engine();
            let mut whole = events.clone();
            whole.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            let expected = sorted_by_trigger(engine.evaluate(&whole));

            let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(events.len() + 1)).collect();
            bounds.extend([0, events.len()]);
            bounds.sort_unstable();
            bounds.dedup();
            let mut batches: Vec<Vec<Event>> =
                bounds.windows(2).map(|w| events[w[0]..w[1]].to_vec()).collect();
            let n = batches.len();
            for i in 0..n {
                batches.swap(i, (seed as usize).wrapping_add(i * 7) % n);
            }
            let mut rows = Rows::default();
            for batch in batches {
                rows.ingest(&engine, batch);
            }
            let folded = sorted_by_trigger(rows.rows.into_iter().map(|(_, o)| o).collect());
            prop_assert_eq!(folded, expected);
        }
    }
}
