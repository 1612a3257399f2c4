//! Inbound webhooks from the systems small businesses use, at `POST /hooks/{source}/{name}`: an edge like the
//! API and the dashboard, with its own router and state, reaching the store only through `Service`.
//!
//! A delivery is verified (a bad signature is a 401 and nothing is stored), mapped by its source's pure
//! function (`calcom`, `calendly`, `shopify`, `woocommerce`, `twilio`, `whatsapp`, `generic`) into drafts of
//! events (a malformed body is a 400 naming the field; a type we do not map is a 202, counted as ignored),
//! completed by the connector's links (an order's delivery event finds the order's customer and ref), stored
//! as ordinary events with stable ids (a provider's retry is a duplicate), and kept as received for
//! `[connectors] keep_raw` so that `seen connectors replay` can run a fixed mapping over it again.

pub mod calcom;
pub mod calendly;
pub mod generic;
pub mod map;
pub mod shopify;
pub mod twilio;
pub mod whatsapp;
pub mod woocommerce;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::value::RawValue;

use crate::app::error::ApiError;
use crate::config::connectors::{ConnectorsConfig, HookConfig};
use crate::domain::event::{EventError, EventInput, MAX_ID};
use crate::domain::Event;
use crate::service::Service;
use crate::store::{Delivery, Ingested, Link, StoreError};
use map::{Draft, Headers, Incoming, Mapped, PayloadError, Who};

/// The kind `Health` and `seen connectors` show for these connectors.
pub const KIND: &str = "hook";

/// Kept deliveries a replay reads at a time.
const REPLAY_PAGE: usize = 200;

/// Reads an environment variable (`std::env::var` in `seen serve`; a table in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A provider's mapping, with what verifying it needs.
#[derive(Debug, Clone)]
enum Source {
    Calcom,
    Calendly,
    Shopify,
    WooCommerce,
    /// The URL Twilio signs (as entered at Twilio).
    Twilio {
        url: String,
    },
    /// The verify token of Meta's `GET` handshake.
    WhatsApp {
        verify_token: Option<String>,
    },
    Generic(Box<generic::Mapping>),
}

/// One `[[connectors.hooks]]`, ready to verify and map deliveries.
#[derive(Clone)]
pub struct Hook {
    pub name: String,
    pub source_name: String,
    source: Source,
    /// `None` when built for replays (stored deliveries were verified when they arrived).
    secret: Option<String>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("source", &self.source_name)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Hook {
    /// The hook of a validated configuration; `env` reads its secrets (`None`: a hook for replays, which
    /// needs none). `public_url` is `[actions] public_url` (Twilio's default signed URL).
    pub fn new(
        config: &HookConfig,
        public_url: &str,
        env: Option<Env<'_>>,
    ) -> Result<Hook, String> {
        let read = |name: &str| -> Result<Option<String>, String> {
            let Some(env) = env else {
                return Ok(None);
            };
            match env(name) {
                Some(value) if !value.is_empty() => Ok(Some(value)),
                _ => Err(format!(
                    "[[connectors.hooks]] {:?}: the environment variable {name} is not set",
                    config.name
                )),
            }
        };
        let source = match config.source.as_str() {
            "calcom" => Source::Calcom,
            "calendly" => Source::Calendly,
            "shopify" => Source::Shopify,
            "woocommerce" => Source::WooCommerce,
            "twilio" => Source::Twilio {
                url: url_of(config, public_url),
            },
            "whatsapp" => Source::WhatsApp {
                verify_token: match &config.verify_token_env {
                    Some(name) => read(name)?,
                    None => None,
                },
            },
            "generic" => {
                let (Some(header), Some(mapping)) = (&config.signature_header, &config.mapping)
                else {
                    return Err(format!(
                        "[[connectors.hooks]] {:?}: generic needs signature_header and mapping",
                        config.name
                    ));
                };
                Source::Generic(Box::new(generic::Mapping::new(header, mapping)))
            }
            other => {
                return Err(format!(
                    "[[connectors.hooks]] {:?}: unknown source {other:?}",
                    config.name
                ))
            }
        };
        Ok(Hook {
            name: config.name.clone(),
            source_name: config.source.clone(),
            source,
            secret: read(&config.secret_env)?,
        })
    }

    /// Whether the delivery is signed with this connector's secret. `uri` is the path and query the request
    /// came to (Twilio signs the query too).
    pub fn verify(&self, incoming: &Incoming<'_>, uri: &axum::http::Uri) -> bool {
        let Some(secret) = self.secret.as_deref() else {
            return false;
        };
        match &self.source {
            Source::Calcom => calcom::verify(secret, incoming),
            Source::Calendly => calendly::verify(secret, incoming),
            Source::Shopify => shopify::verify(secret, incoming),
            Source::WooCommerce => woocommerce::verify(secret, incoming),
            Source::Twilio { url } => {
                let url = match (uri.query(), url.contains('?')) {
                    (Some(query), false) => Cow::Owned(format!("{url}?{query}")),
                    _ => Cow::Borrowed(url.as_str()),
                };
                twilio::verify(secret, &url, incoming)
            }
            Source::WhatsApp { .. } => whatsapp::verify(secret, incoming),
            Source::Generic(mapping) => mapping.verify(secret, incoming),
        }
    }

    /// What the delivery means (pure: the same body maps the same way live and in a replay).
    pub fn map(&self, incoming: &Incoming<'_>) -> Result<Mapped, PayloadError> {
        match &self.source {
            Source::Calcom => calcom::map(incoming),
            Source::Calendly => calendly::map(incoming),
            Source::Shopify => shopify::map(incoming),
            Source::WooCommerce => woocommerce::map(incoming),
            Source::Twilio { .. } => twilio::map(incoming),
            Source::WhatsApp { .. } => whatsapp::map(incoming),
            Source::Generic(mapping) => mapping.map(incoming),
        }
    }

    /// The headers kept with the body (the ones the mapping reads; never a signature).
    fn kept_headers(&self, headers: &Headers) -> Headers {
        let names: &[&str] = match &self.source {
            Source::Shopify => &shopify::KEPT_HEADERS,
            Source::WooCommerce => &woocommerce::KEPT_HEADERS,
            _ => &[],
        };
        names
            .iter()
            .filter_map(|name| Some((name.to_string(), headers.get(*name)?.clone())))
            .collect()
    }

    /// The delivery's id: Shopify's `X-Shopify-Webhook-Id` (the same on retries), else the body's digest.
    fn delivery_id(&self, incoming: &Incoming<'_>) -> String {
        if let Source::Shopify = self.source {
            if let Some(id) = incoming
                .header(shopify::WEBHOOK_ID)
                .filter(|id| !id.is_empty() && id.len() <= MAX_ID)
            {
                return id.to_string();
            }
        }
        crate::secrets::sha256_hex(&String::from_utf8_lossy(incoming.body))
    }
}

/// The URL the provider posts to: the connector's `public_url` as entered at the provider (Twilio signs it),
/// else `[actions] public_url` + `/hooks/{source}/{name}`.
pub fn url_of(config: &HookConfig, public_url: &str) -> String {
    config.public_url.clone().unwrap_or_else(|| {
        format!(
            "{}/hooks/{}/{}",
            public_url.trim_end_matches('/'),
            config.source,
            config.name
        )
    })
}

/// Every hook connector by name.
pub fn hooks(
    config: &ConnectorsConfig,
    public_url: &str,
    env: Option<Env<'_>>,
) -> Result<BTreeMap<String, Hook>, String> {
    config
        .hooks
        .iter()
        .map(|c| Ok((c.name.clone(), Hook::new(c, public_url, env)?)))
        .collect()
}

/// What one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The ids of the events the delivery maps to, in order.
    pub events: Vec<String>,
    pub accepted: u64,
    pub duplicates: u64,
    /// Ids already stored for another customer: nothing stored for them.
    pub conflicts: u64,
    /// Why nothing (or not everything) became an event.
    pub ignored: Vec<String>,
    /// The customer the delivery is about (the first event's).
    pub customer: Option<String>,
    /// The latest stored event's time.
    pub last_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a verified delivery, completes it with the connector's links, stores its events and remembers the
/// links it makes. The same for live deliveries and replays; idempotent (event ids are stable).
pub async fn process(
    service: &Service,
    hook: &Hook,
    incoming: &Incoming<'_>,
) -> Result<Outcome, ProcessError> {
    let drafts = match hook.map(incoming)? {
        Mapped::Ignored(reason) => {
            return Ok(Outcome {
                ignored: vec![reason],
                ..Outcome::default()
            })
        }
        Mapped::Events(drafts) => drafts,
    };
    let follow: BTreeSet<String> = drafts.iter().filter_map(|d| d.follow.clone()).collect();
    let links: BTreeMap<String, Link> = service
        .recall_links(&hook.name, follow.into_iter().collect())
        .await?
        .into_iter()
        .map(|link| (link.key.clone(), link))
        .collect();
    let mut outcome = Outcome::default();
    let mut events = Vec::new();
    let mut remember = Vec::new();
    for draft in drafts {
        let linked = draft.follow.as_ref().and_then(|key| links.get(key));
        let Some(event) = complete(hook, &draft, linked, incoming.received_at)? else {
            outcome.ignored.push(format!(
                "{} of {}: not seen before, and the delivery names no customer (kept: `seen connectors replay` maps it once it is known)",
                draft.kind,
                draft.follow.as_deref().unwrap_or("an unknown object")
            ));
            continue;
        };
        service
            .check_event(&event)
            .map_err(|e| provider_error(&draft, e))?;
        for key in &draft.remember {
            remember.push(Link {
                key: key.clone(),
                customer: event.customer.clone(),
                reference: event.reference.clone(),
            });
        }
        if outcome.customer.is_none() {
            outcome.customer = Some(event.customer.clone());
        }
        outcome.events.push(event.id.clone());
        events.push(event);
    }
    if events.is_empty() {
        return Ok(outcome);
    }
    let times: Vec<Timestamp> = events.iter().map(|e| e.at).collect();
    let stored = service.ingest(events).await?;
    for (result, at) in stored.into_iter().zip(times) {
        match result {
            Ingested::Accepted => {
                outcome.accepted += 1;
                outcome.last_at = outcome.last_at.max(Some(at));
            }
            Ingested::Duplicate => outcome.duplicates += 1,
            Ingested::Conflict => outcome.conflicts += 1,
        }
    }
    service
        .remember_links(&hook.name, remember, incoming.received_at)
        .await?;
    Ok(outcome)
}

/// A draft made an event: its customer and ref from the link when there is one, validated like every
/// event (a profile field Seen refuses is left out; a refused id, type or time is a 400 naming the
/// provider's field). `None` when no customer is known.
fn complete(
    hook: &Hook,
    draft: &Draft,
    linked: Option<&Link>,
    received_at: Timestamp,
) -> Result<Option<Event>, PayloadError> {
    let (customer, person) = match (&draft.who, linked) {
        (Who::Known(person), _) => (person.id.clone(), Some(person)),
        (Who::Linked(_), Some(link)) => (link.customer.clone(), None),
        (Who::Linked(Some(person)), None) => (person.id.clone(), Some(person)),
        (Who::Linked(None), None) => return Ok(None),
    };
    let reference = match linked {
        Some(link) => link.reference.clone().or_else(|| draft.reference.clone()),
        None => draft.reference.clone(),
    };
    let mut properties = draft.properties.clone();
    properties.insert("connector".into(), hook.name.clone().into());
    let properties = RawValue::from_string(serde_json::Value::Object(properties).to_string())
        .map_err(|e| PayloadError::new("(properties)", e.to_string()))?;
    let mut profile = person.cloned().unwrap_or_default();
    // Up to one retry per profile field: a field Seen refuses (a malformed address) is dropped, not the event.
    for _ in 0..5 {
        let input = EventInput {
            id: Some(Cow::Owned(event_id(&hook.name, &draft.key))),
            kind: Some(Cow::Borrowed(&draft.kind)),
            customer: Some(Cow::Borrowed(&customer)),
            customer_email: profile.email.as_deref().map(Cow::Borrowed),
            customer_name: profile.name.as_deref().map(Cow::Borrowed),
            customer_phone: profile.phone.as_deref().map(Cow::Borrowed),
            customer_timezone: profile.timezone.as_deref().map(Cow::Borrowed),
            at: Some(Cow::Owned(draft.at.to_string())),
            channel: draft.channel.as_deref().map(Cow::Borrowed),
            reference: reference.as_deref().map(Cow::Borrowed),
            properties: Some(&*properties),
        };
        match input.validate(received_at, &mut crate::ingest::new_event_id) {
            Ok(event) => return Ok(Some(event)),
            Err(e) => {
                let dropped = match e.field.as_str() {
                    "customer_email" => profile.email.take(),
                    "customer_name" => profile.name.take(),
                    "customer_phone" => profile.phone.take(),
                    "customer_timezone" => profile.timezone.take(),
                    _ => None,
                };
                if dropped.is_none() {
                    return Err(provider_error(draft, e));
                }
                tracing::debug!(connector = %hook.name, field = %e.field, "left out a profile field Seen refuses");
            }
        }
    }
    Err(PayloadError::new("(event)", "could not be made valid"))
}

/// Seen's refusal, named by the provider's field where the draft knows it.
fn provider_error(draft: &Draft, e: EventError) -> PayloadError {
    let field = draft
        .sources
        .iter()
        .find(|(seen, _)| *seen == e.field)
        .map(|(_, provider)| provider.clone())
        .unwrap_or_else(|| format!("(event {})", e.field));
    PayloadError::new(field, e.reason)
}

/// The event id: the connector's name and the draft's key, or a digest when that would be too long.
pub fn event_id(connector: &str, key: &str) -> String {
    let id = format!("{connector}:{key}");
    if id.chars().count() <= MAX_ID && !id.chars().any(char::is_control) {
        id
    } else {
        format!("{connector}:{}", crate::store::short_hash(key))
    }
}

/// What the hooks' handlers share.
#[derive(Clone)]
pub struct HooksState {
    pub service: Service,
    pub hooks: Arc<BTreeMap<String, Hook>>,
    pub health: super::Health,
    /// Woken after every ingestion: the scheduler may have an earlier deadline to wait for.
    pub ingested: crate::jobs::Wake,
    /// Whether accepted deliveries are kept for replays (`[connectors] keep_raw` above zero).
    pub keep_raw: bool,
}

impl HooksState {
    /// The state for a configuration, reading each hook's secrets from the environment.
    pub fn new(
        config: &crate::config::Config,
        service: Service,
        health: super::Health,
        ingested: crate::jobs::Wake,
    ) -> anyhow::Result<HooksState> {
        let env: Env = &|name: &str| std::env::var(name).ok();
        let hooks = hooks(
            &config.file.connectors,
            &config.file.actions.public_url,
            Some(env),
        )
        .map_err(anyhow::Error::msg)?;
        for name in hooks.keys() {
            health.set_state(name, KIND, "idle");
        }
        let keep_raw = config
            .file
            .connectors
            .keep_raw()
            .map_err(anyhow::Error::msg)?
            .is_some();
        Ok(HooksState {
            service,
            hooks: Arc::new(hooks),
            health,
            ingested,
            keep_raw,
        })
    }

    fn hook(&self, source: &str, name: &str) -> Result<&Hook, ApiError> {
        self.hooks
            .get(name)
            .filter(|hook| hook.source_name == source)
            .ok_or_else(|| ApiError::not_found(format!("no {source} connector named {name:?}")))
    }
}

/// `/hooks/{source}/{name}`: `POST` deliveries; `GET` only for WhatsApp's handshake (it changes nothing).
pub fn router(state: HooksState) -> Router {
    Router::new()
        .route("/hooks/{source}/{name}", get(handshake).post(receive))
        .with_state(state)
}

fn lower_case_headers(headers: &HeaderMap) -> Headers {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

async fn receive(
    State(state): State<HooksState>,
    Path((source, name)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let hook = state.hook(&source, &name)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is too large",
            )
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })?;
    let headers = lower_case_headers(&headers);
    let incoming = Incoming {
        headers: &headers,
        body: &body,
        received_at: Timestamp::now(),
    };
    if matches!(hook.source, Source::WooCommerce) && woocommerce::is_ping(&incoming) {
        return Ok((StatusCode::OK, Json(serde_json::json!({ "ping": "ok" }))).into_response());
    }
    if !hook.verify(&incoming, &uri) {
        state.health.failed(
            &hook.name,
            KIND,
            "a delivery's signature did not verify (401)",
        );
        state.health.set_state(&hook.name, KIND, "idle");
        return Err(ApiError::unauthorized(
            "the signature does not verify with this connector's secret; nothing was stored",
        ));
    }
    let outcome = match process(&state.service, hook, &incoming).await {
        Ok(outcome) => outcome,
        Err(ProcessError::Payload(e)) => {
            state.health.failed(
                &hook.name,
                KIND,
                &format!("a delivery was refused (400): {e}"),
            );
            state.health.set_state(&hook.name, KIND, "idle");
            return Err(ApiError::bad_request("invalid_payload", e.to_string()));
        }
        Err(ProcessError::Store(e)) => return Err(e.into()),
    };
    let duplicate_delivery = if state.keep_raw {
        !state
            .service
            .keep_delivery(Delivery {
                connector: hook.name.clone(),
                id: hook.delivery_id(&incoming),
                received_at: incoming.received_at,
                customer: outcome.customer.clone(),
                headers: hook.kept_headers(&headers),
                body: body.to_vec(),
            })
            .await?
    } else {
        false
    };
    if outcome.accepted > 0 {
        state.ingested.ingested();
        state
            .health
            .brought(&hook.name, KIND, outcome.accepted, outcome.last_at);
    }
    if outcome.events.is_empty() {
        state.health.ignored(&hook.name, KIND, 1);
    }
    crate::metrics::events_ingested(outcome.accepted, outcome.duplicates, 0);
    let status = if outcome.events.is_empty() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    if matches!(hook.source, Source::Twilio { .. }) {
        // Twilio reads the answer as TwiML: an empty <Response> sends no reply message.
        let twiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
        return Ok((
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
            twiml,
        )
            .into_response());
    }
    let body = serde_json::json!({
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "conflicts": outcome.conflicts,
        "events": outcome.events,
        "ignored": outcome.ignored,
        "duplicate_delivery": duplicate_delivery,
    });
    Ok((status, Json(body)).into_response())
}

/// `GET /hooks/whatsapp/{name}`: Meta's handshake. The right token echoes `hub.challenge` (200, plain text);
/// anything else is a 403. Nothing is stored either way.
async fn handshake(
    State(state): State<HooksState>,
    Path((source, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let hook = state.hook(&source, &name)?;
    let Source::WhatsApp { verify_token } = &hook.source else {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this connector takes POST deliveries only",
        ));
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let challenge = verify_token
        .as_deref()
        .and_then(|token| whatsapp::handshake(token, &query));
    match challenge {
        Some(challenge) => Ok((
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            challenge.to_string(),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "hub.mode must be \"subscribe\" and hub.verify_token this connector's verify token",
        )),
    }
}

/// What `seen connectors replay` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub deliveries: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// Deliveries (or drafts) that mapped to nothing.
    pub ignored: u64,
    /// Deliveries the current mapping refuses: their id and why.
    pub refused: Vec<(String, String)>,
}

/// Runs the current mapping of hook `hook` over its deliveries kept since `since`, oldest first: what a
/// fixed mapping now understands is stored; what was stored before is a duplicate.
pub async fn replay(
    service: &Service,
    hook: &Hook,
    since: Timestamp,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut after = None;
    loop {
        let page = service
            .kept_deliveries(&hook.name, since, after.clone(), REPLAY_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some((last.received_at, last.id.clone()));
        for delivery in &page {
            report.deliveries += 1;
            let incoming = Incoming {
                headers: &delivery.headers,
                body: &delivery.body,
                received_at: delivery.received_at,
            };
            match process(service, hook, &incoming).await {
                Ok(outcome) => {
                    report.accepted += outcome.accepted;
                    report.duplicates += outcome.duplicates;
                    report.conflicts += outcome.conflicts;
                    report.ignored += outcome.ignored.len() as u64;
                }
                Err(ProcessError::Payload(e)) => {
                    report.refused.push((delivery.id.clone(), e.to_string()))
                }
                Err(ProcessError::Store(e)) => return Err(e),
            }
        }
        if page.len() < REPLAY_PAGE {
            return Ok(report);
        }
    }
}

/// `seen connectors test` for a webhook connector, writing nothing: the URL to enter on the provider's side
/// and, given a delivery as the provider sent it (body and headers), whether its signature verifies and the
/// events it would become. `url` is that public URL (its path and query are what Twilio signs).
pub fn dry_run(hook: &Hook, url: &str, delivery: Option<&Incoming<'_>>) -> Vec<String> {
    let mut lines = vec![format!(
        "{} ({}): the provider posts to {url}",
        hook.name, hook.source_name
    )];
    let Some(incoming) = delivery else {
        lines.push(
            "no delivery given (--body FILE, with --header for each header the provider sends): nothing to map"
                .into(),
        );
        return lines;
    };
    let uri = url
        .parse::<axum::http::Uri>()
        .unwrap_or_else(|_| axum::http::Uri::from_static("/"));
    lines.push(match (hook.secret.is_some(), hook.verify(incoming, &uri)) {
        (false, _) => "signature: not checked (no secret)".into(),
        (true, true) => "signature: valid".into(),
        (true, false) => {
            "signature: does not verify; Seen would answer 401 and store nothing".into()
        }
    });
    match hook.map(incoming) {
        Err(e) => lines.push(format!("refused (400): {e}")),
        Ok(Mapped::Ignored(reason)) => lines.push(format!("ignored (202): {reason}")),
        Ok(Mapped::Events(drafts)) => {
            for draft in drafts {
                let line = match complete(hook, &draft, None, incoming.received_at) {
                    Ok(Some(event)) => format!(
                        "would store {} {:?} for {:?} at {}{}",
                        event.kind,
                        event.id,
                        event.customer,
                        event.at,
                        event
                            .reference
                            .as_deref()
                            .map(|r| format!(", ref {r:?}"))
                            .unwrap_or_default()
                    ),
                    Ok(None) => format!(
                        "would store {} for the customer of {} (an earlier delivery; a test reads no database)",
                        draft.kind,
                        draft.follow.as_deref().unwrap_or("an earlier object")
                    ),
                    Err(e) => format!("refused (400): {e}"),
                };
                lines.push(line);
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_bounded() {
        assert_eq!(event_id("shop", "order:1:placed"), "shop:order:1:placed");
        let long = "x".repeat(300);
        let id = event_id("shop", &long);
        assert!(id.len() < 100 && id.starts_with("shop:"), "{id}");
        assert_eq!(id, event_id("shop", &long));
    }

    fn config(toml_text: &str) -> crate::config::Config {
        crate::config::Config::from_toml(toml_text, "test").unwrap()
    }

    #[test]
    fn hooks_read_their_secrets_and_need_them() {
        let config = config(
            r#"
            [[connectors.hooks]]
            source = "whatsapp"
            name = "wa"
            secret_env = "WA_SECRET"
            verify_token_env = "WA_TOKEN"
            "#,
        );
        let env: Env = &|name: &str| (name == "WA_SECRET").then(|| "s".to_string());
        let err = hooks(&config.file.connectors, "http://x", Some(env)).unwrap_err();
        assert!(err.contains("WA_TOKEN"), "{err}");
        let env: Env = &|_: &str| Some("s".to_string());
        let built = hooks(&config.file.connectors, "http://x", Some(env)).unwrap();
        assert!(format!("{:?}", built["wa"]).contains("<hidden>"));
        // Replays need no secret.
        assert!(hooks(&config.file.connectors, "http://x", None).is_ok());
    }

    #[test]
    fn twilios_default_url_is_under_the_public_url() {
        let config = config(
            r#"
            [[connectors.hooks]]
            source = "twilio"
            name = "sms"
            secret_env = "TWILIO_TOKEN"
            "#,
        );
        let env: Env = &|_: &str| Some("token".to_string());
        let built = hooks(
            &config.file.connectors,
            "https://seen.example.com/",
            Some(env),
        )
        .unwrap();
        let Source::Twilio { url } = &built["sms"].source else {
            panic!()
        };
        assert_eq!(url, "https://seen.example.com/hooks/twilio/sms");
    }

    #[test]
    fn a_dry_run_verifies_and_shows_the_events_without_storing() {
        use hmac::Mac as _;
        let config = config(
            r#"
            [[connectors.hooks]]
            source = "calcom"
            name = "cal"
            secret_env = "CAL_SECRET"
            "#,
        );
        let env: Env = &|_: &str| Some("the secret".to_string());
        let built = hooks(
            &config.file.connectors,
            "https://seen.example.com",
            Some(env),
        )
        .unwrap();
        let body = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hooks/calcom/booking_created.json"),
        )
        .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"the secret").unwrap();
        mac.update(&body);
        let signature = hex::encode(mac.finalize().into_bytes());
        let url = "https://seen.example.com/hooks/calcom/cal";
        let received_at: Timestamp = "2026-05-01T00:00:00Z".parse().unwrap();
        let mut headers = Headers::new();
        headers.insert("x-cal-signature-256".into(), signature);
        let incoming = Incoming {
            headers: &headers,
            body: &body,
            received_at,
        };
        let lines = dry_run(&built["cal"], url, Some(&incoming));
        assert_eq!(
            lines[0],
            format!("cal (calcom): the provider posts to {url}")
        );
        assert_eq!(lines[1], "signature: valid");
        assert!(
            lines[2].starts_with("would store booking.created \"cal:"),
            "{lines:?}"
        );
        // Another secret's signature does not verify; the mapping is still shown.
        headers.insert("x-cal-signature-256".into(), "00".repeat(32));
        let incoming = Incoming {
            headers: &headers,
            body: &body,
            received_at,
        };
        let lines = dry_run(&built["cal"], url, Some(&incoming));
        assert!(lines[1].contains("does not verify"), "{lines:?}");
        assert!(
            lines[2].starts_with("would store booking.created"),
            "{lines:?}"
        );
        let body = b"{\"triggerEvent\": \"BOOKING_CREATED\"}";
        let incoming = Incoming {
            headers: &headers,
            body,
            received_at,
        };
        let lines = dry_run(&built["cal"], url, Some(&incoming));
        assert!(lines[2].starts_with("refused (400): field `"), "{lines:?}");
    }
}
