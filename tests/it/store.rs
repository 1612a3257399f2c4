//! Storage behaviour through the public service, on both backends: order independence, duplicates,
//! profiles, time travel, recompute, the scheduler's claims, group commit.

use jiff::Timestamp;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use seen::config::Config;
use seen::demo::DemoOptions;
use seen::domain::event::parse_event_json;
use seen::domain::Event;
use seen::service::{ObligationView, Service};
use seen::store::{Ingested, ObligationFilter};

use crate::common::{open_store, Backend, TestDb};

async fn open(backend: Backend) -> (Service, TestDb) {
    let db = TestDb::new(backend).await;
    let service = open_store(&db.url, &Config::defaults().unwrap()).await;
    (service, db)
}

fn to_event(demo: &Event, now: Timestamp) -> Event {
    seen::demo::validate(demo, now).unwrap()
}

fn demo_events(customers: usize, end: Timestamp) -> Vec<Event> {
    let mut events = Vec::new();
    seen::demo::generate(&DemoOptions::new(7, customers, end), |block| {
        events.extend(block.iter().map(|e| to_event(e, end)));
        Ok::<(), ()>(())
    })
    .unwrap();
    events
}

async fn all_obligations(service: &Service, as_of: Timestamp) -> Vec<ObligationView> {
    let mut out = Vec::new();
    service
        .for_each_obligation(ObligationFilter::default(), None, as_of, |o| {
            out.push(o);
            true
        })
        .await
        .unwrap();
    out.sort_by(|a, b| {
        (&a.customer, &a.policy, &a.trigger_event).cmp(&(&b.customer, &b.policy, &b.trigger_event))
    });
    out
}

async fn shuffled_batches_give_the_same_obligations_as_sorted_history(backend: Backend) {
    let end: Timestamp = "2026-06-30T17:00:00Z".parse().unwrap();
    let mut events = demo_events(150, end);

    events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let (sorted, _sorted_db) = open(backend).await;
    sorted.ingest(events.clone()).await.unwrap();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    events.shuffle(&mut rng);
    let (shuffled, _shuffled_db) = open(backend).await;
    let mut rest = events.as_slice();
    while !rest.is_empty() {
        let n = rng.gen_range(1..=rest.len().min(500));
        shuffled.ingest(rest[..n].to_vec()).await.unwrap();
        rest = &rest[n..];
    }

    for as_of in [
        end,
        "2026-04-01T12:00:00Z".parse().unwrap(),
        "2027-01-01T00:00:00Z".parse().unwrap(),
    ] {
        let a = all_obligations(&sorted, as_of).await;
        let b = all_obligations(&shuffled, as_of).await;
        assert!(
            a.len() > 500,
            "a meaningful history: {} obligations",
            a.len()
        );
        assert_eq!(a, b, "as of {as_of}");
        let invisible_a = sorted.invisible(as_of).await.unwrap();
        let invisible_b = shuffled.invisible(as_of).await.unwrap();
        assert_eq!(
            invisible_a.iter().map(|i| &i.invisible).collect::<Vec<_>>(),
            invisible_b.iter().map(|i| &i.invisible).collect::<Vec<_>>()
        );
    }
}

async fn time_travel_equals_what_was_live_then(backend: Backend) {
    // Import only the events up to T, and ask "now"; then import everything and ask "as of T".
    let end: Timestamp = "2026-06-30T17:00:00Z".parse().unwrap();
    let t: Timestamp = "2026-05-15T12:00:00Z".parse().unwrap();
    let events = demo_events(80, end);
    let (partial, _partial_db) = open(backend).await;
    partial
        .ingest(events.iter().filter(|e| e.at <= t).cloned().collect())
        .await
        .unwrap();
    let (full, _full_db) = open(backend).await;
    full.ingest(events).await.unwrap();
    assert_eq!(
        all_obligations(&partial, t).await,
        all_obligations(&full, t).await
    );
    assert_eq!(
        partial.summary(t).await.unwrap().policies,
        full.summary(t).await.unwrap().policies
    );
}

async fn duplicates_and_profiles(backend: Backend) {
    let (service, _service_db) = open(backend).await;
    let now = Timestamp::now();
    let parse = |json: &str| {
        parse_event_json(json)
            .unwrap()
            .validate(now, &mut || unreachable!())
            .unwrap()
    };
    let newer = parse(
        r#"{"id":"2","type":"app.session","customer":"c","customer_email":"new@x.org","at":"2026-02-01T00:00:00Z"}"#,
    );
    let older = parse(
        r#"{"id":"1","type":"app.session","customer":"c","customer_email":"old@x.org","customer_name":"Cy","at":"2026-01-01T00:00:00Z"}"#,
    );
    assert_eq!(
        service.ingest(vec![newer.clone()]).await.unwrap(),
        [Ingested::Accepted]
    );
    // The older event arrives later: it must not overwrite the newer email, but fills the name.
    assert_eq!(
        service
            .ingest(vec![older.clone(), newer.clone(), older])
            .await
            .unwrap(),
        [Ingested::Accepted, Ingested::Duplicate, Ingested::Duplicate]
    );
    let profile = service.store().customer("c").await.unwrap().unwrap();
    assert_eq!(profile.email.as_deref(), Some("new@x.org"));
    assert_eq!(profile.name.as_deref(), Some("Cy"));
    assert_eq!(profile.events, 2);
    assert_eq!(
        profile.first_seen,
        Some("2026-01-01T00:00:00Z".parse().unwrap())
    );
}

async fn changed_policies_recompute_stored_obligations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let path = db.url.as_str();
    let now = Timestamp::now();
    let event = parse_event_json(
        r#"{"id":"1","type":"message.received","customer":"c","at":"2026-01-05T10:00:00Z"}"#,
    )
    .unwrap()
    .validate(now, &mut || unreachable!())
    .unwrap();
    {
        let config = Config::defaults().unwrap();
        let store = seen::store::open(
            path,
            config.engine.clone(),
            &seen::store::StoreOptions::default(),
        )
        .await
        .unwrap();
        store.ingest(vec![event]).await.unwrap();
    }
    let config = Config::from_toml(
        "[[policies]]\nname='fast-reply'\nkind='expect'\ntrigger=['message.received']\nexpect=['message.sent']\nwithin='5m'",
        "test",
    )
    .unwrap();
    let store = seen::store::open(
        path,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .unwrap();
    let obligations = store.customer_obligations("c").await.unwrap();
    assert_eq!(obligations.len(), 1);
    assert_eq!(&*obligations[0].policy, "fast-reply");
    assert_eq!(
        obligations[0].due_at,
        "2026-01-05T10:05:00Z".parse::<Timestamp>().unwrap()
    );
}

const KINDS: [&str; 11] = [
    "message.received",
    "message.sent",
    "booking.created",
    "booking.confirmed",
    "booking.cancelled",
    "booking.rescheduled",
    "visit.queued",
    "visit.served",
    "ticket.opened",
    "ticket.waiting_on_customer",
    "ticket.resolved",
];

const PRIORITIES: [&str; 3] = ["urgent", "HIGH", "someday"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    /// Any history, delivered in any order and batching, gives the obligations of the sorted replay.
    #[test]
    fn any_arrival_order_gives_the_replay(
        raw in prop::collection::vec((0usize..3, 0usize..KINDS.len(), 0i64..300, prop::option::of(0u8..3)), 1..60),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let base: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
            let now = Timestamp::now();
            let events: Vec<Event> = raw.iter().enumerate().map(|(i, (c, k, minutes, r))| {
                let at = base + jiff::SignedDuration::from_mins(minutes * 20);
                let starts = at + jiff::SignedDuration::from_hours(30 + (i as i64 % 7) * 5);
                let json = serde_json::json!({
                    "id": format!("e{i}"), "type": KINDS[*k], "customer": format!("c{c}"), "at": at.to_string(),
                    "ref": r.map(|r| format!("R{r}")),
                    "properties": {"starts_at": starts.to_string(), "priority": PRIORITIES[i % PRIORITIES.len()]},
                }).to_string();
                parse_event_json(&json).unwrap().validate(now, &mut || unreachable!()).unwrap()
            }).collect();
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let (a, _a_db) = open(backend).await;
                let mut sorted = events.clone();
                sorted.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
                a.ingest(sorted).await.unwrap();
                let (b, _b_db) = open(backend).await;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut shuffled = events.clone();
                shuffled.shuffle(&mut rng);
                for chunk in shuffled.chunks(rng.gen_range(1..=5)) {
                    b.ingest(chunk.to_vec()).await.unwrap();
                }
                let as_of: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
                assert_eq!(all_obligations(&a, as_of).await, all_obligations(&b, as_of).await, "{backend:?}");
            }
        });
    }
}

async fn latest_event_time_survives_reopening(backend: Backend) {
    let db = TestDb::new(backend).await;
    let path = db.url.as_str();
    let config = Config::defaults().unwrap();
    let now = Timestamp::now();
    let parse = |json: &str| {
        parse_event_json(json)
            .unwrap()
            .validate(now, &mut || unreachable!())
            .unwrap()
    };
    {
        let store = seen::store::open(
            path,
            config.engine.clone(),
            &seen::store::StoreOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(store.latest_event_at().await.unwrap(), None);
        store
            .ingest(vec![
                parse(r#"{"id":"a","type":"message.received","customer":"c","at":"2026-01-05T10:00:00Z"}"#),
                parse(r#"{"id":"b","type":"message.sent","customer":"c","at":"2026-01-09T10:00:00Z"}"#),
            ])
            .await
            .unwrap();
        // An older event later does not move it back.
        store
            .ingest(vec![parse(
                r#"{"id":"c","type":"app.session","customer":"d","at":"2026-01-01T10:00:00Z"}"#,
            )])
            .await
            .unwrap();
    }
    let store = seen::store::open(
        path,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        store.latest_event_at().await.unwrap(),
        Some("2026-01-09T10:00:00Z".parse().unwrap())
    );
    // So a moment before it is replayed: the reply was not sent yet, the customer was invisible.
    let service = Service::new(store, config.engine.clone());
    let invisible = service
        .invisible("2026-01-08T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(invisible.len(), 1);
    assert!(service
        .invisible("2026-01-10T00:00:00Z".parse().unwrap())
        .await
        .unwrap()
        .is_empty());
}

async fn the_scheduler_notices_each_breach_once_and_knows_the_next(backend: Backend) {
    let (service, _service_db) = open(backend).await;
    let now = Timestamp::now();
    let at = |minutes_ago: i64| (now - jiff::SignedDuration::from_mins(minutes_ago)).to_string();
    let parse = |json: String| {
        parse_event_json(&json)
            .unwrap()
            .validate(now, &mut || unreachable!())
            .unwrap()
    };
    service
        .ingest(vec![
            // Queued 20 minutes ago, due 5 minutes ago: breached.
            parse(format!(
                r#"{{"id":"1","type":"visit.queued","customer":"a","ref":"V1","at":"{}"}}"#,
                at(20)
            )),
            // Queued 5 minutes ago, due in 10 minutes.
            parse(format!(
                r#"{{"id":"2","type":"visit.queued","customer":"b","ref":"V2","at":"{}"}}"#,
                at(5)
            )),
        ])
        .await
        .unwrap();
    let store = service.store().as_ref();
    let next = seen::jobs::scheduler::tick(store).await.unwrap();
    let expected: Timestamp = (now - jiff::SignedDuration::from_mins(5)
        + jiff::SignedDuration::from_mins(15))
    .round(jiff::Unit::Second)
    .unwrap();
    assert_eq!(
        next.map(|t| t.round(jiff::Unit::Second).unwrap()),
        Some(expected)
    );
    // The breach was noticed by that tick; a second tick notices nothing new.
    assert!(store
        .notice_breaches(Timestamp::now())
        .await
        .unwrap()
        .is_empty());
    let later = Timestamp::now() + jiff::SignedDuration::from_mins(11);
    let noticed = store.notice_breaches(later).await.unwrap();
    assert_eq!(noticed.len(), 1);
    assert_eq!(noticed[0].customer, "b");
    assert_eq!(store.next_unnoticed_breach().await.unwrap(), None);
}

async fn concurrent_ingests_share_transactions_and_each_gets_its_own_answer(backend: Backend) {
    let (service, _service_db) = open(backend).await;
    let now = Timestamp::now();
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for batch in 0..25 {
                // Every writer also repeats one shared id: exactly one of them may get it accepted.
                let mut jsons: Vec<String> = (0..40)
                    .map(|i| format!(r#"{{"id":"w{writer}-{batch}-{i}","type":"message.received","customer":"c{i}","at":"2026-01-05T10:00:00Z"}}"#))
                    .collect();
                jsons.push(format!(r#"{{"id":"shared-{batch}","type":"app.session","customer":"s","at":"2026-01-05T10:00:00Z"}}"#));
                let events = jsons
                    .iter()
                    .map(|j| parse_event_json(j).unwrap().validate(now, &mut || unreachable!()).unwrap())
                    .collect();
                answers.push(service.ingest(events).await.unwrap());
            }
            answers
        }));
    }
    let mut shared_accepted = 0;
    for task in tasks {
        for answer in task.await.unwrap() {
            assert_eq!(answer.len(), 41, "each caller gets exactly its own results");
            assert!(answer[..40].iter().all(|r| *r == Ingested::Accepted));
            if answer[40] == Ingested::Accepted {
                shared_accepted += 1;
            }
        }
    }
    assert_eq!(
        shared_accepted, 25,
        "one acceptance per shared id, whoever came first"
    );
    assert_eq!(
        service.store().counts().await.unwrap().events,
        8 * 25 * 40 + 25
    );
}

/// An id already stored for one customer, sent again for another (in a later batch or in the same one),
/// stores nothing and creates no customer; the owner's profile and counts are untouched.
async fn a_repeated_id_for_another_customer_creates_nothing(backend: Backend) {
    let (service, _db) = open(backend).await;
    let now = Timestamp::now();
    let parse = |json: &str| {
        parse_event_json(json)
            .unwrap()
            .validate(now, &mut || unreachable!())
            .unwrap()
    };
    let first = parse(
        r#"{"id":"e1","type":"message.received","customer":"a","at":"2026-01-05T10:00:00Z"}"#,
    );
    let stolen = parse(
        r#"{"id":"e1","type":"message.received","customer":"b","customer_name":"Bo","at":"2026-01-01T10:00:00Z"}"#,
    );
    assert_eq!(
        service.ingest(vec![first.clone()]).await.unwrap(),
        [Ingested::Accepted]
    );
    assert_eq!(
        service.ingest(vec![stolen.clone()]).await.unwrap(),
        [Ingested::Conflict]
    );
    assert_eq!(
        service.ingest(vec![first.clone()]).await.unwrap(),
        [Ingested::Duplicate]
    );
    assert_eq!(service.store().customer("b").await.unwrap(), None);

    // Within one batch: the same new id for two new customers; one wins, the other is a conflict and
    // its customer is not created. A new customer with one accepted and one conflicting event exists,
    // first/last seen from the accepted event only.
    let x = parse(
        r#"{"id":"e2","type":"message.received","customer":"x","at":"2026-01-06T10:00:00Z"}"#,
    );
    let y = parse(
        r#"{"id":"e2","type":"message.received","customer":"y","at":"2026-01-06T10:00:00Z"}"#,
    );
    let z_old = parse(
        r#"{"id":"e1","type":"message.received","customer":"z","at":"2026-01-01T10:00:00Z"}"#,
    );
    let z_new = parse(
        r#"{"id":"e3","type":"message.received","customer":"z","at":"2026-01-07T10:00:00Z"}"#,
    );
    let answer = service.ingest(vec![x, y, z_old, z_new]).await.unwrap();
    assert_eq!(
        answer,
        [
            Ingested::Accepted,
            Ingested::Conflict,
            Ingested::Conflict,
            Ingested::Accepted
        ]
    );
    assert_eq!(service.store().customer("y").await.unwrap(), None);
    let z = service.store().customer("z").await.unwrap().unwrap();
    assert_eq!(z.events, 1);
    let seen: Timestamp = "2026-01-07T10:00:00Z".parse().unwrap();
    assert_eq!((z.first_seen, z.last_seen), (Some(seen), Some(seen)));
    let a = service.store().customer("a").await.unwrap().unwrap();
    assert_eq!((a.events, a.name), (1, None));
    let counts = service.store().counts().await.unwrap();
    assert_eq!((counts.customers, counts.events), (3, 3));
}

on_both_backends!(
    a_repeated_id_for_another_customer_creates_nothing,
    shuffled_batches_give_the_same_obligations_as_sorted_history,
    time_travel_equals_what_was_live_then,
    duplicates_and_profiles,
    changed_policies_recompute_stored_obligations,
    latest_event_time_survives_reopening,
    the_scheduler_notices_each_breach_once_and_knows_the_next,
    concurrent_ingests_share_transactions_and_each_gets_its_own_answer,
);
