//! `[actions]`, the actions of each policy (`on_open`, `on_due`, `warn_before`, `on_breach`,
//! `escalate_after`), and who gets staff messages: `[people.*]`, `[teams.*]`, `[[routes]]`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::SignedDuration;
use serde::{Deserialize, Deserializer, Serialize};

use super::{ConfigFile, PolicyConfig};
use crate::domain::action::gate::Rules;
use crate::domain::action::{Action, ActionBook, ActionKind, QuietHours, Recipient};
use crate::domain::span::parse_span;
use crate::domain::Event;

/// `[actions]`: how Seen sends.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// Run actions at all (`seen serve` plans and sends them).
    pub enabled: bool,
    /// Shown in messages ("Riverside Rooms").
    pub business_name: String,
    /// Where this server is reachable by customers: unsubscribe links point here.
    pub public_url: String,
    /// A folder of templates (one sub-folder per message) overriding or adding to the built-in ones.
    pub templates: Option<String>,
    /// The time zone of customers who have none.
    pub timezone: String,
    /// Non-urgent messages to a customer wait while it is this time in their zone, e.g. "21:00-08:00".
    pub quiet_hours: Option<String>,
    /// Most non-transactional messages to one customer in 24 hours (0: no cap).
    pub daily_cap: u32,
    /// Tries before a message is given up (dead-lettered).
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles it, with jitter.
    pub retry_backoff: String,
    /// Actions due longer ago than this when Seen first sees them are not sent (imported history).
    pub max_delay: String,
    /// Messages sent at once.
    pub concurrency: usize,
    /// A claimed message not finished within this span is claimed again (its node died).
    pub lease: String,
    /// The team for obligations no route matches.
    pub default_team: Option<String>,
    /// Signs unsubscribe and survey links. Default: a random secret kept in the database (shared by all nodes).
    pub secret: Option<String>,
    /// At most one survey per customer in this span.
    pub survey_every: String,
    /// Survey answer links stop working after this span.
    pub survey_expires: String,
}

impl std::fmt::Debug for ActionsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionsConfig")
            .field("enabled", &self.enabled)
            .field("business_name", &self.business_name)
            .field("public_url", &self.public_url)
            .field("templates", &self.templates)
            .field("timezone", &self.timezone)
            .field("quiet_hours", &self.quiet_hours)
            .field("daily_cap", &self.daily_cap)
            .field("max_attempts", &self.max_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_delay", &self.max_delay)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("default_team", &self.default_team)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("survey_every", &self.survey_every)
            .field("survey_expires", &self.survey_expires)
            .finish()
    }
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            enabled: true,
            business_name: "Seen".into(),
            public_url: "http://127.0.0.1:8080".into(),
            templates: None,
            timezone: "UTC".into(),
            quiet_hours: Some("21:00-08:00".into()),
            daily_cap: 3,
            max_attempts: 6,
            retry_backoff: "30s".into(),
            max_delay: "1h".into(),
            concurrency: 16,
            lease: "5m".into(),
            default_team: None,
            secret: None,
            survey_every: "30d".into(),
            survey_expires: "14d".into(),
        }
    }
}

/// The validated `[actions]` settings.
#[derive(Debug, Clone)]
pub struct ActionSettings {
    pub business_name: String,
    pub public_url: String,
    pub timezone: jiff::tz::TimeZone,
    pub quiet_hours: Option<QuietHours>,
    pub daily_cap: u32,
    pub max_attempts: u32,
    pub retry_backoff: SignedDuration,
    pub max_delay: SignedDuration,
    pub concurrency: usize,
    pub lease: SignedDuration,
    pub survey_every: SignedDuration,
    pub survey_expires: SignedDuration,
}

impl ActionSettings {
    /// The rules the gate applies to each message to a customer.
    pub fn rules(&self) -> Rules {
        Rules {
            quiet_hours: self.quiet_hours,
            daily_cap: self.daily_cap,
            survey_every: self.survey_every,
        }
    }
}

impl ActionsConfig {
    pub fn settings(&self) -> Result<ActionSettings, String> {
        let span = |name: &str, text: &str| {
            parse_span(text)
                .map_err(|e| format!("[actions] {name}: {e}"))
                .and_then(|s| {
                    if s.is_positive() {
                        Ok(s)
                    } else {
                        Err(format!("[actions] {name} must be positive"))
                    }
                })
        };
        let timezone = jiff::tz::TimeZone::get(&self.timezone)
            .map_err(|e| format!("[actions] timezone {:?}: {e}", self.timezone))?;
        let quiet_hours = match &self.quiet_hours {
            Some(text) if !text.trim().is_empty() => {
                Some(QuietHours::parse(text).map_err(|e| format!("[actions] quiet_hours: {e}"))?)
            }
            _ => None,
        };
        if self.concurrency == 0 {
            return Err("[actions] concurrency must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return Err("[actions] max_attempts must be at least 1".into());
        }
        Ok(ActionSettings {
            business_name: self.business_name.clone(),
            public_url: self.public_url.trim_end_matches('/').to_string(),
            timezone,
            quiet_hours,
            daily_cap: self.daily_cap,
            max_attempts: self.max_attempts,
            retry_backoff: span("retry_backoff", &self.retry_backoff)?,
            max_delay: span("max_delay", &self.max_delay)?,
            concurrency: self.concurrency,
            lease: span("lease", &self.lease)?,
            survey_every: span("survey_every", &self.survey_every)?,
            survey_expires: span("survey_expires", &self.survey_expires)?,
        })
    }
}

/// One action in a policy, e.g. `on_open = { template = "booking-confirmation" }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The message template (a folder name). Staff actions default to `warn`, `breach-alert`, `escalation`.
    #[serde(default)]
    pub template: Option<String>,
    /// "customer", "assignee" (the routed team), "manager" (its managers), or a team or person name.
    /// Default: the customer for `on_open` / `on_due`, the assignee for warnings and breaches, the manager
    /// for escalations.
    #[serde(default)]
    pub to: Option<String>,
    /// Send to this named webhook (`[webhooks.NAME]`) instead of email.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Goes to unsubscribed customers too and is not capped (default: true for `on_open`).
    #[serde(default)]
    pub transactional: Option<bool>,
    /// Ignores quiet hours (default: true for `on_open`).
    #[serde(default)]
    pub urgent: Option<bool>,
    /// The event type recorded when a customer message is sent (default: the policy's first `expect` type
    /// for `on_open` / `on_due`; none otherwise). "" records nothing.
    #[serde(default)]
    pub records: Option<String>,
    /// `warn_before`: how long before the breach; `escalate_after`: how long after it.
    #[serde(default)]
    pub span: Option<String>,
    /// `escalate_after`: the span between repeated escalations (default: `span`).
    #[serde(default)]
    pub repeat: Option<String>,
    /// `escalate_after`: how many escalations in all (default 1).
    #[serde(default)]
    pub max: Option<u32>,
    /// Ask this `[surveys.NAME]` (template default "survey"; records "survey.sent").
    #[serde(default)]
    pub survey: Option<String>,
}

/// `[surveys.NAME]`: a question Seen can ask.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyConfig {
    /// "csat" (1–5), "nps" (0–10) or "invisible" (have you ever felt ignored or invisible? yes/no).
    pub kind: String,
    /// The question as the customer reads it (default: one per kind).
    #[serde(default)]
    pub question: Option<String>,
    /// One reminder this long after the survey, if unanswered.
    #[serde(default)]
    pub remind_after: Option<String>,
}

pub(super) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ActionConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ActionConfig),
        Many(Vec<ActionConfig>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `[people.NAME]`: someone who gets staff messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    /// Display name (default: the key).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// A `[webhooks.NAME]` (e.g. their Slack channel) that also gets their messages.
    #[serde(default)]
    pub webhook: Option<String>,
}

/// `[teams.NAME]`: who is assigned obligations routed here, and who hears about escalations.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub managers: Vec<String>,
}

/// `[[routes]]`: the first route whose every given field matches assigns the obligation to its team.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub team: String,
    /// Policy names (any if empty).
    #[serde(default)]
    pub policy: Vec<String>,
    /// Channels of the trigger event, e.g. "email", "whatsapp" (any if empty).
    #[serde(default)]
    pub channel: Vec<String>,
    /// Trigger event properties that must equal these values (as text).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// A person a staff message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The key in `[people]`.
    pub key: String,
    pub name: String,
    pub email: Option<String>,
    pub webhook: Option<String>,
}

/// People, teams and routes: who is responsible for an obligation.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: BTreeMap<String, PersonConfig>,
    teams: BTreeMap<String, TeamConfig>,
    routes: Vec<RouteConfig>,
    default_team: Option<String>,
}

impl Directory {
    pub fn new(file: &ConfigFile) -> Result<Directory, String> {
        for (team, t) in &file.teams {
            for person in t.members.iter().chain(&t.managers) {
                if !file.people.contains_key(person) {
                    return Err(format!("team {team:?}: unknown person {person:?}"));
                }
            }
        }
        for (name, p) in &file.people {
            if let Some(hook) = &p.webhook {
                if !file.webhooks.contains_key(hook) && !is_url(hook) {
                    return Err(format!("person {name:?}: unknown webhook {hook:?}"));
                }
            }
        }
        for (i, route) in file.routes.iter().enumerate() {
            if !file.teams.contains_key(&route.team) {
                return Err(format!("routes[{i}]: unknown team {:?}", route.team));
            }
        }
        if let Some(team) = &file.actions.default_team {
            if !file.teams.contains_key(team) {
                return Err(format!("[actions] default_team: unknown team {team:?}"));
            }
        }
        Ok(Directory {
            people: file.people.clone(),
            teams: file.teams.clone(),
            routes: file.routes.clone(),
            default_team: file.actions.default_team.clone(),
        })
    }

    /// The configured teams, by name.
    pub fn team_names(&self) -> Vec<String> {
        self.teams.keys().cloned().collect()
    }

    fn knows(&self, name: &str) -> bool {
        self.people.contains_key(name) || self.teams.contains_key(name)
    }

    /// The team an obligation of `policy` opened by `trigger` is routed to.
    pub fn team_for(&self, policy: &str, trigger: Option<&Event>) -> Option<&str> {
        let properties = trigger.map(Event::properties_value);
        self.routes
            .iter()
            .find(|route| {
                (route.policy.is_empty() || route.policy.iter().any(|p| p == policy))
                    && (route.channel.is_empty()
                        || trigger
                            .and_then(|e| e.channel.as_deref())
                            .is_some_and(|c| route.channel.iter().any(|r| r == c)))
                    && route.properties.iter().all(|(key, want)| {
                        properties
                            .as_ref()
                            .and_then(|p| p.get(key))
                            .is_some_and(|v| match v {
                                serde_json::Value::String(s) => s == want,
                                other => want.as_str() == other.to_string().as_str(),
                            })
                    })
            })
            .map(|route| route.team.as_str())
            .or(self.default_team.as_deref())
    }

    /// The people a staff recipient stands for (none for the customer).
    pub fn contacts(&self, to: &Recipient, policy: &str, trigger: Option<&Event>) -> Vec<Contact> {
        let names: Vec<&String> = match to {
            Recipient::Customer => vec![],
            Recipient::Assignee => self
                .team_for(policy, trigger)
                .and_then(|t| self.teams.get(t))
                .map(|t| t.members.iter().collect())
                .unwrap_or_default(),
            Recipient::Manager => self
                .team_for(policy, trigger)
                .and_then(|t| self.teams.get(t))
                .map(|t| t.managers.iter().collect())
                .unwrap_or_default(),
            Recipient::Named(name) => match self.teams.get(name) {
                Some(team) => team.members.iter().collect(),
                None if self.people.contains_key(name) => vec![name],
                None => vec![],
            },
        };
        let mut seen = std::collections::BTreeSet::new();
        names
            .into_iter()
            .filter(|n| seen.insert(n.as_str()))
            .filter_map(|key| {
                let p = self.people.get(key)?;
                Some(Contact {
                    key: key.clone(),
                    name: p.name.clone().unwrap_or_else(|| key.clone()),
                    email: p.email.clone(),
                    webhook: p.webhook.clone(),
                })
            })
            .collect()
    }
}

pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Validates every policy's actions into the `ActionBook`.
pub fn build_action_book(file: &ConfigFile, directory: &Directory) -> Result<ActionBook, String> {
    let mut by_policy = HashMap::new();
    let mut waiting_for = HashMap::new();
    for p in &file.policies {
        let actions = policy_actions(p, file, directory)?;
        let name = Arc::<str>::from(p.name.as_str());
        match p.waiting_for.as_deref().map(str::trim) {
            Some("") => {
                return Err(format!(
                    "policy {:?}: `waiting_for` is empty (leave it out for the generic words)",
                    p.name
                ))
            }
            Some(words) => {
                waiting_for.insert(name.clone(), words.to_string());
            }
            None => {}
        }
        by_policy.insert(name, actions);
    }
    Ok(ActionBook::new(by_policy).with_waiting_for(waiting_for))
}

fn policy_actions(
    p: &PolicyConfig,
    file: &ConfigFile,
    directory: &Directory,
) -> Result<Vec<Action>, String> {
    let groups = [
        (ActionKind::Open, "on_open", &p.on_open),
        (ActionKind::Due, "on_due", &p.on_due),
        (ActionKind::Warn, "warn_before", &p.warn_before),
        (ActionKind::Breach, "on_breach", &p.on_breach),
        (ActionKind::Escalate, "escalate_after", &p.escalate_after),
    ];
    let mut out = Vec::new();
    for (kind, field, configs) in groups {
        for (i, c) in configs.iter().enumerate() {
            let at = |what: &str| format!("policy {:?}: {field}[{i}]: {what}", p.name);
            let span =
                |name: &str, text: &str| parse_span(text).map_err(|e| at(&format!("{name}: {e}")));
            let to = Recipient::parse(c.to.as_deref().unwrap_or(match kind {
                ActionKind::Open | ActionKind::Due => "customer",
                ActionKind::Warn | ActionKind::Breach => "assignee",
                ActionKind::Escalate => "manager",
            }));
            if let Recipient::Named(name) = &to {
                if !directory.knows(name) {
                    return Err(at(&format!("`to`: unknown team or person {name:?}")));
                }
            }
            if kind == ActionKind::Due && !matches!(p.kind.as_str(), "schedule") {
                return Err(at(
                    "`on_due` belongs to kind \"schedule\" (use on_open or warn_before)",
                ));
            }
            let survey = match &c.survey {
                None => None,
                Some(name) => {
                    let config = file
                        .surveys
                        .get(name)
                        .ok_or_else(|| at(&format!("unknown survey {name:?}")))?;
                    if to != Recipient::Customer {
                        return Err(at("surveys go to the customer"));
                    }
                    let remind = match &config.remind_after {
                        Some(text) => Some(span("remind_after", text)?),
                        None => None,
                    };
                    Some((name.clone(), remind))
                }
            };
            let template = match (&c.template, kind, &to) {
                (Some(t), _, _) => t.clone(),
                (None, _, _) if survey.is_some() => "survey".into(),
                (None, ActionKind::Warn, r) if *r != Recipient::Customer => "warn".into(),
                (None, ActionKind::Breach, r) if *r != Recipient::Customer => "breach-alert".into(),
                (None, ActionKind::Escalate, r) if *r != Recipient::Customer => "escalation".into(),
                _ => return Err(at("needs `template`")),
            };
            if let Some(hook) = &c.webhook {
                if !file.webhooks.contains_key(hook) && !is_url(hook) {
                    return Err(at(&format!("unknown webhook {hook:?}")));
                }
            }
            let (offset, repeat, max) = match kind {
                ActionKind::Warn | ActionKind::Escalate => {
                    let text = c.span.as_deref().ok_or_else(|| at("needs `span`"))?;
                    let offset = span("span", text)?;
                    if !offset.is_positive() && kind == ActionKind::Warn {
                        return Err(at("`span` must be positive"));
                    }
                    let repeat = match &c.repeat {
                        Some(r) => span("repeat", r)?,
                        None => offset,
                    };
                    let max = c.max.unwrap_or(1);
                    if kind == ActionKind::Escalate && max > 1 && !repeat.is_positive() {
                        return Err(at("`repeat` must be positive"));
                    }
                    if max == 0 || max > 100 {
                        return Err(at("`max` must be between 1 and 100"));
                    }
                    (offset, repeat, max)
                }
                _ => {
                    if c.span.is_some() || c.repeat.is_some() || c.max.is_some() {
                        return Err(at(
                            "`span`, `repeat` and `max` belong to warn_before / escalate_after",
                        ));
                    }
                    (SignedDuration::ZERO, SignedDuration::ZERO, 1)
                }
            };
            let to_customer = to == Recipient::Customer;
            let records = match &c.records {
                Some(r) if r.is_empty() => None,
                Some(r) => Some(r.clone()),
                None if survey.is_some() => Some("survey.sent".into()),
                None if to_customer && matches!(kind, ActionKind::Open | ActionKind::Due) => {
                    p.expect.first().cloned()
                }
                None => None,
            };
            if records.is_some() && !to_customer {
                return Err(at("`records` is only for messages to the customer"));
            }
            out.push(Action {
                kind,
                offset,
                repeat,
                max,
                template,
                to,
                webhook: c.webhook.clone(),
                transactional: c
                    .transactional
                    .unwrap_or(kind == ActionKind::Open && survey.is_none()),
                urgent: c
                    .urgent
                    .unwrap_or(kind == ActionKind::Open && survey.is_none()),
                records,
                remind_after: survey.as_ref().and_then(|(_, r)| *r),
                survey: survey.map(|(name, _)| name),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DEFAULT_CONFIG};

    #[test]
    fn waiting_words_are_the_policys_and_need_no_recompute() {
        let config = Config::defaults().unwrap();
        assert_eq!(
            config.actions.waiting_for("reply"),
            "for a reply to your message"
        );
        assert_eq!(
            config.actions.waiting_for("gone-quiet"),
            "for us to get back to you"
        );
        // Words are not what decides obligations: the fingerprint ignores them.
        let without: String = DEFAULT_CONFIG
            .lines()
            .filter(|line| !line.starts_with("waiting_for"))
            .map(|line| format!("{line}\n"))
            .collect();
        let bare = Config::from_toml(&without, "test").unwrap();
        assert_eq!(
            bare.actions.waiting_for("reply"),
            "for us to get back to you"
        );
        assert_eq!(bare.engine.fingerprint(), config.engine.fingerprint());

        let empty = DEFAULT_CONFIG.replace("waiting_for = \"to be served\"", "waiting_for = \" \"");
        let err = Config::from_toml(&empty, "test").unwrap_err().to_string();
        assert!(
            err.contains("\"serve-queue\": `waiting_for` is empty"),
            "{err}"
        );
    }
}
