//! `[[connectors.nats]]`: a NATS JetStream pull consumer of events in Seen's JSON shape (one object per
//! message, as one element of a `POST /v1/events` array).
//!
//! Messages are pulled in batches (up to `batch`, or what is there), validated like the API's, stored
//! through the service (one transaction; on PostgreSQL a large batch in parallel lanes of disjoint
//! customers), and acked only after that committed: at-least-once delivery, made idempotent by event ids
//! (a message without an `id` gets `nats:<stream>:<sequence>`, so its redelivery is a duplicate). A
//! message that is not a valid event — or whose id is stored for another customer — is published to the
//! dead-letter subject (its payload as received, the reason in headers) and then acked; the valid
//! messages around it are stored. Storage failing never dead-letters anything: the batch stays unacked
//! and is retried. NATS down or the stream missing: the connector retries with backoff and shows why in
//! `connectors::Health`; it never stops the server.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer};
use tokio::sync::Notify;

use super::Health;
use crate::config::connectors::NatsConfig;
use crate::domain::event::{parse_event_json, MAX_PROPERTIES_BYTES};
use crate::domain::{Event, EventError};
use crate::jobs::Wake;
use crate::service::Service;
use crate::store::{Ingested, StoreError};

/// The kind shown in `connectors::Health`.
pub const KIND: &str = "nats";
/// A dead letter's headers: why (``field `x`: reason``), the field, and where the message came from.
pub const REASON_HEADER: &str = "Seen-Reason";
pub const FIELD_HEADER: &str = "Seen-Field";
pub const SUBJECT_HEADER: &str = "Seen-Original-Subject";
pub const SEQUENCE_HEADER: &str = "Seen-Stream-Sequence";
pub const CONNECTOR_HEADER: &str = "Seen-Connector";

/// First wait after a failure; it doubles up to `LAST_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// A pull request's life, and the server's heartbeat within it (a silent server is noticed).
const PULL_EXPIRES: Duration = Duration::from_secs(30);
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Fewest events per lane worth a transaction of its own (smaller batches are stored in one).
const LANE_MIN: usize = 100;
/// Longest reason carried in a header.
const MAX_HEADER: usize = 1_000;

/// Why a session with NATS ended; the connector retries after each.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("stream {stream:?}: {source}")]
    Stream {
        stream: String,
        source: jetstream::context::GetStreamError,
    },
    #[error("durable consumer {durable:?} on stream {stream:?}: {source}")]
    Consumer {
        durable: String,
        stream: String,
        source: jetstream::stream::ConsumerError,
    },
    #[error("pulling messages: {0}")]
    Pull(String),
    #[error("acknowledging messages: {0}")]
    Ack(String),
}

/// One `[[connectors.nats]]`, running inside `seen serve`.
pub struct NatsConnector {
    config: NatsConfig,
    ack_wait: Duration,
    dead_letter: String,
    service: Service,
    wake: Wake,
    health: Health,
}

/// A bound consumer, pulling.
struct Session {
    client: async_nats::Client,
    js: jetstream::Context,
    messages: pull::Stream,
}

/// What became of a batch.
enum Flow {
    Continue,
    /// The app is stopping; what was not stored is left unacked.
    Stopped,
}

/// Why a message does not become an event.
enum Skip {
    /// Not a valid event: dead-lettered with this reason.
    Invalid(EventError),
    /// One of Seen's own dead letters, come back because the dead-letter subject is also consumed: acked
    /// and left alone, or it would circle for ever.
    OwnDeadLetter,
}

impl NatsConnector {
    pub fn new(
        config: NatsConfig,
        service: Service,
        wake: Wake,
        health: Health,
    ) -> Result<NatsConnector, String> {
        let ack_wait = config.ack_wait()?;
        let dead_letter = config.dead_letter_subject();
        Ok(NatsConnector {
            config,
            ack_wait,
            dead_letter,
            service,
            wake,
            health,
        })
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    /// Consumes until `stop`: each session connects, binds the durable consumer and stores batches; when
    /// one fails it is logged, shown in the health, and retried with backoff.
    pub async fn run(self, stop: Arc<Notify>) {
        let mut wait = FIRST_RETRY;
        loop {
            // Binding stores nothing, so a stop may cut it short (an unreachable server takes seconds).
            let bound = tokio::select! {
                biased;
                _ = stop.notified() => return,
                bound = self.bind() => bound,
            };
            let ended = match bound {
                Ok(session) => {
                    wait = FIRST_RETRY;
                    self.consume(session, &stop).await
                }
                Err(err) => Err(err),
            };
            match ended {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(connector = self.name(), error = %err, retry_in = ?wait, "nats connector: retrying");
                    self.health.failed(self.name(), KIND, &err.to_string());
                }
            }
            tokio::select! {
                biased;
                _ = stop.notified() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(LAST_RETRY);
        }
    }

    /// Connects, finds the stream, creates or updates the durable consumer and starts pulling.
    async fn bind(&self) -> Result<Session, NatsError> {
        let client = self.connect().await?;
        let js = jetstream::new(client.clone());
        let stream =
            js.get_stream(&self.config.stream)
                .await
                .map_err(|source| NatsError::Stream {
                    stream: self.config.stream.clone(),
                    source,
                })?;
        let consumer: PullConsumer = stream
            .create_consumer(self.consumer_config())
            .await
            .map_err(|source| NatsError::Consumer {
                durable: self.config.durable.clone(),
                stream: self.config.stream.clone(),
                source,
            })?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch)
            .expires(PULL_EXPIRES)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
            .map_err(|e| NatsError::Pull(e.to_string()))?;
        self.health.set_state(self.name(), KIND, "connected");
        tracing::info!(
            connector = self.name(),
            stream = %self.config.stream,
            durable = %self.config.durable,
            "nats connector: consuming"
        );
        Ok(Session {
            client,
            js,
            messages,
        })
    }

    /// Stores batch after batch: returns `Ok` when stopped, an error when pulling or acking fails.
    async fn consume(&self, session: Session, stop: &Notify) -> Result<(), NatsError> {
        let Session {
            client,
            js,
            messages,
        } = session;
        let mut batches = messages.ready_chunks(self.config.batch);
        loop {
            let chunk = tokio::select! {
                biased;
                _ = stop.notified() => None,
                chunk = batches.next() => Some(chunk),
            };
            let Some(chunk) = chunk else {
                // Acks already written must reach the server before the connection goes.
                let _ = client.flush().await;
                return Ok(());
            };
            let Some(chunk) = chunk else {
                return Err(NatsError::Pull("the server ended the pull".into()));
            };
            let mut delivered = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for item in chunk {
                match item {
                    Ok(message) => delivered.push(message),
                    Err(err) => failure = Some(err.to_string()),
                }
            }
            if !delivered.is_empty() {
                let flow = self.store_batch(&js, &delivered, stop).await?;
                client
                    .flush()
                    .await
                    .map_err(|e| NatsError::Ack(e.to_string()))?;
                if let Flow::Stopped = flow {
                    return Ok(());
                }
            }
            if let Some(failure) = failure {
                return Err(NatsError::Pull(failure));
            }
        }
    }

    async fn connect(&self) -> Result<async_nats::Client, NatsError> {
        connect(&self.config, Some(self.health.clone())).await
    }

    /// The durable pull consumer: created on first start, its settings brought up to date afterwards.
    fn consumer_config(&self) -> pull::Config {
        // Room for the batch being stored and the next ones arriving meanwhile.
        let in_flight = self.config.batch.saturating_mul(4);
        pull::Config {
            durable_name: Some(self.config.durable.clone()),
            description: Some(format!("Seen connector {}", self.config.name)),
            filter_subject: self.config.subject.clone().unwrap_or_default(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_ack_pending: i64::try_from(in_flight).unwrap_or(i64::MAX),
            ..Default::default()
        }
    }

    /// Stores the valid messages of a batch in one transaction, then acks them; dead-letters the others.
    async fn store_batch(
        &self,
        js: &jetstream::Context,
        messages: &[jetstream::Message],
        stop: &Notify,
    ) -> Result<Flow, NatsError> {
        let Some(outcomes) = self.ingest(messages, stop).await else {
            return Ok(Flow::Stopped);
        };
        let (mut accepted, mut ignored, mut latest) = (0u64, 0u64, None::<Timestamp>);
        for (message, outcome) in messages.iter().zip(outcomes) {
            match outcome {
                Outcome::Stored(Ingested::Accepted, at) => {
                    accepted += 1;
                    latest = latest.max(Some(at));
                    ack(message).await?;
                }
                Outcome::Stored(Ingested::Duplicate, _) => ack(message).await?,
                Outcome::Stored(Ingested::Conflict, _) => {
                    ignored += 1;
                    let conflict = EventError::new(
                        "id",
                        "this id is already stored for another customer; nothing was stored",
                    );
                    self.dead_letter(js, message, &conflict).await?;
                }
                Outcome::Invalid(error) => {
                    ignored += 1;
                    self.dead_letter(js, message, &error).await?;
                }
                Outcome::OwnDeadLetter => {
                    ignored += 1;
                    ack(message).await?;
                }
            }
        }
        self.health.set_state(self.name(), KIND, "connected");
        if accepted > 0 {
            self.health.brought(self.name(), KIND, accepted, latest);
            self.wake.ingested();
        }
        if ignored > 0 {
            self.health.ignored(self.name(), KIND, ignored);
        }
        Ok(Flow::Continue)
    }

    /// Each message's outcome, in order, once the valid ones are committed; `None` when the app stops
    /// while storage is failing (nothing is acked then). Storage errors are retried with backoff, the
    /// messages kept in progress meanwhile so that NATS does not hand them to another node.
    async fn ingest(&self, messages: &[jetstream::Message], stop: &Notify) -> Option<Vec<Outcome>> {
        let mut wait = FIRST_RETRY;
        loop {
            // Parsed afresh on each try: parsing is deterministic (ids and default times come from the
            // message), and cheaper than holding a copy of every event for a rare retry.
            let mut outcomes = Vec::with_capacity(messages.len());
            let mut events = Vec::with_capacity(messages.len());
            for message in messages {
                outcomes.push(match self.parse(message) {
                    Ok(event) => {
                        let at = event.at;
                        events.push(event);
                        Outcome::Stored(Ingested::Accepted, at)
                    }
                    Err(Skip::Invalid(error)) => Outcome::Invalid(error),
                    Err(Skip::OwnDeadLetter) => Outcome::OwnDeadLetter,
                });
            }
            if events.is_empty() {
                return Some(outcomes);
            }
            match self.store_events(events).await {
                Ok(stored) => {
                    let mut stored = stored.into_iter();
                    for outcome in &mut outcomes {
                        if let Outcome::Stored(result, _) = outcome {
                            *result = stored.next().unwrap_or(Ingested::Accepted);
                        }
                    }
                    return Some(outcomes);
                }
                Err(err) => {
                    tracing::warn!(connector = self.name(), error = %err, retry_in = ?wait, "nats connector: storing a batch failed; it stays unacknowledged");
                    self.health
                        .failed(self.name(), KIND, &format!("storing events: {err}"));
                    for message in messages {
                        let _ = message.ack_with(AckKind::Progress).await;
                    }
                    tokio::select! {
                        biased;
                        _ = stop.notified() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(LAST_RETRY);
                }
            }
        }
    }

    /// Stores a batch's events: in one transaction, or, where the store has several writers (PostgreSQL)
    /// and the batch is large, in parallel lanes of disjoint customers as `seen import` does. A lane that
    /// committed while another failed is stored again, as duplicates, when the batch is retried.
    async fn store_events(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        let lanes = self.service.parallel_writers();
        if lanes <= 1 || events.len() < LANE_MIN * lanes {
            return self.service.ingest(events).await;
        }
        let total = events.len();
        let mut split: Vec<(Vec<usize>, Vec<Event>)> = vec![(Vec::new(), Vec::new()); lanes];
        for (position, event) in events.into_iter().enumerate() {
            let lane = &mut split[lane_of(&event.customer, lanes)];
            lane.0.push(position);
            lane.1.push(event);
        }
        let stored =
            futures::future::join_all(split.into_iter().map(|(positions, events)| async move {
                let outcomes = if events.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.service.ingest_bulk(events).await
                };
                (positions, outcomes)
            }))
            .await;
        let mut outcomes = vec![Ingested::Duplicate; total];
        for (positions, lane) in stored {
            for (position, outcome) in positions.into_iter().zip(lane?) {
                outcomes[position] = outcome;
            }
        }
        Ok(outcomes)
    }

    /// One message as an event: its payload parsed and validated as the API does, its id derived from
    /// its stream sequence when it has none, `at` defaulting to when NATS stored it, and
    /// `properties.connector` added.
    fn parse(&self, message: &jetstream::Message) -> Result<Event, Skip> {
        let headers = message.headers.as_ref();
        match message.info() {
            Ok(info) => parse_message(
                &self.config,
                headers,
                &message.payload,
                info.stream_sequence,
                timestamp(info.published),
            )
            .and_then(|event| {
                self.service
                    .check_event(&event)
                    .map(|()| event)
                    .map_err(Skip::Invalid)
            }),
            Err(_) if is_own_dead_letter(headers) => Err(Skip::OwnDeadLetter),
            Err(err) => Err(Skip::Invalid(EventError::new(
                "(message)",
                format!("not a JetStream delivery: {err}"),
            ))),
        }
    }

    /// Publishes the message as received to the dead-letter subject, with the reason and its origin in
    /// headers, then acks it. Through JetStream when a stream captures the subject (its ack awaited, and
    /// `Nats-Msg-Id` lets the stream drop the copy a redelivery would publish again); as a plain publish
    /// when none does. If that fails the message is not acked: NATS delivers it again later.
    async fn dead_letter(
        &self,
        js: &jetstream::Context,
        message: &jetstream::Message,
        error: &EventError,
    ) -> Result<(), NatsError> {
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        tracing::warn!(connector = self.name(), subject = %message.subject, sequence, reason = %error, dead_letter = %self.dead_letter, "nats connector: message dead-lettered");
        let mut headers = HeaderMap::new();
        headers.insert(REASON_HEADER, header_value(&error.to_string()));
        headers.insert(FIELD_HEADER, header_value(&error.field));
        headers.insert(SUBJECT_HEADER, header_value(message.subject.as_str()));
        headers.insert(SEQUENCE_HEADER, sequence.to_string());
        headers.insert(CONNECTOR_HEADER, header_value(self.name()));
        headers.insert(
            "Nats-Msg-Id",
            header_value(&format!(
                "seen-dead:{}:{}:{sequence}",
                self.config.name, self.config.stream
            )),
        );
        let subject = self.dead_letter.clone();
        let payload = message.payload.clone();
        let published = match js
            .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
            .await
        {
            Ok(ack) => ack.await.map(|_| ()),
            Err(err) => Err(err),
        };
        let published = match published {
            Err(err) if err.kind() == PublishErrorKind::StreamNotFound => js
                .client()
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| e.to_string()),
            other => other.map_err(|e| e.to_string()),
        };
        match published {
            Ok(()) => ack(message).await,
            Err(err) => {
                tracing::warn!(connector = self.name(), error = %err, "nats connector: publishing a dead letter failed; the message will come again");
                self.health.failed(
                    self.name(),
                    KIND,
                    &format!("publishing to {}: {err}", self.dead_letter),
                );
                message
                    .ack_with(AckKind::Nak(Some(FIRST_RETRY * 10)))
                    .await
                    .map_err(|e| NatsError::Ack(e.to_string()))
            }
        }
    }
}

/// One message's fate within its batch.
enum Outcome {
    /// Handed to the store (the result, and the event's time).
    Stored(Ingested, Timestamp),
    Invalid(EventError),
    OwnDeadLetter,
}

/// The lane of a customer: a stable hash, so that lanes never share a customer (and its row lock).
/// A client of the connector's server with its credentials; `health` follows its connection when given.
async fn connect(
    config: &NatsConfig,
    health: Option<Health>,
) -> Result<async_nats::Client, NatsError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("seen {}", config.name))
        .connection_timeout(Duration::from_secs(5));
    if let Some(health) = health {
        let name = config.name.clone();
        options = options.event_callback(move |event| {
            let (health, name) = (health.clone(), name.clone());
            async move {
                match event {
                    async_nats::Event::Connected => health.set_state(&name, KIND, "connected"),
                    async_nats::Event::Disconnected => {
                        health.failed(&name, KIND, "disconnected from NATS; reconnecting")
                    }
                    _ => {}
                }
            }
        });
    }
    if let (Some(user), Some(var)) = (&config.user, &config.password_env) {
        options = options.user_and_password(user.clone(), env(var)?);
    }
    if let Some(var) = &config.token_env {
        options = options.token(env(var)?);
    }
    options
        .connect(config.url.as_str())
        .await
        .map_err(|source| NatsError::Connect {
            url: without_password(&config.url),
            source,
        })
}

/// One of Seen's own dead letters (it carries the reason header).
fn is_own_dead_letter(headers: Option<&HeaderMap>) -> bool {
    headers.is_some_and(|headers| headers.get(REASON_HEADER).is_some())
}

/// What a message would become: the event (its id, when it has none, `nats:<stream>:<sequence>`), or why not.
fn parse_message(
    config: &NatsConfig,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    sequence: u64,
    published: Timestamp,
) -> Result<Event, Skip> {
    if is_own_dead_letter(headers) {
        return Err(Skip::OwnDeadLetter);
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(Skip::Invalid(EventError::new(
            "(json)",
            "the payload is not UTF-8",
        )));
    };
    if !text.trim_start().starts_with('{') {
        return Err(Skip::Invalid(EventError::new(
            "(json)",
            "expected one event as a JSON object per message",
        )));
    }
    let stream = &config.stream;
    let mut stable_id = || format!("nats:{stream}:{sequence}");
    parse_event_json(text)
        .and_then(|input| input.validate(published, &mut stable_id))
        .and_then(|event| with_connector(event, &config.name))
        .map_err(Skip::Invalid)
}

/// `seen connectors test` for a NATS connector, writing nothing: connects, finds the stream and the durable
/// consumer, and shows what the next `limit` messages it would be given would become (read with JetStream's
/// message get, so nothing is delivered or acknowledged).
pub async fn dry_run(config: &NatsConfig, limit: usize) -> anyhow::Result<Vec<String>> {
    use anyhow::Context as _;
    let client = connect(config, None).await?;
    let mut lines = vec![format!(
        "{}: connected to {}",
        config.name,
        without_password(&config.url)
    )];
    let js = jetstream::new(client.clone());
    let mut stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|source| NatsError::Stream {
            stream: config.stream.clone(),
            source,
        })?;
    let info = stream
        .info()
        .await
        .with_context(|| format!("stream {:?}", config.stream))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    lines.push(format!(
        "stream {:?}: {} messages (sequences {first}..={last}), subjects {:?}",
        config.stream, info.state.messages, info.config.subjects
    ));
    let mut next = first.max(1);
    match stream.consumer_info(&config.durable).await {
        Ok(consumer) => {
            lines.push(format!(
                "durable consumer {:?}: {} waiting, {} delivered and not yet acknowledged",
                config.durable, consumer.num_pending, consumer.num_ack_pending
            ));
            next = next.max(consumer.ack_floor.stream_sequence + 1);
        }
        Err(_) => lines.push(format!(
            "durable consumer {:?}: not created yet (`seen serve` creates it and starts at the stream's first message)",
            config.durable
        )),
    }
    let filter = config
        .subject
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| ">".to_string());
    let mut shown = 0;
    while shown < limit && next <= last {
        let message = match stream
            .raw_message_builder()
            .sequence(next)
            .next_by_subject(filter.clone())
            .send()
            .await
        {
            Ok(message) => message,
            Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => break,
            Err(e) => return Err(e).context("reading the next message"),
        };
        let line = match parse_message(
            config,
            Some(&message.headers),
            &message.payload,
            message.sequence,
            timestamp(message.time),
        ) {
            Ok(event) => format!(
                "  #{} {}: would store {} {:?} for {:?} at {}",
                message.sequence, message.subject, event.kind, event.id, event.customer, event.at
            ),
            Err(Skip::Invalid(e)) => format!(
                "  #{} {}: would dead-letter to {} ({e})",
                message.sequence,
                message.subject,
                config.dead_letter_subject()
            ),
            Err(Skip::OwnDeadLetter) => format!(
                "  #{} {}: one of Seen's own dead letters; would be acknowledged and left alone",
                message.sequence, message.subject
            ),
        };
        lines.push(line);
        shown += 1;
        next = message.sequence + 1;
    }
    if shown == 0 {
        lines.push("no message waiting for this consumer".into());
    }
    Ok(lines)
}

fn lane_of(customer: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    customer.hash(&mut hasher);
    (hasher.finish() % lanes.max(1) as u64) as usize
}

async fn ack(message: &jetstream::Message) -> Result<(), NatsError> {
    message
        .ack()
        .await
        .map_err(|e| NatsError::Ack(e.to_string()))
}

/// `nats://user:secret@host` → `nats://user:***@host` (and a token, `nats://token@host`, → `***`), for
/// errors and logs.
fn without_password(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    match rest.split_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***@{host}"),
            None => format!("{scheme}***@{host}"),
        },
        None => url.to_string(),
    }
}

fn env(var: &str) -> Result<String, NatsError> {
    std::env::var(var).map_err(|_| NatsError::MissingEnv(var.to_string()))
}

/// When NATS stored the message (the default `at` of an event without one).
fn timestamp(published: async_nats::datetime::DateTime) -> Timestamp {
    Timestamp::from_nanosecond(published.unix_timestamp_nanos())
        .unwrap_or_else(|_| Timestamp::now())
}

/// Text fit for a header value: control characters (a header ends at a line break) become spaces, and
/// it is cut at `MAX_HEADER` characters.
pub fn header_value(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_HEADER)
        .collect()
}

/// Adds `"connector": NAME` at the end of an event's properties unless they already have a `connector`
/// key; what was sent is kept byte for byte.
pub fn with_connector(mut event: Event, name: &str) -> Result<Event, EventError> {
    let entry = format!(
        "\"connector\":{}",
        serde_json::Value::String(name.to_string())
    );
    let properties = match event.properties.take() {
        None => format!("{{{entry}}}"),
        Some(text) if has_connector(&text) => text,
        Some(text) => {
            // Validated properties are an object's JSON text, trimmed: `{` … `}`.
            let body = text
                .strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .ok_or_else(|| EventError::new("properties", "must be a JSON object"))?;
            if body.trim().is_empty() {
                format!("{{{entry}}}")
            } else {
                format!("{{{body},{entry}}}")
            }
        }
    };
    if properties.len() > MAX_PROPERTIES_BYTES {
        return Err(EventError::new(
            "properties",
            format!("over {MAX_PROPERTIES_BYTES} bytes of JSON once properties.connector is added"),
        ));
    }
    event.properties = Some(properties);
    Ok(event)
}

/// Whether a properties object has a top-level `connector` key (whatever its value, `null` included).
fn has_connector(properties: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        connector: Present,
    }
    #[derive(Default)]
    struct Present(bool);
    impl<'de> Deserialize<'de> for Present {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Present, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
        }
    }
    // A key given twice fails to parse as a `Probe`: left as it is.
    serde_json::from_str::<Probe>(properties).map_or(true, |probe| probe.connector.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(properties: &str) -> Event {
        let text = format!(r#"{{"type":"x","customer":"c","id":"e","properties":{properties}}}"#);
        parse_event_json(&text)
            .unwrap()
            .validate(Timestamp::UNIX_EPOCH, &mut || "minted".into())
            .unwrap()
    }

    fn connector_of(properties: &str) -> serde_json::Value {
        with_connector(event(properties), "bus")
            .unwrap()
            .properties_value()
    }

    #[test]
    fn the_connector_is_added_and_nothing_else_changes() {
        assert_eq!(
            connector_of("null"),
            serde_json::json!({"connector": "bus"})
        );
        assert_eq!(connector_of("{}"), serde_json::json!({"connector": "bus"}));
        assert_eq!(connector_of("{ }"), serde_json::json!({"connector": "bus"}));
        let kept = with_connector(event(r#"{"a": 1.50, "b": {"connector": 2}}"#), "bus").unwrap();
        assert_eq!(
            kept.properties.as_deref(),
            Some(r#"{"a": 1.50, "b": {"connector": 2},"connector":"bus"}"#)
        );
    }

    #[test]
    fn a_connector_property_already_there_is_kept() {
        for properties in [
            r#"{"connector":"pos"}"#,
            r#"{"a":1,"connector":null}"#,
            r#"{"connector":"x","connector":"y"}"#,
        ] {
            let event = with_connector(event(properties), "bus").unwrap();
            assert_eq!(event.properties.as_deref(), Some(properties));
        }
    }

    #[test]
    fn properties_at_the_limit_are_refused_naming_the_field() {
        let big = format!(r#"{{"s":"{}"}}"#, "x".repeat(MAX_PROPERTIES_BYTES - 8));
        let error = with_connector(event(&big), "bus").unwrap_err();
        assert_eq!(error.field, "properties");
    }

    #[test]
    fn a_password_in_the_url_is_not_shown() {
        assert_eq!(
            without_password("nats://seen:s3cret@bus:4222"),
            "nats://seen:***@bus:4222"
        );
        assert_eq!(without_password("bus:4222"), "bus:4222");
        assert_eq!(without_password("tls://t0ken@bus"), "tls://***@bus");
    }

    #[test]
    fn header_values_have_no_line_breaks_and_are_bounded() {
        assert_eq!(header_value("a\r\nb\tc"), "a  b c");
        assert_eq!(header_value(&"é".repeat(5_000)).chars().count(), MAX_HEADER);
    }
}
