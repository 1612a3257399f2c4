//! Actions: the planner queues what each new obligation's policy asks for (one outbox row per message,
//! keyed by policy, obligation, action, step and recipient), and the sender sends each row when it falls
//! due. It sleeps until the next due row or until ingestion wakes it: no polling interval.
//!
//! Delivery is at least once with a narrow window: a row is claimed with a lease, sent, and then marked
//! sent. A crash between the server's acceptance and that mark re-sends it after the lease, except for
//! customer messages whose recorded event already exists (then the row is marked sent without sending).
//!
//! The parts, in the order a message meets them:
//! - [`plan`]: unplanned obligations → `domain::action::plan` + routing → outbox rows (keyed);
//! - [`claim`]: the claim loop: claim due rows (lease) → the gate (`domain::action::gate`: still needed?
//!   suppressed? quiet hours? capped?) → compose → the channel → the row's outcome;
//! - [`compose`]: the message's template context, signed links, rendering, email headers or webhook
//!   payload, and the event a customer message records;
//! - [`links`]: unsubscribe tokens and survey send ids.

mod claim;
mod compose;
mod links;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::channels::Channels;
use crate::config::{ActionSettings, Config, Directory};
use crate::domain::action::ActionBook;
use crate::domain::survey::Survey;
use crate::store::{Store, StoreError};
use crate::templates::Templates;

pub use links::{survey_send_id, unsubscribe_token, verify_unsubscribe_token};
pub use plan::items_for;

/// Obligations planned per store round trip (one write transaction): fewer, larger commits write each
/// page of the outbox's indexes once per batch instead of once per 2 000 rows.
const PLAN_BATCH: usize = 10_000;
/// Rows claimed at once (each is renewed right before it is sent, so a slow batch loses nothing).
const CLAIM_BATCH: usize = 128;
/// Longest single sleep: bounds the damage of a clock jump; not a polling period.
const MAX_SLEEP: Duration = Duration::from_secs(3_600);
/// Wait after a database error.
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
    /// The policies (their calendars time staff alerts).
    pub engine: Arc<crate::domain::Engine>,
    /// The status-link key messages are signed with, and when it was read (re-read every minute: another
    /// node may have rotated it).
    status_key: std::sync::RwLock<(crate::store::LinkKey, std::time::Instant)>,
    pub customer_page: Arc<crate::config::customer_page::CustomerPage>,
}

/// How often the sender re-reads the status-link key.
const STATUS_KEY_REFRESH: Duration = Duration::from_secs(60);

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
        let status_key = crate::service::status::signing_link_key(store.as_ref())
            .await
            .context("reading the status-link key")?;
        Ok(Actor {
            status_key: std::sync::RwLock::new((status_key, std::time::Instant::now())),
            customer_page: config.customer_page.clone(),
            store,
            book: config.actions.clone(),
            settings: config.action_settings.clone(),
            directory: config.directory.clone(),
            channels: Arc::new(channels),
            templates: Arc::new(templates),
            secret,
            surveys: config.surveys.clone(),
            engine: config.engine.clone(),
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

    /// The key status links are signed with now.
    fn status_key(&self) -> crate::store::LinkKey {
        match self.status_key.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// Re-reads the signing key once it is a minute old (a rotation on any node reaches every sender).
    async fn refresh_status_key(&self) -> Result<(), StoreError> {
        let stale = match self.status_key.read() {
            Ok(guard) => guard.1.elapsed() >= STATUS_KEY_REFRESH,
            Err(_) => true,
        };
        if stale {
            let key = crate::service::status::signing_link_key(self.store.as_ref()).await?;
            let mut guard = match self.status_key.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = (key, std::time::Instant::now());
        }
        Ok(())
    }

    /// Plans new obligations, sends what is due; returns when the next row falls due. Planning goes one
    /// batch at a time, newest obligations first, with what fell due sent between two batches: a backlog
    /// of imported obligations never holds back the messages of new events.
    pub async fn turn(&self) -> Result<Option<Timestamp>, StoreError> {
        self.refresh_status_key().await?;
        loop {
            let planned = self.plan_batch(Timestamp::now()).await?;
            let recorded = self.send_due().await?;
            // Recorded events may have opened obligations (a confirmation opens its reminder): plan again.
            if planned.is_none() && recorded == 0 {
                break;
            }
        }
        self.store.next_outbox_at().await
    }
}

/// How long from now until `t` (zero if it passed).
fn until(t: Timestamp) -> Duration {
    Timestamp::now()
        .until(t)
        .ok()
        .and_then(|span| Duration::try_from(span).ok())
        .unwrap_or(Duration::ZERO)
}
