//! The gate: whether a due message goes now, waits, or does not go at all. Pure decisions over what the
//! sender already loaded (the obligation, the customer, their suppression, how much they were sent
//! lately); the sender (`jobs::actions`) does the I/O, asks in this order and writes the answer on the
//! outbox row:
//!
//! 1. still needed? ([`needed`]: the obligation is unclosed; a survey's reminder: the survey went out and
//!    is unanswered)
//! 2. to a customer: an address to send to ([`address`]), not suppressed ([`Rules::suppression`]), not in
//!    their quiet hours ([`Rules::quiet_hours`]), under the daily cap ([`Rules::daily_cap`]) and the
//!    survey frequency ([`Rules::survey_every`]).
//!
//! Each answer is a [`Hold`] whose `Display` is the row's detail, e.g. "capped: 3 messages already sent
//! in the last 24 h (daily_cap = 3)".

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{still_needed, Channel, Moot, QuietHours};
use crate::{Event, Obligation};

/// Why a due message does not go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Not needed any more: skipped.
    Moot(Moot),
    /// An email to a customer who has no address on file: skipped.
    NoAddress,
    /// The customer unsubscribed, or their address bounced.
    Suppressed {
        reason: String,
        at: Timestamp,
        detail: Option<String>,
    },
    /// The customer's quiet hours: it waits until they end.
    QuietHours { zone: String, until: Timestamp },
    /// The customer already had their daily share of messages.
    DailyCap { sent: u64, cap: u32 },
    /// A survey already went to this customer within `every`.
    SurveyEvery { every: SignedDuration },
}

/// What becomes of a held message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Finished: not needed, or nobody to send to.
    Skipped,
    /// Finished: unsubscribed or bounced.
    Suppressed,
    /// Finished: over a cap.
    Capped,
    /// Tried again at this instant.
    WaitUntil(Timestamp),
}

impl Hold {
    pub fn disposition(&self) -> Disposition {
        match self {
            Hold::Moot(_) | Hold::NoAddress => Disposition::Skipped,
            Hold::Suppressed { .. } => Disposition::Suppressed,
            Hold::QuietHours { until, .. } => Disposition::WaitUntil(*until),
            Hold::DailyCap { .. } | Hold::SurveyEvery { .. } => Disposition::Capped,
        }
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::Moot(moot) => moot.fmt(f),
            Hold::NoAddress => f.write_str("no email address on file for the customer"),
            Hold::Suppressed { reason, at, detail } => {
                write!(f, "suppressed: {reason} at {at}")?;
                match detail {
                    Some(detail) => write!(f, " ({detail})"),
                    None => Ok(()),
                }
            }
            Hold::QuietHours { zone, until } => {
                write!(f, "waiting: quiet hours in {zone} until {until}")
            }
            Hold::DailyCap { sent, cap } => write!(
                f,
                "capped: {sent} messages already sent in the last 24 h (daily_cap = {cap})"
            ),
            Hold::SurveyEvery { every } => write!(
                f,
                "capped: a survey already went to this customer in the last {} (survey_every)",
                crate::span::format_span(*every)
            ),
        }
    }
}

/// What the gate needs to know about one due message (from its outbox row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub channel: Channel,
    pub to_customer: bool,
    /// Goes even to customers who unsubscribed, and does not count against the daily cap.
    pub transactional: bool,
    /// Goes at once even in quiet hours.
    pub urgent: bool,
    /// A survey message: `Some(0)` the survey, `Some(1)` its reminder.
    pub survey_step: Option<u32>,
}

impl Due {
    /// A survey's reminder: judged by the survey's events, not by its obligation.
    pub fn is_survey_reminder(&self) -> bool {
        self.survey_step == Some(1)
    }
}

/// Whether a due message is still worth sending. `survey_events`: for a survey's reminder, the customer's
/// events and the send the reminder belongs to.
pub fn needed(
    due: &Due,
    obligation: Option<&Obligation>,
    survey_events: Option<(&[Event], &str)>,
    now: Timestamp,
) -> Result<(), Hold> {
    match survey_events {
        Some((events, send)) if due.is_survey_reminder() => {
            survey_reminder_needed(events, send).map_err(Hold::Moot)
        }
        _ => still_needed(obligation, now).map_err(Hold::Moot),
    }
}

/// A survey's reminder goes only if the survey of this send went out and has no answer yet.
pub fn survey_reminder_needed(events: &[Event], send: &str) -> Result<(), Moot> {
    let of_send = |kind: &str| {
        events
            .iter()
            .any(|e| e.kind == kind && e.properties_value()["send"].as_str() == Some(send))
    };
    if !of_send("survey.sent") {
        return Err(Moot::SurveyNotSent);
    }
    if of_send("survey.answered") {
        return Err(Moot::SurveyAnswered);
    }
    Ok(())
}

/// The zone a customer's local times are judged and shown in: theirs if it is a known zone, else the
/// business default.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalZone {
    pub zone: TimeZone,
    /// Its IANA name ("UTC" for a default without one).
    pub name: String,
}

impl LocalZone {
    pub fn of(customer_zone: Option<&str>, default: &TimeZone) -> LocalZone {
        match customer_zone.and_then(|name| Some((name, TimeZone::get(name).ok()?))) {
            Some((name, zone)) => LocalZone {
                zone,
                name: name.to_string(),
            },
            None => LocalZone {
                zone: default.clone(),
                name: default.iana_name().unwrap_or("UTC").to_string(),
            },
        }
    }
}

/// Where the message goes: an email to the customer goes to their address on file now (they may have
/// changed it since the row was queued); anything else to the row's recipient.
pub fn address(due: &Due, recipient: &str, customer_email: Option<&str>) -> Result<String, Hold> {
    match (due.to_customer, due.channel) {
        (true, Channel::Email) => customer_email.map(str::to_string).ok_or(Hold::NoAddress),
        _ => Ok(recipient.to_string()),
    }
}

/// The send rules of `[actions]` that concern one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub quiet_hours: Option<QuietHours>,
    /// Most non-transactional messages to one customer in 24 hours (0: no cap).
    pub daily_cap: u32,
    /// At most one survey per customer in this span.
    pub survey_every: SignedDuration,
}

impl Rules {
    /// A suppression of the customer (or of their address) holds every message to them but
    /// transactional ones; a bounce holds those too (the address does not work).
    pub fn suppression(
        &self,
        due: &Due,
        reason: &str,
        at: Timestamp,
        detail: Option<&str>,
    ) -> Result<(), Hold> {
        if reason == "bounced" || !due.transactional {
            return Err(Hold::Suppressed {
                reason: reason.to_string(),
                at,
                detail: detail.map(str::to_string),
            });
        }
        Ok(())
    }

    /// Non-urgent messages wait while it is quiet hours in the customer's zone.
    pub fn quiet_hours(&self, due: &Due, now: Timestamp, zone: &LocalZone) -> Result<(), Hold> {
        let (false, Some(quiet)) = (due.urgent, &self.quiet_hours) else {
            return Ok(());
        };
        match quiet.defer_until(now, &zone.zone) {
            Some(until) => Err(Hold::QuietHours {
                zone: zone.name.clone(),
                until,
            }),
            None => Ok(()),
        }
    }

    /// Since when to count the customer's messages for the daily cap, if this message is capped at all.
    pub fn daily_window(&self, due: &Due, now: Timestamp) -> Option<Timestamp> {
        (!due.transactional && self.daily_cap > 0).then(|| {
            now.saturating_sub(SignedDuration::from_hours(24))
                .unwrap_or(now)
        })
    }

    /// `sent`: the customer's messages since [`Rules::daily_window`].
    pub fn daily_cap(&self, sent: u64) -> Result<(), Hold> {
        if sent >= u64::from(self.daily_cap) {
            return Err(Hold::DailyCap {
                sent,
                cap: self.daily_cap,
            });
        }
        Ok(())
    }

    /// Since when to count the customer's surveys, if this message is a survey (not its reminder).
    pub fn survey_window(&self, due: &Due, now: Timestamp) -> Option<Timestamp> {
        (due.survey_step == Some(0)).then(|| now.saturating_sub(self.survey_every).unwrap_or(now))
    }

    /// `sent`: surveys sent to the customer since [`Rules::survey_window`].
    pub fn survey_every(&self, sent: u64) -> Result<(), Hold> {
        if sent > 0 {
            return Err(Hold::SurveyEvery {
                every: self.survey_every,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obligation::Closure;
    use crate::ProfileUpdate;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn due() -> Due {
        Due {
            channel: Channel::Email,
            to_customer: true,
            transactional: false,
            urgent: false,
            survey_step: None,
        }
    }

    fn rules() -> Rules {
        Rules {
            quiet_hours: Some(QuietHours::parse("21:00-08:00").unwrap()),
            daily_cap: 3,
            survey_every: SignedDuration::from_hours(24 * 30),
        }
    }

    fn event(kind: &str, send: &str) -> Event {
        Event {
            id: format!("{kind}-{send}"),
            kind: kind.into(),
            customer: "c1".into(),
            at: t("2026-11-02T10:00:00Z"),
            channel: None,
            reference: None,
            properties: Some(format!(r#"{{"send":"{send}"}}"#)),
            profile: ProfileUpdate::default(),
        }
    }

    fn obligation(closed_at: Option<Timestamp>) -> Obligation {
        Obligation {
            policy: "confirm".into(),
            customer: "c1".into(),
            reference: None,
            opened_at: t("2026-11-02T10:00:00Z"),
            due_at: t("2026-11-02T11:00:00Z"),
            breach_at: t("2026-11-02T11:00:00Z"),
            closed_at,
            closure: closed_at.map(|_| Closure::Kept),
            closed_by: None,
            trigger_event: "e1".into(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: jiff::SignedDuration::ZERO,
        }
    }

    #[test]
    fn a_closed_obligation_or_an_answered_survey_needs_nothing() {
        let now = t("2026-11-02T12:00:00Z");
        let open = obligation(None);
        assert_eq!(needed(&due(), Some(&open), None, now), Ok(()));
        let kept = obligation(Some(t("2026-11-02T10:30:00Z")));
        let held = needed(&due(), Some(&kept), None, now).unwrap_err();
        assert_eq!(held.disposition(), Disposition::Skipped);
        assert_eq!(
            held.to_string(),
            "not needed: the promise was kept at 2026-11-02T10:30:00Z"
        );
        assert_eq!(needed(&due(), None, None, now), Err(Hold::Moot(Moot::Gone)));

        // A survey's reminder is judged by the survey's events, whatever its obligation says.
        let reminder = Due {
            survey_step: Some(1),
            ..due()
        };
        let sent = [event("survey.sent", "s1")];
        assert_eq!(needed(&reminder, None, Some((&sent, "s1")), now), Ok(()));
        let err = needed(&reminder, Some(&open), Some((&sent, "s2")), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not needed: the survey itself was not sent"
        );
        let answered = [event("survey.sent", "s1"), event("survey.answered", "s1")];
        let err = needed(&reminder, Some(&open), Some((&answered, "s1")), now).unwrap_err();
        assert_eq!(err.to_string(), "not needed: the survey was answered");
        // Another send's answer does not count.
        let other = [event("survey.sent", "s1"), event("survey.answered", "s2")];
        assert_eq!(needed(&reminder, None, Some((&other, "s1")), now), Ok(()));
    }

    #[test]
    fn customer_emails_go_to_the_address_on_file() {
        assert_eq!(
            address(&due(), "customer", Some("ana@example.com")),
            Ok("ana@example.com".into())
        );
        let held = address(&due(), "customer", None).unwrap_err();
        assert_eq!(held.disposition(), Disposition::Skipped);
        assert_eq!(
            held.to_string(),
            "no email address on file for the customer"
        );
        let hook = Due {
            channel: Channel::Webhook,
            ..due()
        };
        assert_eq!(address(&hook, "sms", None), Ok("sms".into()));
        let staff = Due {
            to_customer: false,
            ..due()
        };
        assert_eq!(
            address(&staff, "desk@example.com", Some("ana@example.com")),
            Ok("desk@example.com".into())
        );
    }

    #[test]
    fn local_zone_falls_back_to_the_default() {
        let lisbon = TimeZone::get("Europe/Lisbon").unwrap();
        let theirs = LocalZone::of(Some("America/New_York"), &lisbon);
        assert_eq!(theirs.name, "America/New_York");
        let unknown = LocalZone::of(Some("Mars/Olympus"), &lisbon);
        assert_eq!(
            (unknown.name.as_str(), &unknown.zone),
            ("Europe/Lisbon", &lisbon)
        );
        assert_eq!(LocalZone::of(None, &TimeZone::UTC).name, "UTC");
        assert_eq!(
            LocalZone::of(None, &TimeZone::fixed(jiff::tz::offset(2))).name,
            "UTC"
        );
    }

    #[test]
    fn suppressions_spare_transactional_messages_but_not_bounces() {
        let at = t("2026-11-01T00:00:00Z");
        let r = rules();
        let held = r.suppression(&due(), "unsubscribed", at, None).unwrap_err();
        assert_eq!(held.disposition(), Disposition::Suppressed);
        assert_eq!(
            held.to_string(),
            "suppressed: unsubscribed at 2026-11-01T00:00:00Z"
        );
        let transactional = Due {
            transactional: true,
            ..due()
        };
        assert_eq!(
            r.suppression(&transactional, "unsubscribed", at, None),
            Ok(())
        );
        let bounce = r
            .suppression(&transactional, "bounced", at, Some("550 no such user"))
            .unwrap_err();
        assert_eq!(
            bounce.to_string(),
            "suppressed: bounced at 2026-11-01T00:00:00Z (550 no such user)"
        );
    }

    #[test]
    fn quiet_hours_hold_what_is_not_urgent() {
        let r = rules();
        let zone = LocalZone::of(Some("Europe/Lisbon"), &TimeZone::UTC);
        let night = t("2026-11-02T22:30:00Z");
        let held = r.quiet_hours(&due(), night, &zone).unwrap_err();
        assert_eq!(
            held.disposition(),
            Disposition::WaitUntil(t("2026-11-03T08:00:00Z"))
        );
        assert_eq!(
            held.to_string(),
            "waiting: quiet hours in Europe/Lisbon until 2026-11-03T08:00:00Z"
        );
        let urgent = Due {
            urgent: true,
            ..due()
        };
        assert_eq!(r.quiet_hours(&urgent, night, &zone), Ok(()));
        assert_eq!(
            r.quiet_hours(&due(), t("2026-11-02T12:00:00Z"), &zone),
            Ok(())
        );
        let no_quiet = Rules {
            quiet_hours: None,
            ..rules()
        };
        assert_eq!(no_quiet.quiet_hours(&due(), night, &zone), Ok(()));
    }

    #[test]
    fn the_daily_cap_counts_only_what_is_not_transactional() {
        let r = rules();
        let now = t("2026-11-02T12:00:00Z");
        assert_eq!(r.daily_window(&due(), now), Some(t("2026-11-01T12:00:00Z")));
        let transactional = Due {
            transactional: true,
            ..due()
        };
        assert_eq!(r.daily_window(&transactional, now), None);
        let uncapped = Rules {
            daily_cap: 0,
            ..rules()
        };
        assert_eq!(uncapped.daily_window(&due(), now), None);
        assert_eq!(r.daily_cap(2), Ok(()));
        let held = r.daily_cap(3).unwrap_err();
        assert_eq!(held.disposition(), Disposition::Capped);
        assert_eq!(
            held.to_string(),
            "capped: 3 messages already sent in the last 24 h (daily_cap = 3)"
        );
    }

    #[test]
    fn one_survey_per_customer_per_span() {
        let r = rules();
        let now = t("2026-11-02T12:00:00Z");
        assert_eq!(r.survey_window(&due(), now), None);
        let survey = Due {
            survey_step: Some(0),
            ..due()
        };
        assert_eq!(
            r.survey_window(&survey, now),
            Some(t("2026-10-03T12:00:00Z"))
        );
        let reminder = Due {
            survey_step: Some(1),
            ..due()
        };
        assert_eq!(r.survey_window(&reminder, now), None);
        assert_eq!(r.survey_every(0), Ok(()));
        let held = r.survey_every(1).unwrap_err();
        assert_eq!(held.disposition(), Disposition::Capped);
        assert!(
            held.to_string()
                .starts_with("capped: a survey already went to this customer in the last "),
            "{held}"
        );
    }
}
