//! What Seen tells people: who is invisible and why, and how well promises are kept. Pure functions over
//! obligations and a moment `as_of`.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::obligation::{Obligation, Status};

/// Why a customer is invisible: one breached, unclosed obligation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub policy: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub opened_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub due_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub breach_at: Timestamp,
    /// Since the trigger: how long the customer has been waiting.
    #[serde(serialize_with = "serialize_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub waiting: SignedDuration,
    /// Since the breach.
    #[serde(serialize_with = "serialize_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub overdue: SignedDuration,
    pub nudges: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_nudge_at: Option<Timestamp>,
    /// The event that opened the obligation (with policy and customer, it names the obligation).
    pub trigger_event: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invisible {
    pub customer: String,
    /// The longest wait among the reasons.
    #[serde(serialize_with = "serialize_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub waiting: SignedDuration,
    pub nudges: u32,
    pub reasons: Vec<Reason>,
}

fn serialize_secs<S: serde::Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.as_secs())
}

impl Reason {
    pub fn new(o: &Obligation, as_of: Timestamp) -> Reason {
        Reason {
            policy: o.policy.to_string(),
            reference: o.reference.clone(),
            opened_at: o.opened_at,
            due_at: o.due_at,
            breach_at: o.breach_at,
            waiting: as_of.duration_since(o.opened_at),
            overdue: as_of.duration_since(o.breach_at),
            nudges: o.nudges,
            last_nudge_at: o.last_nudge_at,
            trigger_event: o.trigger_event.clone(),
        }
    }
}

/// Groups the invisible-making obligations by customer, longest wait first (ties: most nudges, then id).
pub fn invisible_customers<'a>(
    obligations: impl IntoIterator<Item = &'a Obligation>,
    as_of: Timestamp,
) -> Vec<Invisible> {
    // Hashed, not ordered: the result is sorted by a total order below anyway.
    let mut by_customer: HashMap<&str, Vec<Reason>> = HashMap::new();
    for o in obligations {
        if o.is_invisible(as_of) {
            by_customer
                .entry(&o.customer)
                .or_default()
                .push(Reason::new(o, as_of));
        }
    }
    let mut out: Vec<Invisible> = by_customer
        .into_iter()
        .map(|(customer, mut reasons)| {
            reasons.sort_by(|a, b| {
                b.waiting
                    .cmp(&a.waiting)
                    .then_with(|| a.policy.cmp(&b.policy))
            });
            Invisible {
                customer: customer.to_string(),
                waiting: reasons.iter().map(|r| r.waiting).max().unwrap_or_default(),
                nudges: reasons.iter().map(|r| r.nudges).sum(),
                reasons,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.waiting
            .cmp(&a.waiting)
            .then_with(|| b.nudges.cmp(&a.nudges))
            .then_with(|| a.customer.cmp(&b.customer))
    });
    out
}

/// Kept-rates and timings per policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicySummary {
    pub policy: String,
    pub open: u64,
    /// Open with the clock stopped, waiting on the customer.
    pub paused: u64,
    pub kept: u64,
    pub kept_late: u64,
    pub cancelled: u64,
    pub breached: u64,
    /// kept / (kept + kept_late + breached); `None` while nothing has been decided.
    pub kept_rate: Option<f64>,
    /// Trigger to keep (clock time), over kept and kept-late obligations, in seconds.
    pub time_to_keep_p50: Option<i64>,
    pub time_to_keep_p90: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct SummaryBuilder {
    policies: BTreeMap<String, (PolicySummary, Vec<i64>)>,
    invisible: std::collections::BTreeSet<String>,
}

impl SummaryBuilder {
    pub fn add(&mut self, o: &Obligation, as_of: Timestamp) {
        if o.opened_at > as_of {
            return;
        }
        let (summary, times) = self
            .policies
            .entry(o.policy.to_string())
            .or_insert_with(|| {
                (
                    PolicySummary {
                        policy: o.policy.to_string(),
                        ..Default::default()
                    },
                    Vec::new(),
                )
            });
        let status = o.status(as_of);
        match status {
            Status::Open => summary.open += 1,
            Status::Paused => summary.paused += 1,
            Status::Kept => summary.kept += 1,
            Status::KeptLate => summary.kept_late += 1,
            Status::Cancelled => summary.cancelled += 1,
            Status::Breached => summary.breached += 1,
        }
        if matches!(status, Status::Kept | Status::KeptLate) {
            if let Some(closed) = o.closed_at {
                times.push(closed.duration_since(o.opened_at).as_secs());
            }
        }
        if o.is_invisible(as_of) && !self.invisible.contains(&o.customer) {
            self.invisible.insert(o.customer.clone());
        }
    }

    /// `order` lists policy names in configuration order; policies without obligations still appear.
    pub fn finish(self, order: &[&str]) -> (Vec<PolicySummary>, u64) {
        let mut policies = self.policies;
        let mut out = Vec::new();
        let take = |name: &str, policies: &mut BTreeMap<String, (PolicySummary, Vec<i64>)>| {
            let (mut summary, mut times) = policies.remove(name).unwrap_or_else(|| {
                (
                    PolicySummary {
                        policy: name.to_string(),
                        ..Default::default()
                    },
                    Vec::new(),
                )
            });
            let decided = summary.kept + summary.kept_late + summary.breached;
            summary.kept_rate = (decided > 0).then(|| summary.kept as f64 / decided as f64);
            times.sort_unstable();
            summary.time_to_keep_p50 = percentile(&times, 50);
            summary.time_to_keep_p90 = percentile(&times, 90);
            summary
        };
        for name in order {
            out.push(take(name, &mut policies));
        }
        // Obligations of policies no longer configured still count, after the configured ones.
        let rest: Vec<String> = policies.keys().cloned().collect();
        for name in rest {
            out.push(take(&name, &mut policies));
        }
        (out, self.invisible.len() as u64)
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obligation::Closure;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ob(
        customer: &str,
        policy: &str,
        opened: &str,
        breach: &str,
        closed: Option<(&str, Closure)>,
    ) -> Obligation {
        Obligation {
            policy: policy.into(),
            customer: customer.into(),
            reference: None,
            opened_at: t(opened),
            due_at: t(breach),
            breach_at: t(breach),
            closed_at: closed.map(|(c, _)| t(c)),
            closure: closed.map(|(_, k)| k),
            closed_by: None,
            trigger_event: "e".into(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: jiff::SignedDuration::ZERO,
        }
    }

    #[test]
    fn percentiles_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
    }

    #[test]
    fn invisible_orders_by_longest_wait() {
        let as_of = t("2026-01-10T00:00:00Z");
        let obligations = [
            ob(
                "a",
                "reply",
                "2026-01-08T00:00:00Z",
                "2026-01-08T01:00:00Z",
                None,
            ),
            ob(
                "b",
                "reply",
                "2026-01-05T00:00:00Z",
                "2026-01-05T01:00:00Z",
                None,
            ),
            ob(
                "c",
                "reply",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:00:00Z",
                Some(("2026-01-02T00:00:00Z", Closure::Kept)),
            ),
            ob(
                "d",
                "reply",
                "2026-01-09T23:00:00Z",
                "2026-01-10T01:00:00Z",
                None,
            ),
        ];
        let invisible = invisible_customers(&obligations, as_of);
        let ids: Vec<&str> = invisible.iter().map(|i| i.customer.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(invisible[0].waiting, SignedDuration::from_hours(5 * 24));
        assert_eq!(
            invisible[0].reasons[0].overdue,
            SignedDuration::from_hours(5 * 24 - 1)
        );
    }

    #[test]
    fn summary_counts_and_rates() {
        let as_of = t("2026-01-10T00:00:00Z");
        let mut builder = SummaryBuilder::default();
        for o in [
            ob(
                "a",
                "reply",
                "2026-01-01T00:00:00Z",
                "2026-01-01T02:00:00Z",
                Some(("2026-01-01T01:00:00Z", Closure::Kept)),
            ),
            ob(
                "b",
                "reply",
                "2026-01-01T00:00:00Z",
                "2026-01-01T02:00:00Z",
                Some(("2026-01-01T03:00:00Z", Closure::Kept)),
            ),
            ob(
                "c",
                "reply",
                "2026-01-01T00:00:00Z",
                "2026-01-01T02:00:00Z",
                None,
            ),
            ob(
                "d",
                "reply",
                "2026-01-09T23:00:00Z",
                "2026-01-10T02:00:00Z",
                None,
            ),
            ob(
                "e",
                "reply",
                "2026-01-11T00:00:00Z",
                "2026-01-11T02:00:00Z",
                None,
            ),
        ] {
            builder.add(&o, as_of);
        }
        let (policies, invisible) = builder.finish(&["reply", "serve-queue"]);
        assert_eq!(invisible, 1);
        let reply = &policies[0];
        assert_eq!(
            (reply.kept, reply.kept_late, reply.breached, reply.open),
            (1, 1, 1, 1)
        );
        assert_eq!(reply.kept_rate, Some(1.0 / 3.0));
        assert_eq!(reply.time_to_keep_p50, Some(3_600));
        assert_eq!(reply.time_to_keep_p90, Some(10_800));
        assert_eq!(
            policies[1].kept_rate, None,
            "an empty policy has no rate, not NaN"
        );
    }
}
