//! Actions: the planner queues what each new obligation's policy asks for (one outbox row per message,
//! keyed by policy, obligation, action, step and recipient), and the sender sends each row when it falls
//! due. It sleeps until the next due row or until ingestion wakes it: no polling interval.
//!
//! Delivery is at least once with a narrow window: a row is claimed with a lease, sent, and then marked
//! sent. A crash between the server's acceptance and that mark re-sends it after the lease, except for
//! customer messages whose recorded event already exists (then the row is marked sent without sending).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use tokio::sync::Notify;

use crate::channels::{Channels, Delivery, OutgoingEmail, OutgoingWebhook};
use crate::config::{ActionSettings, Config, Contact, Directory};
use crate::domain::action::{plan, still_needed, Action, ActionBook, Planned, Recipient};
use crate::domain::survey::{Survey, SurveyLink};
use crate::domain::{Event, Obligation, ProfileUpdate};
use crate::store::{
    short_hash, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, Store, StoreError, Suppression,
};
use crate::templates::{
    BusinessView, CustomerView, EventView, MessageContext, ObligationView, RecipientView, Templates,
};

/// Obligations planned per store round trip.
const PLAN_BATCH: usize = 2_000;
/// Rows claimed at once (each is renewed right before it is sent, so a slow batch loses nothing).
const CLAIM_BATCH: usize = 128;
/// Longest single sleep: bounds the damage of a clock jump; not a polling period.
const MAX_SLEEP: Duration = Duration::from_secs(3_600);
const RETRY: Duration = Duration::from_secs(1);

/// Everything the planner and sender need.
pub struct Actor {
    pub store: Arc<dyn Store>,
    pub book: Arc<ActionBook>,
    pub settings: ActionSettings,
    pub directory: Arc<Directory>,
    pub channels: Arc<Channels>,
    pub templates: Arc<Templates>,
    /// Signs unsubscribe and survey links.
    pub secret: String,
    pub surveys: Arc<std::collections::BTreeMap<String, Survey>>,
}

impl Actor {
    pub async fn new(store: Arc<dyn Store>, config: &Config) -> anyhow::Result<Actor> {
        use anyhow::Context;
        let templates = Templates::load(
            config
                .file
                .actions
                .templates
                .as_deref()
                .map(std::path::Path::new),
        )
        .context("loading message templates")?;
        for policy in config.engine.policies() {
            for action in config.actions.for_policy(&policy.name) {
                if !templates.has(&action.template) {
                    anyhow::bail!(
                        "policy {:?}: template {:?} does not exist (known: {})",
                        policy.name,
                        action.template,
                        templates.names().join(", ")
                    );
                }
            }
        }
        let channels = Channels::new(&config.file.email, &config.file.webhooks)
            .context("setting up [email] and [webhooks]")?;
        let secret = match &config.file.actions.secret {
            Some(secret) => secret.clone(),
            None => store
                .shared_secret()
                .await
                .context("reading the link secret")?,
        };
        Ok(Actor {
            store,
            book: config.actions.clone(),
            settings: config.action_settings.clone(),
            directory: config.directory.clone(),
            channels: Arc::new(channels),
            templates: Arc::new(templates),
            secret,
            surveys: config.surveys.clone(),
        })
    }

    /// Plans and sends until shut down.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: Arc<Notify>) {
        loop {
            // Registered before the work, so a shutdown announced meanwhile is not missed.
            let stop = shutdown.notified();
            tokio::pin!(stop);
            stop.as_mut().enable();
            let started = std::time::Instant::now();
            let sleep = match self.turn().await {
                Ok(Some(next)) => until(next).min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(err) => {
                    tracing::warn!(error = %err, "actions: database error; retrying");
                    RETRY
                }
            };
            crate::metrics::job_ran("sender", started);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = wake.notified() => {}
                _ = &mut stop => return,
            }
        }
    }

    /// Plans new obligations, sends what is due; returns when the next row falls due.
    pub async fn turn(&self) -> Result<Option<Timestamp>, StoreError> {
        loop {
            self.plan_pending(Timestamp::now()).await?;
            let recorded = self.send_due().await?;
            // Recorded events may have opened obligations (a confirmation opens its reminder): plan again.
            if recorded == 0 {
                break;
            }
        }
        self.store.next_outbox_at().await
    }

    /// Queues the actions of every unplanned obligation. Returns how many rows were new.
    pub async fn plan_pending(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut new = 0;
        loop {
            let batch = self.store.unplanned_obligations(PLAN_BATCH).await?;
            if batch.is_empty() {
                return Ok(new);
            }
            let mut items = Vec::new();
            let mut seqs = Vec::with_capacity(batch.len());
            for (seq, o) in &batch {
                seqs.push(*seq);
                let actions = self.book.for_policy(&o.policy);
                if actions.is_empty() {
                    continue;
                }
                let planned = plan(actions, o, now, self.settings.max_delay);
                if planned.is_empty() {
                    continue;
                }
                // Routing reads the trigger's channel and properties; customer messages need none.
                let trigger = if planned.iter().any(|p| !actions[p.index].to_customer()) {
                    self.store.event(&o.trigger_event).await?
                } else {
                    None
                };
                for p in &planned {
                    items.extend(items_for(
                        &actions[p.index],
                        p,
                        o,
                        trigger.as_ref(),
                        &self.directory,
                    ));
                }
            }
            new += self.store.enqueue(items, seqs).await?;
        }
    }

    /// Sends every row due now. Returns how many customer messages recorded an event.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        use futures::StreamExt;
        let mut recorded = 0;
        loop {
            let now = Timestamp::now();
            let lease_until = now
                .saturating_add(self.settings.lease)
                .unwrap_or(Timestamp::MAX);
            let rows = self
                .store
                .claim_outbox(now, lease_until, CLAIM_BATCH)
                .await?;
            let claimed = rows.len();
            // One customer's messages go one after another, so the daily cap counts each send before
            // the next; different customers' go in parallel.
            let mut by_customer: Vec<Vec<OutboxRow>> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            for row in rows {
                let i = *index.entry(row.item.customer.clone()).or_insert_with(|| {
                    by_customer.push(Vec::new());
                    by_customer.len() - 1
                });
                by_customer[i].push(row);
            }
            let results: Vec<Result<usize, StoreError>> = futures::stream::iter(by_customer)
                .map(|rows| async move {
                    let mut recorded = 0;
                    for row in rows {
                        if self.process(row).await? {
                            recorded += 1;
                        }
                    }
                    Ok(recorded)
                })
                .buffer_unordered(self.settings.concurrency)
                .collect()
                .await;
            for result in results {
                recorded += result?;
            }
            if claimed < CLAIM_BATCH {
                return Ok(recorded);
            }
        }
    }

    /// Delivers one claimed row and records the outcome. Returns whether an event was recorded.
    async fn process(&self, mut row: OutboxRow) -> Result<bool, StoreError> {
        let key = row.item.key.clone();
        // A claimed batch can take longer than the lease on a loaded machine: renew it right before this
        // message, or leave the row to the node that claimed it since.
        let until = Timestamp::now()
            .saturating_add(self.settings.lease)
            .unwrap_or(Timestamp::MAX);
        if !self.store.renew_outbox(&key, row.next_at, until).await? {
            tracing::info!(key = %key, "actions: another node took over this message");
            return Ok(false);
        }
        row.next_at = until;
        let (mut update, recorded) = match self.deliver(&row).await {
            Ok(done) => done,
            Err(err) => {
                // The row stays claimed; its lease expires and it is tried again.
                tracing::warn!(key = %key, error = %err, "actions: could not process a message");
                return Err(err);
            }
        };
        tracing::info!(
            key = %key,
            status = update.status.as_str(),
            detail = update.detail.as_deref().unwrap_or(""),
            "message"
        );
        update.held = Some(row.next_at);
        crate::metrics::outbox_finished(update.status.as_str());
        self.store.finish_outbox(vec![update]).await?;
        Ok(recorded)
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<(OutboxUpdate, bool), StoreError> {
        let item = &row.item;
        let now = Timestamp::now();
        let done = |status: OutboxStatus, detail: String| OutboxUpdate {
            key: item.key.clone(),
            status,
            next_at: None,
            detail: Some(detail),
            sent_at: None,
            held: None,
        };
        // A previous attempt was interrupted after sending but before it was marked: the recorded event
        // says it went out.
        if row.was == Some(OutboxStatus::Sending) && item.records.is_some() {
            if let Some(event) = self.store.event(&item.recorded_event_id()).await? {
                let mut update = done(
                    OutboxStatus::Sent,
                    "sent (confirmed by its recorded event after an interrupted attempt)".into(),
                );
                update.sent_at = Some(event.at);
                return Ok((update, false));
            }
        }
        let obligation = self
            .store
            .obligation_by_trigger(&item.customer, &item.policy, &item.trigger_event)
            .await?;
        let survey_send = item
            .survey
            .as_ref()
            .map(|name| survey_send_id(&item.policy, &item.customer, &item.trigger_event, name));
        if let (Some(send), 1) = (&survey_send, item.step) {
            // A survey's reminder: only if the survey went out and is still unanswered.
            let events = self.store.customer_events(&item.customer).await?;
            let of_send = |kind: &str| {
                events.iter().any(|e| {
                    e.kind == kind && e.properties_value()["send"].as_str() == Some(send.as_str())
                })
            };
            if !of_send("survey.sent") {
                return Ok((
                    done(
                        OutboxStatus::Skipped,
                        "not needed: the survey itself was not sent".into(),
                    ),
                    false,
                ));
            }
            if of_send("survey.answered") {
                return Ok((
                    done(
                        OutboxStatus::Skipped,
                        "not needed: the survey was answered".into(),
                    ),
                    false,
                ));
            }
        } else if let Err(moot) = still_needed(obligation.as_ref(), now) {
            return Ok((done(OutboxStatus::Skipped, moot.to_string()), false));
        }
        let customer = self
            .store
            .customer(&item.customer)
            .await?
            .unwrap_or_default();
        let timezone = customer
            .timezone
            .as_deref()
            .and_then(|tz| jiff::tz::TimeZone::get(tz).ok())
            .unwrap_or_else(|| self.settings.timezone.clone());
        let timezone_name = customer
            .timezone
            .clone()
            .filter(|tz| jiff::tz::TimeZone::get(tz).is_ok())
            .or_else(|| self.settings.timezone.iana_name().map(str::to_string))
            .unwrap_or_else(|| "UTC".into());
        let mut address = item.recipient.clone();
        if item.to_customer() {
            if item.channel == "email" {
                match &customer.email {
                    Some(email) => address = email.clone(),
                    None => {
                        return Ok((
                            done(
                                OutboxStatus::Skipped,
                                "no email address on file for the customer".into(),
                            ),
                            false,
                        ))
                    }
                }
            }
            let email = (item.channel == "email").then_some(address.as_str());
            if let Some(s) = self.store.suppression(&item.customer, email).await? {
                if s.reason == "bounced" || !item.transactional {
                    let detail = format!(
                        "suppressed: {} at {}{}",
                        s.reason,
                        s.at,
                        s.detail.map(|d| format!(" ({d})")).unwrap_or_default()
                    );
                    return Ok((done(OutboxStatus::Suppressed, detail), false));
                }
            }
            if !item.urgent {
                if let Some(quiet) = &self.settings.quiet_hours {
                    if let Some(until) = quiet.defer_until(now, &timezone) {
                        let mut update = done(
                            OutboxStatus::Pending,
                            format!("waiting: quiet hours in {timezone_name} until {until}"),
                        );
                        update.next_at = Some(until);
                        return Ok((update, false));
                    }
                }
            }
            if !item.transactional && self.settings.daily_cap > 0 {
                let since = now
                    .saturating_sub(SignedDuration::from_hours(24))
                    .unwrap_or(now);
                let sent = self
                    .store
                    .sent_to_customer_since(&item.customer, since)
                    .await?;
                if sent >= u64::from(self.settings.daily_cap) {
                    let detail = format!(
                        "capped: {sent} messages already sent in the last 24 h (daily_cap = {})",
                        self.settings.daily_cap
                    );
                    return Ok((done(OutboxStatus::Capped, detail), false));
                }
            }
            if item.survey.is_some() && item.step == 0 {
                let since = now
                    .saturating_sub(self.settings.survey_every)
                    .unwrap_or(now);
                let sent = self.store.surveys_sent_since(&item.customer, since).await?;
                if sent > 0 {
                    let detail = format!(
                        "capped: a survey already went to this customer in the last {} (survey_every)",
                        crate::domain::span::format_span(self.settings.survey_every)
                    );
                    return Ok((done(OutboxStatus::Capped, detail), false));
                }
            }
        }
        let trigger = self.store.event(&item.trigger_event).await?;
        let mut context = self.context(
            item,
            &customer,
            trigger.as_ref(),
            obligation.as_ref(),
            &timezone_name,
            now,
        );
        let mut survey_properties = None;
        if let (Some(name), Some(send)) = (&item.survey, &survey_send) {
            let Some(survey) = self.surveys.get(name) else {
                return Ok((
                    done(OutboxStatus::Failed, format!("unknown survey {name:?}")),
                    false,
                ));
            };
            let link = SurveyLink {
                customer: item.customer.clone(),
                survey: name.clone(),
                send: send.clone(),
                expires: now
                    .saturating_add(self.settings.survey_expires)
                    .unwrap_or(Timestamp::MAX),
            };
            let token = crate::secrets::survey_link_token(&link, &self.secret);
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
            let team = self
                .directory
                .team_for(&item.policy, trigger.as_ref())
                .map(str::to_string);
            survey_properties = Some(serde_json::json!({
                "survey": name,
                "kind": survey.kind.as_str(),
                "send": send,
                "policy": item.policy,
                "channel": trigger.as_ref().and_then(|e| e.channel.clone()),
                "team": team,
            }));
        }
        let rendered = match self.templates.render(&item.template, &context) {
            Ok(r) => r,
            Err(err) => {
                return Ok((
                    done(OutboxStatus::Failed, format!("template error: {err}")),
                    false,
                ));
            }
        };
        let delivery = if item.channel == "email" {
            let mut headers = vec![("X-Seen-Key".to_string(), item.key.clone())];
            if let Some(url) = &context.unsubscribe_url {
                headers.push(("List-Unsubscribe".into(), format!("<{url}>")));
                headers.push((
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ));
            }
            let to = match (&item.recipient_name, item.to_customer()) {
                (Some(name), false) => format!("{} <{address}>", name.replace(['<', '>', '"'], "")),
                _ => address.clone(),
            };
            self.channels
                .send_email(&OutgoingEmail {
                    message_id: format!("{}@seen", short_hash(&item.key)),
                    to,
                    subject: rendered.subject.clone(),
                    text: rendered.text.clone(),
                    html: rendered.html.clone(),
                    headers,
                })
                .await
        } else {
            let payload = serde_json::json!({
                "key": item.key,
                "action": item.action.as_str(),
                "policy": item.policy,
                "customer": { "id": customer.id, "name": customer.name, "email": customer.email },
                "ref": item.reference,
                "role": item.role,
                "recipient": item.recipient_name,
                "due_at": obligation.as_ref().map(|o| o.due_at.to_string()),
                "breach_at": obligation.as_ref().map(|o| o.breach_at.to_string()),
                "subject": rendered.subject,
                "text": rendered.text,
            });
            self.channels
                .send_webhook(&OutgoingWebhook {
                    endpoint: item.recipient.clone(),
                    event: item.action.as_str().to_string(),
                    idempotency_key: item.key.clone(),
                    payload,
                    text: format!("{}\n{}", rendered.subject, rendered.text),
                })
                .await
        };
        match delivery {
            Delivery::Sent { detail } => {
                let mut recorded = false;
                let mut detail = detail;
                if let (true, Some(kind)) = (item.to_customer(), &item.records) {
                    let mut event = recorded_event(item, kind, trigger.as_ref(), now);
                    if let Some(extra) = &survey_properties {
                        let mut properties = event.properties_value();
                        if let (Some(map), Some(extra)) =
                            (properties.as_object_mut(), extra.as_object())
                        {
                            for (k, v) in extra {
                                map.insert(k.clone(), v.clone());
                            }
                        }
                        event.properties = Some(properties.to_string());
                    }
                    match self.store.ingest(vec![event]).await {
                        Ok(_) => recorded = true,
                        Err(err) => {
                            detail = format!("{detail}; recording {kind} failed: {err}");
                        }
                    }
                }
                let mut update = done(OutboxStatus::Sent, detail);
                update.sent_at = Some(now);
                Ok((update, recorded))
            }
            Delivery::Transient { error } => {
                if row.attempts >= self.settings.max_attempts {
                    let detail = format!("gave up after {} tries: {error}", row.attempts);
                    return Ok((done(OutboxStatus::Dead, detail), false));
                }
                let retry_at = now
                    .saturating_add(backoff(self.settings.retry_backoff, row.attempts))
                    .unwrap_or(Timestamp::MAX);
                let mut update = done(
                    OutboxStatus::Pending,
                    format!(
                        "try {} failed: {error}; retrying at {retry_at}",
                        row.attempts
                    ),
                );
                update.next_at = Some(retry_at);
                Ok((update, false))
            }
            Delivery::Permanent { error, bounce } => {
                if bounce && item.to_customer() && item.channel == "email" {
                    self.store
                        .suppress(Suppression {
                            target: address.to_lowercase(),
                            reason: "bounced".into(),
                            detail: Some(error.clone()),
                            at: now,
                        })
                        .await?;
                }
                Ok((done(OutboxStatus::Failed, error), false))
            }
        }
    }

    fn context(
        &self,
        item: &OutboxItem,
        customer: &crate::store::CustomerRecord,
        trigger: Option<&Event>,
        obligation: Option<&Obligation>,
        timezone: &str,
        now: Timestamp,
    ) -> MessageContext {
        let unsubscribe_url = (item.to_customer() && !item.transactional).then(|| {
            format!(
                "{}/u/{}",
                self.settings.public_url,
                unsubscribe_token(&self.secret, &item.customer)
            )
        });
        MessageContext {
            business: BusinessView {
                name: self.settings.business_name.clone(),
                url: Some(self.settings.public_url.clone()),
            },
            customer: CustomerView {
                id: item.customer.clone(),
                name: customer.name.clone(),
                email: customer.email.clone(),
                phone: customer.phone.clone(),
                timezone: customer.timezone.clone(),
            },
            event: EventView {
                id: item.trigger_event.clone(),
                kind: trigger.map(|e| e.kind.clone()).unwrap_or_default(),
                at: trigger.map(|e| e.at.to_string()).unwrap_or_default(),
                channel: trigger.and_then(|e| e.channel.clone()),
                reference: item.reference.clone(),
                properties: trigger
                    .map(Event::properties_value)
                    .unwrap_or(serde_json::Value::Null),
            },
            obligation: ObligationView {
                policy: item.policy.clone(),
                reference: item.reference.clone(),
                opened_at: obligation
                    .map(|o| o.opened_at.to_string())
                    .unwrap_or_default(),
                due_at: obligation.map(|o| o.due_at.to_string()).unwrap_or_default(),
                breach_at: obligation
                    .map(|o| o.breach_at.to_string())
                    .unwrap_or_default(),
                status: obligation
                    .map(|o| o.status(now).as_str().to_string())
                    .unwrap_or_default(),
            },
            action: item.action.as_str().to_string(),
            recipient: RecipientView {
                name: item
                    .recipient_name
                    .clone()
                    .or_else(|| customer.name.clone()),
                email: (item.channel == "email").then(|| {
                    if item.to_customer() {
                        customer.email.clone().unwrap_or_default()
                    } else {
                        item.recipient.clone()
                    }
                }),
                role: item.role.clone(),
            },
            escalation: item.step,
            timezone: timezone.to_string(),
            now: now.to_string(),
            unsubscribe_url,
            links: serde_json::json!({
                "customer": format!("{}/v1/customers/{}", self.settings.public_url, item.customer),
            }),
        }
    }
}

/// The rows for one planned action step: one per recipient and channel.
pub fn items_for(
    action: &Action,
    planned: &Planned,
    o: &Obligation,
    trigger: Option<&Event>,
    directory: &Directory,
) -> Vec<OutboxItem> {
    let base = |channel: &str, recipient: String, name: Option<String>| {
        let key = format!(
            "{}|{}|{}|{}{}|{}|{channel}:{recipient}",
            o.policy,
            o.customer,
            o.trigger_event,
            action.kind.as_str(),
            planned.index,
            planned.step
        );
        OutboxItem {
            key,
            customer: o.customer.clone(),
            policy: o.policy.to_string(),
            trigger_event: o.trigger_event.clone(),
            reference: o.reference.clone(),
            action: action.kind,
            step: planned.step,
            template: match (planned.step, &action.survey) {
                (1, Some(_)) => "survey-reminder".into(),
                _ => action.template.clone(),
            },
            channel: channel.to_string(),
            recipient,
            recipient_name: name,
            role: action.to.as_str().to_string(),
            transactional: action.transactional,
            urgent: action.urgent,
            records: match (action.to_customer(), planned.step, &action.survey) {
                (true, 1, Some(_)) => Some("survey.reminded".into()),
                (true, _, _) => action.records.clone(),
                _ => None,
            },
            due_at: planned.due_at,
            survey: action.survey.clone(),
        }
    };
    if action.to == Recipient::Customer {
        return vec![match &action.webhook {
            Some(hook) => base("webhook", hook.clone(), None),
            None => base("email", "customer".into(), None),
        }];
    }
    if let Some(hook) = &action.webhook {
        return vec![base("webhook", hook.clone(), None)];
    }
    let mut out = Vec::new();
    for Contact {
        name,
        email,
        webhook,
        ..
    } in directory.contacts(&action.to, &o.policy, trigger)
    {
        if let Some(email) = email {
            out.push(base("email", email, Some(name.clone())));
        }
        if let Some(hook) = webhook {
            out.push(base("webhook", hook, Some(name.clone())));
        }
    }
    out
}

/// The event Seen records once a customer message went out: it keeps the obligation. It carries the
/// trigger's properties (a recorded `booking.confirmed` needs the booking's `starts_at` for its reminder).
fn recorded_event(item: &OutboxItem, kind: &str, trigger: Option<&Event>, now: Timestamp) -> Event {
    let mut properties = trigger
        .map(Event::properties_value)
        .and_then(|v| match v {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    properties.insert("automated".into(), true.into());
    properties.insert("outbox".into(), item.key.clone().into());
    properties.insert("template".into(), item.template.clone().into());
    Event {
        id: item.recorded_event_id(),
        kind: kind.to_string(),
        customer: item.customer.clone(),
        at: now,
        channel: Some(item.channel.clone()),
        reference: item.reference.clone(),
        properties: Some(serde_json::Value::Object(properties).to_string()),
        profile: ProfileUpdate::default(),
    }
}

/// The send a survey message belongs to: its answer links and its reminder share it.
pub fn survey_send_id(policy: &str, customer: &str, trigger_event: &str, survey: &str) -> String {
    format!(
        "survey-{}",
        short_hash(&format!("{policy}\n{customer}\n{trigger_event}\n{survey}"))
    )
}

/// `base · 2^(attempt-1)`, ±20 % jitter so that retries of a burst spread out.
fn backoff(base: SignedDuration, attempt: u32) -> SignedDuration {
    let factor = 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    SignedDuration::from_secs_f64((base.as_secs_f64() * factor * jitter).min(86_400.0))
}

fn until(t: Timestamp) -> Duration {
    Timestamp::now()
        .until(t)
        .ok()
        .and_then(|span| Duration::try_from(span).ok())
        .unwrap_or(Duration::ZERO)
}

// Unsubscribe links are signed and checked by `secrets`.
use crate::secrets::unsubscribe_token;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = SignedDuration::from_secs(10);
        for attempt in 1..5 {
            let d = backoff(base, attempt).as_secs_f64();
            let expected = 10.0 * 2f64.powi(attempt as i32 - 1);
            assert!(
                d >= expected * 0.79 && d <= expected * 1.21,
                "{attempt}: {d}"
            );
        }
    }
}
