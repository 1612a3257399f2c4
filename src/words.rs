//! How Seen words times and promises for a customer: instants in their own zone, relative to now ("today at
//! 13:14", "Thu 16 Jan at 10:00"), and a promise as its policy's `customer_text` says it. Shared by the
//! customer's status page and the messages' `promise` variables, so both say the same thing. No I/O.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::config::customer_page::{fill, PolicyTexts};
use crate::domain::{Event, Obligation, Status};

/// The zone to show a customer: theirs if valid, else `fallback`, else UTC.
pub fn zone(customer: Option<&str>, fallback: &str) -> TimeZone {
    customer
        .and_then(|z| TimeZone::get(z).ok())
        .or_else(|| TimeZone::get(fallback).ok())
        .unwrap_or(TimeZone::UTC)
}

/// "Tue 14 Jan at 09:14" (the year only when it is not now's).
pub fn day_and_time(at: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    let this_year = now.to_zoned(zone.clone()).year() == local.year();
    let format = if this_year {
        "%a %-d %b at %H:%M"
    } else {
        "%a %-d %b %Y at %H:%M"
    };
    local.strftime(format).to_string()
}

/// When something happens or happened, as a person says it: "today at 13:14", "tomorrow at 09:00",
/// "yesterday at 17:02", else "Thu 16 Jan at 10:00".
pub fn when(at: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    let today = now.to_zoned(zone.clone()).date();
    let time = local.strftime("%H:%M").to_string();
    match (local.date() - today).get_days() {
        0 => format!("today at {time}"),
        1 => format!("tomorrow at {time}"),
        -1 => format!("yesterday at {time}"),
        _ => day_and_time(at, now, zone),
    }
}

/// A moment in a sentence ("We got your message {opened}"): "today at 09:14", "yesterday at 17:02", else
/// "on Tue 14 Jan at 09:14".
pub fn on_when(at: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let text = when(at, now, zone);
    match text.starts_with("today") || text.starts_with("tomorrow") || text.starts_with("yesterday")
    {
        true => text,
        false => format!("on {text}"),
    }
}

/// The zone's name as shown under times ("Europe/Lisbon").
pub fn zone_name(zone: &TimeZone) -> String {
    zone.iana_name().unwrap_or("UTC").to_string()
}

/// Which of its texts a promise shows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromiseState {
    Open,
    Late,
    Waiting,
    Kept,
}

impl PromiseState {
    /// `None`: nothing to show (cancelled, rescheduled, or closed without being kept).
    pub fn of(obligation: &Obligation, now: Timestamp) -> Option<PromiseState> {
        match obligation.status(now) {
            Status::Open if now > obligation.due_at => Some(PromiseState::Late),
            Status::Open => Some(PromiseState::Open),
            Status::Breached if !obligation.is_closed() => Some(PromiseState::Late),
            Status::Paused => Some(PromiseState::Waiting),
            Status::Kept | Status::KeptLate => Some(PromiseState::Kept),
            _ => None,
        }
    }
}

/// A promise in the customer's words, as its policy's text for its state says it; `trigger` (the event that
/// opened it) gives `{starts_at}`.
pub fn promise_sentence(
    texts: &PolicyTexts,
    state: PromiseState,
    obligation: &Obligation,
    trigger: Option<&Event>,
    now: Timestamp,
    zone: &TimeZone,
) -> String {
    let text = match state {
        PromiseState::Open => &texts.open,
        PromiseState::Late => &texts.late,
        PromiseState::Waiting => &texts.waiting,
        PromiseState::Kept => &texts.kept,
    };
    let due = (obligation.due_at < crate::domain::policy::NEVER).then_some(obligation.due_at);
    let sentence = fill(text, |name| match name {
        "ref" => Some(obligation.reference.clone().unwrap_or_default()),
        "opened" => Some(on_when(obligation.opened_at, now, zone)),
        "due" => due.map(|at| when(at, now, zone)),
        "kept" => obligation.closed_at.map(|at| on_when(at, now, zone)),
        "since" => obligation.paused_since.map(|at| when(at, now, zone)),
        "starts_at" => trigger
            .and_then(|e| {
                e.properties_value()["starts_at"]
                    .as_str()
                    .map(str::to_string)
            })
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map(|at| day_and_time(at, now, zone)),
        _ => None,
    });
    // A promise without a ref reads "Your order  will": close the gap.
    let mut tidy = String::with_capacity(sentence.len());
    for word in sentence.split(' ').filter(|w| !w.is_empty()) {
        if !tidy.is_empty() {
            tidy.push(' ');
        }
        tidy.push_str(word);
    }
    tidy
}

/// `Zoned` for tests and callers that need more than text.
pub fn local(at: Timestamp, zone: &TimeZone) -> Zoned {
    at.to_zoned(zone.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_person_says_them() {
        let zone = TimeZone::get("Europe/Lisbon").unwrap();
        let now: Timestamp = "2026-01-14T09:14:00Z".parse().unwrap();
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert_eq!(
            when(at("2026-01-14T13:14:00Z"), now, &zone),
            "today at 13:14"
        );
        assert_eq!(
            when(at("2026-01-15T09:00:00Z"), now, &zone),
            "tomorrow at 09:00"
        );
        assert_eq!(
            when(at("2026-01-13T17:02:00Z"), now, &zone),
            "yesterday at 17:02"
        );
        assert_eq!(
            when(at("2026-01-16T10:00:00Z"), now, &zone),
            "Fri 16 Jan at 10:00"
        );
        assert_eq!(
            day_and_time(at("2025-12-30T10:00:00Z"), now, &zone),
            "Tue 30 Dec 2025 at 10:00"
        );
        // Summer time: the customer's wall clock.
        let summer = at("2026-07-01T08:00:00Z");
        assert_eq!(when(summer, summer, &zone), "today at 09:00");
        assert_eq!(
            zone_name(&self::zone(Some("Nowhere/City"), "Europe/Lisbon")),
            "Europe/Lisbon"
        );
    }
}
