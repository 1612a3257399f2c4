//! Configuration: `seen.toml` (or the built-in defaults) parsed into one typed struct, and the policies
//! and calendars in it validated into an `Engine`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod actions;
pub mod connectors;
pub mod customer_page;
pub mod visits;

pub use actions::{ActionSettings, Contact, Directory};

use crate::domain::action::ActionBook;
use crate::domain::calendar::Calendar;
use crate::domain::journey::{Journey, Per, Step as JourneyStep};
use crate::domain::policy::{Policy, PolicyKind, ScheduleAt, Within};
use crate::domain::span::parse_span;
use crate::domain::survey::{Survey, SurveyKind};
use crate::domain::Engine;

/// The built-in configuration, printed by `seen config --defaults`.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Toml {
        origin: String,
        source: toml::de::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarConfig>,
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub actions: actions::ActionsConfig,
    #[serde(default)]
    pub email: crate::channels::EmailSettings,
    #[serde(default)]
    pub webhooks: BTreeMap<String, crate::channels::WebhookSettings>,
    #[serde(default)]
    pub people: BTreeMap<String, actions::PersonConfig>,
    #[serde(default)]
    pub teams: BTreeMap<String, actions::TeamConfig>,
    #[serde(default)]
    pub routes: Vec<actions::RouteConfig>,
    #[serde(default)]
    pub surveys: BTreeMap<String, actions::SurveyConfig>,
    #[serde(default)]
    pub churn: ChurnConfig,
    #[serde(default)]
    pub retention: crate::jobs::retention::RetentionConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub connectors: connectors::ConnectorsConfig,
    #[serde(default)]
    pub customer_page: customer_page::CustomerPageConfig,
    #[serde(default)]
    pub public: PublicConfig,
    /// `[[journeys]]`: the steps customers go through, each one or more event types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journeys: Vec<JourneyConfig>,
    /// `[visits]`: the front desk's locations and settings (see `visits.rs`).
    #[serde(default)]
    pub visits: visits::VisitsConfig,
    /// `[[visit_types]]`: what visitors come for; none: no front desk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visit_types: Vec<visits::VisitTypeConfig>,
}

/// `[[journeys]]`: one journey map (see `domain::journey` and the README's "Journeys").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JourneyConfig {
    pub name: String,
    /// "ref": one journey per (customer, ref); "customer": one per customer.
    #[serde(default = "per_ref")]
    pub per: String,
    /// Later steps count only within this span after the entry, e.g. "60d".
    pub window: String,
    pub steps: Vec<JourneyStepConfig>,
    /// Events that end a journey early (a cancelled order): no stage update is sent after one. The report
    /// does not use them (a cancelled journey is one that stopped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel: Vec<String>,
}

/// One step of a journey: reached by the earliest event of one of `events` after the previous step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JourneyStepConfig {
    pub name: String,
    pub events: Vec<String>,
    /// `false`: backstage work the customer does not see.
    #[serde(default = "yes")]
    pub customer_sees: bool,
    /// Backstage steps: tell the customer "still working on it" (template `still-working`) when this span
    /// passed after the previous step without this one; see [`stage_policies`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tell_customer_after: Option<String>,
}

fn per_ref() -> String {
    "ref".into()
}

/// `[[journeys]]` validated; errors name the journey and the field.
pub fn build_journeys(configs: &[JourneyConfig]) -> Result<Vec<Journey>, String> {
    let mut out: Vec<Journey> = Vec::new();
    for (n, j) in configs.iter().enumerate() {
        let at = |field: &str| format!("journeys[{n}] {:?}: {field}", j.name);
        if out.iter().any(|o| o.name == j.name) {
            return Err(at("`name` is used by another journey"));
        }
        let per = Per::parse(&j.per).ok_or_else(|| {
            at(&format!(
                "`per` = {:?}: expected \"ref\" or \"customer\"",
                j.per
            ))
        })?;
        let window =
            parse_span(&j.window).map_err(|e| at(&format!("`window` = {:?}: {e}", j.window)))?;
        let mut steps = Vec::new();
        for (k, s) in j.steps.iter().enumerate() {
            let tell = match &s.tell_customer_after {
                None => None,
                Some(text) => Some(parse_span(text).map_err(|e| {
                    at(&format!("steps[{k}] `tell_customer_after` = {text:?}: {e}"))
                })?),
            };
            steps.push(JourneyStep {
                name: s.name.clone(),
                events: s.events.clone(),
                customer_sees: s.customer_sees,
                tell_customer_after: tell,
            });
        }
        out.push(Journey::new(&j.name, per, window, steps).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The event a stage update records when it is sent (it keeps the stage update's obligation).
pub const STAGE_UPDATE: &str = "journey.stage_update";

/// The name of the policy that sends the stage update of `step` in `journey`.
pub fn stage_policy_name(journey: &str, step: &str) -> String {
    format!("still-working:{journey}:{step}")
}

/// One policy per backstage step with `tell_customer_after` (call after `build_journeys` accepted them): it
/// opens on the previous step's events (per ref, as policies do), is due `tell_customer_after` later and
/// sends the customer the `still-working` template then, once (the outbox's key), respecting quiet hours,
/// the daily cap and unsubscribes; the message records `journey.stage_update`, which keeps it. The events
/// of the step or of any later one, and the journey's `cancel` events, cancel it (a schedule is kept only
/// from its due time on; a cancel counts at any time). Not a promise (never breached, never shown to the
/// customer as one).
pub fn stage_policies(configs: &[JourneyConfig]) -> Vec<PolicyConfig> {
    let mut out = Vec::new();
    for (j, k, after) in stage_steps(configs) {
        let (s, previous) = (&j.steps[k], k - 1);
        out.push(PolicyConfig {
            name: stage_policy_name(&j.name, &s.name),
            kind: "schedule".into(),
            description: Some(format!(
                "journey {:?}: tell the customer we are still working on it when {:?} has not \
                     followed {:?} within {after}",
                j.name, s.name, j.steps[previous].name
            )),
            trigger: j.steps[previous].events.clone(),
            expect: vec![STAGE_UPDATE.to_string()],
            // This step, any later one (it may be skipped) or the journey's end cancels it.
            cancel: {
                let mut cancel: Vec<String> = j.steps[k..]
                    .iter()
                    .flat_map(|s| s.events.iter().cloned())
                    .chain(j.cancel.iter().cloned())
                    .collect();
                cancel.sort();
                cancel.dedup();
                cancel
            },
            pause: vec![],
            resume: vec![],
            reschedule: vec![],
            alert_out_of_hours: false,
            within: None,
            calendar: None,
            at: Some(format!("at + {after}")),
            grace: None,
            promise: false,
            waiting_for: None,
            customer_text: None,
            on_open: vec![],
            on_due: vec![actions::ActionConfig {
                template: Some("still-working".into()),
                records: Some(STAGE_UPDATE.into()),
                ..Default::default()
            }],
            warn_before: vec![],
            on_breach: vec![],
            escalate_after: vec![],
        });
    }
    out
}

/// The journey and step of each stage update's policy, for the `still-working` template.
fn stage_words(configs: &[JourneyConfig]) -> HashMap<Arc<str>, crate::domain::action::Stage> {
    stage_steps(configs)
        .map(|(j, k, _)| {
            let step = &j.steps[k];
            (
                Arc::from(stage_policy_name(&j.name, &step.name).as_str()),
                crate::domain::action::Stage {
                    journey: j.name.clone(),
                    step: step.name.clone(),
                    previous: j.steps[k - 1].name.clone(),
                },
            )
        })
        .collect()
}

/// The steps with a stage update: (journey, step index ≥ 1, `tell_customer_after` as written).
fn stage_steps(configs: &[JourneyConfig]) -> impl Iterator<Item = (&JourneyConfig, usize, &str)> {
    configs.iter().flat_map(|j| {
        j.steps
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(move |(k, s)| s.tell_customer_after.as_deref().map(|after| (j, k, after)))
    })
}

/// `[public]`: the promise figures anyone may see without logging in (`/promises/public` and a badge per
/// policy), off by default. Only figures: rates and times, never a customer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicConfig {
    pub enabled: bool,
    /// The promises published, in this order. Omitted: the built-in list (`[[public.promises]]` in the
    /// defaults), keeping those whose policy exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promises: Option<Vec<PublicPromiseConfig>>,
}

/// `[[public.promises]]`: one published promise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicPromiseConfig {
    /// A promise policy's name.
    pub policy: String,
    /// What is promised, as the public reads it: "messages answered".
    pub label: String,
    /// How the deadline reads ("within one business day"); omitted: from the policy's own `within`
    /// (and calendar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// One published promise, validated: its policy exists and is a promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPromise {
    pub policy: String,
    pub label: String,
    /// The deadline as the public page words it.
    pub within: String,
}

/// `[public]` and `[server] timezone`, validated: what the dashboard needs beyond the service.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// The business's time zone: every time the dashboard shows is in it.
    pub timezone: jiff::tz::TimeZone,
    /// `None`: the public figures are off (their routes answer 404).
    pub public: Option<Vec<PublishedPromise>>,
}

/// Longest public label or deadline phrase.
const MAX_PUBLIC_TEXT: usize = 100;

impl ConfigFile {
    /// `[server] timezone`, else the zone of the `office` calendar (the built-in calendar, which every
    /// configuration has unless it replaces it), else UTC. An unknown zone is an error naming the field.
    pub fn business_timezone(&self) -> Result<jiff::tz::TimeZone, String> {
        let name = match &self.server.timezone {
            Some(name) => name.clone(),
            None => match self.calendars.get("office") {
                Some(office) => office.timezone.clone(),
                None => return Ok(jiff::tz::TimeZone::UTC),
            },
        };
        jiff::tz::TimeZone::get(&name).map_err(|_| {
            format!("[server] timezone = {name:?}: unknown IANA time zone (e.g. \"Europe/Lisbon\")")
        })
    }

    /// `[public]`, checked against the policies (`None`: not enabled, and then not checked). Promises listed
    /// explicitly must name promise policies; the built-in list keeps only the policies that exist.
    pub fn published_promises(
        &self,
        engine: &Engine,
    ) -> Result<Option<Vec<PublishedPromise>>, String> {
        if !self.public.enabled {
            return Ok(None);
        }
        let listed = self.public.promises.clone();
        let explicit = listed.is_some();
        let list = match listed {
            Some(list) => list,
            None => default_public_promises()?,
        };
        let mut out: Vec<PublishedPromise> = Vec::new();
        for p in list {
            let at = |what: &str| format!("[[public.promises]] policy = {:?}: {what}", p.policy);
            let Some(policy) = engine.policies().iter().find(|q| *q.name == *p.policy) else {
                if explicit {
                    return Err(at("no such policy"));
                }
                continue;
            };
            if !policy.promise {
                return Err(at("not a promise (promise = false)"));
            }
            if out.iter().any(|q| q.policy == p.policy) {
                return Err(at("listed twice"));
            }
            let within = p
                .within
                .clone()
                .unwrap_or_else(|| crate::service::public::deadline_phrase(policy));
            for (field, text) in [("label", &p.label), ("within", &within)] {
                if text.trim().is_empty()
                    || text.chars().count() > MAX_PUBLIC_TEXT
                    || text.chars().any(char::is_control)
                {
                    return Err(at(&format!(
                        "{field} must be 1 to {MAX_PUBLIC_TEXT} characters without control characters"
                    )));
                }
            }
            out.push(PublishedPromise {
                policy: p.policy.clone(),
                label: p.label.clone(),
                within,
            });
        }
        Ok(Some(out))
    }

    /// The dashboard's validated settings.
    pub fn dashboard_settings(&self, engine: &Engine) -> Result<DashboardSettings, String> {
        Ok(DashboardSettings {
            timezone: self.business_timezone()?,
            public: self.published_promises(engine)?,
        })
    }
}

/// The built-in `[[public.promises]]` (from `default-config.toml`).
fn default_public_promises() -> Result<Vec<PublicPromiseConfig>, String> {
    let defaults: ConfigFile = toml::from_str(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    Ok(defaults.public.promises.unwrap_or_default())
}

/// `[metrics]`: `GET /metrics` in the Prometheus text format. Off by default; when on, it is served on its
/// own `listen` address, or on the public port only to requests bearing `token` (never unauthenticated there).
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Serve `/metrics` on this address of its own (e.g. "127.0.0.1:9464") instead of the public port.
    pub listen: Option<String>,
    /// Bearer token a scrape must send (required unless `listen` is set; checked on `listen` too if set).
    /// `seen config` prints it hidden.
    #[serde(serialize_with = "hide_secret")]
    pub token: Option<String>,
    /// Figures read from the database (open obligations, outbox backlog) are reused for this long.
    pub refresh: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            listen: None,
            token: None,
            refresh: "5s".into(),
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("refresh", &self.refresh)
            .finish()
    }
}

fn hide_secret<S: serde::Serializer>(secret: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_some("<hidden>"),
        None => s.serialize_none(),
    }
}

/// `[metrics]`, validated: `None` when metrics are off.
#[derive(Clone)]
pub struct MetricsSettings {
    pub listen: Option<std::net::SocketAddr>,
    pub token: Option<String>,
    pub refresh: std::time::Duration,
}

impl MetricsConfig {
    pub fn settings(&self) -> Result<Option<MetricsSettings>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let listen = match &self.listen {
            Some(text) => Some(text.parse().map_err(|_| {
                format!(
                    "[metrics] listen = {text:?}: expected an address such as \"127.0.0.1:9464\""
                )
            })?),
            None => None,
        };
        let token = self.token.clone().filter(|t| !t.trim().is_empty());
        if listen.is_none() && token.is_none() {
            return Err(
                "[metrics] enabled = true needs a `token` (scrapes on the public port must \
                 authenticate) or a `listen` address of its own"
                    .into(),
            );
        }
        if token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err("[metrics] token must be at least 16 characters".into());
        }
        let refresh = parse_span(&self.refresh)
            .ok()
            .and_then(|s| std::time::Duration::try_from(s).ok())
            .ok_or_else(|| {
                format!(
                    "[metrics] refresh = {:?}: expected a span such as \"5s\"",
                    self.refresh
                )
            })?;
        Ok(Some(MetricsSettings {
            listen,
            token,
            refresh,
        }))
    }
}

/// `[churn]`: buy-till-you-die models over purchase events, and when a buyer who went quiet becomes
/// invisible ("gone quiet", through the `customer.gone_quiet` event and the policy it triggers).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChurnConfig {
    /// "pareto" (Pareto/NBD: can also tell that a one-time buyer has left) or "bgnbd" (BG/NBD).
    pub model: String,
    /// The period unit of the model: "day", "week" or "month".
    pub unit: String,
    /// Event types that count as purchases; `properties.value` is the amount.
    pub purchase_types: Vec<String>,
    /// Periods ahead for expected purchases and value.
    pub horizon: f64,
    /// A buyer whose probability of still being active is below this has gone quiet...
    pub gone_quiet_below: f64,
    /// ...when what they would bring in the horizon if still active is at least this (0: any buyer).
    pub value_above: f64,
    /// How often `seen serve` refits (a span such as "1d"; "0s" never: use `seen churn fit`).
    pub refit_every: String,
    /// Record `customer.gone_quiet` events (and so make those buyers invisible). Off: scores only.
    pub flag_gone_quiet: bool,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        ChurnConfig {
            model: "pareto".into(),
            unit: "week".into(),
            purchase_types: vec!["purchase".into(), "order.placed".into()],
            horizon: 52.0,
            gone_quiet_below: 0.3,
            value_above: 0.0,
            refit_every: "1d".into(),
            flag_gone_quiet: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone, e.g. "Europe/London".
    pub timezone: String,
    /// Weekday (mon..sun) → local intervals "HH:MM-HH:MM"; "24:00" may end a day.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Local dates "YYYY-MM-DD" with no opening hours.
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    /// "expect" or "schedule".
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    pub trigger: Vec<String>,
    pub expect: Vec<String>,
    #[serde(default)]
    pub cancel: Vec<String>,
    /// expect: events that stop the clock (waiting on the customer), matched like `expect` and `cancel`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pause: Vec<String>,
    /// expect: events that start a stopped clock again; the time that was left runs from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume: Vec<String>,
    /// Events that move the promised thing (same customer and ref): the open obligation closes as
    /// `rescheduled` and a new one opens from the event's own properties, as a trigger would (a schedule's
    /// new date; an expect policy's new clock, e.g. a visit transferred to another visit type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reschedule: Vec<String>,
    /// Warn and escalation alerts of a policy with a calendar wait for its next opening unless this is true
    /// (a breach alert is never delayed).
    #[serde(default, skip_serializing_if = "is_false")]
    pub alert_out_of_hours: bool,
    /// expect: the span within which an expect event must follow: `"4h"`, or a table chosen by a property
    /// of the trigger, `{ by = "properties.priority", urgent = "1h", default = "1d" }`.
    #[serde(default)]
    pub within: Option<WithinConfig>,
    /// expect: count `within` in this calendar's open time (omit for clock time).
    #[serde(default)]
    pub calendar: Option<String>,
    /// schedule: when the work is due, e.g. "properties.starts_at - 24h".
    #[serde(default)]
    pub at: Option<String>,
    /// schedule: how long after `at` an expect event still keeps it (default 1h).
    #[serde(default)]
    pub grace: Option<String>,
    /// `false`: not a promise to the customer (e.g. asking a survey): tracked, never breached.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub promise: bool,
    /// What the customer waits for, in their words, after "we have kept you waiting", e.g. "for a reply
    /// to your message" (messages such as the apology use it). Default: "for us to get back to you".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// What the promise says on the customer's status page, per state (`open`, `late`, `waiting`, `kept`);
    /// without it the customer never sees this policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_text: Option<customer_page::CustomerTextConfig>,
    /// Actions: send at once when the obligation opens (e.g. the booking confirmation).
    #[serde(
        default,
        deserialize_with = "actions::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_open: Vec<actions::ActionConfig>,
    /// schedule: send at the scheduled `at` (e.g. the reminder 24 h before the booking).
    #[serde(
        default,
        deserialize_with = "actions::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_due: Vec<actions::ActionConfig>,
    /// Tell the assignee a span before the breach, if still open.
    #[serde(
        default,
        deserialize_with = "actions::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub warn_before: Vec<actions::ActionConfig>,
    /// At the breach: alert staff, and optionally apologise to the customer.
    #[serde(
        default,
        deserialize_with = "actions::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_breach: Vec<actions::ActionConfig>,
    /// Tell a manager if still not kept a span after the breach; `repeat` / `max` repeat it.
    #[serde(
        default,
        deserialize_with = "actions::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub escalate_after: Vec<actions::ActionConfig>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `within`: one span, or spans by the value of a trigger's property.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum WithinConfig {
    Span(String),
    /// `by = "properties.NAME"`, `default = SPAN` and one SPAN per value.
    Table(BTreeMap<String, String>),
}

impl PolicyConfig {
    /// The fields that decide obligations (actions and wording do not: changing them needs no recompute).
    fn semantic(&self) -> PolicyConfig {
        PolicyConfig {
            waiting_for: None,
            customer_text: None,
            on_open: vec![],
            on_due: vec![],
            warn_before: vec![],
            on_breach: vec![],
            escalate_after: vec![],
            alert_out_of_hours: false,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one POST /v1/events.
    pub max_batch: usize,
    /// Mark dashboard cookies `Secure` (sent over HTTPS only): set it when Seen is served behind TLS.
    pub secure_cookies: bool,
    /// Seconds the dashboard reuses the overview's and promises' figures (0: compute on every request).
    pub figures_cache_secs: u64,
    /// Seconds the work queue reuses the list of invisible customers (acknowledgements and the dashboard's
    /// own actions show at once; events from elsewhere within this time). 0: compute on every request.
    pub queue_cache_secs: u64,
    /// Dashboard logins: failed attempts per account before each further one waits (429, `Retry-After`).
    pub login_failures_per_account: u32,
    /// ...and per client address (across accounts).
    pub login_failures_per_address: u32,
    /// The first wait, in seconds; each further failure doubles it.
    pub login_backoff_secs: u64,
    /// The longest wait, in seconds.
    pub login_backoff_max_secs: u64,
    /// The business's IANA time zone: the dashboard shows every time in it. Omitted: the `office`
    /// calendar's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 10 * 1024 * 1024,
            max_batch: 10_000,
            secure_cookies: false,
            figures_cache_secs: 30,
            queue_cache_secs: 5,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            login_backoff_secs: 1,
            login_backoff_max_secs: 900,
            timezone: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// SQLite: "normal" survives a killed process (the default); "full" also survives power loss.
    pub synchronous: String,
    /// PostgreSQL: connections per node.
    pub pool_size: u32,
    /// PostgreSQL: statements running longer are cancelled.
    pub statement_timeout: String,
    /// PostgreSQL: how long a request waits for a connection before the API answers 503.
    pub acquire_timeout: String,
    /// PostgreSQL: retries of a batch that failed transiently (connection lost, deadlock, restart).
    pub retries: u32,
    /// PostgreSQL: the first retry's delay; each further one doubles it.
    pub retry_backoff: String,
    /// A customer with more unclosed obligations than this is logged once (a runaway integration opening
    /// a promise per event, say); ingestion goes on at the same speed.
    pub warn_open_obligations: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            synchronous: "normal".into(),
            pool_size: 10,
            statement_timeout: "30s".into(),
            acquire_timeout: "5s".into(),
            retries: 3,
            retry_backoff: "1s".into(),
            warn_open_obligations: 10_000,
        }
    }
}

impl StorageConfig {
    pub fn options(&self) -> Result<crate::store::StoreOptions, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "[storage]".into(),
            message,
        };
        let span = |name: &str, text: &str| {
            parse_span(text)
                .ok()
                .and_then(|s| std::time::Duration::try_from(s).ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    invalid(format!(
                        "{name} = {text:?}: expected a positive span such as 30s"
                    ))
                })
        };
        let synchronous_full = match self.synchronous.to_ascii_lowercase().as_str() {
            "normal" => false,
            "full" => true,
            other => {
                return Err(invalid(format!(
                    "synchronous = {other:?}: expected \"normal\" or \"full\""
                )))
            }
        };
        if self.pool_size == 0 {
            return Err(invalid("pool_size must be at least 1".into()));
        }
        Ok(crate::store::StoreOptions {
            synchronous_full,
            pool_size: self.pool_size,
            statement_timeout: span("statement_timeout", &self.statement_timeout)?,
            acquire_timeout: span("acquire_timeout", &self.acquire_timeout)?,
            retries: self.retries,
            retry_backoff: span("retry_backoff", &self.retry_backoff)?,
        })
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: ConfigFile,
    pub engine: Arc<Engine>,
    /// What Seen does by itself, per policy.
    pub actions: Arc<ActionBook>,
    /// `[actions]`, validated.
    pub action_settings: ActionSettings,
    /// Who is responsible for what.
    pub directory: Arc<Directory>,
    /// The questions Seen can ask, by name.
    pub surveys: Arc<BTreeMap<String, Survey>>,
    /// What the customer's status page says.
    pub customer_page: Arc<customer_page::CustomerPage>,
    /// `[[journeys]]`, validated (the built-in ones unless the file defines its own).
    pub journeys: Arc<Vec<Journey>>,
    /// `[visits]` and `[[visit_types]]`, validated (off without visit types).
    pub visits: Arc<visits::Visits>,
    /// Where it came from: a path, or "built-in defaults".
    pub origin: String,
}

impl Config {
    /// `path` given: it must exist. Otherwise `./seen.toml` if present, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(path) => Some(path.to_path_buf()),
            None => Some(Path::new("seen.toml").to_path_buf()).filter(|p| p.exists()),
        };
        match path {
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: origin.clone(),
                    source,
                })?;
                Config::from_toml(&text, &origin)
            }
            None => Config::defaults(),
        }
    }

    pub fn defaults() -> Result<Config, ConfigError> {
        Config::from_toml(DEFAULT_CONFIG, "built-in defaults")
    }

    /// Parses a configuration text. Calendars merge over the default ones; policies, when given, replace
    /// the default policies.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let parse = |text: &str, origin: &str| {
            toml::from_str::<ConfigFile>(text).map_err(|source| ConfigError::Toml {
                origin: origin.to_string(),
                source,
            })
        };
        let defaults = parse(DEFAULT_CONFIG, "built-in defaults")?;
        let mut file = parse(text, origin)?;
        for (name, calendar) in defaults.calendars {
            file.calendars.entry(name).or_insert(calendar);
        }
        for (name, survey) in defaults.surveys {
            file.surveys.entry(name).or_insert(survey);
        }
        if file.customer_page.timeline.is_empty() {
            file.customer_page.timeline = defaults.customer_page.timeline;
        }
        if file.policies.is_empty() {
            file.policies = defaults.policies;
        }
        if file.journeys.is_empty() {
            file.journeys = defaults.journeys;
        }
        // The built-in visit types come with the built-in serve policy: a file whose own policies leave
        // it out has no front desk unless it lists visit types itself.
        if file.visit_types.is_empty() && file.policies.iter().any(|p| p.name == file.visits.policy)
        {
            file.visit_types = defaults.visit_types;
            // At the file's own locations the built-in counter names mean nothing: every counter serves them.
            if !file.visits.locations.is_empty() {
                for t in &mut file.visit_types {
                    t.counters.clear();
                }
            }
        }
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let journeys = build_journeys(&file.journeys).map_err(invalid)?;
        // The stage updates are policies like any other for the engine and the actions, but not the
        // business's own: `seen config` prints the file as written.
        let mut effective = file.clone();
        effective.policies.extend(stage_policies(&file.journeys));
        let visits = visits::Visits::build(&file.visits, &file.visit_types).map_err(invalid)?;
        visits
            .shape_policy(&mut effective.policies)
            .map_err(invalid)?;
        let engine = build_engine(&effective).map_err(invalid)?;
        let directory = Directory::new(&file).map_err(invalid)?;
        let action_book = actions::build_action_book(&effective, &directory)
            .map_err(invalid)?
            .with_stages(stage_words(&file.journeys));
        let action_settings = file.actions.settings().map_err(invalid)?;
        file.metrics.settings().map_err(invalid)?;
        file.connectors.validate().map_err(invalid)?;
        let customer_page = customer_page::CustomerPage::build(&file).map_err(invalid)?;
        file.dashboard_settings(&engine).map_err(invalid)?;
        let mut surveys = BTreeMap::new();
        for (name, survey) in &file.surveys {
            let kind = SurveyKind::parse(&survey.kind).ok_or_else(|| {
                invalid(format!(
                    "survey {name:?}: unknown kind {:?} (expected \"csat\", \"nps\" or \"invisible\")",
                    survey.kind
                ))
            })?;
            let question = survey
                .question
                .clone()
                .unwrap_or_else(|| kind.default_question().to_string());
            surveys.insert(
                name.clone(),
                Survey {
                    name: name.clone(),
                    kind,
                    question,
                },
            );
        }
        Ok(Config {
            engine: Arc::new(engine),
            actions: Arc::new(action_book),
            action_settings,
            directory: Arc::new(directory),
            surveys: Arc::new(surveys),
            customer_page: Arc::new(customer_page),
            journeys: Arc::new(journeys),
            visits: Arc::new(visits),
            file,
            origin: origin.to_string(),
        })
    }
}

fn build_engine(file: &ConfigFile) -> Result<Engine, String> {
    let mut calendars = BTreeMap::new();
    for (name, c) in &file.calendars {
        if c.hours.values().all(Vec::is_empty) {
            return Err(format!("calendar {name}: no opening hours"));
        }
        let calendar =
            Calendar::new(name, &c.timezone, &c.hours, &c.holidays).map_err(|e| e.to_string())?;
        calendars.insert(name.clone(), Arc::new(calendar));
    }
    let mut policies: Vec<Policy> = Vec::new();
    for p in &file.policies {
        let at = |field: &str| format!("policy {:?}: {field}", p.name);
        if p.name.trim().is_empty() {
            return Err("a policy has an empty name".into());
        }
        if policies.iter().any(|q| *q.name == *p.name) {
            return Err(format!("policy {:?} is defined twice", p.name));
        }
        if p.trigger.is_empty() {
            return Err(at("`trigger` needs at least one event type"));
        }
        if p.expect.is_empty() {
            return Err(at("`expect` needs at least one event type"));
        }
        let span =
            |field: &str, text: &str| parse_span(text).map_err(|e| format!("{}: {e}", at(field)));
        let kind = match p.kind.as_str() {
            "expect" => {
                let within = p
                    .within
                    .as_ref()
                    .ok_or_else(|| at("kind \"expect\" needs `within`"))?;
                let calendar = match &p.calendar {
                    None => None,
                    Some(name) => Some(
                        calendars
                            .get(name)
                            .cloned()
                            .ok_or_else(|| at(&format!("unknown calendar {name:?}")))?,
                    ),
                };
                if p.at.is_some() || p.grace.is_some() {
                    return Err(at("`at` and `grace` belong to kind \"schedule\""));
                }
                PolicyKind::Expect {
                    within: within_of(within, &span, &at)?,
                    calendar,
                }
            }
            "schedule" => {
                let text =
                    p.at.as_deref()
                        .ok_or_else(|| at("kind \"schedule\" needs `at`"))?;
                if p.within.is_some() || p.calendar.is_some() {
                    return Err(at("`within` and `calendar` belong to kind \"expect\""));
                }
                if !p.pause.is_empty() || !p.resume.is_empty() {
                    return Err(at("`pause` and `resume` belong to kind \"expect\""));
                }
                PolicyKind::Schedule {
                    at: ScheduleAt::parse(text).map_err(|e| format!("{}: {e}", at("at")))?,
                    grace: span("grace", p.grace.as_deref().unwrap_or("1h"))?,
                }
            }
            other => {
                return Err(at(&format!(
                    "unknown kind {other:?} (expected \"expect\" or \"schedule\")"
                )))
            }
        };
        policies.push(Policy {
            pause: p.pause.clone(),
            resume: p.resume.clone(),
            reschedule: p.reschedule.clone(),
            promise: p.promise,
            alert_out_of_hours: p.alert_out_of_hours,
            ..Policy::new(
                &p.name,
                kind,
                p.trigger.clone(),
                p.expect.clone(),
                p.cancel.clone(),
            )
        });
    }
    // Only what changes obligations goes into the fingerprint.
    let semantic_policies: Vec<PolicyConfig> =
        file.policies.iter().map(PolicyConfig::semantic).collect();
    let semantic =
        serde_json::json!({ "calendars": file.calendars, "policies": semantic_policies });
    let fingerprint = hex::encode(Sha256::digest(semantic.to_string().as_bytes()));
    Ok(Engine::new(policies, fingerprint).with_open_warning(file.storage.warn_open_obligations))
}

/// A policy's `within`: one span, or the table of spans by a trigger's property.
fn within_of(
    within: &WithinConfig,
    span: &dyn Fn(&str, &str) -> Result<jiff::SignedDuration, String>,
    at: &dyn Fn(&str) -> String,
) -> Result<Within, String> {
    let table = match within {
        WithinConfig::Span(text) => return Ok(Within::Fixed(span("within", text)?)),
        WithinConfig::Table(table) => table,
    };
    let by = table.get("by").ok_or_else(|| {
        at("`within` as a table needs `by`, e.g. { by = \"properties.priority\", urgent = \"1h\", default = \"1d\" }")
    })?;
    let property = by
        .strip_prefix("properties.")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| at(&format!("within.by {by:?}: expected \"properties.NAME\"")))?;
    let default = table.get("default").ok_or_else(|| {
        at("`within` as a table needs `default` (for a missing or unknown value)")
    })?;
    let mut spans = Vec::new();
    for (value, text) in table {
        if value == "by" || value == "default" {
            continue;
        }
        let lower = value.to_lowercase();
        if spans.iter().any(|(v, _)| *v == lower) {
            return Err(at(&format!(
                "within: {value:?} is listed twice (values match case-insensitively)"
            )));
        }
        spans.push((lower, span(&format!("within.{value}"), text)?));
    }
    Ok(Within::ByProperty {
        property: property.to_string(),
        spans,
        default: span("within.default", default)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journeys_default_and_errors_name_the_field() {
        let defaults = Config::defaults().unwrap();
        let names: Vec<&str> = defaults.journeys.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["booking", "order", "visit"]);
        for j in defaults.journeys.iter() {
            assert!(
                j.steps.iter().any(|s| !s.customer_sees),
                "{}: a backstage step",
                j.name
            );
        }
        let journey = |per: &str, window: &str, steps: &str| {
            format!("[[journeys]]\nname = \"j\"\nper = \"{per}\"\nwindow = \"{window}\"\nsteps = [{steps}]\n")
        };
        let one = r#"{ name = "a", events = ["x.y"] }"#;
        let error = |text: &str| match Config::from_toml(text, "t") {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        };
        let own = Config::from_toml(&journey("customer", "7d", one), "t").unwrap();
        assert_eq!(
            own.journeys.len(),
            1,
            "journeys given replace the built-in ones"
        );
        assert!(error(&journey("order", "7d", one)).contains("`per`"));
        assert!(error(&journey("ref", "soon", one)).contains("`window`"));
        assert!(error(&journey("ref", "7d", "")).contains("`steps`"));
        let twice = format!("{one}, {one}");
        assert!(error(&journey("ref", "7d", &twice)).contains("used twice"));
        let bad_tell = r#"{ name = "a", events = ["x"] }, { name = "b", events = ["y"], customer_sees = false, tell_customer_after = "later" }"#;
        assert!(error(&journey("ref", "7d", bad_tell)).contains("tell_customer_after"));
        let both = format!("{}{}", journey("ref", "7d", one), journey("ref", "7d", one));
        assert!(error(&both).contains("`name`"));
    }

    #[test]
    fn defaults_load_and_cover_the_promises() {
        let config = Config::defaults().unwrap();
        let names: Vec<&str> = config.engine.policies().iter().map(|p| &*p.name).collect();
        assert_eq!(
            names,
            [
                "reply",
                "confirm-booking",
                "confirm-order",
                "dispatch-order",
                "serve-queue",
                "resolve",
                "booking-reminder",
                "survey-after-delivery",
                "survey-after-visit",
                "told-us",
                "follow-up",
                "heard",
                "gone-quiet",
                // The order journey's stage update (a backstage step with `tell_customer_after`).
                "still-working:order:packed",
            ]
        );
        assert_eq!(config.file.server.max_body_bytes, 10 * 1024 * 1024);
        // The stage update: not a promise, cancelled by its step, any later one or the journey's cancel,
        // kept by the message it sends (once, at `tell_customer_after`), not in the file `seen config` prints.
        let stage = config
            .engine
            .policies()
            .iter()
            .find(|p| &*p.name == "still-working:order:packed")
            .unwrap();
        assert!(!stage.promise);
        assert_eq!(stage.trigger, ["order.confirmed"]);
        assert_eq!(stage.expect, [STAGE_UPDATE]);
        assert_eq!(
            stage.cancel,
            [
                "order.cancelled",
                "order.delivered",
                "order.dispatched",
                "order.packed",
                "survey.answered"
            ]
        );
        let actions = config.actions.for_policy("still-working:order:packed");
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].template, "still-working");
        let words = config.actions.stage("still-working:order:packed").unwrap();
        assert_eq!((&*words.journey, &*words.step), ("order", "packed"));
        assert!(!config
            .file
            .policies
            .iter()
            .any(|p| p.name.starts_with("still-working")));
    }

    #[test]
    fn the_business_zone_and_the_published_promises() {
        let config = Config::defaults().unwrap();
        let settings = config.file.dashboard_settings(&config.engine).unwrap();
        assert_eq!(
            settings.timezone,
            jiff::tz::TimeZone::UTC,
            "the office calendar's"
        );
        assert!(settings.public.is_none(), "off by default");
        let config = Config::from_toml(
            "[calendars.office]\ntimezone = 'Europe/Lisbon'\nhours = { mon = ['09:00-17:00'] }\n[public]\nenabled = true",
            "t",
        )
        .unwrap();
        let settings = config.file.dashboard_settings(&config.engine).unwrap();
        assert_eq!(settings.timezone.iana_name(), Some("Europe/Lisbon"));
        let published = settings.public.unwrap();
        assert_eq!(published.len(), 6);
        assert_eq!(published[0].policy, "reply");
        assert_eq!(published[0].label, "messages answered");
        assert_eq!(published[0].within, "within 8 h 30 min of business hours");
        let config = Config::from_toml(
            "[server]\ntimezone = 'America/New_York'\n[public]\nenabled = true\n[[public.promises]]\npolicy = 'reply'\nlabel = 'replies'\nwithin = 'within one business day'",
            "t",
        )
        .unwrap();
        let settings = config.file.dashboard_settings(&config.engine).unwrap();
        assert_eq!(settings.timezone.iana_name(), Some("America/New_York"));
        assert_eq!(
            settings.public.unwrap(),
            vec![PublishedPromise {
                policy: "reply".into(),
                label: "replies".into(),
                within: "within one business day".into()
            }]
        );
    }

    #[test]
    fn user_policies_replace_defaults_and_calendars_merge() {
        let config = Config::from_toml(
            r#"
            [calendars.shop]
            timezone = "Europe/London"
            hours = { sat = ["10:00-16:00"] }
            [[policies]]
            name = "reply"
            kind = "expect"
            trigger = ["message.received"]
            expect = ["message.sent"]
            within = "2h"
            calendar = "office"
            "#,
            "test.toml",
        )
        .unwrap();
        let names: Vec<&str> = config.engine.policies().iter().map(|p| &*p.name).collect();
        assert_eq!(names, ["reply", "still-working:order:packed"]);
        assert!(config.file.calendars.contains_key("office"));
        assert!(config.file.calendars.contains_key("shop"));
    }

    #[test]
    fn business_time_flows_through_the_engine() {
        use crate::domain::{Event, Status};
        let config = Config::from_toml(
            r#"
            [calendars.office]
            timezone = "Europe/London"
            hours = { mon = ["09:00-17:30"], tue = ["09:00-17:30"], wed = ["09:00-12:00", "13:00-17:30"], thu = ["09:00-17:30"], fri = ["09:00-17:00"] }
            holidays = ["2026-12-25", "2026-12-28"]
            [[policies]]
            name = "reply"
            kind = "expect"
            trigger = ["message.received"]
            expect = ["message.sent"]
            within = "8h"
            calendar = "office"
            "#,
            "test",
        )
        .unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let due = |at: &str| {
            let event = Event {
                id: "1".into(),
                kind: "message.received".into(),
                customer: "c".into(),
                at: t(at),
                channel: None,
                reference: None,
                properties: None,
                profile: Default::default(),
            };
            config.engine.evaluate(&[event])[0].due_at
        };
        // Monday 09:30 London (GMT) + 8h: 17:30, exactly at closing, not Tuesday morning.
        assert_eq!(due("2026-11-23T09:30:00Z"), t("2026-11-23T17:30:00Z"));
        // Friday 18:00, after closing: counting starts Monday 09:00 → Monday 17:00.
        assert_eq!(due("2026-11-27T18:00:00Z"), t("2026-11-30T17:00:00Z"));
        // Wednesday 11:00: 1h before lunch, 4h30m after (lunch does not count), 2h30m Thursday → 11:30.
        assert_eq!(due("2026-11-25T11:00:00Z"), t("2026-11-26T11:30:00Z"));
        // Christmas Eve (Thu) 16:00: 1h30m Thu, Fri 25 and Mon 28 are holidays, 6h30m on Tue 29 → 15:30.
        assert_eq!(due("2026-12-24T16:00:00Z"), t("2026-12-29T15:30:00Z"));
        // Across the spring change (Sun 2026-03-29): Friday 16:00 GMT → Monday 16:00 BST = 15:00 UTC.
        assert_eq!(due("2026-03-27T16:00:00Z"), t("2026-03-30T15:00:00Z"));
        // Kept exactly at the due instant is kept; a second later is late.
        let history = |sent: &str| {
            let mk = |id: &str, kind: &str, at: &str| Event {
                id: id.into(),
                kind: kind.into(),
                customer: "c".into(),
                at: t(at),
                channel: None,
                reference: None,
                properties: None,
                profile: Default::default(),
            };
            let events = [
                mk("1", "message.received", "2026-11-23T09:30:00Z"),
                mk("2", "message.sent", sent),
            ];
            config.engine.evaluate(&events)[0].status(t("2027-01-01T00:00:00Z"))
        };
        assert_eq!(history("2026-11-23T17:30:00Z"), Status::Kept);
        assert_eq!(history("2026-11-23T17:30:01Z"), Status::KeptLate);
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("[[policies]]\nname='x'\nkind='expect'\ntrigger=['a']\nexpect=['b']", "needs `within`"),
            ("[[policies]]\nname='x'\nkind='later'\ntrigger=['a']\nexpect=['b']", "unknown kind"),
            (
                "[[policies]]\nname='x'\nkind='expect'\ntrigger=['a']\nexpect=['b']\nwithin='1h'\ncalendar='nope'",
                "unknown calendar",
            ),
            ("[[policies]]\nname='x'\nkind='expect'\ntrigger=['a']\nexpect=['b']\nwithin='1 hour'", "bad span"),
            ("[[policies]]\nname='x'\nkind='schedule'\ntrigger=['a']\nexpect=['b']\nat='tomorrow'", "schedule"),
            ("[calendars.x]\ntimezone='UTC'\nhours={}", "no opening hours"),
            ("[calendars.x]\ntimezone='Nowhere/City'\nhours={mon=['09:00-17:00']}", "Nowhere/City"),
            ("bogus = 1", "bogus"),
            ("[server]\ntimezone = 'Mars/Olympus'", "[server] timezone = \"Mars/Olympus\""),
            (
                "[public]\nenabled = true\n[[public.promises]]\npolicy = 'nope'\nlabel = 'x'",
                "[[public.promises]] policy = \"nope\": no such policy",
            ),
            (
                "[public]\nenabled = true\n[[public.promises]]\npolicy = 'survey-after-visit'\nlabel = 'x'",
                "not a promise",
            ),
            (
                "[public]\nenabled = true\n[[public.promises]]\npolicy = 'reply'\nlabel = ''",
                "label must be",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_toml(text, "t.toml").unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text:?} gave {err:?}, expected {expected:?}"
            );
        }
    }
}
