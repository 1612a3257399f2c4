//! Compose: one claimed message, with what the sender loaded for it, becomes what a channel sends: the
//! template context, the signed links (unsubscribe, survey answers), the rendered words, and the email's
//! headers or the webhook's payload; and, once a customer message went, the event it records.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::links::{survey_send_of, unsubscribe_token};
use super::Actor;
use crate::channels::{Outgoing, OutgoingEmail, OutgoingWebhook};
use crate::config::{ActionSettings, Directory};
use crate::domain::action::{ActionBook, Channel};
use crate::domain::survey::{Survey, SurveyLink};
use crate::domain::{Event, Obligation, ProfileUpdate};
use crate::store::{short_hash, CustomerRecord, OutboxItem};
use crate::templates::{
    BusinessView, CustomerView, EventView, MessageContext, ObligationView, PromiseView,
    RecipientView, Rendered, Templates,
};

/// What composing needs from the actor: its settings, link secret, policies' words, routing, surveys
/// and templates. No I/O.
pub(super) struct Composer<'a> {
    pub settings: &'a ActionSettings,
    pub secret: &'a str,
    pub book: &'a ActionBook,
    pub directory: &'a Directory,
    pub surveys: &'a BTreeMap<String, Survey>,
    pub templates: &'a Templates,
    /// Signs the customer's status-page links.
    pub status_key: crate::store::LinkKey,
    /// How long those links work, and what promises say to the customer.
    pub customer_page: &'a crate::config::customer_page::CustomerPage,
}

/// One claimed message that passed the gate, with what the sender loaded for it.
pub(super) struct Draft<'a> {
    pub item: &'a OutboxItem,
    pub channel: Channel,
    pub customer: &'a CustomerRecord,
    pub trigger: Option<&'a Event>,
    pub obligation: Option<&'a Obligation>,
    /// The IANA zone to show times in (the customer's, else the business default).
    pub zone: &'a str,
    /// Where it goes: an email address, or a webhook name or URL.
    pub address: &'a str,
    pub now: Timestamp,
}

/// A message ready for its channel.
pub(super) struct Composed {
    pub outgoing: Outgoing,
    /// A survey message: what its recorded event adds to the trigger's properties (send, kind, team).
    pub survey: Option<serde_json::Value>,
}

impl Actor {
    pub(super) fn composer(&self) -> Composer<'_> {
        Composer {
            settings: &self.settings,
            secret: &self.secret,
            book: &self.book,
            directory: &self.directory,
            surveys: &self.surveys,
            templates: &self.templates,
            status_key: self.status_key(),
            customer_page: &self.customer_page,
        }
    }
}

impl Composer<'_> {
    /// The message for `draft`, or why it cannot be made (the row then fails: an unknown survey, a
    /// template error).
    pub fn compose(&self, draft: &Draft) -> Result<Composed, String> {
        let mut context = self.context(draft);
        let survey = self.survey_links(draft, &mut context)?;
        let rendered = self
            .templates
            .render(&draft.item.template, &context)
            .map_err(|err| format!("template error: {err}"))?;
        let outgoing = match draft.channel {
            Channel::Email => Outgoing::Email(email(draft, rendered, context.unsubscribe_url)),
            Channel::Webhook => Outgoing::Webhook(webhook(draft, rendered)),
        };
        Ok(Composed { outgoing, survey })
    }

    /// Everything the templates can use.
    pub fn context(&self, draft: &Draft) -> MessageContext {
        let Draft { item, now, .. } = *draft;
        let public_url = &self.settings.public_url;
        let unsubscribe_url = (item.to_customer() && !item.transactional).then(|| {
            let token = unsubscribe_token(self.secret, &item.customer);
            format!("{public_url}/u/{token}")
        });
        let (status_url, ignored_url) = match item.to_customer() {
            true => {
                let token = self.status_token(&item.customer, now);
                (
                    Some(format!("{public_url}/c/{token}")),
                    Some(format!("{public_url}/c/{token}/ignored")),
                )
            }
            false => (None, None),
        };
        MessageContext {
            business: BusinessView {
                name: self.settings.business_name.clone(),
                url: Some(public_url.clone()),
            },
            customer: customer_view(item, draft.customer),
            event: event_view(item, draft.trigger),
            obligation: self.obligation_view(item, draft.obligation, now),
            action: item.action.as_str().to_string(),
            recipient: recipient_view(draft),
            escalation: item.step,
            timezone: draft.zone.to_string(),
            now: now.to_string(),
            unsubscribe_url,
            status_url,
            ignored_url,
            promise: self.promise_view(draft),
            journey: self
                .book
                .stage(&item.policy)
                .map(|stage| crate::templates::JourneyView {
                    name: stage.journey.clone(),
                    step: stage.step.clone(),
                    previous: stage.previous.clone(),
                }),
            links: serde_json::json!({
                "customer": format!("{public_url}/v1/customers/{}", item.customer),
            }),
        }
    }

    /// A signed link to `customer`'s status page, working for `[customer_page] expires` from `now`.
    fn status_token(&self, customer: &str, now: Timestamp) -> String {
        let link = crate::secrets::StatusLink {
            customer: customer.to_string(),
            kid: self.status_key.kid,
            issued: now,
            expires: now
                .saturating_add(self.customer_page.expires)
                .unwrap_or(Timestamp::MAX),
        };
        crate::secrets::status_link_token(&self.status_key.secret, &link)
    }

    /// The message's promise as the customer's page words it, in the zone the message shows times in.
    fn promise_view(&self, draft: &Draft) -> Option<PromiseView> {
        let obligation = draft.obligation?;
        let zone = crate::words::zone(Some(draft.zone), "UTC");
        let now = draft.now;
        let state = crate::words::PromiseState::of(obligation, now)
            .unwrap_or(crate::words::PromiseState::Open);
        let due = (obligation.due_at < crate::domain::policy::NEVER).then_some(obligation.due_at);
        let text = self
            .customer_page
            .texts(&obligation.policy)
            .map(|texts| {
                crate::words::promise_sentence(texts, state, obligation, draft.trigger, now, &zone)
            })
            .unwrap_or_default();
        Some(PromiseView {
            policy: obligation.policy.to_string(),
            state: serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            due_at: due.map(|at| at.to_string()),
            due: due.map(|at| crate::words::day_and_time(at, now, &zone)),
            when: due.map(|at| crate::words::when(at, now, &zone)),
            text,
        })
    }

    fn obligation_view(
        &self,
        item: &OutboxItem,
        obligation: Option<&Obligation>,
        now: Timestamp,
    ) -> ObligationView {
        let time = |at: fn(&Obligation) -> Timestamp| {
            obligation.map(|o| at(o).to_string()).unwrap_or_default()
        };
        ObligationView {
            policy: item.policy.clone(),
            reference: item.reference.clone(),
            opened_at: time(|o| o.opened_at),
            due_at: time(|o| o.due_at),
            breach_at: time(|o| o.breach_at),
            status: obligation
                .map(|o| o.status(now).as_str().to_string())
                .unwrap_or_default(),
            waiting_for: self.book.waiting_for(&item.policy).to_string(),
        }
    }

    /// A survey message: mints its signed answer links into `context.links.survey`, and returns the
    /// properties its recorded event adds. `None` for other messages.
    fn survey_links(
        &self,
        draft: &Draft,
        context: &mut MessageContext,
    ) -> Result<Option<serde_json::Value>, String> {
        let item = draft.item;
        let (Some(name), Some(send)) = (&item.survey, survey_send_of(item)) else {
            return Ok(None);
        };
        let survey = self
            .surveys
            .get(name)
            .ok_or_else(|| format!("unknown survey {name:?}"))?;
        let link = SurveyLink {
            customer: item.customer.clone(),
            survey: name.clone(),
            send: send.clone(),
            expires: draft
                .now
                .saturating_add(self.settings.survey_expires)
                .unwrap_or(Timestamp::MAX),
        };
        let token = crate::secrets::survey_link_token(&link, self.secret);
        let answers: Vec<serde_json::Value> = survey
            .kind
            .answers()
            .into_iter()
            .map(|(score, label)| {
                serde_json::json!({
                    "score": score,
                    "label": label,
                    "url": format!("{}/s/{token}/{score}", self.settings.public_url),
                })
            })
            .collect();
        context.links["survey"] = serde_json::json!({
            "name": name,
            "kind": survey.kind.as_str(),
            "question": survey.question,
            "answers": answers,
            "expires": link.expires.to_string(),
        });
        let team = self.directory.team_for(&item.policy, draft.trigger);
        Ok(Some(serde_json::json!({
            "survey": name,
            "kind": survey.kind.as_str(),
            "send": send,
            "policy": item.policy,
            "channel": draft.trigger.and_then(|e| e.channel.clone()),
            "team": team,
        })))
    }
}

fn customer_view(item: &OutboxItem, customer: &CustomerRecord) -> CustomerView {
    CustomerView {
        id: item.customer.clone(),
        name: customer.name.clone(),
        email: customer.email.clone(),
        phone: customer.phone.clone(),
        timezone: customer.timezone.clone(),
    }
}

fn event_view(item: &OutboxItem, trigger: Option<&Event>) -> EventView {
    EventView {
        id: item.trigger_event.clone(),
        kind: trigger.map(|e| e.kind.clone()).unwrap_or_default(),
        at: trigger.map(|e| e.at.to_string()).unwrap_or_default(),
        channel: trigger.and_then(|e| e.channel.clone()),
        reference: item.reference.clone(),
        properties: trigger
            .map(Event::properties_value)
            .unwrap_or(serde_json::Value::Null),
    }
}

fn recipient_view(draft: &Draft) -> RecipientView {
    let item = draft.item;
    RecipientView {
        name: item
            .recipient_name
            .clone()
            .or_else(|| draft.customer.name.clone()),
        email: (draft.channel == Channel::Email).then(|| {
            if item.to_customer() {
                draft.customer.email.clone().unwrap_or_default()
            } else {
                item.recipient.clone()
            }
        }),
        role: item.role.clone(),
    }
}

/// The email: a stable Message-ID (receivers de-duplicate a retry), the outbox key, and on messages a
/// customer may unsubscribe from, RFC 8058 one-click unsubscribe headers.
fn email(draft: &Draft, rendered: Rendered, unsubscribe_url: Option<String>) -> OutgoingEmail {
    let item = draft.item;
    let address = draft.address;
    let mut headers = vec![("X-Seen-Key".to_string(), item.key.clone())];
    if let Some(url) = unsubscribe_url {
        headers.push(("List-Unsubscribe".into(), format!("<{url}>")));
        headers.push((
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        ));
    }
    let to = match (&item.recipient_name, item.to_customer()) {
        (Some(name), false) => format!("{} <{address}>", name.replace(['<', '>', '"'], "")),
        _ => address.to_string(),
    };
    OutgoingEmail {
        // With the obligation's ref as a reply token: a customer's reply threads into it.
        message_id: crate::channels::outgoing_message_id(
            &short_hash(&item.key),
            item.reference.as_deref(),
        ),
        to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        headers,
    }
}

/// The webhook call: its JSON payload (format "json") and one human line (format "slack").
fn webhook(draft: &Draft, rendered: Rendered) -> OutgoingWebhook {
    let item = draft.item;
    let customer = draft.customer;
    let obligation = draft.obligation;
    let payload = serde_json::json!({
        "key": item.key,
        "action": item.action.as_str(),
        "policy": item.policy,
        "customer": { "id": customer.id, "name": customer.name, "email": customer.email, "phone": customer.phone },
        "ref": item.reference,
        "role": item.role,
        "recipient": item.recipient_name,
        "due_at": obligation.map(|o| o.due_at.to_string()),
        "breach_at": obligation.map(|o| o.breach_at.to_string()),
        "subject": rendered.subject,
        "text": rendered.text,
    });
    OutgoingWebhook {
        endpoint: item.recipient.clone(),
        event: item.action.as_str().to_string(),
        idempotency_key: item.key.clone(),
        payload,
        text: format!("{}\n{}", rendered.subject, rendered.text),
    }
}

/// The event Seen records once a customer message went out: it keeps the obligation. It carries the
/// trigger's properties (a recorded `booking.confirmed` needs the booking's `starts_at` for its reminder),
/// and a survey's send, kind and team.
pub(super) fn recorded_event(
    draft: &Draft,
    kind: &str,
    survey: Option<&serde_json::Value>,
) -> Event {
    let item = draft.item;
    let mut properties = draft
        .trigger
        .map(Event::properties_value)
        .and_then(|v| match v {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    properties.insert("automated".into(), true.into());
    properties.insert("outbox".into(), item.key.clone().into());
    properties.insert("template".into(), item.template.clone().into());
    if let Some(extra) = survey.and_then(serde_json::Value::as_object) {
        for (k, v) in extra {
            properties.insert(k.clone(), v.clone());
        }
    }
    Event {
        id: item.recorded_event_id(),
        kind: kind.to_string(),
        customer: item.customer.clone(),
        at: draft.now,
        channel: Some(draft.channel.as_str().to_string()),
        reference: item.reference.clone(),
        properties: Some(serde_json::Value::Object(properties).to_string()),
        profile: ProfileUpdate::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::Outgoing;
    use crate::config::Config;
    use crate::domain::action::Planned;
    use crate::jobs::actions::items_for;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn obligation(policy: &str) -> Obligation {
        Obligation {
            policy: policy.into(),
            customer: "c-7".into(),
            reference: Some("O-5531".into()),
            opened_at: t("2026-11-02T10:00:00Z"),
            due_at: t("2026-11-04T10:00:00Z"),
            breach_at: t("2026-11-04T10:00:00Z"),
            closed_at: None,
            closure: None,
            closed_by: None,
            trigger_event: "e-1".into(),
            nudges: 0,
            last_nudge_at: None,
            paused_since: None,
            paused_left: None,
            paused_total: jiff::SignedDuration::ZERO,
        }
    }

    /// The email of `policy`'s action that uses `template`, composed for Ana at noon UTC.
    fn email_of(config: &Config, policy: &str, template: &str) -> OutgoingEmail {
        let templates = Templates::load(None).unwrap();
        let composer = Composer {
            settings: &config.action_settings,
            secret: "s3cret",
            book: &config.actions,
            directory: &config.directory,
            surveys: &config.surveys,
            templates: &templates,
            status_key: crate::store::LinkKey {
                kid: 1,
                secret: "k1".into(),
                created_at: t("2026-01-01T00:00:00Z"),
                retired_at: None,
            },
            customer_page: &config.customer_page,
        };
        let actions = config.actions.for_policy(policy);
        let index = actions.iter().position(|a| a.template == template).unwrap();
        let o = obligation(policy);
        let planned = Planned {
            index,
            step: 0,
            due_at: o.breach_at,
        };
        let item = items_for(&actions[index], &planned, &o, None, &config.directory).remove(0);
        let customer = CustomerRecord {
            id: "c-7".into(),
            name: Some("Ana Pereira".into()),
            email: Some("ana@example.com".into()),
            ..CustomerRecord::default()
        };
        let draft = Draft {
            item: &item,
            channel: Channel::parse(&item.channel).unwrap(),
            customer: &customer,
            trigger: None,
            obligation: Some(&o),
            zone: "UTC",
            address: "ana@example.com",
            now: t("2026-11-04T12:00:00Z"),
        };
        match composer.compose(&draft).unwrap().outgoing {
            Outgoing::Email(email) => email,
            other => panic!("expected an email, got {other:?}"),
        }
    }

    #[test]
    fn a_renamed_policy_keeps_its_words() {
        let renamed = crate::config::DEFAULT_CONFIG
            .replace("name = \"dispatch-order\"", "name = \"ship-order\"");
        let config = Config::from_toml(&renamed, "test").unwrap();
        let email = email_of(&config, "ship-order", "apology");
        let words =
            "We're sorry we have kept you waiting for your order to be sent (reference O-5531).";
        assert!(email.text.contains(words), "{}", email.text);
        assert!(email.html.as_deref().unwrap().contains(words));

        // A policy that says nothing of its own gets the generic words.
        let unsaid = crate::config::DEFAULT_CONFIG
            .replace("waiting_for = \"for your order to be sent\"\n", "");
        let config = Config::from_toml(&unsaid, "test").unwrap();
        let email = email_of(&config, "dispatch-order", "apology");
        assert!(
            email
                .text
                .contains("kept you waiting for us to get back to you (reference O-5531)"),
            "{}",
            email.text
        );
    }

    #[test]
    fn emails_carry_their_key_and_one_click_unsubscribe() {
        let config = Config::defaults().unwrap();
        let email = email_of(&config, "dispatch-order", "apology");
        assert_eq!(email.to, "ana@example.com");
        let header = |name: &str| {
            email
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("X-Seen-Key"),
            Some("dispatch-order|c-7|e-1|breach2|0|email:customer")
        );
        let token = unsubscribe_token("s3cret", "c-7");
        let url = format!("http://127.0.0.1:8080/u/{token}");
        assert_eq!(
            header("List-Unsubscribe"),
            Some(format!("<{url}>").as_str())
        );
        assert_eq!(
            header("List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(email.text.contains(&url), "{}", email.text);

        // A transactional confirmation offers no unsubscribe.
        let confirmation = email_of(&config, "confirm-order", "order-confirmation");
        assert_eq!(confirmation.headers.len(), 1);
        assert!(!confirmation.text.contains("/u/"));
    }
}
