//! `seen demo --serve`'s front desk, live: a few visitors check in at once, then every few seconds someone
//! new may arrive and the staff on the three counters call, serve and finish (the generated history's mix of
//! visit types and service times, five times faster than at a real desk, so a minute on the board shows it
//! moving). Every step goes through the same service calls the kiosk and the board make, so the board, the
//! display and the visitors' pages update as they would for real. Turned off with `--no-live-desk`.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use rand::{Rng, SeedableRng};

use super::front_desk::{VISIT_MIX, VISIT_TYPES};
use crate::domain::visit::State;
use crate::service::visits::{Action, CheckIn};
use crate::service::Service;

const NAMES: [&str; 16] = [
    "Ana", "Bruno", "Carla", "Dinis", "Eva", "Filipe", "Gabriela", "Hugo", "Inês", "João",
    "Leonor", "Miguel", "Nuno", "Olga", "Pedro", "Rita",
];
/// Time at the live desk runs this many times faster than in the generated history.
const PACE: i64 = 5;
const COUNTERS: [(&str, &str); 3] = [
    ("desk-1", "priya@demo.example"),
    ("desk-2", "tom@demo.example"),
    ("desk-3", "aisha@demo.example"),
];
const TICK: Duration = Duration::from_secs(4);

/// A visit type as the generated history mixes them, with its service time at the live desk's pace.
fn pick_type(rng: &mut impl Rng) -> (&'static str, u64) {
    let total: u32 = VISIT_MIX.iter().map(|(_, w)| w).sum();
    let mut n = rng.gen_range(0..total);
    let mut chosen = &VISIT_TYPES[0];
    for (t, weight) in VISIT_MIX {
        if n < weight {
            chosen = &VISIT_TYPES[t];
            break;
        }
        n -= weight;
    }
    (chosen.name, (chosen.service / PACE).unsigned_abs())
}

/// Runs until the process ends; errors are logged and the desk carries on.
pub async fn run(service: Service) {
    let desk = service.desk().visits.clone();
    let Some(location) = desk.locations.first().map(|l| l.name.clone()) else {
        return;
    };
    if !desk.is_on()
        || !COUNTERS
            .iter()
            .all(|(c, _)| desk.counters_for(&location, "collection").contains(c))
    {
        return; // not the built-in desk: nothing to play
    }
    let mut rng = rand::rngs::StdRng::from_entropy();
    // When each visit being served will finish, and how long it takes.
    let mut finishing: HashMap<String, Timestamp> = HashMap::new();
    let mut service_of: HashMap<String, u64> = HashMap::new();
    for _ in 0..7 {
        arrive(&service, &location, &mut rng, &mut service_of).await;
    }
    loop {
        tokio::time::sleep(TICK).await;
        let now = Timestamp::now();
        let visits = match service.current_visits(now).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "demo desk");
                continue;
            }
        };
        let waiting = visits.iter().filter(|v| v.state == State::Waiting).count();
        if waiting < 12 && rng.gen_bool(0.45) {
            arrive(&service, &location, &mut rng, &mut service_of).await;
        }
        for (counter, by) in COUNTERS {
            let here = visits.iter().find(|v| {
                v.state.is_open()
                    && v.state != State::Waiting
                    && v.counter.as_deref() == Some(counter)
            });
            let step = match here {
                None if rng.gen_bool(0.5) => service
                    .call_next(&location, counter, by, now)
                    .await
                    .map(|_| ()),
                None => Ok(()),
                Some(v) if v.state == State::Called => {
                    let called = v.called_at.unwrap_or(now);
                    if now.duration_since(called).as_secs() < 8 {
                        continue;
                    }
                    let action = if rng.gen_bool(0.04) {
                        Action::NoShow
                    } else {
                        Action::Serve
                    };
                    if action == Action::Serve {
                        let secs = service_of.get(&v.reference).copied().unwrap_or(60);
                        let secs = (secs as f64 * rng.gen_range(0.6..1.6)) as i64;
                        finishing.insert(
                            v.reference.clone(),
                            now + jiff::SignedDuration::from_secs(secs),
                        );
                    }
                    service
                        .visit_action(&v.reference, action, by, Some(counter), None, now)
                        .await
                        .map(|_| ())
                }
                Some(v) if v.state == State::Serving => {
                    let due = finishing.get(&v.reference).copied().unwrap_or(now);
                    if due > now {
                        continue;
                    }
                    finishing.remove(&v.reference);
                    service_of.remove(&v.reference);
                    service
                        .visit_action(&v.reference, Action::Finish, by, Some(counter), None, now)
                        .await
                        .map(|_| ())
                }
                Some(_) => Ok(()),
            };
            if let Err(e) = step {
                tracing::debug!(error = %e, counter, "demo desk");
            }
        }
    }
}

async fn arrive(
    service: &Service,
    location: &str,
    rng: &mut impl Rng,
    service_of: &mut HashMap<String, u64>,
) {
    let (visit_type, secs) = pick_type(rng);
    let name = NAMES[rng.gen_range(0..NAMES.len())];
    let check_in = CheckIn {
        location: location.to_string(),
        visit_type: visit_type.to_string(),
        first_name: name.to_string(),
        ..CheckIn::default()
    };
    match service.check_in(check_in, Timestamp::now()).await {
        Ok(visit) => {
            service_of.insert(visit.reference, secs);
        }
        Err(e) => tracing::warn!(error = %e, "demo desk: check-in"),
    }
}
