//! The work queue: invisible customers' broken promises, longest wait first, each with the work done on
//! it (acknowledged, assigned, notes), filtered by policy, team and channel and cut to one page. What
//! someone acknowledged leaves the queue unless the filter asks for it. The dashboard renders it.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use super::Service;
use crate::config::actions::Directory;
use crate::domain::report::Invisible;
use crate::domain::Event;
use crate::store::{CustomerRecord, StoreError, WorkEntry};

/// Which rows the queue shows (empty texts count as no filter).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub policy: Option<String>,
    pub team: Option<String>,
    pub channel: Option<String>,
    /// Also the obligations someone acknowledged (managers' review).
    pub acknowledged: bool,
}

impl QueueFilter {
    fn policy(&self) -> Option<&str> {
        chosen(&self.policy)
    }
    fn team(&self) -> Option<&str> {
        chosen(&self.team)
    }
    fn channel(&self) -> Option<&str> {
        chosen(&self.channel)
    }
    /// Channel and team come from the trigger event: the filter needs every reason's trigger.
    fn needs_triggers(&self) -> bool {
        self.team().is_some() || self.channel().is_some()
    }
}

fn chosen(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// One broken promise of an invisible customer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub customer: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub policy: String,
    pub reference: Option<String>,
    pub trigger_event: String,
    pub channel: Option<String>,
    pub team: Option<String>,
    pub due_at: Timestamp,
    pub waiting: SignedDuration,
    pub nudges: u32,
    /// A manager was already alerted about it.
    pub escalated: bool,
    /// The customer told us nobody got back to them (its policy is opened by `customer.feels_ignored`):
    /// listed before every other row.
    pub urgent: bool,
    pub acknowledged: bool,
    /// The latest assignee, if any.
    pub assignee: Option<String>,
    /// The work recorded on it, oldest first.
    pub work: Vec<WorkEntry>,
}

/// One page of the queue and what its filters offer.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    /// At most the page size, longest wait first.
    pub rows: Vec<QueueRow>,
    /// Invisible customers, whatever the filter.
    pub total: usize,
    /// Rows left out because someone acknowledged them.
    pub hidden: usize,
    /// Rows the filter matches (more than `rows.len()` when the page is full).
    pub matching: usize,
    /// Every policy with a broken promise, sorted.
    pub policies: Vec<String>,
    /// The channels of the triggers read for the filter, sorted.
    pub channels: Vec<String>,
}

type ObligationKey<'a> = (&'a str, &'a str, &'a str);

impl Service {
    /// One page (`page` rows at most) of the queue over `invisible` (who is invisible now and why, which
    /// the dashboard caches), with teams from `directory`. Reads the work log of every invisible
    /// customer, trigger events only as the filter needs them, and profiles and sent escalations only
    /// for the rows shown.
    pub async fn queue(
        &self,
        invisible: &[Invisible],
        filter: &QueueFilter,
        directory: &Directory,
        page: usize,
    ) -> Result<Queue, StoreError> {
        let customers: Vec<String> = invisible.iter().map(|i| i.customer.clone()).collect();
        let work = self.store.work_for(customers).await?;
        let mut triggers = HashMap::new();
        if filter.needs_triggers() {
            let ids = invisible
                .iter()
                .flat_map(|v| v.reasons.iter().map(|r| r.trigger_event.clone()))
                .collect();
            triggers = self.events_by_id(ids).await?;
        }
        // Customers who told us nobody got back to them come first, then the longest wait.
        let urgent: HashSet<&str> = self
            .engine
            .policies()
            .iter()
            .filter(|p| p.trigger.iter().any(|t| t == super::status::FEELS_IGNORED))
            .map(|p| &*p.name)
            .collect();
        // A stable partition, one look at each customer (a sort would hash their reasons at every comparison).
        let (mut order, rest): (Vec<&Invisible>, Vec<&Invisible>) = invisible
            .iter()
            .partition(|v| v.reasons.iter().any(|r| urgent.contains(r.policy.as_str())));
        order.extend(rest);
        let mut queue = select(&order, filter, directory, &work, &triggers, page, &urgent);
        if !filter.needs_triggers() {
            let ids = queue.rows.iter().map(|r| r.trigger_event.clone()).collect();
            triggers = self.events_by_id(ids).await?;
        }
        self.complete(&mut queue.rows, directory, &triggers).await?;
        Ok(queue)
    }

    async fn events_by_id(&self, ids: Vec<String>) -> Result<HashMap<String, Event>, StoreError> {
        Ok(self
            .store
            .events_by_ids(ids)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect())
    }

    /// The rows' channel and team (from their triggers), profile and escalation flag.
    async fn complete(
        &self,
        rows: &mut [QueueRow],
        directory: &Directory,
        triggers: &HashMap<String, Event>,
    ) -> Result<(), StoreError> {
        let mut shown: Vec<String> = rows.iter().map(|r| r.customer.clone()).collect();
        shown.sort();
        shown.dedup();
        let profiles: HashMap<String, CustomerRecord> = self
            .store
            .customers(shown.clone())
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let escalated: HashSet<(String, String, String)> = self
            .store
            .escalations_sent(shown)
            .await?
            .into_iter()
            .collect();
        for row in rows {
            let trigger = triggers.get(&row.trigger_event);
            row.channel = trigger.and_then(|t| t.channel.clone());
            row.team = directory.team_for(&row.policy, trigger).map(str::to_string);
            row.escalated = escalated.contains(&(
                row.customer.clone(),
                row.policy.clone(),
                row.trigger_event.clone(),
            ));
            if let Some(profile) = profiles.get(&row.customer) {
                row.name = profile.name.clone();
                row.email = profile.email.clone();
            }
        }
        Ok(())
    }
}

/// The rows `filter` keeps, in the order of `invisible`, and the counts and choices around them. Channel
/// and team are filled for the rows shown afterwards (`Service::complete`).
fn select(
    invisible: &[&Invisible],
    filter: &QueueFilter,
    directory: &Directory,
    work: &[WorkEntry],
    triggers: &HashMap<String, Event>,
    page: usize,
    urgent: &HashSet<&str>,
) -> Queue {
    let mut by_obligation: HashMap<ObligationKey, Vec<&WorkEntry>> = HashMap::new();
    for w in work {
        by_obligation
            .entry((&w.customer, &w.policy, &w.trigger_event))
            .or_default()
            .push(w);
    }
    let mut queue = Queue::default();
    for view in invisible {
        queue.total += 1;
        for reason in &view.reasons {
            if !queue.policies.contains(&reason.policy) {
                queue.policies.push(reason.policy.clone());
            }
            if filter.policy().is_some_and(|p| p != reason.policy) {
                continue;
            }
            let trigger = triggers.get(&reason.trigger_event);
            if let Some(c) = trigger.and_then(|t| t.channel.clone()) {
                if !queue.channels.contains(&c) {
                    queue.channels.push(c);
                }
            }
            if filter.needs_triggers() {
                let channel = trigger.and_then(|t| t.channel.as_deref());
                let team = directory.team_for(&reason.policy, trigger);
                if filter.channel().is_some_and(|c| Some(c) != channel)
                    || filter.team().is_some_and(|t| Some(t) != team)
                {
                    continue;
                }
            }
            let key = (
                view.customer.as_str(),
                reason.policy.as_str(),
                reason.trigger_event.as_str(),
            );
            let entries = by_obligation.get(&key).cloned().unwrap_or_default();
            let acknowledged = entries.iter().any(|w| w.kind == "acknowledged");
            if acknowledged && !filter.acknowledged {
                queue.hidden += 1;
                continue;
            }
            queue.matching += 1;
            if queue.rows.len() < page {
                queue.rows.push(QueueRow {
                    customer: view.customer.clone(),
                    name: None,
                    email: None,
                    policy: reason.policy.clone(),
                    reference: reason.reference.clone(),
                    trigger_event: reason.trigger_event.clone(),
                    channel: trigger.and_then(|t| t.channel.clone()),
                    team: None,
                    due_at: reason.due_at,
                    waiting: reason.waiting,
                    nudges: reason.nudges,
                    escalated: false,
                    urgent: urgent.contains(reason.policy.as_str()),
                    acknowledged,
                    assignee: entries.iter().rev().find_map(|w| w.assignee.clone()),
                    work: entries.into_iter().cloned().collect(),
                });
            }
        }
    }
    queue.policies.sort();
    queue.channels.sort();
    queue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::Reason;

    fn reason(policy: &str, trigger: &str, waiting_mins: i64) -> Reason {
        let at: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        Reason {
            policy: policy.into(),
            reference: None,
            opened_at: at,
            due_at: at,
            breach_at: at,
            waiting: SignedDuration::from_mins(waiting_mins),
            overdue: SignedDuration::ZERO,
            nudges: 0,
            last_nudge_at: None,
            trigger_event: trigger.into(),
        }
    }

    fn invisible(customer: &str, reasons: Vec<Reason>) -> Invisible {
        Invisible {
            customer: customer.into(),
            waiting: reasons.iter().map(|r| r.waiting).max().unwrap(),
            nudges: 0,
            reasons,
        }
    }

    fn work(customer: &str, policy: &str, trigger: &str, kind: &str) -> WorkEntry {
        WorkEntry {
            customer: customer.into(),
            policy: policy.into(),
            trigger_event: trigger.into(),
            kind: kind.into(),
            by: "agent@x.org".into(),
            assignee: (kind == "assigned").then(|| "agent@x.org".into()),
            note: None,
            at: "2026-03-02T10:00:00Z".parse().unwrap(),
        }
    }

    fn queue_of(filter: &QueueFilter, work_log: &[WorkEntry], page: usize) -> Queue {
        let list = [
            invisible(
                "a",
                vec![reason("reply", "e1", 90), reason("callback", "e2", 30)],
            ),
            invisible("b", vec![reason("reply", "e3", 60)]),
        ];
        select(
            &list.iter().collect::<Vec<_>>(),
            filter,
            &Directory::default(),
            work_log,
            &HashMap::new(),
            page,
            &HashSet::new(),
        )
    }

    fn rows(queue: &Queue) -> Vec<(&str, &str)> {
        queue
            .rows
            .iter()
            .map(|r| (r.customer.as_str(), r.trigger_event.as_str()))
            .collect()
    }

    #[test]
    fn acknowledged_promises_leave_the_queue_unless_asked_for() {
        let log = [
            work("a", "reply", "e1", "acknowledged"),
            work("b", "reply", "e3", "assigned"),
        ];
        let open = queue_of(&QueueFilter::default(), &log, 10);
        assert_eq!(rows(&open), [("a", "e2"), ("b", "e3")]);
        assert_eq!((open.total, open.hidden, open.matching), (2, 1, 2));
        assert_eq!(open.rows[1].assignee.as_deref(), Some("agent@x.org"));
        assert_eq!(open.rows[1].work.len(), 1);
        let all = queue_of(
            &QueueFilter {
                acknowledged: true,
                ..QueueFilter::default()
            },
            &log,
            10,
        );
        assert_eq!(rows(&all), [("a", "e1"), ("a", "e2"), ("b", "e3")]);
        assert!(all.rows[0].acknowledged);
        assert_eq!(all.hidden, 0);
    }

    #[test]
    fn a_policy_filter_keeps_every_policy_on_offer_and_pages_cut_rows_not_counts() {
        let filter = QueueFilter {
            policy: Some("reply".into()),
            ..QueueFilter::default()
        };
        let queue = queue_of(&filter, &[], 1);
        assert_eq!(rows(&queue), [("a", "e1")]);
        assert_eq!(queue.matching, 2, "the second match is counted, not shown");
        assert_eq!(queue.policies, ["callback", "reply"]);
        let empty = QueueFilter {
            policy: Some(String::new()),
            ..QueueFilter::default()
        };
        assert_eq!(
            queue_of(&empty, &[], 10).matching,
            3,
            "empty means no filter"
        );
    }
}
