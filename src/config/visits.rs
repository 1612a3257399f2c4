//! `[visits]` and `[[visit_types]]`: the front desk. Where visitors queue (locations and their counters),
//! what they come for (visit types: a target wait, which becomes that type's serve promise, a typical service
//! time, the counters and staff serving it), and "you're next". Validated into `Visits`, which also checks
//! visit events at every door (an unknown visit type or location is a clear error naming the field).

use std::collections::{BTreeMap, HashMap};

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::{PolicyConfig, WithinConfig};
use crate::domain::event::EventError;
use crate::domain::span::parse_span;
use crate::domain::{visit, Event};

/// `[visits]`: the front desk's settings (used only when `[[visit_types]]` lists at least one type).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisitsConfig {
    /// The policy whose `within` follows each visit type's `target_wait` (by `properties.visit_type`).
    pub policy: String,
    /// Where visitors queue; omitted: one location, "main", with every counter the visit types name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<LocationConfig>,
    /// "You're next": a message when this many people (or fewer) are ahead; 0 turns it off.
    pub notify_ahead: u32,
    /// A `[webhooks]` name (an SMS gateway) for visitors who gave a phone number and no email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_webhook: Option<String>,
    /// Visits queued longer ago than this are off the board (a day's queue, not last week's).
    pub board_window: String,
    /// Service times are learned from this long a history.
    pub history: String,
}

impl Default for VisitsConfig {
    fn default() -> Self {
        VisitsConfig {
            policy: "serve-queue".into(),
            locations: Vec::new(),
            notify_ahead: 1,
            notify_webhook: None,
            board_window: "12h".into(),
            history: "28d".into(),
        }
    }
}

/// `[[visits.locations]]`: one place with a queue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The counters (desks, windows, rooms) at this location.
    pub counters: Vec<String>,
}

/// `[[visit_types]]`: one kind of visit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VisitTypeConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The promised longest wait, e.g. "10m": this type's serve promise.
    pub target_wait: String,
    /// A typical service, e.g. "6m": the estimates' starting point until the history has enough.
    #[serde(default = "five_minutes")]
    pub service_time: String,
    /// The counters that serve it; empty: every counter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<String>,
    /// The staff (users' emails) who serve it; empty: any staff member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staff: Vec<String>,
}

fn five_minutes() -> String {
    "5m".into()
}

/// A visit type, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitType {
    pub name: String,
    pub label: String,
    pub target: SignedDuration,
    pub service: SignedDuration,
    pub counters: Vec<String>,
    pub staff: Vec<String>,
}

/// A location, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub name: String,
    pub label: String,
    pub counters: Vec<String>,
}

/// The front desk, validated. Empty (`is_on` false) when no visit type is configured: visit events are
/// then ordinary events, checked by nothing more.
#[derive(Debug, Clone, Default)]
pub struct Visits {
    pub policy: String,
    pub types: Vec<VisitType>,
    pub locations: Vec<Location>,
    pub notify_ahead: u32,
    pub notify_webhook: Option<String>,
    pub board_window: SignedDuration,
    pub history: SignedDuration,
}

/// Names of locations, counters and types: short, no spaces or slashes (they appear in paths).
fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Visits {
    /// Validates `[visits]` and `[[visit_types]]`; errors name the entry and the field.
    pub fn build(config: &VisitsConfig, types: &[VisitTypeConfig]) -> Result<Visits, String> {
        if types.is_empty() {
            return Ok(Visits::default());
        }
        let span = |field: &str, text: &str| parse_span(text).map_err(|e| format!("{field}: {e}"));
        let mut out = Visits {
            policy: config.policy.clone(),
            notify_ahead: config.notify_ahead,
            notify_webhook: config.notify_webhook.clone(),
            board_window: span("visits.board_window", &config.board_window)?,
            history: span("visits.history", &config.history)?,
            ..Visits::default()
        };
        for (n, t) in types.iter().enumerate() {
            let at = |field: &str| format!("visit_types[{n}] {:?}: {field}", t.name);
            if !name_ok(&t.name) {
                return Err(at("`name` must be 1-64 letters, digits, '-', '_' or '.'"));
            }
            if out.types.iter().any(|v| v.name == t.name) {
                return Err(at("defined twice"));
            }
            let target = span(&at("target_wait"), &t.target_wait)?;
            let service = span(&at("service_time"), &t.service_time)?;
            if target <= SignedDuration::ZERO || service <= SignedDuration::ZERO {
                return Err(at("`target_wait` and `service_time` must be positive"));
            }
            out.types.push(VisitType {
                name: t.name.clone(),
                label: t.label.clone().unwrap_or_else(|| t.name.clone()),
                target,
                service,
                counters: t.counters.clone(),
                staff: t.staff.clone(),
            });
        }
        if config.locations.is_empty() {
            let mut counters: Vec<String> = Vec::new();
            for t in &out.types {
                for c in &t.counters {
                    if !counters.contains(c) {
                        counters.push(c.clone());
                    }
                }
            }
            if counters.is_empty() {
                counters.push("desk".into());
            }
            out.locations.push(Location {
                name: "main".into(),
                label: "Main desk".into(),
                counters,
            });
        }
        for (n, l) in config.locations.iter().enumerate() {
            let at = |field: &str| format!("visits.locations[{n}] {:?}: {field}", l.name);
            if !name_ok(&l.name) {
                return Err(at("`name` must be 1-64 letters, digits, '-', '_' or '.'"));
            }
            if out.locations.iter().any(|v| v.name == l.name) {
                return Err(at("defined twice"));
            }
            if l.counters.is_empty() {
                return Err(at("`counters` needs at least one counter"));
            }
            for c in &l.counters {
                if !name_ok(c) {
                    return Err(at(&format!(
                        "counter {c:?}: letters, digits, '-', '_' or '.'"
                    )));
                }
                if out.locations.iter().any(|o| o.counters.contains(c)) {
                    return Err(at(&format!("counter {c:?} is at two locations")));
                }
            }
            out.locations.push(Location {
                name: l.name.clone(),
                label: l.label.clone().unwrap_or_else(|| l.name.clone()),
                counters: l.counters.clone(),
            });
        }
        for t in &out.types {
            for c in &t.counters {
                if !out.locations.iter().any(|l| l.counters.contains(c)) {
                    return Err(format!(
                        "visit_types {:?}: counter {c:?} is at no location",
                        t.name
                    ));
                }
            }
        }
        Ok(out)
    }

    pub fn is_on(&self) -> bool {
        !self.types.is_empty()
    }

    pub fn visit_type(&self, name: &str) -> Option<&VisitType> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn location(&self, name: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.name == name)
    }

    /// The counters at `location` that serve `visit_type` (a type naming no counter: all of them).
    pub fn counters_for(&self, location: &str, visit_type: &str) -> Vec<&str> {
        let (Some(l), Some(t)) = (self.location(location), self.visit_type(visit_type)) else {
            return Vec::new();
        };
        l.counters
            .iter()
            .filter(|c| t.counters.is_empty() || t.counters.contains(c))
            .map(String::as_str)
            .collect()
    }

    /// The visit types a counter serves.
    pub fn types_at_counter(&self, counter: &str) -> Vec<String> {
        self.types
            .iter()
            .filter(|t| t.counters.is_empty() || t.counters.iter().any(|c| c == counter))
            .map(|t| t.name.clone())
            .collect()
    }

    /// Whether `staff` (a user's email) may serve `visit_type`.
    pub fn serves(&self, staff: &str, visit_type: &str) -> bool {
        self.visit_type(visit_type).is_some_and(|t| {
            t.staff.is_empty() || t.staff.iter().any(|s| s.eq_ignore_ascii_case(staff))
        })
    }

    /// Target waits by visit type.
    pub fn targets(&self) -> HashMap<String, SignedDuration> {
        self.types
            .iter()
            .map(|t| (t.name.clone(), t.target))
            .collect()
    }

    /// A visit event, as any door takes it in: when the front desk is on, `properties.visit_type` (if given;
    /// a transfer needs it) must name a configured type, `properties.location` a configured location
    /// (`visit.queued` needs one when there are several), and the event a ref (the visit).
    pub fn check(&self, event: &Event) -> Result<(), EventError> {
        if !self.is_on() || !visit::is_visit_kind(&event.kind) {
            return Ok(());
        }
        let queued = event.kind == visit::QUEUED;
        match event.property_text("visit_type") {
            Some(t) if self.visit_type(&t).is_none() => {
                let known: Vec<&str> = self.types.iter().map(|t| t.name.as_str()).collect();
                return Err(EventError::new(
                    "properties.visit_type",
                    format!("unknown visit type {t:?} (known: {})", known.join(", ")),
                ));
            }
            // A transfer is to a type; a visitor queued without one waits for any counter.
            None if event.kind == visit::TRANSFERRED => {
                return Err(EventError::new(
                    "properties.visit_type",
                    "missing: visit.transferred needs the new visit type",
                ));
            }
            _ => {}
        }
        match event.property_text("location") {
            Some(l) if self.location(&l).is_none() => {
                let known: Vec<&str> = self.locations.iter().map(|l| l.name.as_str()).collect();
                Err(EventError::new(
                    "properties.location",
                    format!("unknown location {l:?} (known: {})", known.join(", ")),
                ))
            }
            None if queued && self.locations.len() > 1 => Err(EventError::new(
                "properties.location",
                "missing: visit.queued needs the location when there are several",
            )),
            _ => Ok(()),
        }
        .and_then(|()| {
            if event.reference.is_none() && (queued || event.kind == visit::TRANSFERRED) {
                Err(EventError::new(
                    "ref",
                    format!("missing: {} needs the visit's ref", event.kind),
                ))
            } else {
                Ok(())
            }
        })
    }

    /// The location a visit event names, or the only one.
    pub fn location_of(&self, event: &Event) -> Option<String> {
        event
            .property_text("location")
            .or_else(|| (self.locations.len() == 1).then(|| self.locations[0].name.clone()))
    }

    /// Makes the serve policy's `within` follow the visit types' target waits (by `properties.visit_type`;
    /// a visit without one keeps the policy's own span).
    pub fn shape_policy(&self, policies: &mut [PolicyConfig]) -> Result<(), String> {
        if !self.is_on() {
            return Ok(());
        }
        let policy = policies
            .iter_mut()
            .find(|p| p.name == self.policy)
            .ok_or_else(|| {
                format!(
                    "visits.policy {:?} is not a policy (the visit types' serve promise)",
                    self.policy
                )
            })?;
        let default = match &policy.within {
            Some(WithinConfig::Span(span)) => span.clone(),
            Some(WithinConfig::Table(table)) => {
                if table.get("by").map(String::as_str) != Some("properties.visit_type") {
                    return Err(format!(
                        "policy {:?}: its `within` must be one span (the visit types set it by type)",
                        self.policy
                    ));
                }
                table
                    .get("default")
                    .cloned()
                    .unwrap_or_else(|| "15m".into())
            }
            None => "15m".into(),
        };
        let mut table = BTreeMap::new();
        table.insert("by".to_string(), "properties.visit_type".to_string());
        table.insert("default".to_string(), default);
        for t in &self.types {
            table.insert(t.name.clone(), format!("{}s", t.target.as_secs()));
        }
        policy.within = Some(WithinConfig::Table(table));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<VisitTypeConfig> {
        vec![
            VisitTypeConfig {
                name: "returns".into(),
                label: Some("Returns".into()),
                target_wait: "10m".into(),
                service_time: "6m".into(),
                counters: vec!["d1".into()],
                staff: vec![],
            },
            VisitTypeConfig {
                name: "advice".into(),
                label: None,
                target_wait: "20m".into(),
                service_time: "12m".into(),
                counters: vec![],
                staff: vec!["ana@example.com".into()],
            },
        ]
    }

    fn event(kind: &str, properties: &str) -> Event {
        Event {
            id: "e1".into(),
            kind: kind.into(),
            customer: "c1".into(),
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            channel: None,
            reference: Some("v1".into()),
            properties: Some(properties.into()),
            profile: Default::default(),
        }
    }

    #[test]
    fn counters_locations_and_checks() {
        let config = VisitsConfig {
            locations: vec![
                LocationConfig {
                    name: "north".into(),
                    label: None,
                    counters: vec!["d1".into(), "d2".into()],
                },
                LocationConfig {
                    name: "south".into(),
                    label: None,
                    counters: vec!["d3".into()],
                },
            ],
            ..VisitsConfig::default()
        };
        let visits = Visits::build(&config, &types()).unwrap();
        assert_eq!(visits.counters_for("north", "returns"), vec!["d1"]);
        assert_eq!(visits.counters_for("north", "advice"), vec!["d1", "d2"]);
        assert_eq!(visits.types_at_counter("d2"), vec!["advice"]);
        assert!(visits.serves("ANA@example.com", "advice"));
        assert!(!visits.serves("bob@example.com", "advice"));
        assert!(visits.serves("bob@example.com", "returns"));
        let ok = event(
            "visit.queued",
            r#"{"visit_type":"returns","location":"north"}"#,
        );
        assert_eq!(visits.check(&ok), Ok(()));
        let err = visits
            .check(&event(
                "visit.queued",
                r#"{"visit_type":"x","location":"north"}"#,
            ))
            .unwrap_err();
        assert_eq!(err.field, "properties.visit_type");
        assert!(err.reason.contains("returns, advice"), "{err}");
        let err = visits
            .check(&event("visit.queued", r#"{"visit_type":"returns"}"#))
            .unwrap_err();
        assert_eq!(err.field, "properties.location");
        let err = visits
            .check(&event("visit.transferred", r#"{"location":"north"}"#))
            .unwrap_err();
        assert_eq!(err.field, "properties.visit_type");
        assert_eq!(
            visits.check(&event("visit.queued", r#"{"location":"north"}"#)),
            Ok(())
        );
        let err = visits
            .check(&event("visit.called", r#"{"location":"west"}"#))
            .unwrap_err();
        assert_eq!(err.field, "properties.location");
        assert_eq!(
            visits.check(&event("visit.called", r#"{"by":"ana"}"#)),
            Ok(())
        );
        // Off: nothing is checked.
        assert_eq!(
            Visits::default().check(&event("visit.queued", "{}")),
            Ok(())
        );
    }

    #[test]
    fn errors_name_the_entry() {
        let mut bad = types();
        bad[1].target_wait = "soon".into();
        let err = Visits::build(&VisitsConfig::default(), &bad).unwrap_err();
        assert!(
            err.contains("visit_types[1] \"advice\": target_wait"),
            "{err}"
        );
        let mut bad = types();
        bad[0].counters = vec!["nowhere".into()];
        let config = VisitsConfig {
            locations: vec![LocationConfig {
                name: "north".into(),
                label: None,
                counters: vec!["d1".into()],
            }],
            ..VisitsConfig::default()
        };
        let err = Visits::build(&config, &bad).unwrap_err();
        assert!(err.contains("\"nowhere\" is at no location"), "{err}");
        // No locations: one, "main", with the counters the types name.
        let visits = Visits::build(&VisitsConfig::default(), &types()).unwrap();
        assert_eq!(visits.locations.len(), 1);
        assert_eq!(visits.locations[0].counters, vec!["d1"]);
    }
}
