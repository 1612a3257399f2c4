//! The front desk's questions: who is waiting now (the board, the display, a visitor's place in the queue),
//! checking a visitor in with an honest estimate, the staff's actions (call, serve, finish, transfer,
//! no-show, walked out) as ordinary events, and the figures. Visits are folded from the `visit.*` events by
//! `domain::visit`; nothing here is stored but events.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tokio::sync::{watch, Mutex};

use super::Service;
use crate::config::visits::Visits;
use crate::domain::visit::{
    self, Accuracy, Estimate, Figures, GroupBy, ServiceTimes, State, Visit,
};
use crate::domain::{Event, EventError, ProfileUpdate};
use crate::store::{CustomerSearch, StoreError};

/// The current visits are read again at most this often while nothing changes here (other nodes' changes
/// show within it).
const FRESH_FOR: Duration = Duration::from_secs(2);
/// Service times are learned again this often.
const LEARN_EVERY: SignedDuration = SignedDuration::from_secs(600);

/// The front desk's state shared by every clone of the service: its configuration, the business's zone, the
/// visits as last read (one read serves every board and every live page), the learned service times, and a
/// counter that moves whenever this node stores a visit event (live pages wait on it).
pub struct Desk {
    pub visits: Arc<Visits>,
    pub zone: jiff::tz::TimeZone,
    current: Mutex<Option<Current>>,
    times: Mutex<Option<(Timestamp, Arc<ServiceTimes>)>>,
    changed: watch::Sender<u64>,
    /// Each location's board as last computed, with the change counter it saw: the live pages of one location
    /// (hundreds of display screens and boards) share one computation per change and second.
    boards: Mutex<std::collections::HashMap<String, SharedBoard>>,
    /// Service times are being learned again in the background.
    learning: std::sync::atomic::AtomicBool,
    /// "You're next" rows this node queued (the outbox key makes them unique anyway; this spares the
    /// store a lookup on every pass).
    notified: Mutex<std::collections::HashSet<String>>,
}

/// A location's board, the change counter it saw, and when it was computed.
type SharedBoard = (u64, std::time::Instant, Arc<Board>);

struct Current {
    version: u64,
    read_at: std::time::Instant,
    visits: Arc<Vec<Visit>>,
}

impl Default for Desk {
    fn default() -> Self {
        Desk::new(Arc::default(), jiff::tz::TimeZone::UTC)
    }
}

impl Desk {
    pub fn new(visits: Arc<Visits>, zone: jiff::tz::TimeZone) -> Desk {
        Desk {
            visits,
            zone,
            current: Mutex::new(None),
            times: Mutex::new(None),
            changed: watch::channel(0).0,
            notified: Mutex::default(),
            boards: Mutex::default(),
            learning: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether storing `events` moves the front desk (it is on and one of them is a visit event).
    pub(super) fn hears(&self, events: &[Event]) -> bool {
        self.visits.is_on() && events.iter().any(|e| visit::is_visit_kind(&e.kind))
    }

    pub(super) fn touch(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// A staff action on a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Call,
    Serve,
    Finish,
    Transfer,
    NoShow,
    Left,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "call" => Action::Call,
            "serve" => Action::Serve,
            "finish" => Action::Finish,
            "transfer" => Action::Transfer,
            "no_show" => Action::NoShow,
            "left" => Action::Left,
            _ => return None,
        })
    }
    fn kind(self) -> &'static str {
        match self {
            Action::Call => visit::CALLED,
            Action::Serve => visit::SERVED,
            Action::Finish => visit::FINISHED,
            Action::Transfer => visit::TRANSFERRED,
            Action::NoShow => visit::NO_SHOW,
            Action::Left => visit::LEFT,
        }
    }
    /// The states a visit may be in for this action.
    fn allowed(self, state: State) -> bool {
        match self {
            Action::Call => state == State::Waiting || state == State::Called,
            Action::Serve => matches!(state, State::Waiting | State::Called),
            Action::Finish => state == State::Serving,
            Action::Transfer => state.is_open(),
            Action::NoShow => state == State::Called,
            Action::Left => matches!(state, State::Waiting | State::Called),
        }
    }
}

/// Why a front-desk request was refused.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    #[error("the front desk is off: no [[visit_types]] in the configuration")]
    Off,
    #[error("{0}")]
    Invalid(EventError),
    #[error("no open visit {0:?}")]
    NoVisit(String),
    #[error("visit {reference:?} is {state}: cannot {action}")]
    Conflict {
        reference: String,
        state: &'static str,
        action: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A visitor joining the queue.
#[derive(Debug, Clone, Default)]
pub struct CheckIn {
    pub location: String,
    pub visit_type: String,
    pub first_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Who checked them in from the board (a walk-in, a caller); `None` at the kiosk.
    pub by: Option<String>,
}

/// A visitor in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedIn {
    pub customer: String,
    pub reference: String,
    pub estimate: Estimate,
}

/// One waiting (or called, or being served) visit on the board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardRow {
    pub reference: String,
    pub customer: String,
    pub first_name: String,
    pub visit_type: String,
    pub type_label: String,
    pub location: String,
    pub state: State,
    pub queued_at: Timestamp,
    /// Seconds since they started waiting (for this type), or since called / served.
    pub waited_s: i64,
    pub target_s: i64,
    pub over_target: bool,
    /// People ahead (waiting only).
    pub ahead: Option<u32>,
    pub counter: Option<String>,
    pub by: Option<String>,
}

/// A location's queue now.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub location: String,
    pub label: String,
    /// Longest waiting first.
    pub waiting: Vec<BoardRow>,
    /// Called or being served.
    pub serving: Vec<BoardRow>,
    /// Per visit type: how many wait, and the estimate a new visitor would be quoted now.
    pub types: Vec<TypeNow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TypeNow {
    pub name: String,
    pub label: String,
    pub waiting: u32,
    pub counters: u32,
    pub estimate: Estimate,
}

/// What a visitor's own page shows.
#[derive(Debug, Clone, Serialize)]
pub struct VisitStatus {
    pub reference: String,
    pub first_name: String,
    pub type_label: String,
    pub location_label: String,
    pub state: State,
    pub ahead: Option<u32>,
    /// The wait still to expect, from now (waiting only).
    pub estimate: Option<Estimate>,
    pub counter: Option<String>,
    pub queued_at: Timestamp,
}

/// `seen visits report`, `GET /v1/visits/summary` and the dashboard's figures.
#[derive(Debug, Clone, Serialize)]
pub struct VisitsReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub by: GroupBy,
    pub totals: Figures,
    pub rows: Vec<Figures>,
    /// Quoted estimates against the waits that followed.
    pub accuracy: Accuracy,
    /// Weekday (Monday first) × hour: visits and the median wait in seconds.
    pub heatmap: Vec<Vec<(u32, Option<i64>)>>,
}

impl Service {
    /// Sets the front desk (`Config::visits`) and the business's zone; a new service has none.
    pub fn with_visits(mut self, visits: Arc<Visits>, zone: jiff::tz::TimeZone) -> Service {
        self.desk = Arc::new(Desk::new(visits, zone));
        self
    }

    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// A visit event as any door takes it in (`config::visits::Visits::check`).
    pub fn check_event(&self, event: &Event) -> Result<(), EventError> {
        self.desk.visits.check(event)
    }

    /// Moves whenever this node stores a visit event: live pages wait on it.
    pub fn visits_changed(&self) -> watch::Receiver<u64> {
        self.desk.changed.subscribe()
    }

    /// The visits of the board's window, as last read (at most `FRESH_FOR` old, and never older than this
    /// node's last stored visit event): every board and live page shares one read.
    pub async fn current_visits(&self, now: Timestamp) -> Result<Arc<Vec<Visit>>, StoreError> {
        self.read_visits(now, false).await
    }

    async fn read_visits(
        &self,
        now: Timestamp,
        fresh: bool,
    ) -> Result<Arc<Vec<Visit>>, StoreError> {
        let version = *self.desk.changed.borrow();
        let mut current = self.desk.current.lock().await;
        if let Some(c) = current.as_ref().filter(|_| !fresh) {
            if c.version == version && c.read_at.elapsed() < FRESH_FOR {
                return Ok(c.visits.clone());
            }
        }
        let since = now - self.desk.visits.board_window;
        let events = self
            .store
            .visit_events(
                since,
                now.saturating_add(SignedDuration::from_hours(24))
                    .unwrap_or(now),
            )
            .await?;
        let visits = Arc::new(visit::fold(&events));
        *current = Some(Current {
            version,
            read_at: std::time::Instant::now(),
            visits: visits.clone(),
        });
        Ok(visits)
    }

    /// Service times learned from the history (`[visits] history`). Learned once when first needed; after
    /// `LEARN_EVERY` they are learned again in the background while the last ones keep answering (a
    /// check-in never waits for weeks of history to be read, but the first).
    async fn service_times(&self, now: Timestamp) -> Result<Arc<ServiceTimes>, StoreError> {
        let stale = {
            let times = self.desk.times.lock().await;
            match times.as_ref() {
                Some((at, t)) if now.duration_since(*at) < LEARN_EVERY && *at <= now => {
                    return Ok(t.clone())
                }
                Some((_, t)) => Some(t.clone()),
                None => None,
            }
        };
        match stale {
            Some(stale) => {
                if !self
                    .desk
                    .learning
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.learn(now).await {
                            tracing::warn!(error = %e, "front desk: learning service times");
                        }
                        this.desk
                            .learning
                            .store(false, std::sync::atomic::Ordering::SeqCst);
                    });
                }
                Ok(stale)
            }
            None => self.learn(now).await,
        }
    }

    async fn learn(&self, now: Timestamp) -> Result<Arc<ServiceTimes>, StoreError> {
        let since = now - self.desk.visits.history;
        let events = self.store.visit_events(since, now).await?;
        let visits = visit::fold(&events);
        let learned = Arc::new(ServiceTimes::learn(&visits, &self.desk.zone, since, now));
        *self.desk.times.lock().await = Some((now, learned.clone()));
        Ok(learned)
    }

    /// The estimate a visitor is quoted with `ahead` people of their type ahead, now.
    async fn quote(
        &self,
        location: &str,
        visit_type: &str,
        ahead: u32,
        now: Timestamp,
    ) -> Result<Estimate, StoreError> {
        let desk = &self.desk;
        let counters = desk.visits.counters_for(location, visit_type).len() as u32;
        let prior = desk
            .visits
            .visit_type(visit_type)
            .map(|t| t.service.as_secs())
            .unwrap_or(300);
        let times = self.service_times(now).await?;
        let slot = times.for_slot(visit_type, visit::hour_of_week(now, &desk.zone));
        Ok(visit::estimate(ahead, counters, slot, prior))
    }

    /// One location's board, shared by every live page of it: computed again when this node stored a visit
    /// event since, or after a second (waits move on; other nodes write). `None` for an unknown location.
    pub async fn shared_board(
        &self,
        location: &str,
        now: Timestamp,
    ) -> Result<Option<Arc<Board>>, StoreError> {
        let version = *self.desk.changed.borrow();
        // Held while computing: the pages woken by one change wait for the first one's board.
        let mut boards = self.desk.boards.lock().await;
        if let Some((seen, at, board)) = boards.get(location) {
            if *seen == version && at.elapsed() < Duration::from_secs(1) {
                return Ok(Some(board.clone()));
            }
        }
        let Some(board) = self.boards(Some(location), now).await?.into_iter().next() else {
            return Ok(None);
        };
        let board = Arc::new(board);
        boards.insert(
            location.to_string(),
            (version, std::time::Instant::now(), board.clone()),
        );
        Ok(Some(board))
    }

    /// Every location's board (or one), now.
    pub async fn boards(
        &self,
        location: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Board>, StoreError> {
        let visits = self.current_visits(now).await?;
        let positions = visit::positions(&visits);
        let config = &self.desk.visits;
        let mut boards = Vec::new();
        for l in &config.locations {
            if location.is_some_and(|name| name != l.name) {
                continue;
            }
            let row = |v: &Visit| {
                let t = config.visit_type(&v.visit_type);
                let target_s = t.map(|t| t.target.as_secs()).unwrap_or(0);
                let since = match v.state {
                    State::Called => v.called_at.unwrap_or(v.waiting_since),
                    State::Serving => v.served_at.unwrap_or(v.waiting_since),
                    _ => v.waiting_since,
                };
                let waited_s = now.duration_since(since).as_secs().max(0);
                BoardRow {
                    reference: v.reference.clone(),
                    customer: v.customer.clone(),
                    first_name: v.first_name.clone().unwrap_or_else(|| "Visitor".into()),
                    visit_type: v.visit_type.clone(),
                    type_label: t
                        .map(|t| t.label.clone())
                        .unwrap_or_else(|| v.visit_type.clone()),
                    location: v.location.clone(),
                    state: v.state,
                    queued_at: v.queued_at,
                    waited_s,
                    target_s,
                    over_target: v.state == State::Waiting && target_s > 0 && waited_s > target_s,
                    ahead: positions.get(v.reference.as_str()).copied(),
                    counter: v.counter.clone(),
                    by: v.served_by.clone().or_else(|| v.called_by.clone()),
                }
            };
            let waiting: Vec<BoardRow> = visit::waiting(&visits, Some(&l.name))
                .into_iter()
                .map(row)
                .collect();
            let serving: Vec<BoardRow> = visits
                .iter()
                .filter(|v| {
                    v.location == l.name && matches!(v.state, State::Called | State::Serving)
                })
                .map(row)
                .collect();
            let mut types = Vec::new();
            for t in &config.types {
                let counters = config.counters_for(&l.name, &t.name).len() as u32;
                if counters == 0 {
                    continue;
                }
                let queued = visit::queue_length(&visits, &l.name, &t.name);
                types.push(TypeNow {
                    name: t.name.clone(),
                    label: t.label.clone(),
                    waiting: queued,
                    counters,
                    estimate: self.quote(&l.name, &t.name, queued, now).await?,
                });
            }
            boards.push(Board {
                location: l.name.clone(),
                label: l.label.clone(),
                waiting,
                serving,
                types,
            });
        }
        Ok(boards)
    }

    /// Checks a visitor in: finds the customer by email (or phone) or makes one, quotes the estimate and
    /// records `visit.queued` with it.
    pub async fn check_in(&self, c: CheckIn, now: Timestamp) -> Result<CheckedIn, VisitError> {
        let config = self.desk.visits.clone();
        if !config.is_on() {
            return Err(VisitError::Off);
        }
        let invalid =
            |field: &str, reason: String| VisitError::Invalid(EventError::new(field, reason));
        if config.location(&c.location).is_none() {
            return Err(invalid(
                "location",
                format!("unknown location {:?}", c.location),
            ));
        }
        if config.counters_for(&c.location, &c.visit_type).is_empty() {
            return Err(invalid(
                "visit_type",
                format!("{:?} is not served at {:?}", c.visit_type, c.location),
            ));
        }
        let first_name = crate::domain::event::plain_text("first_name", &c.first_name, 60)
            .map_err(VisitError::Invalid)?;
        if first_name.is_empty() {
            return Err(invalid("first_name", "missing".into()));
        }
        let email = c
            .email
            .as_deref()
            .map(crate::domain::event::email)
            .transpose()
            .map_err(VisitError::Invalid)?;
        let phone = c
            .phone
            .as_deref()
            .map(|p| crate::domain::event::plain_text("customer_phone", p, 40))
            .transpose()
            .map_err(VisitError::Invalid)?;
        let known = match (&email, &phone) {
            (Some(email), _) => {
                self.find_customer(email, now, |r| {
                    r.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email))
                })
                .await?
            }
            (None, Some(phone)) => {
                let digits = CustomerSearch::phone_digits(phone);
                self.find_customer(phone, now, |r| {
                    r.phone.as_deref().is_some_and(|p| {
                        !digits.is_empty() && CustomerSearch::phone_digits(p) == digits
                    })
                })
                .await?
            }
            (None, None) => None,
        };
        let customer = known
            .clone()
            .unwrap_or_else(|| format!("visitor-{}", short_id()));
        let reference = format!("V-{}", short_id());
        let visits = self.current_visits(now).await?;
        let ahead = visit::queue_length(&visits, &c.location, &c.visit_type);
        let estimate = self.quote(&c.location, &c.visit_type, ahead, now).await?;
        let mut properties = serde_json::json!({
            "visit_type": c.visit_type,
            "location": c.location,
            "first_name": first_name,
            "estimate": estimate,
        });
        if let Some(by) = &c.by {
            properties["by"] = serde_json::Value::String(by.clone());
        }
        let profile = if known.is_some() {
            ProfileUpdate::default()
        } else {
            ProfileUpdate {
                email,
                name: Some(first_name.clone()),
                phone,
                timezone: None,
            }
        };
        let event = Event {
            id: crate::ingest::new_event_id(),
            kind: visit::QUEUED.into(),
            customer: customer.clone(),
            at: now,
            channel: Some("in_person".into()),
            reference: Some(reference.clone()),
            properties: Some(properties.to_string()),
            profile,
        };
        self.check_event(&event).map_err(VisitError::Invalid)?;
        self.ingest(vec![event]).await?;
        Ok(CheckedIn {
            customer,
            reference,
            estimate,
        })
    }

    async fn find_customer(
        &self,
        text: &str,
        now: Timestamp,
        same: impl Fn(&crate::store::CustomerRecord) -> bool,
    ) -> Result<Option<String>, StoreError> {
        let Some(search) = CustomerSearch::new(text) else {
            return Ok(None);
        };
        let found = self.store.search_customers(&search, now, 5).await?;
        Ok(found
            .hits
            .into_iter()
            .map(|h| h.customer)
            .find(|c| same(c))
            .map(|c| c.id))
    }

    /// A staff action on an open visit, recorded as its event with `properties.by` (and the counter, and the
    /// new type for a transfer).
    pub async fn visit_action(
        &self,
        reference: &str,
        action: Action,
        by: &str,
        counter: Option<&str>,
        new_type: Option<&str>,
        now: Timestamp,
    ) -> Result<Visit, VisitError> {
        if !self.desk.visits.is_on() {
            return Err(VisitError::Off);
        }
        let visits = self.fresh_visits(now).await?;
        self.act(&visits, reference, action, by, counter, new_type, now)
            .await
    }

    /// `visit_action` on visits just read.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        visits: &[Visit],
        reference: &str,
        action: Action,
        by: &str,
        counter: Option<&str>,
        new_type: Option<&str>,
        now: Timestamp,
    ) -> Result<Visit, VisitError> {
        let Some(v) = visits
            .iter()
            .find(|v| v.reference == reference && v.state.is_open())
        else {
            return Err(VisitError::NoVisit(reference.to_string()));
        };
        if !action.allowed(v.state) {
            return Err(VisitError::Conflict {
                reference: reference.to_string(),
                state: v.state.as_str(),
                action: action.kind().trim_start_matches("visit."),
            });
        }
        let mut properties = serde_json::json!({ "by": by, "location": v.location });
        if let Some(counter) = counter {
            properties["counter"] = counter.into();
        }
        match (action, new_type) {
            (Action::Transfer, Some(t)) => {
                properties["visit_type"] = t.into();
                properties["from_type"] = v.visit_type.clone().into();
            }
            (Action::Transfer, None) => {
                return Err(VisitError::Invalid(EventError::new(
                    "visit_type",
                    "missing: a transfer needs the new visit type",
                )))
            }
            _ => {}
        }
        let event = Event {
            id: crate::ingest::new_event_id(),
            kind: action.kind().into(),
            customer: v.customer.clone(),
            at: now,
            channel: Some("in_person".into()),
            reference: Some(v.reference.clone()),
            properties: Some(properties.to_string()),
            profile: ProfileUpdate::default(),
        };
        self.check_event(&event).map_err(VisitError::Invalid)?;
        let visit = v.clone();
        self.ingest(vec![event]).await?;
        Ok(visit)
    }

    /// Calls the longest-waiting visitor of the types `counter` serves at `location` (and `by` may serve).
    pub async fn call_next(
        &self,
        location: &str,
        counter: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Option<Visit>, VisitError> {
        let config = self.desk.visits.clone();
        if config
            .location(location)
            .is_none_or(|l| !l.counters.iter().any(|c| c == counter))
        {
            return Err(VisitError::Invalid(EventError::new(
                "counter",
                format!("{counter:?} is not a counter at {location:?}"),
            )));
        }
        let types: Vec<String> = config
            .types_at_counter(counter)
            .into_iter()
            .filter(|t| config.serves(by, t))
            .collect();
        if types.is_empty() {
            return Ok(None);
        }
        let visits = self.fresh_visits(now).await?;
        let Some(next) = visit::next_for(&visits, location, &types) else {
            return Ok(None);
        };
        self.act(
            &visits,
            &next.reference,
            Action::Call,
            by,
            Some(counter),
            None,
            now,
        )
        .await
        .map(Some)
    }

    /// The visits read now (an action must see the latest state, not the shared read).
    async fn fresh_visits(&self, now: Timestamp) -> Result<Arc<Vec<Visit>>, StoreError> {
        self.read_visits(now, true).await
    }

    /// A visitor's own view of one visit of theirs; `None` if it is not theirs or not in the board's window.
    pub async fn visit_status(
        &self,
        customer: &str,
        reference: &str,
        now: Timestamp,
    ) -> Result<Option<VisitStatus>, StoreError> {
        let visits = self.current_visits(now).await?;
        let Some(v) = visits
            .iter()
            .find(|v| v.reference == reference && v.customer == customer)
        else {
            return Ok(None);
        };
        let config = &self.desk.visits;
        let ahead = (v.state == State::Waiting).then(|| visit::ahead(&visits, v));
        let estimate = match ahead {
            Some(ahead) => Some(self.quote(&v.location, &v.visit_type, ahead, now).await?),
            None => None,
        };
        Ok(Some(VisitStatus {
            reference: v.reference.clone(),
            first_name: v.first_name.clone().unwrap_or_else(|| "Visitor".into()),
            type_label: config
                .visit_type(&v.visit_type)
                .map(|t| t.label.clone())
                .unwrap_or_else(|| v.visit_type.clone()),
            location_label: config
                .location(&v.location)
                .map(|l| l.label.clone())
                .unwrap_or_else(|| v.location.clone()),
            state: v.state,
            ahead,
            estimate,
            counter: v.counter.clone(),
            queued_at: v.queued_at,
        }))
    }

    /// The figures of the visits queued in `[from, to)`.
    pub async fn visits_report(
        &self,
        by: GroupBy,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<VisitsReport, StoreError> {
        // A visit queued just before `to` may end after it: read a day further.
        let until = to
            .saturating_add(SignedDuration::from_hours(24))
            .unwrap_or(to)
            .min(now.max(to));
        let events = self.store.visit_events(from, until).await?;
        let visits = visit::fold(&events);
        let targets = self.desk.visits.targets();
        let zone = &self.desk.zone;
        Ok(VisitsReport {
            from,
            to,
            by,
            totals: visit::totals(&visits, &targets, zone, from, to, now),
            rows: visit::figures(&visits, by, &targets, zone, from, to, now),
            accuracy: visit::accuracy(&visits, from, to),
            heatmap: visit::heatmap(&visits, zone, from, to)
                .iter()
                .map(|day| day.to_vec())
                .collect(),
        })
    }
}

/// A short random id (12 base-32 characters: 60 bits).
fn short_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// "4–9 min", from an estimate.
pub fn range_words(e: &Estimate) -> String {
    let low = e.low_s / 60;
    let high = (e.high_s + 59) / 60;
    if high <= 1 {
        "about a minute".into()
    } else if low == high {
        format!("about {high} min")
    } else {
        format!("{low}–{high} min")
    }
}

/// Parses a grouping (`seen visits report --by`, `?by=`): type (the default), location, staff or hour.
pub fn group_by(text: Option<&str>) -> Result<GroupBy, String> {
    match text.unwrap_or("type") {
        "type" => Ok(GroupBy::Type),
        "location" => Ok(GroupBy::Location),
        "staff" => Ok(GroupBy::Staff),
        "hour" => Ok(GroupBy::Hour),
        other => Err(format!(
            "unknown grouping {other:?} (expected type, location, staff or hour)"
        )),
    }
}

impl Service {
    /// "You're next": for every waiting visitor with at most `[visits] notify_ahead` people ahead, one
    /// outbox row (email to their address, or the SMS webhook for a phone), keyed by the visit: once per
    /// visit, never twice, whatever the node or the restart. The sender's gate skips it if the visitor was
    /// called or served first (the serve promise it belongs to is then closed). Returns the rows queued.
    pub async fn notify_next(&self, now: Timestamp) -> Result<u64, StoreError> {
        let config = self.desk.visits.clone();
        if !config.is_on() || config.notify_ahead == 0 {
            return Ok(0);
        }
        let visits = self.current_visits(now).await?;
        let positions = visit::positions(&visits);
        let mut items = Vec::new();
        for v in visits.iter().filter(|v| v.state == State::Waiting) {
            let Some(ahead) = positions.get(v.reference.as_str()) else {
                continue;
            };
            if *ahead > config.notify_ahead {
                continue;
            }
            let key = format!("visit-next|{}|{}", v.customer, v.reference);
            {
                let notified = self.desk.notified.lock().await;
                if notified.contains(&key) {
                    continue;
                }
            }
            let Some(customer) = self.store.customer(&v.customer).await? else {
                continue;
            };
            let (channel, recipient) =
                match (&customer.email, &customer.phone, &config.notify_webhook) {
                    (Some(_), _, _) => ("email", "customer".to_string()),
                    (None, Some(_), Some(webhook)) => ("webhook", webhook.clone()),
                    _ => continue,
                };
            items.push(crate::store::OutboxItem {
                key,
                customer: v.customer.clone(),
                policy: config.policy.clone(),
                trigger_event: v.opened_by.clone(),
                reference: Some(v.reference.clone()),
                action: crate::domain::action::ActionKind::Open,
                step: 0,
                template: "visit-next".into(),
                channel: channel.into(),
                recipient,
                recipient_name: customer.name.clone(),
                role: "customer".into(),
                // Asked for at check-in, and useless later: past quiet hours, caps and unsubscribes.
                transactional: true,
                urgent: true,
                records: Some(NOTIFIED.into()),
                due_at: now,
                survey: None,
            });
        }
        if items.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        let queued = self.store.enqueue(items, Vec::new()).await?;
        let mut notified = self.desk.notified.lock().await;
        if notified.len() > 100_000 {
            notified.clear();
        }
        notified.extend(keys);
        Ok(queued)
    }
}

/// What a sent "you're next" records (it keeps no promise: the visitor is still waiting).
pub const NOTIFIED: &str = "visit.notified";
