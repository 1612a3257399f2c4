//! `[customer_page]` and each policy's `customer_text`: what the customer's own status page (`/c/{token}`)
//! says, in the customer's words. Validated here once; the page fills the placeholders.

use std::collections::{BTreeMap, HashMap};

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::ConfigFile;
use crate::domain::span::parse_span;

/// `[customer_page]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerPageConfig {
    /// How long a status link works after the message that carried it was composed.
    pub expires: String,
    /// A customer can say "nobody got back to me" at most once in this span (more taps show the first).
    pub feels_ignored_every: String,
    /// Kept promises stay on the page this long.
    pub recent: String,
    /// Event types the customer sees in a request's timeline, with the words shown for each. Other events
    /// (staff work, internal signals) never appear on the page.
    pub timeline: BTreeMap<String, String>,
}

impl Default for CustomerPageConfig {
    fn default() -> Self {
        CustomerPageConfig {
            expires: "90d".into(),
            feels_ignored_every: "1h".into(),
            recent: "30d".into(),
            timeline: BTreeMap::new(),
        }
    }
}

/// A policy's `customer_text` as written: what its promise says to the customer in each state. A policy
/// without one (or with `show = false`) never appears on the customer's page.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CustomerTextConfig {
    #[serde(default = "shown", skip_serializing_if = "is_shown")]
    pub show: bool,
    /// Open and not yet due: "We got your message {opened}. You will hear from us by {due}." ({opened} and
    /// {kept} read "today at 09:14" or "on Tue 14 Jan at 09:14"; {due}, {since}, {starts_at} without "on").
    pub open: Option<String>,
    /// Open and past its due time.
    pub late: Option<String>,
    /// The clock is stopped: the business waits on the customer.
    pub waiting: Option<String>,
    /// Kept (shown for `[customer_page] recent`).
    pub kept: Option<String>,
}

fn shown() -> bool {
    true
}

fn is_shown(show: &bool) -> bool {
    *show
}

/// The placeholders a `customer_text` may use.
pub const PLACEHOLDERS: [&str; 6] = ["ref", "opened", "due", "kept", "since", "starts_at"];

/// What a promise says in each state (each filled by `fill`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTexts {
    pub open: String,
    pub late: String,
    pub waiting: String,
    pub kept: String,
}

/// `[customer_page]` and the policies' texts, validated.
#[derive(Debug, Clone)]
pub struct CustomerPage {
    pub expires: SignedDuration,
    pub feels_ignored_every: SignedDuration,
    pub recent: SignedDuration,
    pub timeline: BTreeMap<String, String>,
    texts: HashMap<String, PolicyTexts>,
}

impl CustomerPage {
    pub fn build(file: &ConfigFile) -> Result<CustomerPage, String> {
        let c = &file.customer_page;
        let span = |field: &str, text: &str| {
            parse_span(text)
                .map_err(|e| format!("[customer_page] {field}: {e}"))
                .and_then(|d| {
                    if d.is_positive() {
                        Ok(d)
                    } else {
                        Err(format!("[customer_page] {field}: must be longer than 0s"))
                    }
                })
        };
        for (kind, words) in &c.timeline {
            if words.trim().is_empty() {
                return Err(format!("[customer_page] timeline: {kind:?} has no words"));
            }
        }
        let mut texts = HashMap::new();
        for p in &file.policies {
            let Some(text) = p.customer_text.as_ref().filter(|t| t.show) else {
                continue;
            };
            let field = |name: &str, value: &Option<String>, fallback: &str| {
                let value = value.clone().unwrap_or_else(|| fallback.to_string());
                check_placeholders(&value).map_err(|bad| {
                    format!(
                        "policy {:?}: customer_text.{name}: unknown placeholder {{{bad}}} (known: {})",
                        p.name,
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    )
                })?;
                if value.trim().is_empty() {
                    return Err(format!(
                        "policy {:?}: customer_text.{name} is empty",
                        p.name
                    ));
                }
                Ok(value)
            };
            let open = text.open.clone().ok_or_else(|| {
                format!(
                    "policy {:?}: customer_text needs `open` (or `show = false`)",
                    p.name
                )
            })?;
            texts.insert(
                p.name.clone(),
                PolicyTexts {
                    open: field("open", &Some(open), "")?,
                    late: field(
                        "late",
                        &text.late,
                        "We promised this by {due}. We are late, and we are on it.",
                    )?,
                    waiting: field(
                        "waiting",
                        &text.waiting,
                        "We are waiting for your reply since {since}.",
                    )?,
                    kept: field("kept", &text.kept, "Done {kept}.")?,
                },
            );
        }
        Ok(CustomerPage {
            expires: span("expires", &c.expires)?,
            feels_ignored_every: span("feels_ignored_every", &c.feels_ignored_every)?,
            recent: span("recent", &c.recent)?,
            timeline: c.timeline.clone(),
            texts,
        })
    }

    /// A policy's texts; `None`: the customer never sees this policy.
    pub fn texts(&self, policy: &str) -> Option<&PolicyTexts> {
        self.texts.get(policy)
    }
}

/// The first `{name}` in `text` that is not a known placeholder.
fn check_placeholders(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| after.to_string())?;
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(name.to_string());
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// `text` with each `{name}` replaced by `value(name)` (an unknown or empty value leaves "—"; unreachable
/// for texts that passed `build`).
pub fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&value(&after[..end]).unwrap_or_else(|| "—".into()));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_default_policy_says_something_or_is_hidden_on_purpose() {
        let config = Config::defaults().unwrap();
        for p in &config.file.policies {
            let text = p
                .customer_text
                .as_ref()
                .unwrap_or_else(|| panic!("default policy {:?} has no customer_text", p.name));
            assert_eq!(
                config.customer_page.texts(&p.name).is_some(),
                text.show,
                "{}",
                p.name
            );
        }
        let reply = config.customer_page.texts("reply").unwrap();
        assert!(reply.open.contains("{due}"), "{}", reply.open);
        assert!(config.customer_page.texts("gone-quiet").is_none());
    }

    #[test]
    fn placeholders_are_checked_and_filled() {
        let bad = crate::config::DEFAULT_CONFIG.replace(
            "You will hear from us by {due}.",
            "You will hear from {agent} by {due}.",
        );
        let err = Config::from_toml(&bad, "test").unwrap_err().to_string();
        assert!(
            err.contains("policy \"reply\": customer_text.open: unknown placeholder {agent}"),
            "{err}"
        );
        let filled = fill("By {due}, {ref}{x}", |name| match name {
            "due" => Some("13:14".into()),
            "ref" => Some("BK-1".into()),
            _ => None,
        });
        assert_eq!(filled, "By 13:14, BK-1—");
    }
}
