//! Policies: the promises a business makes, in validated form.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::calendar::{Calendar, CalendarError};
use super::event::Event;

/// The breach time of obligations that are not promises: far beyond any real date, yet storable
/// (the stores keep nanoseconds in an i64, which ends in 2262).
pub const NEVER: Timestamp = Timestamp::constant(7_258_118_400, 0); // 2200-01-01T00:00:00Z

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: Arc<str>,
    pub kind: PolicyKind,
    pub trigger: Vec<String>,
    pub expect: Vec<String>,
    pub cancel: Vec<String>,
    /// Expect policies: events that stop the clock (waiting on the customer) and start it again.
    pub pause: Vec<String>,
    pub resume: Vec<String>,
    /// Schedule policies: events that move the scheduled thing (a booking moved to another day): the
    /// unclosed obligation of the same ref closes as `rescheduled` and a new one opens from the event.
    pub reschedule: Vec<String>,
    /// A promise to the customer (the default). `false` for housekeeping such as asking a survey: its
    /// obligations are tracked but never breach, so they never make a customer invisible.
    pub promise: bool,
    /// Warn and escalation alerts go out at any hour instead of waiting for the calendar's next opening.
    pub alert_out_of_hours: bool,
}

impl Policy {
    /// A policy with nothing but its name, kind and event types; the rest at their defaults.
    pub fn new(
        name: &str,
        kind: PolicyKind,
        trigger: Vec<String>,
        expect: Vec<String>,
        cancel: Vec<String>,
    ) -> Policy {
        Policy {
            name: name.into(),
            kind,
            trigger,
            expect,
            cancel,
            pause: Vec::new(),
            resume: Vec::new(),
            reschedule: Vec::new(),
            promise: true,
            alert_out_of_hours: false,
        }
    }
}

/// How long an expect policy gives: one span, or a span chosen by a property of the trigger
/// (`within = { by = "properties.priority", urgent = "1h", default = "1d" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Within {
    Fixed(SignedDuration),
    ByProperty {
        /// The property's name (after `properties.`).
        property: String,
        /// Lower-cased values and their spans.
        spans: Vec<(String, SignedDuration)>,
        /// For a missing or unknown value.
        default: SignedDuration,
    },
}

impl Within {
    /// The span for this trigger: its property's value matched case-insensitively, else the default.
    pub fn for_trigger(&self, trigger: &Event) -> SignedDuration {
        match self {
            Within::Fixed(span) => *span,
            Within::ByProperty {
                property,
                spans,
                default,
            } => trigger
                .property_text(property)
                .and_then(|value| {
                    let value = value.to_lowercase();
                    spans.iter().find(|(v, _)| *v == value).map(|(_, s)| *s)
                })
                .unwrap_or(*default),
        }
    }
}

#[derive(Debug, Clone)]
pub enum PolicyKind {
    /// Something must happen within a span of the trigger (clock time, or a calendar's open time).
    Expect {
        within: Within,
        calendar: Option<Arc<Calendar>>,
    },
    /// Something must happen at a time computed from the trigger, within `grace` after it.
    Schedule {
        at: ScheduleAt,
        grace: SignedDuration,
    },
}

/// `at = "properties.starts_at - 24h"` or `at = "at + 1d"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleAt {
    /// `None`: the trigger's own `at`; `Some(name)`: a timestamp property of the trigger.
    pub property: Option<String>,
    pub offset: SignedDuration,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("bad schedule expression {text:?}: {reason} (expected e.g. \"properties.starts_at - 24h\" or \"at + 1d\")")]
    ScheduleAt { text: String, reason: String },
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

impl ScheduleAt {
    pub fn parse(text: &str) -> Result<ScheduleAt, PolicyError> {
        let bad = |reason: &str| PolicyError::ScheduleAt {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        let (base, sign, rest) = match trimmed.find(['+', '-']) {
            Some(i) => (
                trimmed[..i].trim(),
                &trimmed[i..i + 1],
                trimmed[i + 1..].trim(),
            ),
            None => (trimmed, "+", "0s"),
        };
        let property = if base == "at" {
            None
        } else if let Some(name) = base.strip_prefix("properties.") {
            if name.is_empty() {
                return Err(bad("empty property name"));
            }
            Some(name.to_string())
        } else {
            return Err(bad("must start with `at` or `properties.NAME`"));
        };
        let span = super::span::parse_span(rest).map_err(|e| bad(&e.to_string()))?;
        let offset = if sign == "-" { -span } else { span };
        Ok(ScheduleAt { property, offset })
    }

    /// When the scheduled work is due for this trigger; `None` if the property is missing or not a time.
    pub fn due_for(&self, trigger: &Event) -> Option<Timestamp> {
        let base = match &self.property {
            None => trigger.at,
            Some(name) => trigger.property_timestamp(name)?,
        };
        base.checked_add(self.offset).ok()
    }
}

impl Policy {
    pub fn is_trigger(&self, kind: &str) -> bool {
        self.trigger.iter().any(|t| t == kind)
    }
    pub fn is_expect(&self, kind: &str) -> bool {
        self.expect.iter().any(|t| t == kind)
    }
    pub fn is_cancel(&self, kind: &str) -> bool {
        self.cancel.iter().any(|t| t == kind)
    }
    pub fn is_pause(&self, kind: &str) -> bool {
        self.pause.iter().any(|t| t == kind)
    }
    pub fn is_resume(&self, kind: &str) -> bool {
        self.resume.iter().any(|t| t == kind)
    }
    pub fn is_reschedule(&self, kind: &str) -> bool {
        self.reschedule.iter().any(|t| t == kind)
    }
    /// Whether an event of this type does anything under this policy.
    pub fn cares_about(&self, kind: &str) -> bool {
        self.is_trigger(kind)
            || self.is_expect(kind)
            || self.is_cancel(kind)
            || self.is_pause(kind)
            || self.is_resume(kind)
            || self.is_reschedule(kind)
    }

    /// The calendar an expect policy counts its time in (`None`: clock time).
    pub fn calendar(&self) -> Option<&Calendar> {
        match &self.kind {
            PolicyKind::Expect { calendar, .. } => calendar.as_deref(),
            PolicyKind::Schedule { .. } => None,
        }
    }

    /// The policy's own time between two instants: open time of its calendar, or clock time.
    pub fn time_between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            return SignedDuration::ZERO;
        }
        match self.calendar() {
            Some(calendar) => calendar.open_between(from, to),
            None => to.duration_since(from),
        }
    }

    /// `span` of the policy's own time after `from` (clock time past the calendar's horizon).
    pub fn time_after(&self, from: Timestamp, span: SignedDuration) -> Timestamp {
        let clock = || from.saturating_add(span).unwrap_or(Timestamp::MAX);
        match self.calendar() {
            Some(calendar) => calendar.add(from, span).unwrap_or_else(|_| clock()),
            None => clock(),
        }
    }

    /// (due_at, breach_at) for an obligation this trigger opens, or `None` if it opens nothing.
    pub fn deadlines(&self, trigger: &Event) -> Option<(Timestamp, Timestamp)> {
        let (due, breach) = self.promised_deadlines(trigger)?;
        Some((due, if self.promise { breach } else { NEVER }))
    }

    fn promised_deadlines(&self, trigger: &Event) -> Option<(Timestamp, Timestamp)> {
        match &self.kind {
            PolicyKind::Expect { within, .. } => {
                // Configuration rejects calendars without open time, so `add` only fails past the
                // calendar's search horizon; clock time is then the honest fallback.
                let due = self.time_after(trigger.at, within.for_trigger(trigger));
                Some((due, due))
            }
            PolicyKind::Schedule { at, grace } => match at.due_for(trigger) {
                Some(due) if due >= trigger.at => {
                    Some((due, due.saturating_add(*grace).unwrap_or(Timestamp::MAX)))
                }
                _ => None,
            },
        }
    }

    pub fn is_schedule(&self) -> bool {
        matches!(self.kind, PolicyKind::Schedule { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedule_expressions() {
        let a = ScheduleAt::parse("properties.starts_at - 24h").unwrap();
        assert_eq!(a.property.as_deref(), Some("starts_at"));
        assert_eq!(a.offset, SignedDuration::from_hours(-24));
        let b = ScheduleAt::parse("at + 1d").unwrap();
        assert_eq!(b.property, None);
        assert_eq!(b.offset, SignedDuration::from_hours(24));
        let c = ScheduleAt::parse("properties.starts_at").unwrap();
        assert_eq!(c.offset, SignedDuration::ZERO);
        for bad in ["starts_at - 1h", "properties. - 1h", "at - soon", ""] {
            assert!(ScheduleAt::parse(bad).is_err(), "{bad}");
        }
    }
}
