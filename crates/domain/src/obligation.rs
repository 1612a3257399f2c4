//! Obligations: one promise to one customer, opened by a trigger event and closed by a later one.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How an obligation was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closure {
    Kept,
    Cancelled,
    /// A schedule moved (a booking to another day): counted like a cancel; a new obligation took over.
    Rescheduled,
}

impl Closure {
    pub fn as_str(self) -> &'static str {
        match self {
            Closure::Kept => "kept",
            Closure::Cancelled => "cancelled",
            Closure::Rescheduled => "rescheduled",
        }
    }
    pub fn parse(text: &str) -> Option<Closure> {
        match text {
            "kept" => Some(Closure::Kept),
            "cancelled" => Some(Closure::Cancelled),
            "rescheduled" => Some(Closure::Rescheduled),
            _ => None,
        }
    }
}

/// An obligation's status as of a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    /// Open with its clock stopped (waiting on the customer): never breached while so.
    Paused,
    Kept,
    KeptLate,
    /// Cancelled or rescheduled in time.
    Cancelled,
    Breached,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Open,
        Status::Paused,
        Status::Kept,
        Status::KeptLate,
        Status::Cancelled,
        Status::Breached,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Paused => "paused",
            Status::Kept => "kept",
            Status::KeptLate => "kept_late",
            Status::Cancelled => "cancelled",
            Status::Breached => "breached",
        }
    }
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    pub policy: Arc<str>,
    pub customer: String,
    pub reference: Option<String>,
    /// The trigger's `at`.
    pub opened_at: Timestamp,
    /// When the promised thing is due (for schedules: the start of its window).
    pub due_at: Timestamp,
    /// After this instant, unkept is a breach (`due_at`, plus the grace of a schedule).
    pub breach_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub closure: Option<Closure>,
    pub closed_by: Option<String>,
    pub trigger_event: String,
    /// Further triggers while it was not closed: the customer chasing us.
    pub nudges: u32,
    pub last_nudge_at: Option<Timestamp>,
    /// While the clock is stopped: since when (`due_at` and `breach_at` are then `policy::NEVER`).
    pub paused_since: Option<Timestamp>,
    /// While the clock is stopped: the policy's own time that was left at the pause.
    pub paused_left: Option<SignedDuration>,
    /// The policy's own time spent paused, over the pauses that ended (by a resume or the close).
    pub paused_total: SignedDuration,
}

impl Obligation {
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Closed at or before `as_of`.
    pub fn closed_by_time(&self, as_of: Timestamp) -> bool {
        self.closed_at.is_some_and(|c| c <= as_of)
    }

    /// The status as of `as_of`. Assumes the obligation was opened at or before `as_of`.
    pub fn status(&self, as_of: Timestamp) -> Status {
        match (self.closed_at, self.closure) {
            (Some(closed), Some(closure)) if closed <= as_of => match closure {
                Closure::Kept if closed <= self.breach_at => Status::Kept,
                Closure::Kept => Status::KeptLate,
                Closure::Cancelled | Closure::Rescheduled if closed <= self.breach_at => {
                    Status::Cancelled
                }
                Closure::Cancelled | Closure::Rescheduled => Status::Breached,
            },
            _ if self.paused_since.is_some_and(|p| p <= as_of) => Status::Paused,
            _ if as_of > self.breach_at => Status::Breached,
            _ => Status::Open,
        }
    }

    /// Whether the clock is stopped (as the fold left it).
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Breached and still not closed: the customer is invisible because of it.
    pub fn is_invisible(&self, as_of: Timestamp) -> bool {
        as_of > self.breach_at && !self.closed_by_time(as_of) && self.opened_at <= as_of
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
            policy: "reply".into(),
            customer: "c".into(),
            reference: None,
            opened_at: t("2026-01-05T10:00:00Z"),
            due_at: t("2026-01-05T12:00:00Z"),
            breach_at: t("2026-01-05T12:00:00Z"),
            closed_at: None,
            closure: None,
            closed_by: None,
            trigger_event: "e".into(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: SignedDuration::ZERO,
        }
    }

    #[test]
    fn status_rules() {
        let open = obligation();
        assert_eq!(open.status(t("2026-01-05T11:00:00Z")), Status::Open);
        assert_eq!(
            open.status(t("2026-01-05T12:00:00Z")),
            Status::Open,
            "due instant itself is not late"
        );
        assert_eq!(open.status(t("2026-01-05T12:00:01Z")), Status::Breached);
        assert!(open.is_invisible(t("2026-01-05T12:00:01Z")));

        let closed = |at: &str, closure| Obligation {
            closed_at: Some(t(at)),
            closure: Some(closure),
            ..obligation()
        };
        let later = t("2026-02-01T00:00:00Z");
        assert_eq!(
            closed("2026-01-05T12:00:00Z", Closure::Kept).status(later),
            Status::Kept
        );
        assert_eq!(
            closed("2026-01-05T12:00:01Z", Closure::Kept).status(later),
            Status::KeptLate
        );
        assert_eq!(
            closed("2026-01-05T11:00:00Z", Closure::Cancelled).status(later),
            Status::Cancelled
        );
        let late_cancel = closed("2026-01-06T11:00:00Z", Closure::Cancelled);
        assert_eq!(
            late_cancel.status(later),
            Status::Breached,
            "a late cancel stays a breach"
        );
        assert!(
            !late_cancel.is_invisible(later),
            "but the customer is no longer waiting"
        );
        // Before the close happened, the close does not count.
        let kept_late = closed("2026-01-06T09:00:00Z", Closure::Kept);
        assert_eq!(
            kept_late.status(t("2026-01-06T08:00:00Z")),
            Status::Breached
        );
        assert!(kept_late.is_invisible(t("2026-01-06T08:00:00Z")));
        assert_eq!(
            kept_late.status(t("2026-01-06T09:00:00Z")),
            Status::KeptLate
        );
    }
}
