//! The planner: each unplanned obligation's actions become outbox rows, one per step, recipient and
//! channel, keyed so that planning the same obligation twice queues nothing twice.

use jiff::Timestamp;

use super::{Actor, PLAN_BATCH};
use crate::config::{Contact, Directory};
use crate::domain::action::{deadline_suffix, plan, Action, Channel, Planned, Recipient};
use crate::domain::{Event, Obligation};
use crate::store::{OutboxItem, StoreError};

impl Actor {
    /// Queues the actions of one batch of unplanned obligations, the newest first: how many rows were
    /// new, or `None` when nothing was left to plan.
    pub async fn plan_batch(&self, now: Timestamp) -> Result<Option<u64>, StoreError> {
        let batch = self.store.unplanned_obligations(PLAN_BATCH).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::new();
        let mut seqs = Vec::with_capacity(batch.len());
        for (seq, o) in &batch {
            seqs.push(*seq);
            items.extend(self.items_of(o, now).await?);
        }
        Ok(Some(self.store.enqueue(items, seqs).await?))
    }

    /// The rows of one obligation's actions still worth queueing at `now`.
    async fn items_of(
        &self,
        o: &Obligation,
        now: Timestamp,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let actions = self.book.for_policy(&o.policy);
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        // Staff alerts of a policy with a calendar wait for its opening, unless it says otherwise.
        let office = self
            .engine
            .policy(&o.policy)
            .filter(|p| !p.alert_out_of_hours)
            .and_then(|p| p.calendar());
        let planned = plan(actions, o, now, self.settings.max_delay, office);
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        // Mail a mailbox connector read as backfill is history: the obligations it opens get no action.
        let from_mailbox = o
            .trigger_event
            .starts_with(crate::connectors::imap::ID_PREFIX);
        // Routing reads the trigger's channel and properties; customer messages need none.
        let trigger = if from_mailbox || planned.iter().any(|p| !actions[p.index].to_customer()) {
            self.store.event(&o.trigger_event).await?
        } else {
            None
        };
        if from_mailbox && trigger.as_ref().is_some_and(is_backfill) {
            return Ok(Vec::new());
        }
        let mut items = Vec::new();
        for p in &planned {
            items.extend(items_for(
                &actions[p.index],
                p,
                o,
                trigger.as_ref(),
                &self.directory,
            ));
        }
        Ok(items)
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
    recipients(action, o, trigger, directory)
        .into_iter()
        .map(|(channel, recipient, name)| item(action, planned, o, channel, recipient, name))
        .collect()
}

/// (channel, recipient, recipient's name) for each message of an action: the customer by email or their
/// webhook, an action's own webhook, or every contact of the staff it names (email and/or webhook).
fn recipients(
    action: &Action,
    o: &Obligation,
    trigger: Option<&Event>,
    directory: &Directory,
) -> Vec<(Channel, String, Option<String>)> {
    if action.to == Recipient::Customer {
        return vec![match &action.webhook {
            Some(hook) => (Channel::Webhook, hook.clone(), None),
            None => (Channel::Email, "customer".into(), None),
        }];
    }
    if let Some(hook) = &action.webhook {
        return vec![(Channel::Webhook, hook.clone(), None)];
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
            out.push((Channel::Email, email, Some(name.clone())));
        }
        if let Some(hook) = webhook {
            out.push((Channel::Webhook, hook, Some(name.clone())));
        }
    }
    out
}

/// One outbox row. Its key (policy, customer, trigger, action and its index, step, channel:recipient, and
/// for a deadline a pause moved, that deadline) is the idempotency key: its spelling must never change.
fn item(
    action: &Action,
    planned: &Planned,
    o: &Obligation,
    channel: Channel,
    recipient: String,
    name: Option<String>,
) -> OutboxItem {
    let mut key = format!(
        "{}|{}|{}|{}{}|{}|{channel}:{recipient}",
        o.policy,
        o.customer,
        o.trigger_event,
        action.kind.as_str(),
        planned.index,
        planned.step
    );
    // A pause moved the deadline: the steps timed from it are new rows (the old ones were skipped).
    if action.follows_deadline() && !o.paused_total.is_zero() {
        key.push_str(&deadline_suffix(o));
    }
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
        channel: channel.as_str().to_string(),
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
}

/// An event a connector read as history (`properties.backfill = true`).
fn is_backfill(event: &Event) -> bool {
    event.properties_value().get("backfill") == Some(&serde_json::Value::Bool(true))
}
