//! The scheduler sleeps until the next breach time of an unclosed obligation, or until ingestion wakes it
//! (a new event may bring an earlier deadline). No polling interval: lateness is bounded by the work.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::domain::span::format_span;
use crate::domain::Obligation;
use crate::store::Store;

/// Longest single sleep: bounds the damage of a clock jump; not a polling period.
const MAX_SLEEP: Duration = Duration::from_secs(3_600);
/// After a database error, wait before trying again.
const RETRY: Duration = Duration::from_secs(1);

pub async fn run(store: Arc<dyn Store>, wake: Arc<Notify>, shutdown: Arc<Notify>) {
    loop {
        let started = std::time::Instant::now();
        let sleep = match tick(store.as_ref()).await {
            Ok(Some(next)) => Timestamp::now()
                .until(next)
                .ok()
                .and_then(|span| Duration::try_from(span).ok())
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(err) => {
                tracing::warn!(error = %err, "scheduler: database error; retrying");
                RETRY
            }
        };
        crate::metrics::job_ran("scheduler", started);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
            _ = shutdown.notified() => return,
        }
    }
}

/// Notices every breach that is due, and returns when the next one falls due.
pub async fn tick(store: &dyn Store) -> Result<Option<Timestamp>, crate::store::StoreError> {
    let now = Timestamp::now();
    let noticed = store.notice_breaches(now).await?;
    for line in breach_lines(&noticed) {
        match line {
            BreachLine::One(o) => tracing::warn!(
                customer = %o.customer,
                policy = %o.policy,
                reference = o.reference.as_deref().unwrap_or("-"),
                due_at = %o.due_at,
                nudges = o.nudges,
                late = %format_span(now.duration_since(o.breach_at)),
                "promise broken: customer is now invisible"
            ),
            BreachLine::Summary(s) => tracing::warn!(
                policy = %s.policy,
                broken = s.broken,
                customers = s.customers,
                oldest_breach = %s.oldest,
                newest_breach = %s.newest,
                examples = %s.examples.join(", "),
                "promises broken: {} of policy {} ({} customers now invisible; one line for all, see /v1/invisible)",
                s.broken,
                s.policy,
                s.customers
            ),
        }
    }
    // Deadlines a hair in the future are handled on the next turn; the sleep is then ~0.
    store.next_unnoticed_breach().await
}

/// Up to this many breaches of one policy noticed in one pass are logged one line each (live breaches come
/// one or a few at a time); more — a backfill of old history, or a server that was down — get one summary
/// line per policy, so that an import of 200 000 events does not write 95 000 lines.
pub const SINGLE_LINES_PER_POLICY: usize = 5;
/// Customers named in a summary line.
const EXAMPLES: usize = 3;

/// Many breaches of one policy, noticed in one pass.
#[derive(Debug, PartialEq)]
pub struct BreachSummary<'a> {
    pub policy: &'a str,
    pub broken: usize,
    pub customers: usize,
    pub oldest: Timestamp,
    pub newest: Timestamp,
    /// The customers of the oldest breaches.
    pub examples: Vec<&'a str>,
}

#[derive(Debug, PartialEq)]
pub enum BreachLine<'a> {
    One(&'a Obligation),
    Summary(BreachSummary<'a>),
}

/// The log lines for the breaches noticed in one pass: one per breach, or one per policy with many.
pub fn breach_lines(noticed: &[Obligation]) -> Vec<BreachLine<'_>> {
    let mut by_policy: BTreeMap<&str, Vec<&Obligation>> = BTreeMap::new();
    for o in noticed {
        by_policy.entry(&*o.policy).or_default().push(o);
    }
    let mut lines = Vec::new();
    for (policy, mut list) in by_policy {
        if list.len() <= SINGLE_LINES_PER_POLICY {
            lines.extend(list.into_iter().map(BreachLine::One));
            continue;
        }
        list.sort_by_key(|o| (o.breach_at, o.customer.as_str()));
        let customers: BTreeSet<&str> = list.iter().map(|o| o.customer.as_str()).collect();
        let mut examples: Vec<&str> = Vec::new();
        for o in &list {
            if examples.len() == EXAMPLES {
                break;
            }
            if !examples.contains(&o.customer.as_str()) {
                examples.push(o.customer.as_str());
            }
        }
        lines.push(BreachLine::Summary(BreachSummary {
            policy,
            broken: list.len(),
            customers: customers.len(),
            oldest: list[0].breach_at,
            newest: list[list.len() - 1].breach_at,
            examples,
        }));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breach(policy: &str, customer: &str, minute: i64) -> Obligation {
        let at = Timestamp::from_second(1_700_000_000 + minute * 60).unwrap();
        Obligation {
            policy: policy.into(),
            customer: customer.into(),
            reference: None,
            opened_at: at,
            due_at: at,
            breach_at: at,
            closed_at: None,
            closure: None,
            closed_by: None,
            trigger_event: format!("{customer}-{minute}"),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: jiff::SignedDuration::ZERO,
        }
    }

    #[test]
    fn a_few_breaches_get_a_line_each_and_a_backfill_one_line_per_policy() {
        let mut noticed = vec![breach("reply", "ann", 5), breach("reply", "bob", 1)];
        // A backfill: 1 000 breaches of one policy (two of them the same customer's).
        noticed.extend((0..1_000).map(|i| breach("callback", &format!("c{}", i % 999), 1_000 - i)));
        let lines = breach_lines(&noticed);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let BreachLine::Summary(summary) = &lines[0] else {
            panic!("{:?}", lines[0]);
        };
        assert_eq!(summary.policy, "callback");
        assert_eq!((summary.broken, summary.customers), (1_000, 999));
        assert_eq!(summary.oldest, noticed[1_001].breach_at);
        assert_eq!(summary.newest, noticed[2].breach_at);
        assert_eq!(summary.examples, ["c0", "c998", "c997"]);
        assert_eq!(lines[1], BreachLine::One(&noticed[0]));
        assert_eq!(lines[2], BreachLine::One(&noticed[1]));
        // Exactly the limit is still one line each.
        let few: Vec<Obligation> = (0..SINGLE_LINES_PER_POLICY as i64)
            .map(|i| breach("reply", "ann", i))
            .collect();
        assert_eq!(breach_lines(&few).len(), SINGLE_LINES_PER_POLICY);
    }
}
