//! Actions: what Seen does by itself when a promise needs it (confirm, remind, warn, alert, escalate).
//! Pure rules: when each action of an obligation falls due, whether it should still fire, quiet hours;
//! [`gate`] decides whether a due message goes now, waits or does not go. Sending, templates and the
//! outbox live in `jobs` and `channels`.

pub mod gate;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;

use super::calendar::Calendar;
use super::obligation::{Closure, Obligation};

/// The moment in an obligation's life an action is tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// When the obligation opens (send the booking confirmation now).
    Open,
    /// At the obligation's due time (a schedule's `at`: the reminder 24 h before the booking).
    Due,
    /// A span before the breach, if still open (tell the assignee).
    Warn,
    /// At the breach, if still open (alert staff; optionally apologise).
    Breach,
    /// A span after the breach if still not closed, repeated up to a cap (tell a manager).
    Escalate,
}

impl ActionKind {
    pub const ALL: [ActionKind; 5] = [
        ActionKind::Open,
        ActionKind::Due,
        ActionKind::Warn,
        ActionKind::Breach,
        ActionKind::Escalate,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Open => "open",
            ActionKind::Due => "due",
            ActionKind::Warn => "warn",
            ActionKind::Breach => "breach",
            ActionKind::Escalate => "escalate",
        }
    }
    pub fn parse(text: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Who receives an action's message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// The customer of the obligation (their email, or a webhook channel).
    Customer,
    /// The team the obligation is routed to (every member).
    Assignee,
    /// The managers of that team.
    Manager,
    /// A named team or person from the configuration.
    Named(String),
}

impl Recipient {
    pub fn parse(text: &str) -> Recipient {
        match text {
            "customer" => Recipient::Customer,
            "assignee" => Recipient::Assignee,
            "manager" => Recipient::Manager,
            other => Recipient::Named(other.to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Customer => "customer",
            Recipient::Assignee => "assignee",
            Recipient::Manager => "manager",
            Recipient::Named(name) => name,
        }
    }
}

/// How a message travels. The outbox stores [`Channel::as_str`] ("email", "webhook"): those words are
/// part of every stored idempotency key and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// To an email address (the customer's address on file, or a staff member's).
    Email,
    /// To a named webhook or a URL (e.g. Slack, or an SMS gateway for customers).
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Webhook];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated action of a policy.
#[derive(Debug, Clone)]
pub struct Action {
    pub kind: ActionKind,
    /// Warn: how long before the breach. Escalate: how long after the breach the first escalation goes.
    pub offset: SignedDuration,
    /// Escalate: the span between repeats, and how many escalations in all (at least 1).
    pub repeat: SignedDuration,
    pub max: u32,
    pub template: String,
    pub to: Recipient,
    /// `None`: email. `Some(name)`: the named webhook (for the customer: e.g. an SMS gateway).
    pub webhook: Option<String>,
    /// Goes even to customers who unsubscribed, and does not count against the daily cap.
    pub transactional: bool,
    /// Sent at once even in the customer's quiet hours.
    pub urgent: bool,
    /// The event type Seen records once a customer message is sent (it keeps the obligation).
    pub records: Option<String>,
    /// A survey to ask (the message carries one signed answer link per score).
    pub survey: Option<String>,
    /// Surveys: one reminder this long after, if still unanswered.
    pub remind_after: Option<SignedDuration>,
}

impl Action {
    /// The times this action falls due for an obligation: (step, due). Only escalations have several steps.
    pub fn due_times(&self, o: &Obligation) -> Vec<(u32, Timestamp)> {
        let add = |t: Timestamp, d: SignedDuration| t.saturating_add(d).unwrap_or(Timestamp::MAX);
        let mut times = self.first_due_times(o);
        // A survey's reminder is step 1, checked when due: sent only if the survey went and is unanswered.
        if let (Some(remind), Some(&(0, first))) = (self.remind_after, times.first()) {
            if self.survey.is_some() {
                times.push((1, add(first, remind)));
            }
        }
        times
    }

    fn first_due_times(&self, o: &Obligation) -> Vec<(u32, Timestamp)> {
        let add = |t: Timestamp, d: SignedDuration| t.saturating_add(d).unwrap_or(Timestamp::MAX);
        match self.kind {
            ActionKind::Open => vec![(0, o.opened_at)],
            ActionKind::Due => vec![(0, o.due_at)],
            ActionKind::Warn => {
                let at = o
                    .breach_at
                    .saturating_sub(self.offset)
                    .unwrap_or(Timestamp::MIN);
                // A warning before the obligation even existed would be noise.
                if at < o.opened_at {
                    vec![]
                } else {
                    vec![(0, at)]
                }
            }
            // The breach is the first instant after `breach_at` (kept at `breach_at` is on time).
            ActionKind::Breach => vec![(0, add(o.breach_at, SignedDuration::from_nanos(1)))],
            ActionKind::Escalate => (0..self.max.max(1))
                .map(|step| {
                    let extra = self
                        .repeat
                        .checked_mul(step as i32)
                        .unwrap_or(SignedDuration::MAX);
                    (step, add(add(o.breach_at, self.offset), extra))
                })
                .collect(),
        }
    }

    pub fn to_customer(&self) -> bool {
        self.to == Recipient::Customer
    }

    /// Warnings, breach alerts and escalations: timed from the breach, so a pause moves them.
    pub fn follows_deadline(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::Warn | ActionKind::Breach | ActionKind::Escalate
        )
    }
}

/// The end of the outbox key of a step timed from a deadline a pause moved: `|d` and the breach time in
/// nanoseconds. The planner appends it (obligations never paused keep the keys they always had); the store
/// keeps the pending rows whose key ends in it when a pause or resume moves the deadline again.
pub fn deadline_suffix(o: &Obligation) -> String {
    format!("|d{}", o.breach_at.as_nanosecond())
}

/// What a customer waits for when a policy's own configuration does not say: follows "we have kept you
/// waiting".
pub const WAITING_FOR_ANYTHING: &str = "for us to get back to you";

/// The actions of every policy, by policy name, and the words messages use for each policy.
#[derive(Debug, Clone, Default)]
pub struct ActionBook {
    by_policy: HashMap<Arc<str>, Vec<Action>>,
    waiting_for: HashMap<Arc<str>, String>,
    stages: HashMap<Arc<str>, Stage>,
}

/// What a journey's stage update (a policy the configuration makes for a backstage step with
/// `tell_customer_after`) is about: the `still-working` message names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub journey: String,
    /// The backstage step the customer waits for.
    pub step: String,
    /// The step reached before it.
    pub previous: String,
}

impl ActionBook {
    pub fn new(by_policy: HashMap<Arc<str>, Vec<Action>>) -> ActionBook {
        ActionBook {
            by_policy,
            waiting_for: HashMap::new(),
            stages: HashMap::new(),
        }
    }
    /// Adds the journey stage each stage update's policy is about, by policy name.
    pub fn with_stages(mut self, stages: HashMap<Arc<str>, Stage>) -> ActionBook {
        self.stages = stages;
        self
    }
    /// The journey stage `policy` tells the customer about, if it is a stage update.
    pub fn stage(&self, policy: &str) -> Option<&Stage> {
        self.stages.get(policy)
    }
    /// Adds what the customers of each policy wait for (a policy's `waiting_for`), by policy name.
    pub fn with_waiting_for(mut self, waiting_for: HashMap<Arc<str>, String>) -> ActionBook {
        self.waiting_for = waiting_for;
        self
    }
    pub fn for_policy(&self, policy: &str) -> &[Action] {
        self.by_policy.get(policy).map(Vec::as_slice).unwrap_or(&[])
    }
    /// What a customer of `policy` waits for, in their words ("for a reply to your message"): the policy's
    /// own `waiting_for`, else [`WAITING_FOR_ANYTHING`].
    pub fn waiting_for(&self, policy: &str) -> &str {
        self.waiting_for
            .get(policy)
            .map(String::as_str)
            .unwrap_or(WAITING_FOR_ANYTHING)
    }
    pub fn is_empty(&self) -> bool {
        self.by_policy.values().all(Vec::is_empty)
    }
}

/// One action step planned for an obligation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index of the action in its policy's list (part of the idempotency key).
    pub index: usize,
    pub step: u32,
    pub due_at: Timestamp,
}

/// The action steps to queue for an open obligation, seen at `now`. Steps due before `now - max_delay` are
/// left out: importing last year's history must not send last year's confirmations. While the obligation
/// is paused its deadline is unknown: no warning, breach alert or escalation is planned (they are planned
/// again at the resume). `office`: the calendar staff alerts wait for — warnings and escalations falling
/// when it is closed go at its next opening (`None`: at any hour; a breach alert is never delayed).
pub fn plan(
    actions: &[Action],
    o: &Obligation,
    now: Timestamp,
    max_delay: SignedDuration,
    office: Option<&Calendar>,
) -> Vec<Planned> {
    let oldest = now.saturating_sub(max_delay).unwrap_or(Timestamp::MIN);
    let mut out = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        if o.is_paused() && action.follows_deadline() {
            continue;
        }
        for (step, due_at) in action.due_times(o) {
            let due_at = match office {
                Some(calendar)
                    if matches!(action.kind, ActionKind::Warn | ActionKind::Escalate) =>
                {
                    calendar.next_open(due_at).unwrap_or(due_at)
                }
                _ => due_at,
            };
            if due_at >= oldest {
                out.push(Planned {
                    index,
                    step,
                    due_at,
                });
            }
        }
    }
    out
}

/// Why a due action is no longer worth sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moot {
    /// The obligation was kept or cancelled at this time, before the action fired.
    Closed(Closure, Timestamp),
    /// The obligation no longer exists (a late event re-shaped the customer's history).
    Gone,
    /// A survey's reminder, but the survey itself never went out.
    SurveyNotSent,
    /// A survey's reminder, but the customer already answered.
    SurveyAnswered,
}

impl std::fmt::Display for Moot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Moot::Closed(closure, at) => write!(
                f,
                "not needed: the promise was {} at {at}",
                closure.as_str()
            ),
            Moot::Gone => f.write_str("not needed: the obligation no longer exists"),
            Moot::SurveyNotSent => f.write_str("not needed: the survey itself was not sent"),
            Moot::SurveyAnswered => f.write_str("not needed: the survey was answered"),
        }
    }
}

/// Whether an action of this obligation should still fire at `now`. Every action concerns an unclosed
/// obligation: confirmations of a booking already confirmed, reminders of a cancelled booking, alerts about
/// a promise since kept — all are noise.
pub fn still_needed(o: Option<&Obligation>, now: Timestamp) -> Result<(), Moot> {
    let Some(o) = o else {
        return Err(Moot::Gone);
    };
    match (o.closed_at, o.closure) {
        (Some(at), Some(closure)) if at <= now => Err(Moot::Closed(closure, at)),
        _ => Ok(()),
    }
}

/// Quiet hours: local times during which non-urgent messages to a customer wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad quiet hours {text:?}: expected \"HH:MM-HH:MM\", e.g. \"21:00-08:00\"")]
pub struct QuietHoursError {
    pub text: String,
}

impl QuietHours {
    pub fn parse(text: &str) -> Result<QuietHours, QuietHoursError> {
        let err = || QuietHoursError {
            text: text.to_string(),
        };
        let (a, b) = text.split_once('-').ok_or_else(err)?;
        let time = |s: &str| Time::strptime("%H:%M", s.trim()).map_err(|_| err());
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(err());
        }
        Ok(QuietHours { start, end })
    }

    /// `None` if `now` is outside quiet hours in `tz`; else the instant they end.
    pub fn defer_until(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = now.to_zoned(tz.clone());
        let time = local.time();
        let inside = if self.start < self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !inside {
            return None;
        }
        let date = if time >= self.end {
            local.date().checked_add(1.day()).ok()?
        } else {
            local.date()
        };
        // A gap (DST) at the end time resolves forward, as a clock would.
        date.to_datetime(self.end)
            .to_zoned(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn obligation() -> Obligation {
        Obligation {
            policy: "confirm".into(),
            customer: "c1".into(),
            reference: Some("B-1".into()),
            opened_at: t("2026-11-02T10:00:00Z"),
            due_at: t("2026-11-02T11:00:00Z"),
            breach_at: t("2026-11-02T11:00:00Z"),
            closed_at: None,
            closure: None,
            closed_by: None,
            trigger_event: "e1".into(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: jiff::SignedDuration::ZERO,
        }
    }

    fn action(kind: ActionKind, offset: &str) -> Action {
        Action {
            kind,
            offset: crate::span::parse_span(offset).unwrap(),
            repeat: SignedDuration::from_hours(1),
            max: 3,
            template: "x".into(),
            to: Recipient::Assignee,
            webhook: None,
            transactional: false,
            urgent: false,
            records: None,
            survey: None,
            remind_after: None,
        }
    }

    #[test]
    fn due_times_follow_the_obligation() {
        let o = obligation();
        assert_eq!(
            action(ActionKind::Open, "0s").due_times(&o),
            vec![(0, o.opened_at)]
        );
        assert_eq!(
            action(ActionKind::Due, "0s").due_times(&o),
            vec![(0, o.due_at)]
        );
        assert_eq!(
            action(ActionKind::Warn, "15m").due_times(&o),
            vec![(0, t("2026-11-02T10:45:00Z"))]
        );
        // Warning 2 h before a breach 1 h after opening: none.
        assert!(action(ActionKind::Warn, "2h").due_times(&o).is_empty());
        assert_eq!(
            action(ActionKind::Breach, "0s").due_times(&o),
            vec![(0, t("2026-11-02T11:00:00.000000001Z"))]
        );
        assert_eq!(
            action(ActionKind::Escalate, "30m").due_times(&o),
            vec![
                (0, t("2026-11-02T11:30:00Z")),
                (1, t("2026-11-02T12:30:00Z")),
                (2, t("2026-11-02T13:30:00Z")),
            ]
        );
    }

    #[test]
    fn staff_alerts_wait_for_the_office_and_a_paused_deadline_plans_none() {
        // Breach at 16:50 on a Friday; the office is open 09:00-17:00 on weekdays.
        let o = Obligation {
            due_at: t("2026-11-06T16:50:00Z"),
            breach_at: t("2026-11-06T16:50:00Z"),
            opened_at: t("2026-11-06T10:00:00Z"),
            ..obligation()
        };
        let hours: std::collections::BTreeMap<String, Vec<String>> =
            ["mon", "tue", "wed", "thu", "fri"]
                .into_iter()
                .map(|d| (d.to_string(), vec!["09:00-17:00".to_string()]))
                .collect();
        let office = Calendar::new("office", "UTC", &hours, &[]).unwrap();
        let actions = vec![
            action(ActionKind::Warn, "1h"),
            action(ActionKind::Breach, "0s"),
            action(ActionKind::Escalate, "30m"),
        ];
        let now = o.opened_at;
        let due = |planned: &[Planned], index: usize, step: u32| {
            planned
                .iter()
                .find(|p| p.index == index && p.step == step)
                .map(|p| p.due_at)
        };
        let planned = plan(
            &actions,
            &o,
            now,
            SignedDuration::from_hours(1),
            Some(&office),
        );
        // The warning (15:50) is in office hours; the breach alert is never delayed; the escalations
        // (17:20, 18:20, 19:20) wait for Monday's opening.
        assert_eq!(due(&planned, 0, 0), Some(t("2026-11-06T15:50:00Z")));
        assert_eq!(
            due(&planned, 1, 0),
            Some(t("2026-11-06T16:50:00.000000001Z"))
        );
        for step in 0..3 {
            assert_eq!(due(&planned, 2, step), Some(t("2026-11-09T09:00:00Z")));
        }
        // Without the office (alert_out_of_hours, or no calendar): at the time itself.
        let anytime = plan(&actions, &o, now, SignedDuration::from_hours(1), None);
        assert_eq!(due(&anytime, 2, 0), Some(t("2026-11-06T17:20:00Z")));
        // Paused: no deadline, so nothing timed from it; what is not timed from it still goes.
        let paused = Obligation {
            paused_since: Some(t("2026-11-06T11:00:00Z")),
            paused_left: Some(SignedDuration::from_hours(5)),
            due_at: crate::policy::NEVER,
            breach_at: crate::policy::NEVER,
            ..o.clone()
        };
        let mut with_open = actions.clone();
        with_open.push(action(ActionKind::Open, "0s"));
        let planned = plan(
            &with_open,
            &paused,
            now,
            SignedDuration::from_hours(1),
            Some(&office),
        );
        assert_eq!(planned.len(), 1, "{planned:?}");
        assert_eq!(planned[0].index, 3);
    }

    #[test]
    fn plan_leaves_out_stale_steps() {
        let o = obligation();
        let actions = vec![
            action(ActionKind::Open, "0s"),
            action(ActionKind::Escalate, "30m"),
        ];
        let now = t("2026-11-02T13:00:00Z");
        let planned = plan(&actions, &o, now, SignedDuration::from_hours(1), None);
        // Open (10:00) and the first escalation (11:30) are older than 12:00: left out.
        let steps: Vec<(usize, u32)> = planned.iter().map(|p| (p.index, p.step)).collect();
        assert_eq!(steps, vec![(1, 1), (1, 2)]);
        // Live: everything.
        assert_eq!(
            plan(
                &actions,
                &o,
                o.opened_at,
                SignedDuration::from_hours(1),
                None
            )
            .len(),
            4
        );
    }

    #[test]
    fn closed_obligations_need_no_action() {
        let mut o = obligation();
        assert_eq!(still_needed(Some(&o), o.breach_at), Ok(()));
        o.closed_at = Some(t("2026-11-02T10:30:00Z"));
        o.closure = Some(Closure::Cancelled);
        assert_eq!(still_needed(Some(&o), t("2026-11-02T10:29:00Z")), Ok(()));
        assert_eq!(
            still_needed(Some(&o), o.breach_at),
            Err(Moot::Closed(Closure::Cancelled, t("2026-11-02T10:30:00Z")))
        );
        assert_eq!(still_needed(None, o.breach_at), Err(Moot::Gone));
    }

    #[test]
    fn quiet_hours_across_midnight_and_dst() {
        let q = QuietHours::parse("21:00-08:00").unwrap();
        let lisbon = TimeZone::get("Europe/Lisbon").unwrap();
        // 22:30 local (UTC+0 in November) → 08:00 the next morning.
        assert_eq!(
            q.defer_until(t("2026-11-02T22:30:00Z"), &lisbon),
            Some(t("2026-11-03T08:00:00Z"))
        );
        // 06:00 local → 08:00 the same morning.
        assert_eq!(
            q.defer_until(t("2026-11-03T06:00:00Z"), &lisbon),
            Some(t("2026-11-03T08:00:00Z"))
        );
        assert_eq!(q.defer_until(t("2026-11-03T12:00:00Z"), &lisbon), None);
        // The night DST starts (29 March 2026): 08:00 WEST is 07:00 UTC.
        assert_eq!(
            q.defer_until(t("2026-03-28T23:00:00Z"), &lisbon),
            Some(t("2026-03-29T07:00:00Z"))
        );
        // A daytime window.
        let lunch = QuietHours::parse("12:00-13:30").unwrap();
        assert_eq!(
            lunch.defer_until(t("2026-11-03T12:10:00Z"), &TimeZone::UTC),
            Some(t("2026-11-03T13:30:00Z"))
        );
        assert_eq!(
            lunch.defer_until(t("2026-11-03T13:30:00Z"), &TimeZone::UTC),
            None
        );
        assert!(QuietHours::parse("21:00").is_err());
        assert!(QuietHours::parse("25:00-08:00").is_err());
    }
}
