//! Message templates: the words Seen sends when a promise needs it.
//!
//! Each message is a folder with `subject.txt` (one line), `body.txt` and an optional `body.html`.
//! The defaults under `defaults/` are embedded in the binary; a configured directory may override
//! any of them or add new ones (a folder with the same name wins whole: an override without
//! `body.html` means the message has no html part).
//!
//! Every built-in `body.html` extends one layout, `base.html` (`{% extends "base.html" %}`, then
//! `{% block content %}`; blocks `greeting` and `unsubscribe_what` too). An overriding `body.html` may
//! extend it as well, or be a whole document of its own; a `base.html` at the top of the configured
//! directory replaces the built-in layout for every body that extends it.
//!
//! Templates are minijinja, rendered against a [`MessageContext`] that the caller fills. Syntax
//! errors surface at [`Templates::load`], so a bad override stops start-up instead of a send.
//!
//! Undefined values: the environment uses [`UndefinedBehavior::SemiStrict`]. Printing, iterating or
//! filtering an undefined value (a typo such as `{{ customer.nmae }}`) is a render error naming the
//! template, file and line, while `{% if event.properties.room is defined %}` and plain
//! `{% if event.properties.room %}` still work for optional properties. `Strict` would also reject
//! the second form; `Lenient`/`Chainable` would print typos as empty strings and send them.
//! Every documented field of the context is always present (`null` when unknown), so "undefined"
//! only ever means "misspelt" or "an event property that was not sent"; properties set to `null` are
//! dropped so that `is defined` means "present with a value". `none` prints as an empty string.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::action::WAITING_FOR_ANYTHING;

/// The file every message folder must have, holding a one-line subject.
const SUBJECT_FILE: &str = "subject.txt";
/// The file every message folder must have, holding the plain-text body.
const TEXT_FILE: &str = "body.txt";
/// The optional file holding the html body (auto-escaped).
const HTML_FILE: &str = "body.html";
/// The layout html bodies extend, at the top of the templates folder (and its template name).
const LAYOUT_FILE: &str = "base.html";
/// The built-in layout.
const LAYOUT: &str = include_str!("defaults/base.html");

/// The default time format of `localtime`: "Tuesday 1 December 2026, 19:00 WET".
const DEFAULT_TIME_FORMAT: &str = "%A %-d %B %Y, %H:%M %Z";

/// The messages built into the binary: (name, subject, text body, html body).
const DEFAULTS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "acknowledgement",
        include_str!("defaults/acknowledgement/subject.txt"),
        include_str!("defaults/acknowledgement/body.txt"),
        Some(include_str!("defaults/acknowledgement/body.html")),
    ),
    (
        "apology",
        include_str!("defaults/apology/subject.txt"),
        include_str!("defaults/apology/body.txt"),
        Some(include_str!("defaults/apology/body.html")),
    ),
    (
        "booking-confirmation",
        include_str!("defaults/booking-confirmation/subject.txt"),
        include_str!("defaults/booking-confirmation/body.txt"),
        Some(include_str!("defaults/booking-confirmation/body.html")),
    ),
    (
        "booking-reminder",
        include_str!("defaults/booking-reminder/subject.txt"),
        include_str!("defaults/booking-reminder/body.txt"),
        Some(include_str!("defaults/booking-reminder/body.html")),
    ),
    (
        "breach-alert",
        include_str!("defaults/breach-alert/subject.txt"),
        include_str!("defaults/breach-alert/body.txt"),
        None,
    ),
    (
        "escalation",
        include_str!("defaults/escalation/subject.txt"),
        include_str!("defaults/escalation/body.txt"),
        None,
    ),
    (
        "feels-ignored",
        include_str!("defaults/feels-ignored/subject.txt"),
        include_str!("defaults/feels-ignored/body.txt"),
        None,
    ),
    (
        "order-confirmation",
        include_str!("defaults/order-confirmation/subject.txt"),
        include_str!("defaults/order-confirmation/body.txt"),
        Some(include_str!("defaults/order-confirmation/body.html")),
    ),
    (
        "survey",
        include_str!("defaults/survey/subject.txt"),
        include_str!("defaults/survey/body.txt"),
        Some(include_str!("defaults/survey/body.html")),
    ),
    (
        "survey-reminder",
        include_str!("defaults/survey-reminder/subject.txt"),
        include_str!("defaults/survey-reminder/body.txt"),
        Some(include_str!("defaults/survey-reminder/body.html")),
    ),
    (
        "still-working",
        include_str!("defaults/still-working/subject.txt"),
        include_str!("defaults/still-working/body.txt"),
        Some(include_str!("defaults/still-working/body.html")),
    ),
    (
        "told-us",
        include_str!("defaults/told-us/subject.txt"),
        include_str!("defaults/told-us/body.txt"),
        None,
    ),
    (
        "visit-next",
        include_str!("defaults/visit-next/subject.txt"),
        include_str!("defaults/visit-next/body.txt"),
        Some(include_str!("defaults/visit-next/body.html")),
    ),
    (
        "warn",
        include_str!("defaults/warn/subject.txt"),
        include_str!("defaults/warn/body.txt"),
        None,
    ),
    (
        "win-back",
        include_str!("defaults/win-back/subject.txt"),
        include_str!("defaults/win-back/body.txt"),
        Some(include_str!("defaults/win-back/body.html")),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates at {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template folder {} is missing {file}", path.display())]
    MissingFile { path: PathBuf, file: &'static str },
    #[error("template folder name {} is not valid UTF-8", path.display())]
    InvalidName { path: PathBuf },
    #[error("syntax error in template {template:?}, {file}{}: {detail}", at_line(*line))]
    Syntax {
        template: String,
        /// The file as the operator knows it: a path on disk, or `built-in <name>/<file>`.
        file: String,
        line: Option<usize>,
        detail: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("unknown template {name:?}; known templates: {}", known.join(", "))]
    UnknownTemplate { name: String, known: Vec<String> },
    #[error("cannot render template {template:?}, {file}{}: {detail}", at_line(*line))]
    Render {
        template: String,
        file: &'static str,
        line: Option<usize>,
        detail: String,
        #[source]
        source: minijinja::Error,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// minijinja's kind and detail without its "(in file:line)" suffix: we name those ourselves.
fn error_detail(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

/// A rendered message, ready for a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// One line, inner whitespace collapsed (no header injection through a newline).
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Everything a template can use. Built in code by the caller; every field is always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageContext {
    pub business: BusinessView,
    pub customer: CustomerView,
    /// The event that triggered the obligation.
    pub event: EventView,
    pub obligation: ObligationView,
    /// "open" | "due" | "warn" | "breach" | "escalate"
    pub action: String,
    pub recipient: RecipientView,
    /// 0 for the first alert, 1.. for repeats.
    pub escalation: u32,
    /// The IANA zone to show times in: the customer's, else the business default.
    pub timezone: String,
    /// RFC 3339.
    pub now: String,
    /// Present on non-transactional customer emails.
    pub unsubscribe_url: Option<String>,
    /// The customer's own status page (`/c/{token}`, signed, no login): on every message to a customer.
    #[serde(default)]
    pub status_url: Option<String>,
    /// "Nobody got back to me" (a one-tap confirmation page): on every message to a customer.
    #[serde(default)]
    pub ignored_url: Option<String>,
    /// The promise this message is about, in the customer's words and zone (absent without an obligation).
    #[serde(default)]
    pub promise: Option<PromiseView>,
    /// A journey's stage update (`still-working`): the journey and the backstage step it waits for.
    #[serde(default)]
    pub journey: Option<JourneyView>,
    /// Free-form extra links, e.g. `{"customer": "https://…/customers/c1"}`; may be null.
    pub links: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessView {
    pub name: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    pub channel: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// An object or null. Keys whose value is null are left out, so `is defined` means "has a value".
    #[serde(serialize_with = "serialize_without_nulls")]
    pub properties: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObligationView {
    pub policy: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// RFC 3339.
    pub opened_at: String,
    /// RFC 3339.
    pub due_at: String,
    /// RFC 3339.
    pub breach_at: String,
    pub status: String,
    /// What the customer waits for, from the policy's own `waiting_for` ("for a reply to your
    /// message"), else a generic "for us to get back to you": follows "we have kept you waiting".
    #[serde(default = "waiting_for_anything")]
    pub waiting_for: String,
}

fn waiting_for_anything() -> String {
    WAITING_FOR_ANYTHING.to_string()
}

/// A promise as the customer reads it: `{{ promise.when }}` → "today at 13:14", `{{ promise.text }}` → the
/// policy's `customer_text` for its state ("We will resolve it by …"; empty when the policy has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseView {
    pub policy: String,
    /// "open", "late", "waiting" or "kept".
    pub state: String,
    /// RFC 3339; absent while the clock is stopped.
    pub due_at: Option<String>,
    /// "Tue 14 Jan at 13:14", in the customer's zone.
    pub due: Option<String>,
    /// "today at 13:14", "tomorrow at 09:00", else as `due`.
    pub when: Option<String>,
    pub text: String,
}

/// The journey a stage update is about (`[[journeys]]`, a step with `tell_customer_after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyView {
    /// The journey's name ("booking").
    pub name: String,
    /// The backstage step not reached yet ("prepared").
    pub step: String,
    /// The step reached before it ("confirmed").
    pub previous: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientView {
    pub name: Option<String>,
    pub email: Option<String>,
    /// "customer" | "assignee" | "manager" | a team or person name.
    pub role: String,
}

fn serialize_without_nulls<S: Serializer>(
    value: &serde_json::Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        serde_json::Value::Object(map) => {
            serializer.collect_map(map.iter().filter(|(_, v)| !v.is_null()))
        }
        other => other.serialize(serializer),
    }
}

/// Where a message's files came from, to name them in errors.
#[derive(Debug, Clone)]
enum Origin {
    BuiltIn,
    Dir(PathBuf),
}

impl Origin {
    fn describe(&self, name: &str, file: &str) -> String {
        match self {
            Origin::BuiltIn => format!("built-in {name}/{file}"),
            Origin::Dir(dir) => dir.join(file).display().to_string(),
        }
    }
}

struct Sources {
    origin: Origin,
    subject: String,
    text: String,
    html: Option<String>,
}

/// The loaded messages, ready to render.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Message name → whether it has an html part.
    messages: BTreeMap<String, bool>,
}

impl Templates {
    /// Built-in defaults, overridden/extended by `dir` (each subfolder = one message).
    /// Syntax errors are reported here, at load time, naming the folder/file and line.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut sources: BTreeMap<String, Sources> = DEFAULTS
            .iter()
            .map(|(name, subject, text, html)| {
                let sources = Sources {
                    origin: Origin::BuiltIn,
                    subject: (*subject).to_string(),
                    text: (*text).to_string(),
                    html: html.map(str::to_string),
                };
                (name.to_string(), sources)
            })
            .collect();
        if let Some(dir) = dir {
            for (name, found) in read_dir_sources(dir)? {
                sources.insert(name, found);
            }
        }

        let mut env = new_environment();
        add_layout(&mut env, dir)?;
        let mut messages = BTreeMap::new();
        for (name, found) in sources {
            let files = [
                (SUBJECT_FILE, Some(found.subject)),
                (TEXT_FILE, Some(found.text)),
                (HTML_FILE, found.html),
            ];
            let mut has_html = false;
            for (file, source) in files {
                let Some(source) = source else { continue };
                env.add_template_owned(format!("{name}/{file}"), source)
                    .map_err(|err| TemplateError::Syntax {
                        template: name.clone(),
                        file: found.origin.describe(&name, file),
                        line: err.line(),
                        detail: error_detail(&err),
                        source: err,
                    })?;
                has_html |= file == HTML_FILE;
            }
            messages.insert(name, has_html);
        }
        Ok(Templates { env, messages })
    }

    /// The names of every message, sorted.
    pub fn names(&self) -> Vec<String> {
        self.messages.keys().cloned().collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.messages.contains_key(name)
    }

    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<Rendered, TemplateError> {
        let has_html = *self
            .messages
            .get(name)
            .ok_or_else(|| TemplateError::UnknownTemplate {
                name: name.to_string(),
                known: self.names(),
            })?;
        let ctx = Value::from_serialize(ctx);
        let subject = self.render_file(name, SUBJECT_FILE, &ctx)?;
        let text = self.render_file(name, TEXT_FILE, &ctx)?;
        let html = if has_html {
            Some(self.render_file(name, HTML_FILE, &ctx)?)
        } else {
            None
        };
        Ok(Rendered {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: tidy_text(&text),
            html: html.map(|html| format!("{}\n", html.trim())),
        })
    }

    fn render_file(
        &self,
        name: &str,
        file: &'static str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        let render_error = |err: minijinja::Error| TemplateError::Render {
            template: name.to_string(),
            file,
            line: err.line(),
            detail: error_detail(&err),
            source: err,
        };
        // `load` added every file listed in `messages`, so this lookup only fails on a bug; it is
        // still an error rather than a panic.
        let template = self
            .env
            .get_template(&format!("{name}/{file}"))
            .map_err(render_error)?;
        template.render(ctx).map_err(render_error)
    }
}

fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // See the module docs: typos fail, optional properties can be tested.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        // An unknown optional value (`customer.phone` = null) prints as nothing, not "none".
        if value.is_none() {
            return Ok(());
        }
        // minijinja also escapes '/', which turns every link into "https:&#x2f;&#x2f;…"; the
        // five characters below are all that text and quoted attributes need.
        if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
            if let Some(text) = value.as_str() {
                return out
                    .write_str(&escape_html(text))
                    .map_err(minijinja::Error::from);
            }
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_filter("localtime", localtime);
    env.add_filter("duration", duration);
    env.add_filter("first_name", first_name);
    env.add_filter("ordinal", ordinal);
    env.add_filter("money", money);
    env.add_filter("waiting_for", waiting_for);
    env
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The layout html bodies extend: `dir/base.html` if there is one, else the built-in one.
fn add_layout(env: &mut Environment<'static>, dir: Option<&Path>) -> Result<(), TemplateError> {
    let own = dir.map(|dir| dir.join(LAYOUT_FILE)).filter(|p| p.is_file());
    let (source, file) = match own {
        Some(path) => {
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
                path: path.clone(),
                source,
            })?;
            (source, path.display().to_string())
        }
        None => (LAYOUT.to_string(), format!("built-in {LAYOUT_FILE}")),
    };
    env.add_template_owned(LAYOUT_FILE, source)
        .map_err(|err| TemplateError::Syntax {
            template: LAYOUT_FILE.to_string(),
            file,
            line: err.line(),
            detail: error_detail(&err),
            source: err,
        })
}

/// Each subfolder of `dir` (not starting with '.') is one message.
fn read_dir_sources(dir: &Path) -> Result<Vec<(String, Sources)>, TemplateError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TemplateError::Io { path, source }
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        if !entry.file_type().map_err(io_error(&path))?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(TemplateError::InvalidName { path });
        };
        if name.starts_with('.') {
            continue;
        }
        let read_required = |file: &'static str| {
            let file_path = path.join(file);
            if !file_path.is_file() {
                return Err(TemplateError::MissingFile {
                    path: path.clone(),
                    file,
                });
            }
            std::fs::read_to_string(&file_path).map_err(io_error(&file_path))
        };
        let subject = read_required(SUBJECT_FILE)?;
        let text = read_required(TEXT_FILE)?;
        let html_path = path.join(HTML_FILE);
        let html = if html_path.is_file() {
            Some(std::fs::read_to_string(&html_path).map_err(io_error(&html_path))?)
        } else {
            None
        };
        let origin = Origin::Dir(path);
        found.push((
            name,
            Sources {
                origin,
                subject,
                text,
                html,
            },
        ));
    }
    Ok(found)
}

/// Plain text as a person would type it: no trailing spaces, at most one blank line in a row
/// (optional blocks that render nothing leave none behind), one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn invalid(message: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, message)
}

/// The zone to show times in: the render's `timezone` variable, UTC when there is none.
fn display_zone(state: &State) -> Result<TimeZone, minijinja::Error> {
    match state.lookup("timezone") {
        Some(zone) if !zone.is_undefined() && !zone.is_none() => {
            let name = zone.to_string();
            TimeZone::get(&name)
                .map_err(|err| invalid(format!("unknown time zone {name:?}: {err}")))
        }
        _ => Ok(TimeZone::UTC),
    }
}

/// An instant from a template value: RFC 3339 ("2026-12-01T14:00:00Z"), RFC 9557
/// ("…[Europe/Lisbon]"), or a civil date-time read in `zone`.
fn parse_instant(filter: &str, value: &Value, zone: &TimeZone) -> Result<Zoned, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            format!("{filter}: the value is undefined"),
        ));
    }
    let not_a_timestamp = || {
        invalid(format!(
            "{filter}: {value:?} is not a timestamp (expected RFC 3339, e.g. 2026-12-01T14:00:00Z)"
        ))
    };
    let text = value.as_str().ok_or_else(not_a_timestamp)?;
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at.to_zoned(zone.clone()));
    }
    if let Ok(at) = text.parse::<Zoned>() {
        return Ok(at.with_time_zone(zone.clone()));
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil.to_zoned(zone.clone()).map_err(|_| not_a_timestamp());
    }
    Err(not_a_timestamp())
}

/// `{{ obligation.due_at | localtime }}` → "Tuesday 1 December 2026, 14:00 WET" in the context's
/// `timezone`; `localtime("%H:%M")` takes a strftime format instead.
fn localtime(
    state: &State,
    value: &Value,
    format: Option<String>,
) -> Result<String, minijinja::Error> {
    let zone = display_zone(state)?;
    let at = parse_instant("localtime", value, &zone)?;
    let format = format.as_deref().unwrap_or(DEFAULT_TIME_FORMAT);
    jiff::fmt::strtime::format(format, &at)
        .map_err(|err| invalid(format!("localtime: cannot format with {format:?}: {err}")))
}

/// `{{ obligation.breach_at | duration(now) }}` → "2 h 15 min" between two timestamps (either
/// order), or `{{ 8100 | duration }}` for a number of seconds.
fn duration(value: &Value, other: Option<&Value>) -> Result<String, minijinja::Error> {
    let seconds = match other {
        Some(other) => {
            let a = parse_instant("duration", value, &TimeZone::UTC)?;
            let b = parse_instant("duration", other, &TimeZone::UTC)?;
            b.timestamp().as_second() - a.timestamp().as_second()
        }
        None => match i64::try_from(value.clone()) {
            Ok(seconds) => seconds,
            Err(_) => match f64::try_from(value.clone()) {
                Ok(seconds) if seconds.is_finite() && seconds.abs() < i64::MAX as f64 => {
                    seconds as i64
                }
                _ => {
                    return Err(invalid(format!(
                        "duration: {value:?} is not a number of seconds (for two timestamps: a | duration(b))"
                    )))
                }
            },
        },
    };
    Ok(human_duration(seconds.unsigned_abs()))
}

/// The two largest units, rounded down: "3 d 4 h", "2 h 15 min", "45 min", "30 s".
pub fn human_duration(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    let mut out = String::new();
    let mut push = |n: u64, unit: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{n} {unit}");
    };
    if days > 0 {
        push(days, "d");
        if hours > 0 {
            push(hours, "h");
        }
    } else if hours > 0 {
        push(hours, "h");
        if minutes > 0 {
            push(minutes, "min");
        }
    } else if minutes > 0 {
        push(minutes, "min");
    } else {
        push(seconds, "s");
    }
    out
}

/// `Hi {{ customer.name | first_name }}` → "Hi Ana", or "Hi there" when the name is unknown.
fn first_name(value: &Value) -> Result<String, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "first_name: the value is undefined",
        ));
    }
    if value.is_none() {
        return Ok("there".to_string());
    }
    let name = value.to_string();
    Ok(name
        .split_whitespace()
        .next()
        .unwrap_or("there")
        .to_string())
}

/// `{{ (escalation + 1) | ordinal }}` → "1st", "2nd", "3rd", "11th", "22nd".
fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `{{ total | money(currency) }}` → "€84.50"; numbers get two decimals, strings are kept as sent.
fn money(value: &Value, currency: Option<&Value>) -> Result<String, minijinja::Error> {
    let amount = if let Some(text) = value.as_str() {
        text.to_string()
    } else if let Ok(number) = f64::try_from(value.clone()) {
        format!("{number:.2}")
    } else {
        return Err(invalid(format!("money: {value:?} is not an amount")));
    };
    let currency = currency
        .filter(|c| !c.is_none() && !c.is_undefined())
        .map(|c| c.to_string().to_uppercase());
    Ok(match currency.as_deref() {
        None => amount,
        Some("EUR") => format!("€{amount}"),
        Some("GBP") => format!("£{amount}"),
        Some("USD") => format!("${amount}"),
        Some(code) => format!("{amount} {code}"),
    })
}

/// `{{ obligation.policy | waiting_for }}`, kept for templates written before
/// `obligation.waiting_for`: the words of the message's own policy (its configured `waiting_for`);
/// for any other policy name, the generic "for us to get back to you".
fn waiting_for(state: &State, policy: &str) -> String {
    let own = state.lookup("obligation").and_then(|obligation| {
        let of = obligation.get_attr("policy").ok()?;
        let words = obligation.get_attr("waiting_for").ok()?;
        (of.as_str() == Some(policy))
            .then(|| words.as_str().map(str::to_string))
            .flatten()
    });
    own.unwrap_or_else(waiting_for_anything)
}

/// The answer links of a sample CSAT survey.
fn sample_answers() -> Vec<serde_json::Value> {
    [
        "1 · very unhappy",
        "2 · unhappy",
        "3 · okay",
        "4 · happy",
        "5 · very happy",
    ]
    .iter()
    .zip(1..)
    .map(|(label, score)| {
        serde_json::json!({
            "score": score,
            "label": label,
            "url": format!("https://seen.riversiderooms.example.com/s/TOKEN/{score}"),
        })
    })
    .collect()
}

/// A realistic booking context, for tests and the CLI preview: Ana Pereira (Lisbon) booked the
/// Tagus room for 12 people, starting four days after `now`.
pub fn sample_context() -> MessageContext {
    MessageContext {
        business: BusinessView {
            name: "Riverside Rooms".to_string(),
            url: Some("https://riversiderooms.example.com".to_string()),
        },
        customer: CustomerView {
            id: "c-2231".to_string(),
            name: Some("Ana Pereira".to_string()),
            email: Some("ana.pereira@example.com".to_string()),
            phone: Some("+351 912 345 678".to_string()),
            timezone: Some("Europe/Lisbon".to_string()),
        },
        event: EventView {
            id: "evt-8f3c21".to_string(),
            kind: "booking.created".to_string(),
            at: "2026-11-27T09:12:00Z".to_string(),
            channel: Some("web".to_string()),
            reference: Some("B-1042".to_string()),
            properties: serde_json::json!({
                "starts_at": "2026-12-01T14:00:00Z",
                "ends_at": "2026-12-01T17:00:00Z",
                "room": "Tagus",
                "party_size": 12,
                "venue": "Riverside Rooms, Cais do Sodré, Lisbon",
            }),
        },
        obligation: ObligationView {
            policy: "confirm-booking".to_string(),
            reference: Some("B-1042".to_string()),
            opened_at: "2026-11-27T09:12:00Z".to_string(),
            due_at: "2026-11-27T10:12:00Z".to_string(),
            breach_at: "2026-11-27T10:12:00Z".to_string(),
            status: "open".to_string(),
            waiting_for: "for confirmation of your booking".to_string(),
        },
        action: "open".to_string(),
        recipient: RecipientView {
            name: Some("Ana Pereira".to_string()),
            email: Some("ana.pereira@example.com".to_string()),
            role: "customer".to_string(),
        },
        escalation: 0,
        timezone: "Europe/Lisbon".to_string(),
        now: "2026-11-27T09:20:00Z".to_string(),
        unsubscribe_url: Some("https://riversiderooms.example.com/unsubscribe/c-2231".to_string()),
        status_url: Some("https://seen.riversiderooms.example.com/c/TOKEN".to_string()),
        ignored_url: Some("https://seen.riversiderooms.example.com/c/TOKEN/ignored".to_string()),
        promise: Some(PromiseView {
            policy: "confirm-booking".to_string(),
            state: "open".to_string(),
            due_at: Some("2026-11-27T10:12:00Z".to_string()),
            due: Some("Fri 27 Nov at 10:12".to_string()),
            when: Some("today at 10:12".to_string()),
            text:
                "We got your booking B-1042 today at 09:12. We will confirm it by today at 10:12."
                    .to_string(),
        }),
        journey: None,
        links: serde_json::json!({
            "customer": "https://seen.riversiderooms.example.com/customers/c-2231",
            // Present on survey messages: the question and one signed link per answer.
            "survey": {
                "name": "csat",
                "kind": "csat",
                "question": "How satisfied are you with how we looked after you?",
                "expires": "2026-12-11T09:20:00Z",
                "answers": sample_answers(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Templates {
        Templates::load(None).unwrap()
    }

    /// One snapshot per message: the subject, the text and the html part.
    fn show(rendered: &Rendered) -> String {
        format!(
            "subject: {}\n\n----- text -----\n{}\n----- html -----\n{}",
            rendered.subject,
            rendered.text,
            rendered.html.as_deref().unwrap_or("(none)\n"),
        )
    }

    /// Snapshot files are named by the message alone, so they stay valid when this module moves
    /// to another crate (insta would otherwise prefix the crate's module path).
    fn snapshot(name: &str, rendered: &Rendered) {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, show(rendered));
        });
    }

    /// Renders `source` as a template file named `file` against `ctx`, with the real filters.
    fn render_str(
        file: &str,
        source: &str,
        ctx: &MessageContext,
    ) -> Result<String, minijinja::Error> {
        let mut env = new_environment();
        env.add_template_owned(file.to_string(), source.to_string())?;
        env.get_template(file)?.render(Value::from_serialize(ctx))
    }

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn defaults_are_the_documented_set() {
        let templates = defaults();
        assert_eq!(
            templates.names(),
            [
                "acknowledgement",
                "apology",
                "booking-confirmation",
                "booking-reminder",
                "breach-alert",
                "escalation",
                "feels-ignored",
                "order-confirmation",
                "still-working",
                "survey",
                "survey-reminder",
                "told-us",
                "visit-next",
                "warn",
                "win-back",
            ]
        );
        assert!(templates.has("warn"));
        assert!(!templates.has("nope"));
    }

    #[test]
    fn every_default_renders_the_sample() {
        let templates = defaults();
        let ctx = sample_context();
        for name in templates.names() {
            let rendered = templates.render(&name, &ctx).unwrap();
            assert!(!rendered.subject.is_empty(), "{name}");
            assert!(!rendered.subject.contains('\n'), "{name}");
            snapshot(&name, &rendered);
        }
    }

    #[test]
    fn customer_messages_have_html_and_staff_messages_do_not() {
        let templates = defaults();
        let ctx = sample_context();
        for name in [
            "apology",
            "booking-confirmation",
            "booking-reminder",
            "order-confirmation",
            "still-working",
            "win-back",
        ] {
            assert!(
                templates.render(name, &ctx).unwrap().html.is_some(),
                "{name}"
            );
        }
        for name in ["warn", "breach-alert", "escalation"] {
            assert!(
                templates.render(name, &ctx).unwrap().html.is_none(),
                "{name}"
            );
        }
    }

    #[test]
    fn still_working_names_the_journey_and_its_backstage_step() {
        let mut ctx = sample_context();
        ctx.action = "due".to_string();
        ctx.obligation.policy = "still-working:booking:prepared".to_string();
        ctx.journey = Some(JourneyView {
            name: "booking".to_string(),
            step: "prepared".to_string(),
            previous: "confirmed".to_string(),
        });
        let rendered = defaults().render("still-working", &ctx).unwrap();
        assert!(rendered
            .text
            .contains("still working on your booking (reference B-1042)"));
        assert!(rendered.text.contains("The next step (prepared)"));
        assert!(rendered.html.as_deref().unwrap().contains("(prepared)"));
        snapshot("still-working-booking", &rendered);
    }

    #[test]
    fn order_confirmation_with_total_and_items() {
        let mut ctx = sample_context();
        ctx.event.kind = "order.placed".to_string();
        ctx.event.reference = Some("O-5531".to_string());
        ctx.event.properties = serde_json::json!({
            "total": 84.5,
            "currency": "EUR",
            "items": [{"sku": "tea-1"}, {"sku": "mug-2"}, {"sku": "pot-3"}],
        });
        ctx.obligation.policy = "confirm-order".to_string();
        ctx.obligation.reference = Some("O-5531".to_string());
        ctx.unsubscribe_url = None;
        let rendered = defaults().render("order-confirmation", &ctx).unwrap();
        assert!(rendered.text.contains("Total:      €84.50"));
        assert!(rendered.text.contains("Items:      3"));
        assert!(!rendered.text.contains("Unsubscribe"));
        snapshot("order-confirmation-with-total", &rendered);
    }

    #[test]
    fn staff_messages_at_their_moments() {
        let templates = defaults();
        let mut ctx = sample_context();
        ctx.recipient = RecipientView {
            name: Some("Front desk".to_string()),
            email: Some("desk@riversiderooms.example.com".to_string()),
            role: "assignee".to_string(),
        };
        ctx.unsubscribe_url = None;

        ctx.action = "warn".to_string();
        ctx.now = "2026-11-27T09:57:00Z".to_string();
        let warn = templates.render("warn", &ctx).unwrap();
        assert_eq!(
            warn.subject,
            "Due soon: confirm-booking for Ana Pereira (ref B-1042), breaches in 15 min"
        );
        assert!(warn.text.contains("Time left:  15 min\n"), "{}", warn.text);
        snapshot("warn-before-breach", &warn);

        ctx.action = "breach".to_string();
        ctx.obligation.status = "breached".to_string();
        ctx.now = "2026-11-27T12:27:00Z".to_string();
        let breach = templates.render("breach-alert", &ctx).unwrap();
        assert!(
            breach.text.contains("is 2 h 15 min late"),
            "{}",
            breach.text
        );
        assert!(breach
            .text
            .contains("https://seen.riversiderooms.example.com/customers/c-2231"));
        snapshot("breach-alert-late", &breach);

        ctx.action = "escalate".to_string();
        ctx.escalation = 1;
        ctx.recipient.role = "manager".to_string();
        ctx.recipient.name = None;
        let escalation = templates.render("escalation", &ctx).unwrap();
        assert!(escalation
            .subject
            .starts_with("Still broken after 2 h 15 min: "));
        assert!(
            escalation.text.contains("the 2nd reminder since it broke"),
            "{}",
            escalation.text
        );
        snapshot("escalation-second", &escalation);
    }

    #[test]
    fn a_warning_shows_the_breach_when_it_differs_from_the_due_time() {
        let mut ctx = sample_context();
        ctx.obligation.policy = "booking-reminder".to_string();
        ctx.obligation.due_at = "2026-11-30T14:00:00Z".to_string();
        ctx.obligation.breach_at = "2026-11-30T15:00:00Z".to_string();
        ctx.now = "2026-11-30T14:40:00Z".to_string();
        let text = defaults().render("warn", &ctx).unwrap().text;
        assert!(
            text.contains("Due:        Monday 30 November 2026, 14:00 WET\n"),
            "{text}"
        );
        assert!(
            text.contains("Breaches:   Monday 30 November 2026, 15:00 WET\n"),
            "{text}"
        );
        assert!(text.contains("Time left:  20 min\n"), "{text}");
    }

    #[test]
    fn staff_messages_without_optional_customer_details() {
        let mut ctx = sample_context();
        ctx.customer.name = None;
        ctx.customer.email = None;
        ctx.customer.phone = None;
        ctx.obligation.reference = None;
        ctx.event.reference = None;
        ctx.event.channel = None;
        ctx.links = serde_json::Value::Null;
        let rendered = defaults().render("breach-alert", &ctx).unwrap();
        assert_eq!(
            rendered.subject,
            "Promise broken: confirm-booking for c-2231"
        );
        assert!(
            rendered.text.contains("Customer:   c-2231\n"),
            "{}",
            rendered.text
        );
        assert!(!rendered.text.contains("Email:"));
        assert!(!rendered.text.contains("Open:"));
        assert!(!rendered.text.contains("none"));
    }

    #[test]
    fn customer_messages_without_optional_details() {
        let mut ctx = sample_context();
        ctx.customer.name = None;
        ctx.event.reference = None;
        ctx.event.properties = serde_json::Value::Null;
        ctx.business.url = None;
        ctx.unsubscribe_url = None;
        ctx.status_url = None;
        ctx.ignored_url = None;
        let rendered = defaults().render("booking-confirmation", &ctx).unwrap();
        assert_eq!(
            rendered.subject,
            "Your booking with Riverside Rooms is confirmed"
        );
        assert!(rendered.text.starts_with("Hi there,\n"));
        assert!(!rendered.text.contains("When:"));
        assert!(!rendered.text.contains("Unsubscribe"));
        assert!(!rendered.text.contains("\n\n\n"));
        let html = rendered.html.unwrap();
        assert!(!html.contains("Unsubscribe"));
        assert!(!html.contains("<a href"));
    }

    #[test]
    fn null_properties_count_as_absent() {
        let mut ctx = sample_context();
        ctx.event.properties =
            serde_json::json!({"room": null, "starts_at": null, "venue": "Hall"});
        let rendered = defaults().render("booking-confirmation", &ctx).unwrap();
        assert!(!rendered.text.contains("Room:"));
        assert!(!rendered.text.contains("When:"));
        assert!(rendered.text.contains("Where:      Hall\n"));
    }

    #[test]
    fn localtime_follows_daylight_saving() {
        let ctx = sample_context(); // Europe/Lisbon
        let out = render_str(
            "t.txt",
            "{{ '2026-03-29T00:30:00Z' | localtime }} / {{ '2026-03-29T01:30:00Z' | localtime }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            "Sunday 29 March 2026, 00:30 WET / Sunday 29 March 2026, 02:30 WEST"
        );
    }

    #[test]
    fn localtime_uses_the_context_timezone() {
        let mut ctx = sample_context();
        ctx.timezone = "America/New_York".to_string();
        let out = render_str(
            "t.txt",
            "{{ event.properties.starts_at | localtime }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(out, "Tuesday 1 December 2026, 09:00 EST");
    }

    #[test]
    fn localtime_with_a_custom_format() {
        let ctx = sample_context();
        let out = render_str(
            "t.txt",
            "{{ event.properties.starts_at | localtime('%d/%m/%Y %H:%M') }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(out, "01/12/2026 14:00");
        // Zoned (RFC 9557) and civil inputs are accepted too; civil is read in the display zone.
        let out = render_str(
            "t.txt",
            "{{ '2026-07-01T12:00:00+02:00[Europe/Paris]' | localtime('%H:%M %Z') }} {{ '2026-07-01T12:00' | localtime('%H:%M %Z') }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(out, "11:00 WEST 12:00 WEST");
    }

    #[test]
    fn localtime_of_a_bad_value_is_an_error_naming_it() {
        let ctx = sample_context();
        let err = render_str("t.txt", "{{ 'next tuesday' | localtime }}", &ctx).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"next tuesday\" is not a timestamp"),
            "{err}"
        );
        let err = render_str("t.txt", "{{ 42 | localtime }}", &ctx).unwrap_err();
        assert!(err.to_string().contains("42 is not a timestamp"), "{err}");
        let err = render_str("t.txt", "{{ now | localtime('%J') }}", &ctx).unwrap_err();
        assert!(err.to_string().contains("cannot format"), "{err}");
        let mut bad_zone = sample_context();
        bad_zone.timezone = "Mars/Olympus".to_string();
        let err = render_str("t.txt", "{{ now | localtime }}", &bad_zone).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn duration_between_timestamps_or_of_seconds() {
        let ctx = sample_context();
        let cases = [
            ("{{ obligation.breach_at | duration(now) }}", "52 min"),
            ("{{ now | duration(obligation.breach_at) }}", "52 min"),
            ("{{ 8100 | duration }}", "2 h 15 min"),
            ("{{ 7200 | duration }}", "2 h"),
            ("{{ 273600 | duration }}", "3 d 4 h"),
            ("{{ 86700 | duration }}", "1 d"),
            ("{{ 45 | duration }}", "45 s"),
            ("{{ -90.5 | duration }}", "1 min"),
        ];
        for (source, expected) in cases {
            assert_eq!(
                render_str("t.txt", source, &ctx).unwrap(),
                expected,
                "{source}"
            );
        }
        assert!(render_str("t.txt", "{{ 'soon' | duration }}", &ctx).is_err());
        assert!(render_str("t.txt", "{{ now | duration('later') }}", &ctx).is_err());
    }

    #[test]
    fn small_filters() {
        let ctx = sample_context();
        let cases = [
            ("{{ customer.name | first_name }}", "Ana"),
            ("{{ none | first_name }}", "there"),
            ("{{ '  ' | first_name }}", "there"),
            ("{{ 1 | ordinal }} {{ 2 | ordinal }} {{ 3 | ordinal }} {{ 4 | ordinal }}", "1st 2nd 3rd 4th"),
            ("{{ 11 | ordinal }} {{ 12 | ordinal }} {{ 13 | ordinal }} {{ 21 | ordinal }} {{ 112 | ordinal }}", "11th 12th 13th 21st 112th"),
            ("{{ 84.5 | money('eur') }} {{ 3 | money('GBP') }} {{ '12.00' | money('CHF') }} {{ 5 | money }}", "€84.50 £3.00 12.00 CHF 5.00"),
            ("{{ obligation.policy | waiting_for }}", "for confirmation of your booking"),
            ("{{ 'custom-thing' | waiting_for }}", "for us to get back to you"),
            ("[{{ customer.nothing_here is defined }}] [{{ unsubscribe_url }}]", "[False] [https://riversiderooms.example.com/unsubscribe/c-2231]"),
        ];
        for (source, expected) in cases {
            assert_eq!(
                render_str("t.txt", source, &ctx).unwrap(),
                expected,
                "{source}"
            );
        }
        let mut no_unsubscribe = sample_context();
        no_unsubscribe.unsubscribe_url = None;
        // none prints as nothing rather than "none".
        assert_eq!(
            render_str("t.txt", "[{{ unsubscribe_url }}]", &no_unsubscribe).unwrap(),
            "[]"
        );
    }

    #[test]
    fn html_is_escaped_only_in_the_html_body() {
        let mut ctx = sample_context();
        ctx.customer.name = Some("<script>alert(1)</script> Smith".to_string());
        ctx.event.properties["room"] = serde_json::json!("Tagus & <b>Douro</b>");
        let rendered = defaults().render("booking-confirmation", &ctx).unwrap();
        assert!(
            rendered.text.starts_with("Hi <script>alert(1)</script>,\n"),
            "{}",
            rendered.text
        );
        assert!(rendered.text.contains("Room:       Tagus & <b>Douro</b>\n"));
        let html = rendered.html.unwrap();
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("Hi &lt;script&gt;alert(1)&lt;/script&gt;,"),
            "{html}"
        );
        assert!(
            html.contains("Tagus &amp; &lt;b&gt;Douro&lt;/b&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://riversiderooms.example.com\""),
            "{html}"
        );
    }

    #[test]
    fn subject_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "multi/subject.txt",
            "Hello\n  {{ business.name }}\n\n",
        );
        write(
            dir.path(),
            "multi/body.txt",
            "Body\r\nline two\n\n\n\nend   \n\n",
        );
        let templates = Templates::load(Some(dir.path())).unwrap();
        let rendered = templates.render("multi", &sample_context()).unwrap();
        assert_eq!(rendered.subject, "Hello Riverside Rooms");
        assert_eq!(rendered.text, "Body\nline two\n\nend\n");
    }

    #[test]
    fn a_directory_overrides_and_extends_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "booking-confirmation/subject.txt",
            "Booked: {{ event.ref }}\n",
        );
        write(
            dir.path(),
            "booking-confirmation/body.txt",
            "Olá {{ customer.name | first_name }}, até {{ event.properties.starts_at | localtime('%-d/%m') }}!\n",
        );
        write(
            dir.path(),
            "thank-you/subject.txt",
            "Thank you from {{ business.name }}",
        );
        write(
            dir.path(),
            "thank-you/body.txt",
            "Thanks, {{ customer.name | first_name }}.",
        );
        write(
            dir.path(),
            "thank-you/body.html",
            "<p>Thanks, {{ customer.name | first_name }}.</p>",
        );
        write(
            dir.path(),
            "README.md",
            "not a template: files at the top level are ignored",
        );
        write(dir.path(), ".git/HEAD", "hidden folders are ignored");

        let templates = Templates::load(Some(dir.path())).unwrap();
        assert!(templates.has("thank-you"));
        assert!(templates.has("warn"), "defaults stay");
        assert_eq!(templates.names().len(), 16);

        let ctx = sample_context();
        let overridden = templates.render("booking-confirmation", &ctx).unwrap();
        assert_eq!(
            overridden,
            Rendered {
                subject: "Booked: B-1042".to_string(),
                text: "Olá Ana, até 1/12!\n".to_string(),
                html: None, // the override has no body.html, so the default's is gone too
            }
        );
        let added = templates.render("thank-you", &ctx).unwrap();
        assert_eq!(added.subject, "Thank you from Riverside Rooms");
        assert_eq!(added.html.as_deref(), Some("<p>Thanks, Ana.</p>\n"));
    }

    #[test]
    fn a_syntax_error_in_an_override_fails_the_load() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "warn/subject.txt", "Due soon");
        write(
            dir.path(),
            "warn/body.txt",
            "Line one\nLine two\n{% if customer.name %}\nno endif\n",
        );
        let err = Templates::load(Some(dir.path())).unwrap_err();
        let TemplateError::Syntax {
            template,
            file,
            line,
            ..
        } = &err
        else {
            panic!("expected a syntax error, got {err:?}");
        };
        assert_eq!(template, "warn");
        assert_eq!(
            file,
            &dir.path().join("warn/body.txt").display().to_string()
        );
        assert!(line.is_some());
        let message = err.to_string();
        assert!(message.contains("\"warn\""), "{message}");
        assert!(message.contains("warn/body.txt"), "{message}");
        assert!(
            message.contains(&format!("line {}", line.unwrap())),
            "{message}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "broken/subject.txt", "Hello {{ customer.name ");
        write(dir.path(), "broken/body.txt", "ok");
        let message = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(message.contains("broken/subject.txt line 1"), "{message}");
    }

    #[test]
    fn a_folder_without_its_required_files_fails_the_load() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "half/subject.txt", "Hello");
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(
            matches!(
                err,
                TemplateError::MissingFile {
                    file: "body.txt",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("half"), "{err}");

        let missing = dir.path().join("does-not-exist");
        let err = Templates::load(Some(&missing)).unwrap_err();
        assert!(matches!(err, TemplateError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("does-not-exist"), "{err}");
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = defaults()
            .render("booking-confirmaton", &sample_context())
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"booking-confirmaton\""), "{message}");
        assert!(
            message.contains("apology, booking-confirmation, booking-reminder"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_required_variable_names_the_template_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "typo/subject.txt", "Hello");
        write(
            dir.path(),
            "typo/body.txt",
            "Hi {{ customer.name }},\n\nYour ref: {{ event.reference }}\n",
        );
        let templates = Templates::load(Some(dir.path())).unwrap();
        let err = templates.render("typo", &sample_context()).unwrap_err();
        let TemplateError::Render {
            template,
            file,
            line,
            ..
        } = &err
        else {
            panic!("expected a render error, got {err:?}");
        };
        assert_eq!(
            (template.as_str(), *file, *line),
            ("typo", "body.txt", Some(3))
        );
        let message = err.to_string();
        assert!(
            message.contains("\"typo\", body.txt line 3: undefined value"),
            "{message}"
        );

        // A filter over a misspelt field fails too, instead of sending "Hi there".
        write(
            dir.path(),
            "typo/body.txt",
            "Hi {{ customer.nmae | first_name }}",
        );
        let templates = Templates::load(Some(dir.path())).unwrap();
        assert!(templates.render("typo", &sample_context()).is_err());
    }

    #[test]
    fn the_context_serialises_with_the_documented_names() {
        let value = serde_json::to_value(sample_context()).unwrap();
        assert_eq!(value["event"]["type"], "booking.created");
        assert_eq!(value["event"]["ref"], "B-1042");
        assert_eq!(value["obligation"]["ref"], "B-1042");
        assert!(value["customer"]["name"].is_string());
        let round_trip: MessageContext = serde_json::from_value(value).unwrap();
        assert_eq!(round_trip, sample_context());
    }

    #[test]
    fn every_html_body_extends_the_one_layout() {
        for (name, _, _, html) in DEFAULTS {
            if let Some(html) = html {
                assert!(
                    html.starts_with("{% extends \"base.html\" %}\n"),
                    "{name}/body.html does not extend base.html"
                );
                assert!(
                    !html.contains("<html"),
                    "{name}/body.html repeats the shell"
                );
            }
        }
    }

    #[test]
    fn an_overriding_body_can_extend_the_built_in_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "thanks/subject.txt", "Thanks");
        write(dir.path(), "thanks/body.txt", "Thanks.");
        write(
            dir.path(),
            "thanks/body.html",
            "{% extends \"base.html\" %}\n{% block content %}\n<p>Thanks for {{ event.properties.room }}.</p>\n{% endblock %}\n",
        );
        let templates = Templates::load(Some(dir.path())).unwrap();
        let html = templates
            .render("thanks", &sample_context())
            .unwrap()
            .html
            .unwrap();
        assert!(html.starts_with("<!DOCTYPE html>\n"), "{html}");
        assert!(
            html.contains("<p style=\"margin:0 0 16px;\">Hi Ana,</p>\n<p>Thanks for Tagus.</p>\n"),
            "{html}"
        );
        assert!(html.contains("Don't want emails like this?"), "{html}");
        assert!(html.ends_with("</html>\n"), "{html}");
    }

    #[test]
    fn an_overriding_layout_serves_every_body_that_extends_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "base.html",
            "<main class=\"{{ business.name }}\">\n{% block content %}{% endblock %}\n<footer>{% block unsubscribe_what %}{% endblock %}</footer>\n</main>\n",
        );
        let templates = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(templates.names().len(), 15, "the layout is not a message");
        let html = templates
            .render("booking-reminder", &sample_context())
            .unwrap()
            .html
            .unwrap();
        assert!(
            html.starts_with("<main class=\"Riverside Rooms\">\n"),
            "{html}"
        );
        assert!(html.contains("A quick reminder of your booking"), "{html}");
        assert!(html.contains("<footer>reminders</footer>"), "{html}");
        assert!(
            !html.contains("Hi Ana"),
            "the greeting block is the layout's: {html}"
        );

        write(dir.path(), "base.html", "<main>{% block content %}</main>");
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(
            matches!(&err, TemplateError::Syntax { template, .. } if template == "base.html"),
            "{err:?}"
        );
        assert!(err.to_string().contains("base.html line 1"), "{err}");
    }

    #[test]
    fn waiting_words_follow_the_policy_not_its_name() {
        let templates = defaults();
        let mut ctx = sample_context();
        // A business that renamed its dispatch policy; the words come with its configuration.
        ctx.obligation.policy = "ship-it".to_string();
        ctx.obligation.waiting_for = "for your order to be sent".to_string();
        let rendered = templates.render("apology", &ctx).unwrap();
        let words = "kept you waiting for your order to be sent (reference B-1042)";
        assert!(rendered.text.contains(words), "{}", rendered.text);
        assert!(rendered.html.unwrap().contains(words));
        // Templates written with the filter get the same words.
        let out = render_str("t.txt", "{{ obligation.policy | waiting_for }}", &ctx).unwrap();
        assert_eq!(out, "for your order to be sent");
        // A context without the field (an older JSON context) says the generic words.
        let mut value = serde_json::to_value(sample_context()).unwrap();
        value["obligation"]
            .as_object_mut()
            .unwrap()
            .remove("waiting_for");
        let old: MessageContext = serde_json::from_value(value).unwrap();
        assert_eq!(old.obligation.waiting_for, "for us to get back to you");
    }
}
