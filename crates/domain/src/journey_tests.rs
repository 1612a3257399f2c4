//! Journey semantics on hand-built histories, and a proptest that arrival order never changes a report.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

fn t(hours: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + hours * 3_600).unwrap()
}

fn step(name: &str, events: &[&str], customer_sees: bool) -> Step {
    Step {
        name: name.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        customer_sees,
        tell_customer_after: None,
    }
}

fn booking(per: Per) -> Journey {
    Journey::new(
        "booking",
        per,
        SignedDuration::from_hours(24 * 10),
        vec![
            step("booked", &["booking.created"], true),
            step("confirmed", &["booking.confirmed"], true),
            step("prepared", &["room.prepared"], false),
            step("visited", &["visit.arrived"], true),
        ],
    )
    .unwrap()
}

fn ev(customer: &str, reference: Option<&str>, kind: &str, hours: i64, _id: &str) -> JourneyEvent {
    JourneyEvent {
        customer: customer.into(),
        reference: reference.map(str::to_string),
        kind: kind.into(),
        at: t(hours),
    }
}

fn reached_hours(i: &Instance) -> Vec<Option<i64>> {
    i.reached
        .iter()
        .map(|r| r.map(|r| (r.as_second() - 1_700_000_000) / 3_600))
        .collect()
}

#[test]
fn steps_are_reached_in_order_and_an_early_later_step_waits() {
    let j = booking(Per::Ref);
    let events = vec![
        // visited before confirmed: does not count then; the later visit does.
        ev("c", Some("b1"), "visit.arrived", 2, "e0"),
        ev("c", Some("b1"), "booking.created", 1, "e1"),
        ev("c", Some("b1"), "booking.confirmed", 3, "e2"),
        ev("c", Some("b1"), "room.prepared", 5, "e3"),
        ev("c", Some("b1"), "visit.arrived", 9, "e4"),
        // a second booking.created later changes nothing: entry is the earliest.
        ev("c", Some("b1"), "booking.created", 4, "e5"),
    ];
    let all = instances(&j, &events, t(100));
    assert_eq!(all.len(), 1);
    assert_eq!(
        reached_hours(&all[0]),
        vec![Some(1), Some(3), Some(5), Some(9)]
    );
    assert!(all[0].completed());
}

#[test]
fn a_step_never_reached_stops_the_later_ones() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 1, "e1"),
        ev("c", Some("b1"), "room.prepared", 2, "e2"),
        ev("c", Some("b1"), "visit.arrived", 3, "e3"),
    ];
    let all = instances(&j, &events, t(100));
    assert_eq!(reached_hours(&all[0]), vec![Some(1), None, None, None]);
    assert_eq!(all[0].last_step(), 0);
}

#[test]
fn the_window_ends_a_journey() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 0, "e1"),
        ev("c", Some("b1"), "booking.confirmed", 240, "e2"), // exactly entry + window: counts
        ev("c", Some("b1"), "room.prepared", 241, "e3"),     // one hour too late
    ];
    let all = instances(&j, &events, t(1_000));
    assert_eq!(reached_hours(&all[0]), vec![Some(0), Some(240), None, None]);
}

#[test]
fn ties_at_one_instant_reach_both_steps() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.confirmed", 1, "a"),
        ev("c", Some("b1"), "booking.created", 1, "b"),
        ev("c", Some("b1"), "room.prepared", 1, "c"),
    ];
    let all = instances(&j, &events, t(100));
    assert_eq!(
        reached_hours(&all[0]),
        vec![Some(1), Some(1), Some(1), None]
    );
    let r = report(&j, &all, &[], t(0), t(10), t(100));
    assert_eq!(r.steps[1].median_seconds_from_previous, Some(0));
}

#[test]
fn per_customer_joins_refs_and_per_ref_keeps_them_apart() {
    let events = vec![
        ev("c", Some("b1"), "booking.created", 1, "e1"),
        ev("c", Some("b2"), "booking.confirmed", 2, "e2"),
        ev("c", None, "room.prepared", 3, "e3"),
        ev("d", None, "booking.created", 1, "e4"),
    ];
    let by_ref = instances(&booking(Per::Ref), &events, t(100));
    assert_eq!(by_ref.len(), 1, "d's event has no ref; b2 never entered");
    assert_eq!(reached_hours(&by_ref[0]), vec![Some(1), None, None, None]);
    let by_customer = instances(&booking(Per::Customer), &events, t(100));
    assert_eq!(by_customer.len(), 2);
    let c = by_customer.iter().find(|i| i.key.customer == "c").unwrap();
    assert_eq!(c.key.reference, None);
    assert_eq!(reached_hours(c), vec![Some(1), Some(2), Some(3), None]);
}

#[test]
fn events_after_as_of_are_not_seen() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 1, "e1"),
        ev("c", Some("b1"), "booking.confirmed", 5, "e2"),
        ev("d", Some("b2"), "booking.created", 6, "e3"),
    ];
    let all = instances(&j, &events, t(4));
    assert_eq!(all.len(), 1);
    assert_eq!(reached_hours(&all[0]), vec![Some(1), None, None, None]);
}

/// Four bookings with known times: conversions, percentiles, time shares, completion if slow/fast.
#[test]
fn the_report_per_step() {
    let j = booking(Per::Ref);
    let mut events = Vec::new();
    // (confirm after, prepare after, visit after), hours from the previous step; None: stops.
    let plans: [(i64, Option<i64>, Option<i64>); 4] = [
        (1, Some(2), Some(10)),
        (2, Some(8), Some(10)),
        (3, Some(2), None),
        (4, None, None),
    ];
    for (n, (confirm, prepare, visit)) in plans.iter().enumerate() {
        let r = format!("b{n}");
        let mut h = 0;
        events.push(ev("c", Some(&r), "booking.created", h, &format!("{r}-1")));
        h += confirm;
        events.push(ev("c", Some(&r), "booking.confirmed", h, &format!("{r}-2")));
        if let Some(p) = prepare {
            h += p;
            events.push(ev("c", Some(&r), "room.prepared", h, &format!("{r}-3")));
            if let Some(v) = visit {
                h += v;
                events.push(ev("c", Some(&r), "visit.arrived", h, &format!("{r}-4")));
            }
        }
    }
    let as_of = t(100);
    let all = instances(&j, &events, as_of);
    let r = report(&j, &all, &[], t(0), t(1), as_of);
    assert_eq!((r.entered, r.completed), (4, 2));
    let reached: Vec<u64> = r.steps.iter().map(|s| s.reached).collect();
    assert_eq!(reached, vec![4, 4, 3, 2]);
    let drop: Vec<u64> = r.steps.iter().map(|s| s.drop_off).collect();
    assert_eq!(drop, vec![0, 0, 1, 1]);
    assert_eq!(r.steps[0].conversion_from_previous, Some(1.0));
    assert_eq!(r.steps[2].conversion_from_previous, Some(0.75));
    assert_eq!(r.steps[3].conversion_from_previous, Some(2.0 / 3.0));
    assert_eq!(r.steps[3].conversion_from_entry, Some(0.5));
    assert_eq!(r.steps[0].median_seconds_from_previous, None);
    // confirmed: 1,2,3,4 h → median rank ⌈0.5·4⌉ = 2 → 2 h; p90 rank ⌈3.6⌉ = 4 → 4 h.
    assert_eq!(r.steps[1].median_seconds_from_previous, Some(7_200));
    assert_eq!(r.steps[1].p90_seconds_from_previous, Some(14_400));
    // prepared: 2,2,8 h → median rank 2 → 2 h; p90 rank 3 → 8 h.
    assert_eq!(r.steps[2].median_seconds_from_previous, Some(7_200));
    assert_eq!(r.steps[2].p90_seconds_from_previous, Some(28_800));
    assert_eq!(r.steps[3].median_seconds_from_previous, Some(36_000));
    assert_eq!(r.steps[1].time_share, Some(2.0 / 14.0));
    assert_eq!(r.steps[3].time_share, Some(10.0 / 14.0));
    // confirmed fast (≤ 2 h): b0, b1 both completed; slow: b2, b3, none completed.
    assert_eq!(r.steps[1].completion_if_fast, Some(1.0));
    assert_eq!(r.steps[1].completion_if_slow, Some(0.0));
    // prepared fast (≤ 2 h): b0 (done), b2 (not); slow: b1 (done).
    assert_eq!(r.steps[2].completion_if_fast, Some(0.5));
    assert_eq!(r.steps[2].completion_if_slow, Some(1.0));
    // Stuck at as_of = 100 h (inside the 240 h window): b2 waits at prepared since 5 h, 95 h > p90 of
    // visited (10 h); b3 waits at confirmed since 4 h > p90 of prepared (8 h).
    let stuck: Vec<(&str, &str)> = r
        .stuck
        .iter()
        .map(|s| (s.reference.as_deref().unwrap(), s.step.as_str()))
        .collect();
    assert_eq!(stuck, vec![("b3", "confirmed"), ("b2", "prepared")]);
    // After the window nobody is stuck.
    let later = instances(&j, &events, t(300));
    assert!(report(&j, &later, &[], t(0), t(1), t(300)).stuck.is_empty());
}

#[test]
fn an_empty_period_reports_zeros_and_nulls() {
    let j = booking(Per::Ref);
    let events = vec![ev("c", Some("b1"), "booking.created", 5, "e1")];
    let all = instances(&j, &events, t(100));
    let r = report(&j, &all, &[], t(0), t(5), t(100)); // [0, 5): the entry at 5 is outside
    assert_eq!((r.entered, r.completed), (0, 0));
    for s in &r.steps {
        assert_eq!(s.reached, 0);
        assert_eq!(s.conversion_from_previous, None);
        assert_eq!(s.median_seconds_from_previous, None);
        assert_eq!(s.time_share, None);
        assert_eq!(s.completion_if_slow, None);
    }
    assert!(r.stuck.is_empty());
}

#[test]
fn frustration_goes_to_the_step_the_journey_was_in() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 0, "e1"),
        ev("c", Some("b1"), "booking.confirmed", 10, "e2"),
    ];
    let all = instances(&j, &events, t(100));
    let fact = |reference: Option<&str>, hours: i64, kind: FactKind| Fact {
        customer: "c".into(),
        reference: reference.map(str::to_string),
        at: t(hours),
        kind,
    };
    let facts = vec![
        fact(Some("b1"), 5, FactKind::Breach),     // booked
        fact(Some("b1"), 10, FactKind::Breach),    // confirmed (reached at that instant)
        fact(Some("b1"), 12, FactKind::Nudges(3)), // confirmed
        fact(Some("b1"), 11, FactKind::Unhappy),   // confirmed
        fact(Some("b1"), -1, FactKind::Unhappy),   // before the entry: none
        fact(Some("b1"), 500, FactKind::Unhappy),  // after as_of: none
        fact(Some("b2"), 5, FactKind::Breach),     // another key: none
        fact(None, 5, FactKind::Breach),           // no ref: none with per = "ref"
    ];
    let r = report(&j, &all, &facts, t(0), t(1), t(100));
    let f: Vec<(u64, u64, u64)> = r
        .steps
        .iter()
        .map(|s| (s.breaches, s.nudges, s.unhappy))
        .collect();
    assert_eq!(f, vec![(1, 0, 0), (1, 3, 1), (0, 0, 0), (0, 0, 0)]);
}

#[test]
fn paths_count_the_most_frequent_sequences() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 0, "1"),
        ev("c", Some("b1"), "booking.confirmed", 1, "2"),
        ev("c", Some("b1"), "booking.confirmed", 2, "3"), // repeat in a row: once
        ev("c", Some("b2"), "booking.created", 0, "4"),
        ev("c", Some("b2"), "booking.confirmed", 1, "5"),
        ev("c", Some("b3"), "booking.created", 0, "6"),
    ];
    let all = instances(&j, &events, t(100));
    let p = paths(&all, t(0), t(1), 10);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].path, vec!["booking.created", "booking.confirmed"]);
    assert_eq!((p[0].journeys, p[0].completed), (2, 0));
    assert_eq!(p[1].path, vec!["booking.created"]);
    assert_eq!(paths(&all, t(0), t(1), 1).len(), 1);
}

#[test]
fn times_by_bucket_are_the_report_of_each_bucket() {
    let j = booking(Per::Ref);
    let events = vec![
        // Bucket 0 (hours 0..24): confirmed after 1 h and 3 h.
        ev("a", Some("1"), "booking.created", 0, "1"),
        ev("a", Some("1"), "booking.confirmed", 1, "2"),
        ev("b", Some("2"), "booking.created", 5, "3"),
        ev("b", Some("2"), "booking.confirmed", 8, "4"),
        // Bucket 2 (hours 48..72): confirmed after 10 h, prepared 2 h later.
        ev("c", Some("3"), "booking.created", 50, "5"),
        ev("c", Some("3"), "booking.confirmed", 60, "6"),
        ev("c", Some("3"), "room.prepared", 62, "7"),
        // After `to`: in no bucket.
        ev("d", Some("4"), "booking.created", 80, "8"),
    ];
    let all = instances(&j, &events, t(200));
    let b = times_by_bucket(&j, &all, t(0), t(70), SignedDuration::from_hours(24));
    assert_eq!(b.len(), 3, "the last bucket is cut at `to`");
    assert_eq!(b[0].start, t(0));
    assert_eq!(b[2].start, t(48));
    assert_eq!(
        b.iter().map(|b| b.entered).collect::<Vec<_>>(),
        vec![2, 0, 1]
    );
    assert_eq!(b[0].median_seconds[1], Some(3_600));
    assert_eq!(b[0].p90_seconds[1], Some(3 * 3_600));
    assert_eq!(b[1].median_seconds, vec![None; 4]);
    assert_eq!(b[2].median_seconds[2], Some(2 * 3_600));
    // Each bucket agrees with the report over that bucket alone.
    for bucket in &b {
        let end = bucket.start + SignedDuration::from_hours(24);
        let r = report(&j, &all, &[], bucket.start, end.min(t(70)), t(200));
        let medians: Vec<Option<i64>> = r
            .steps
            .iter()
            .map(|s| s.median_seconds_from_previous)
            .collect();
        assert_eq!(bucket.median_seconds, medians);
        assert_eq!(bucket.entered, r.entered);
    }
    assert!(times_by_bucket(&j, &all, t(5), t(5), SignedDuration::from_hours(24)).is_empty());
}

#[test]
fn definitions_are_checked() {
    let w = SignedDuration::from_hours(1);
    let bad = |steps: Vec<Step>| {
        Journey::new("j", Per::Ref, w, steps)
            .unwrap_err()
            .to_string()
    };
    assert!(bad(vec![]).contains("at least one step"));
    assert!(bad(vec![step("a", &["x"], true), step("a", &["y"], true)]).contains("used twice"));
    assert!(bad(vec![step("a", &[], true)]).contains("events"));
    let mut tell = step("b", &["y"], true);
    tell.tell_customer_after = Some(w);
    assert!(bad(vec![step("a", &["x"], true), tell.clone()]).contains("tell_customer_after"));
    tell.customer_sees = false;
    assert!(bad(vec![step("a", &["x"], true), tell.clone()]).contains("shorter than"));
    tell.tell_customer_after = Some(SignedDuration::from_mins(59));
    assert!(Journey::new("j", Per::Ref, w, vec![step("a", &["x"], true), tell]).is_ok());
    let zero = Journey::new(
        "j",
        Per::Ref,
        SignedDuration::ZERO,
        vec![step("a", &["x"], true)],
    );
    assert!(zero.unwrap_err().to_string().contains("window"));
    assert_eq!(Per::parse("ref"), Some(Per::Ref));
    assert_eq!(Per::parse("order"), None);
}

fn arb_events() -> impl Strategy<Value = Vec<JourneyEvent>> {
    let kinds = [
        "booking.created",
        "booking.confirmed",
        "room.prepared",
        "visit.arrived",
        "other",
    ];
    prop::collection::vec(
        (0usize..3, prop::option::of(0usize..3), 0usize..5, 0i64..300),
        0..60,
    )
    .prop_map(move |items| {
        items
            .into_iter()
            .map(|(c, r, k, h)| JourneyEvent {
                customer: format!("c{c}"),
                reference: r.map(|r| format!("r{r}")),
                kind: kinds[k].to_string(),
                at: t(h),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn arrival_order_never_changes_a_report(
        events in arb_events(),
        seed in any::<u64>(),
        per_customer in any::<bool>(),
        as_of in 0i64..320,
    ) {
        let j = booking(if per_customer { Per::Customer } else { Per::Ref });
        let mut shuffled = events.clone();
        // A deterministic shuffle from the seed (Fisher–Yates with an LCG).
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let facts: Vec<Fact> = events.iter().filter(|e| e.kind == "other").map(|e| Fact {
            customer: e.customer.clone(),
            reference: e.reference.clone(),
            at: e.at,
            kind: FactKind::Unhappy,
        }).collect();
        let a = instances(&j, &events, t(as_of));
        let b = instances(&j, &shuffled, t(as_of));
        prop_assert_eq!(&a, &b);
        let mut shuffled_facts = facts.clone();
        shuffled_facts.reverse();
        prop_assert_eq!(
            report(&j, &a, &facts, t(0), t(200), t(as_of)),
            report(&j, &b, &shuffled_facts, t(0), t(200), t(as_of))
        );
        prop_assert_eq!(paths(&a, t(0), t(200), 5), paths(&b, t(0), t(200), 5));
        // Every reached step is at or after the previous one and within the window.
        for i in &a {
            let reached: Vec<Timestamp> = i.reached.iter().flatten().copied().collect();
            prop_assert!(reached.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(reached.iter().all(|r| *r <= i.entered() + j.window && *r <= t(as_of)));
        }
    }
}

/// What a store keeps: each key's progress, moved on as events arrive in `order`, replayed from the key's
/// events so far whenever one is not later than all it has seen.
type Kept = Vec<(Key, Vec<Option<Timestamp>>)>;

fn kept(j: &Journey, events: &[JourneyEvent], order: &[usize]) -> (Kept, usize) {
    let stepper = Stepper::new(j);
    let mut by_key: std::collections::BTreeMap<Key, (Progress, Vec<(Timestamp, String)>)> =
        std::collections::BTreeMap::new();
    let mut replays = 0;
    for &n in order {
        let e = &events[n];
        if !stepper.follows(&e.kind) {
            continue;
        }
        let key = match j.per {
            Per::Customer => Key {
                customer: e.customer.clone(),
                reference: None,
            },
            Per::Ref => match &e.reference {
                Some(r) => Key {
                    customer: e.customer.clone(),
                    reference: Some(r.clone()),
                },
                None => continue,
            },
        };
        let (progress, seen) = by_key
            .entry(key)
            .or_insert_with(|| (stepper.start(), Vec::new()));
        seen.push((e.at, e.kind.clone()));
        if !stepper.advance(progress, &e.kind, e.at) {
            replays += 1;
            let all: Vec<(Timestamp, &str)> =
                seen.iter().map(|(at, k)| (*at, k.as_str())).collect();
            *progress = stepper.replay(&all);
        }
    }
    (
        by_key
            .into_iter()
            .map(|(k, (p, _))| (k, p.reached))
            .collect(),
        replays,
    )
}

fn without_paths(mut list: Vec<Instance>) -> Vec<Instance> {
    for i in &mut list {
        i.path.clear();
    }
    list
}

/// The instances of kept progress as of `as_of` (as a store builds them, `Instance::from_progress`), in the
/// order `instances` gives them.
fn from_progress(kept: Kept, as_of: Timestamp) -> Vec<Instance> {
    let mut list: Vec<Instance> = kept
        .into_iter()
        .filter_map(|(key, reached)| Instance::from_progress(key, reached, as_of))
        .collect();
    list.sort_by(|a, b| (a.entered(), &a.key).cmp(&(b.entered(), &b.key)));
    list
}

#[test]
fn kept_progress_moves_on_in_order_and_replays_what_comes_late() {
    let j = booking(Per::Ref);
    let events = vec![
        ev("c", Some("b1"), "booking.created", 1, "e1"),
        ev("c", Some("b1"), "booking.confirmed", 3, "e2"),
        ev("c", Some("b1"), "visit.arrived", 4, "e3"),
        // Late: prepared before the visit, so the visit now counts.
        ev("c", Some("b1"), "room.prepared", 2, "e4"),
        ev("c", Some("b1"), "visit.arrived", 6, "e5"),
    ];
    let (kept_now, replays) = kept(&j, &events, &[0, 1, 2, 3, 4]);
    assert_eq!(replays, 1);
    let expected = without_paths(instances(&j, &events, t(100)));
    assert_eq!(from_progress(kept_now.clone(), t(100)), expected);
    assert_eq!(
        reached_hours(&expected[0]),
        vec![Some(1), Some(3), None, None]
    );
    // As of hour 2 only the entry; before hour 1 nothing.
    let early = from_progress(kept_now.clone(), t(2));
    assert_eq!(reached_hours(&early[0]), vec![Some(1), None, None, None]);
    assert!(from_progress(kept_now, t(0)).is_empty());
}

proptest! {
    #[test]
    fn kept_progress_is_what_the_events_give(
        events in arb_events(),
        seed in any::<u64>(),
        per_customer in any::<bool>(),
        as_of in 0i64..320,
        window in 1i64..400,
    ) {
        let mut j = booking(if per_customer { Per::Customer } else { Per::Ref });
        j.window = SignedDuration::from_hours(window);
        // A type serving two steps in a row, so one event can reach both.
        j.steps[2].events.push("visit.arrived".into());
        let mut order: Vec<usize> = (0..events.len()).collect();
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let expected = without_paths(instances(&j, &events, t(as_of)));
        let (shuffled, _) = kept(&j, &events, &order);
        prop_assert_eq!(from_progress(shuffled, t(as_of)), expected.clone());
        // In time order (the usual arrival), no replay but for events at one instant.
        let mut sorted: Vec<usize> = (0..events.len()).collect();
        sorted.sort_by_key(|&n| events[n].at);
        let (in_order, _) = kept(&j, &events, &sorted);
        prop_assert_eq!(from_progress(in_order, t(as_of)), expected);
    }
}
