//! The claim loop: claim the rows due now (with a lease), and for each: renew the lease, recover an
//! interrupted attempt, ask the gate (`domain::action::gate`, over what this loop loads), compose, send
//! on the row's channel, and write the outcome (sent and recorded, retried with backoff, dead, failed,
//! or held by the gate).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use super::compose::{recorded_event, Composed, Draft};
use super::links::survey_send_of;
use super::{Actor, CLAIM_BATCH};
use crate::channels::Delivery;
use crate::domain::action::gate::{self, Disposition, Due, Hold, LocalZone};
use crate::domain::action::Channel;
use crate::domain::Obligation;
use crate::store::{OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, StoreError, Suppression};

/// A row's new state, and whether a customer message recorded its event.
type Outcome = (OutboxUpdate, bool);

impl Actor {
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
            let results: Vec<Result<usize, StoreError>> = futures::stream::iter(by_customer(rows))
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

    /// One row through recovery, the gate, compose and its channel.
    async fn deliver(&self, row: &OutboxRow) -> Result<Outcome, StoreError> {
        let item = &row.item;
        let now = Timestamp::now();
        if let Some(update) = self.recover(row).await? {
            return Ok((update, false));
        }
        // The stored column holds `Channel::as_str`; anything else was never written by the planner.
        let Some(channel) = Channel::parse(&item.channel) else {
            let detail = format!("unknown channel {:?}", item.channel);
            return Ok((finished(item, OutboxStatus::Failed, detail), false));
        };
        let due = due(item, channel);
        let obligation = self
            .store
            .obligation_by_trigger(&item.customer, &item.policy, &item.trigger_event)
            .await?;
        if let Err(hold) = self.needed(item, &due, obligation.as_ref(), now).await? {
            return Ok((held(item, hold), false));
        }
        let customer = self
            .store
            .customer(&item.customer)
            .await?
            .unwrap_or_default();
        let zone = LocalZone::of(customer.timezone.as_deref(), &self.settings.timezone);
        let address = match gate::address(&due, &item.recipient, customer.email.as_deref()) {
            Ok(address) => address,
            Err(hold) => return Ok((held(item, hold), false)),
        };
        if let Err(hold) = self.customer_gate(item, &due, &address, &zone, now).await? {
            return Ok((held(item, hold), false));
        }
        let trigger = self.store.event(&item.trigger_event).await?;
        let draft = Draft {
            item,
            channel,
            customer: &customer,
            trigger: trigger.as_ref(),
            obligation: obligation.as_ref(),
            zone: &zone.name,
            address: &address,
            now,
        };
        let composed = match self.composer().compose(&draft) {
            Ok(composed) => composed,
            Err(detail) => return Ok((finished(item, OutboxStatus::Failed, detail), false)),
        };
        let delivery = self.channels.send(&composed.outgoing).await;
        self.outcome(row, &draft, &composed, delivery).await
    }

    /// A previous attempt was interrupted after sending but before it was marked: the recorded event
    /// says it went out.
    async fn recover(&self, row: &OutboxRow) -> Result<Option<OutboxUpdate>, StoreError> {
        let item = &row.item;
        if row.was != Some(OutboxStatus::Sending) || item.records.is_none() {
            return Ok(None);
        }
        let Some(event) = self.store.event(&item.recorded_event_id()).await? else {
            return Ok(None);
        };
        let detail = "sent (confirmed by its recorded event after an interrupted attempt)";
        let mut update = finished(item, OutboxStatus::Sent, detail.into());
        update.sent_at = Some(event.at);
        Ok(Some(update))
    }

    /// Gate 1: whether the message is still needed (a survey's reminder: by the survey's events).
    async fn needed(
        &self,
        item: &OutboxItem,
        due: &Due,
        obligation: Option<&Obligation>,
        now: Timestamp,
    ) -> Result<Result<(), Hold>, StoreError> {
        let send = survey_send_of(item).filter(|_| due.is_survey_reminder());
        let events = match &send {
            Some(_) => self.store.customer_events(&item.customer).await?,
            None => Vec::new(),
        };
        let survey_events = send.as_deref().map(|send| (events.as_slice(), send));
        Ok(gate::needed(due, obligation, survey_events, now))
    }

    /// Gate 2, for messages to the customer: suppression, quiet hours, the daily cap, the survey
    /// frequency, in that order; each loads only what it needs, only if the previous ones let it pass.
    async fn customer_gate(
        &self,
        item: &OutboxItem,
        due: &Due,
        address: &str,
        zone: &LocalZone,
        now: Timestamp,
    ) -> Result<Result<(), Hold>, StoreError> {
        if !due.to_customer {
            return Ok(Ok(()));
        }
        let rules = self.settings.rules();
        let email = (due.channel == Channel::Email).then_some(address);
        if let Some(s) = self.store.suppression(&item.customer, email).await? {
            if let Err(hold) = rules.suppression(due, &s.reason, s.at, s.detail.as_deref()) {
                return Ok(Err(hold));
            }
        }
        if let Err(hold) = rules.quiet_hours(due, now, zone) {
            return Ok(Err(hold));
        }
        if let Some(since) = rules.daily_window(due, now) {
            let sent = self
                .store
                .sent_to_customer_since(&item.customer, since)
                .await?;
            if let Err(hold) = rules.daily_cap(sent) {
                return Ok(Err(hold));
            }
        }
        if let Some(since) = rules.survey_window(due, now) {
            let sent = self.store.surveys_sent_since(&item.customer, since).await?;
            return Ok(rules.survey_every(sent));
        }
        Ok(Ok(()))
    }

    /// What the channel's answer makes of the row.
    async fn outcome(
        &self,
        row: &OutboxRow,
        draft: &Draft<'_>,
        composed: &Composed,
        delivery: Delivery,
    ) -> Result<Outcome, StoreError> {
        let item = draft.item;
        match delivery {
            Delivery::Sent { detail } => Ok(self.sent(draft, composed, detail).await),
            Delivery::Transient { error } => Ok((self.retry(row, error, draft.now), false)),
            Delivery::Permanent { error, bounce } => {
                if bounce && item.to_customer() && draft.channel == Channel::Email {
                    self.store
                        .suppress(Suppression {
                            target: draft.address.to_lowercase(),
                            reason: "bounced".into(),
                            detail: Some(error.clone()),
                            at: draft.now,
                        })
                        .await?;
                }
                Ok((finished(item, OutboxStatus::Failed, error), false))
            }
        }
    }

    /// Sent: a customer message records its event (which keeps the promise); a failure to record is
    /// noted on the row, which stays sent.
    async fn sent(&self, draft: &Draft<'_>, composed: &Composed, detail: String) -> Outcome {
        let item = draft.item;
        let mut recorded = false;
        let mut detail = detail;
        if let (true, Some(kind)) = (item.to_customer(), &item.records) {
            let event = recorded_event(draft, kind, composed.survey.as_ref());
            match self.store.ingest(vec![event]).await {
                Ok(_) => recorded = true,
                Err(err) => detail = format!("{detail}; recording {kind} failed: {err}"),
            }
        }
        let mut update = finished(item, OutboxStatus::Sent, detail);
        update.sent_at = Some(draft.now);
        (update, recorded)
    }

    /// A transient failure: try again with backoff, or give up after `max_attempts`.
    fn retry(&self, row: &OutboxRow, error: String, now: Timestamp) -> OutboxUpdate {
        let item = &row.item;
        if row.attempts >= self.settings.max_attempts {
            let detail = format!("gave up after {} tries: {error}", row.attempts);
            return finished(item, OutboxStatus::Dead, detail);
        }
        let retry_at = now
            .saturating_add(backoff(self.settings.retry_backoff, row.attempts))
            .unwrap_or(Timestamp::MAX);
        let detail = format!(
            "try {} failed: {error}; retrying at {retry_at}",
            row.attempts
        );
        let mut update = finished(item, OutboxStatus::Pending, detail);
        update.next_at = Some(retry_at);
        update
    }
}

/// Claimed rows grouped by customer, in claim order. One customer's messages go one after another, so
/// the daily cap counts each send before the next; different customers' go in parallel.
fn by_customer(rows: Vec<OutboxRow>) -> Vec<Vec<OutboxRow>> {
    let mut groups: Vec<Vec<OutboxRow>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let i = *index.entry(row.item.customer.clone()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(row);
    }
    groups
}

/// What the gate needs to know of a row.
fn due(item: &OutboxItem, channel: Channel) -> Due {
    Due {
        channel,
        to_customer: item.to_customer(),
        transactional: item.transactional,
        urgent: item.urgent,
        survey_step: item.survey.as_ref().map(|_| item.step),
    }
}

/// The row's new status and why.
fn finished(item: &OutboxItem, status: OutboxStatus, detail: String) -> OutboxUpdate {
    OutboxUpdate {
        key: item.key.clone(),
        status,
        next_at: None,
        detail: Some(detail),
        sent_at: None,
        held: None,
    }
}

/// A row the gate held: finished (skipped, suppressed, capped), or pending until the hold ends.
fn held(item: &OutboxItem, hold: Hold) -> OutboxUpdate {
    let detail = hold.to_string();
    match hold.disposition() {
        Disposition::Skipped => finished(item, OutboxStatus::Skipped, detail),
        Disposition::Suppressed => finished(item, OutboxStatus::Suppressed, detail),
        Disposition::Capped => finished(item, OutboxStatus::Capped, detail),
        Disposition::WaitUntil(until) => {
            let mut update = finished(item, OutboxStatus::Pending, detail);
            update.next_at = Some(until);
            update
        }
    }
}

/// `base · 2^(attempt-1)`, ±20 % jitter so that retries of a burst spread out.
fn backoff(base: SignedDuration, attempt: u32) -> SignedDuration {
    let factor = 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    SignedDuration::from_secs_f64((base.as_secs_f64() * factor * jitter).min(86_400.0))
}

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
