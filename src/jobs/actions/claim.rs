//! The claim loop: claim the rows due now (with a lease), and send them in chunks of at most
//! `concurrency` rows of distinct customers. For each chunk: renew the leases (one write), recover
//! interrupted attempts, read what the gate (`domain::action::gate`) needs with one query per table, ask
//! the gate and compose each row, send the chunk's messages at once, record the customer messages' events
//! (one ingestion) and write the outcomes (one write): sent and recorded, retried with backoff, dead,
//! failed, or held by the gate.
//!
//! A customer's rows go in successive chunks, so the daily cap counts each send before the next. A chunk
//! is at most `concurrency` messages, which is what can be in flight when a node dies: the window for a
//! duplicate is one chunk's sends, as it was `concurrency` single sends.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use super::compose::{recorded_event, Composed, Draft};
use super::links::survey_send_of;
use super::{Actor, CLAIM_BATCH};
use crate::channels::Delivery;
use crate::domain::action::gate::{self, Disposition, Due, Hold, LocalZone};
use crate::domain::action::Channel;
use crate::domain::{Event, Obligation};
use crate::store::{
    CustomerRecord, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, StoreError, Suppression,
};

/// A row's new state, and whether a customer message recorded its event.
type Outcome = (OutboxUpdate, bool);

/// What the gate and the composer read for a chunk, loaded with one query per table.
struct Reads {
    /// Per row, in the chunk's order.
    obligations: Vec<Option<Obligation>>,
    customers: HashMap<String, CustomerRecord>,
    triggers: HashMap<String, Event>,
    /// The recorded events of interrupted attempts, by id.
    recorded: HashMap<String, Timestamp>,
    /// For a customer the store does not know (the gate then finds no address).
    nobody: CustomerRecord,
}

/// A row the first gate let through, with what composing it reads.
struct Ready<'a> {
    row: &'a OutboxRow,
    channel: Channel,
    due: Due,
    customer: &'a CustomerRecord,
    trigger: Option<&'a Event>,
    obligation: Option<&'a Obligation>,
    zone: LocalZone,
    address: String,
    now: Timestamp,
}

impl Ready<'_> {
    fn draft(&self) -> Draft<'_> {
        Draft {
            item: &self.row.item,
            channel: self.channel,
            customer: self.customer,
            trigger: self.trigger,
            obligation: self.obligation,
            zone: &self.zone.name,
            address: &self.address,
            now: self.now,
        }
    }
}

impl Actor {
    /// Sends every row due now. Returns how many customer messages recorded an event.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
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
            // A failed chunk leaves its rows claimed (their lease expires); the others still go.
            let mut failed = None;
            for chunk in chunks(rows, self.settings.concurrency) {
                match self.send_chunk(chunk).await {
                    Ok(n) => recorded += n,
                    Err(err) => {
                        tracing::warn!(error = %err, "actions: could not process a chunk of messages");
                        failed.get_or_insert(err);
                    }
                }
            }
            if let Some(err) = failed {
                return Err(err);
            }
            if claimed < CLAIM_BATCH {
                return Ok(recorded);
            }
        }
    }

    /// Delivers one chunk of claimed rows and records the outcomes. Returns how many events it recorded.
    async fn send_chunk(&self, rows: Vec<OutboxRow>) -> Result<usize, StoreError> {
        let rows = self.renew(rows).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let now = Timestamp::now();
        let reads = self.read_chunk(&rows).await?;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; rows.len()];
        let mut ready = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match self.first_gate(row, &reads, i, now).await? {
                Ok(r) => ready.push((i, r)),
                Err(update) => outcomes[i] = Some((update, false)),
            }
        }
        let holds = self.customer_gates(&ready, now).await?;
        let mut sending: Vec<(usize, Ready, Composed)> = Vec::new();
        for ((i, r), hold) in ready.into_iter().zip(holds) {
            if let Err(hold) = hold {
                outcomes[i] = Some((held(&r.row.item, hold), false));
                continue;
            }
            match self.composer().compose(&r.draft()) {
                Ok(composed) => sending.push((i, r, composed)),
                Err(detail) => {
                    outcomes[i] = Some((finished(&r.row.item, OutboxStatus::Failed, detail), false))
                }
            }
        }
        let deliveries = futures::future::join_all(
            sending
                .iter()
                .map(|(_, _, composed)| self.channels.send(&composed.outgoing)),
        )
        .await;
        for ((i, r, _), delivery) in sending.iter().zip(deliveries) {
            outcomes[*i] = Some(self.outcome(r, delivery).await?);
        }
        self.record(&sending, &mut outcomes).await;
        self.finish(&rows, outcomes).await
    }

    /// Extends the chunk's claims right before its messages: a claimed batch can take longer than the
    /// lease on a loaded machine. Rows another node claimed since are left to it.
    async fn renew(&self, rows: Vec<OutboxRow>) -> Result<Vec<OutboxRow>, StoreError> {
        let until = Timestamp::now()
            .saturating_add(self.settings.lease)
            .unwrap_or(Timestamp::MAX);
        let held = rows
            .iter()
            .map(|row| (row.item.key.clone(), row.next_at))
            .collect();
        let renewed: HashSet<String> = self
            .store
            .renew_outbox_many(held, until)
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|mut row| {
                if !renewed.contains(&row.item.key) {
                    tracing::info!(key = %row.item.key, "actions: another node took over this message");
                    return None;
                }
                row.next_at = until;
                Some(row)
            })
            .collect())
    }

    /// The chunk's obligations, customers, trigger events and interrupted attempts' recorded events.
    async fn read_chunk(&self, rows: &[OutboxRow]) -> Result<Reads, StoreError> {
        let triggers = rows
            .iter()
            .map(|r| {
                let i = &r.item;
                (
                    i.customer.clone(),
                    i.policy.clone(),
                    i.trigger_event.clone(),
                )
            })
            .collect();
        let customers = distinct(rows.iter().map(|r| r.item.customer.clone()));
        let events = distinct(rows.iter().map(|r| r.item.trigger_event.clone()));
        // A previous attempt was interrupted after sending but before it was marked: its recorded event,
        // if any, says it went out.
        let interrupted = distinct(
            rows.iter()
                .filter(|r| r.was == Some(OutboxStatus::Sending) && r.item.records.is_some())
                .map(|r| r.item.recorded_event_id()),
        );
        let (obligations, customers, events, recorded) = tokio::try_join!(
            self.store.obligations_by_triggers(triggers),
            self.store.customers(customers),
            self.store.events_by_ids(events),
            async {
                match interrupted.is_empty() {
                    true => Ok(Vec::new()),
                    false => self.store.events_by_ids(interrupted).await,
                }
            },
        )?;
        Ok(Reads {
            obligations,
            customers: customers.into_iter().map(|c| (c.id.clone(), c)).collect(),
            triggers: events.into_iter().map(|e| (e.id.clone(), e)).collect(),
            recorded: recorded.into_iter().map(|e| (e.id, e.at)).collect(),
            nobody: CustomerRecord::default(),
        })
    }

    /// Recovery, the channel, whether the message is still needed and its address: the row ready for the
    /// customer's gate, or its new state.
    async fn first_gate<'a>(
        &self,
        row: &'a OutboxRow,
        reads: &'a Reads,
        index: usize,
        now: Timestamp,
    ) -> Result<Result<Ready<'a>, OutboxUpdate>, StoreError> {
        let item = &row.item;
        if let Some(update) = recovered(row, reads) {
            return Ok(Err(update));
        }
        // The stored column holds `Channel::as_str`; anything else was never written by the planner.
        let Some(channel) = Channel::parse(&item.channel) else {
            let detail = format!("unknown channel {:?}", item.channel);
            return Ok(Err(finished(item, OutboxStatus::Failed, detail)));
        };
        let due = due(item, channel);
        let obligation = reads.obligations.get(index).and_then(Option::as_ref);
        if let Err(hold) = self.needed(item, &due, obligation, now).await? {
            return Ok(Err(held(item, hold)));
        }
        let customer = reads.customers.get(&item.customer).unwrap_or(&reads.nobody);
        let zone = LocalZone::of(customer.timezone.as_deref(), &self.settings.timezone);
        let address = match gate::address(&due, &item.recipient, customer.email.as_deref()) {
            Ok(address) => address,
            Err(hold) => return Ok(Err(held(item, hold))),
        };
        Ok(Ok(Ready {
            row,
            channel,
            due,
            customer,
            trigger: reads.triggers.get(&item.trigger_event),
            obligation,
            zone,
            address,
            now,
        }))
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
    /// frequency, in that order. The chunk's suppressions and daily counts are read at once.
    async fn customer_gates(
        &self,
        ready: &[(usize, Ready<'_>)],
        now: Timestamp,
    ) -> Result<Vec<Result<(), Hold>>, StoreError> {
        let rules = self.settings.rules();
        let to_customer: Vec<&Ready> = ready
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.due.to_customer)
            .collect();
        let targets = to_customer
            .iter()
            .map(|r| {
                let email = (r.due.channel == Channel::Email).then(|| r.address.clone());
                (r.row.item.customer.clone(), email)
            })
            .collect::<Vec<_>>();
        let suppressions = match targets.is_empty() {
            true => Vec::new(),
            false => self.store.suppressions_of(targets).await?,
        };
        let capped: Vec<&Ready> = to_customer
            .iter()
            .copied()
            .filter(|r| rules.daily_window(&r.due, now).is_some())
            .collect();
        let since = now
            .saturating_sub(SignedDuration::from_hours(24))
            .unwrap_or(now);
        let counts: HashMap<&str, u64> = match capped.is_empty() {
            true => HashMap::new(),
            false => {
                let customers = capped.iter().map(|r| r.row.item.customer.clone()).collect();
                let counts = self.store.sent_to_customers_since(customers, since).await?;
                capped
                    .iter()
                    .map(|r| r.row.item.customer.as_str())
                    .zip(counts)
                    .collect()
            }
        };
        let mut suppressions = suppressions.into_iter();
        let mut out = Vec::with_capacity(ready.len());
        for (_, r) in ready {
            if !r.due.to_customer {
                out.push(Ok(()));
                continue;
            }
            let suppression = suppressions.next().flatten();
            out.push(
                self.customer_gate(r, suppression.as_ref(), &counts, now)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Gate 2 for one message to the customer, over what `customer_gates` read.
    async fn customer_gate(
        &self,
        r: &Ready<'_>,
        suppression: Option<&Suppression>,
        counts: &HashMap<&str, u64>,
        now: Timestamp,
    ) -> Result<Result<(), Hold>, StoreError> {
        let rules = self.settings.rules();
        let item = &r.row.item;
        if let Some(s) = suppression {
            if let Err(hold) = rules.suppression(&r.due, &s.reason, s.at, s.detail.as_deref()) {
                return Ok(Err(hold));
            }
        }
        if let Err(hold) = rules.quiet_hours(&r.due, now, &r.zone) {
            return Ok(Err(hold));
        }
        if rules.daily_window(&r.due, now).is_some() {
            let sent = counts.get(item.customer.as_str()).copied().unwrap_or(0);
            if let Err(hold) = rules.daily_cap(sent) {
                return Ok(Err(hold));
            }
        }
        if let Some(since) = rules.survey_window(&r.due, now) {
            let sent = self.store.surveys_sent_since(&item.customer, since).await?;
            return Ok(rules.survey_every(sent));
        }
        Ok(Ok(()))
    }

    /// Records the events of the chunk's customer messages that went out, in one ingestion; a failure
    /// to record is noted on each row, which stays sent.
    async fn record(
        &self,
        sending: &[(usize, Ready<'_>, Composed)],
        outcomes: &mut [Option<Outcome>],
    ) {
        let mut events = Vec::new();
        let mut recording = Vec::new();
        for (i, r, composed) in sending {
            let item = &r.row.item;
            let sent = matches!(&outcomes[*i], Some((u, _)) if u.status == OutboxStatus::Sent);
            if let (true, true, Some(kind)) = (sent, item.to_customer(), &item.records) {
                events.push(recorded_event(&r.draft(), kind, composed.survey.as_ref()));
                recording.push((*i, kind.as_str()));
            }
        }
        if events.is_empty() {
            return;
        }
        let result = self.store.ingest(events).await;
        for (i, kind) in recording {
            let Some((update, recorded)) = outcomes[i].as_mut() else {
                continue;
            };
            match &result {
                Ok(_) => *recorded = true,
                Err(err) => {
                    let detail = update.detail.take().unwrap_or_default();
                    update.detail = Some(format!("{detail}; recording {kind} failed: {err}"));
                }
            }
        }
    }

    /// Writes the chunk's outcomes in one write, each only while this node's lease is the row's.
    async fn finish(
        &self,
        rows: &[OutboxRow],
        outcomes: Vec<Option<Outcome>>,
    ) -> Result<usize, StoreError> {
        let mut recorded = 0;
        let mut updates = Vec::with_capacity(rows.len());
        for (row, outcome) in rows.iter().zip(outcomes) {
            // Every row has an outcome by now; a row without one stays claimed until its lease ends.
            let Some((mut update, was_recorded)) = outcome else {
                continue;
            };
            tracing::info!(
                key = %row.item.key,
                status = update.status.as_str(),
                detail = update.detail.as_deref().unwrap_or(""),
                "message"
            );
            update.held = Some(row.next_at);
            crate::metrics::outbox_finished(update.status.as_str());
            recorded += usize::from(was_recorded);
            updates.push(update);
        }
        self.store.finish_outbox(updates).await?;
        Ok(recorded)
    }

    /// What the channel's answer makes of the row (a sent customer message's event is recorded with
    /// the chunk's, by `record`).
    async fn outcome(&self, r: &Ready<'_>, delivery: Delivery) -> Result<Outcome, StoreError> {
        let item = &r.row.item;
        match delivery {
            Delivery::Sent { detail } => {
                let mut update = finished(item, OutboxStatus::Sent, detail);
                update.sent_at = Some(r.now);
                Ok((update, false))
            }
            Delivery::Transient { error } => Ok((self.retry(r.row, error, r.now), false)),
            Delivery::Permanent { error, bounce } => {
                if bounce && item.to_customer() && r.channel == Channel::Email {
                    self.store
                        .suppress(Suppression {
                            target: r.address.to_lowercase(),
                            reason: "bounced".into(),
                            detail: Some(error.clone()),
                            at: r.now,
                        })
                        .await?;
                }
                Ok((finished(item, OutboxStatus::Failed, error), false))
            }
        }
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

/// Claimed rows in chunks of at most `size`, of distinct customers, in claim order: a customer's next
/// row goes in a later chunk than its previous one, so one customer's messages go one after another
/// (the daily cap counts each send before the next) while different customers' go together.
fn chunks(rows: Vec<OutboxRow>, size: usize) -> Vec<Vec<OutboxRow>> {
    let size = size.max(1);
    let mut chunks: Vec<Vec<OutboxRow>> = Vec::new();
    // The chunk a customer's latest row went in.
    let mut latest: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let after = latest.get(&row.item.customer).map_or(0, |i| i + 1);
        let i = match (after..chunks.len()).find(|&i| chunks[i].len() < size) {
            Some(i) => i,
            None => {
                chunks.push(Vec::new());
                chunks.len() - 1
            }
        };
        latest.insert(row.item.customer.clone(), i);
        chunks[i].push(row);
    }
    chunks
}

/// Each value once, in first-seen order.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(v.clone())).collect()
}

/// A previous attempt was interrupted after sending but before it was marked: the recorded event says
/// it went out.
fn recovered(row: &OutboxRow, reads: &Reads) -> Option<OutboxUpdate> {
    let item = &row.item;
    if row.was != Some(OutboxStatus::Sending) || item.records.is_none() {
        return None;
    }
    let at = *reads.recorded.get(&item.recorded_event_id())?;
    let detail = "sent (confirmed by its recorded event after an interrupted attempt)";
    let mut update = finished(item, OutboxStatus::Sent, detail.into());
    update.sent_at = Some(at);
    Some(update)
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
