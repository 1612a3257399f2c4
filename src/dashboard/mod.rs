//! The dashboard, served by `seen serve` itself: server-rendered pages and SVG charts (no CDN, no
//! JavaScript needed), accounts with argon2id passwords, HttpOnly SameSite=Strict session cookies and CSRF
//! tokens on every form. Agents work the queue; managers also see promises, outbox and surveys; admins
//! manage users and API keys and view the policies. It owns its router and its state and imports no
//! other edge; `app` composes it with the API.

mod admin;
mod audit;
pub mod auth;
pub mod charts;
mod input;
mod journeys;
mod pages;
mod public;
mod reports;
mod retention;
mod search;
pub mod throttle;
pub mod time;
mod visits;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;

use crate::config::actions::Directory;
use crate::config::{DashboardSettings, PublishedPromise, ServerConfig};
use crate::domain::trend::Window;
use crate::service::Service;
use crate::store::StoreError;

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    pub service: Service,
    pub server: Arc<ServerConfig>,
    /// Woken when a dashboard action records an event ("contacted").
    pub ingested: crate::jobs::Wake,
    /// The dashboard's configuration and figure caches.
    pub dashboard: Arc<Dashboard>,
    /// Each connector's state on this node.
    pub connectors: crate::connectors::Health,
}

/// The dashboard's routes (under `/`), with their state and security headers.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/overview", get(reports::overview))
        .route("/invisible", get(pages::invisible))
        .route("/invisible/work", post(pages::work))
        .route("/customers/{id}", get(pages::customer))
        .route("/search", get(search::page))
        .route("/promises/public", get(public::page))
        .route("/promises/badge/{file}", get(public::badge))
        .route("/promises", get(reports::promises))
        .route("/outbox", get(reports::outbox))
        .route("/surveys", get(reports::surveys))
        .route("/retention", get(retention::page))
        .route("/journeys", get(journeys::list))
        .route("/journeys/{name}", get(journeys::page))
        .route("/board", get(visits::boards))
        .route("/board/{location}", get(visits::board))
        .route("/board/{location}/events", get(visits::board_events))
        .route("/board/{location}/act", post(visits::act))
        .route("/board/{location}/check-in", post(visits::check_in))
        .route("/board/{location}/qr.svg", get(visits::qr))
        .route("/visits", get(visits::figures))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/keys", get(admin::keys).post(admin::key_action))
        .route("/admin/policies", get(admin::policies))
        .route("/admin/audit", get(audit::page))
        .route("/admin/forget", post(audit::forget))
        .route("/assets/seen.css", get(stylesheet))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every dashboard response: only this origin's stylesheet, no script at
/// all (the dashboard needs none; a stray `<script>` or inline style would be refused), forms only to
/// this origin, never inside a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; style-src 'self'; \
     img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every dashboard response. Pages and exports hold customer data: never cached
/// (`no-store`), unless a route set its own `Cache-Control` (the stylesheet).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let headers = response.headers_mut();
    // The front-desk board sets its own policy (it runs this origin's live-update script).
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    for (name, value) in [
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ] {
        headers.insert(name, value);
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The dashboard's stylesheet (embedded; public, as the login page needs it).
async fn stylesheet() -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("assets/seen.css"),
    )
        .into_response()
}

/// What the dashboard keeps between requests.
pub struct Dashboard {
    /// People, teams and routes from `seen.toml` (for "by team").
    pub directory: Arc<Directory>,
    overview: FigureCache<u32, crate::service::insights::Overview>,
    promises: FigureCache<u32, crate::service::insights::Promises>,
    surveys: FigureCache<u32, reports::SurveyFigures>,
    /// How retention cohorts are cut.
    pub cohorts: Arc<crate::service::cohorts::CohortSettings>,
    /// Retention cohorts, per question.
    retention:
        FigureCache<crate::service::cohorts::RetentionQuery, crate::service::cohorts::Retention>,
    /// Journey overviews, per journey and period.
    journeys: FigureCache<journeys::Key, crate::service::journeys::JourneyOverview>,
    /// Who is invisible now and why (the queue applies its filters and the work log on top, fresh).
    queue: FigureCache<(), Vec<crate::domain::report::Invisible>>,
    /// Failed logins per account and per client address (bounded; see `throttle`).
    pub login: throttle::LoginThrottle,
    /// Every time shown, in the business's time zone.
    pub times: time::Times,
    /// The published promises (`[public]`); `None`: the public pages answer 404.
    pub public: Option<Arc<[PublishedPromise]>>,
    /// The public figures, per node, for `PUBLIC_TTL`.
    public_figures: FigureCache<(), crate::service::public::PublicFigures>,
    /// Where customers reach this server (`[actions] public_url`): the check-in QR code points there.
    pub public_url: String,
}

/// How long the public figures are reused (they are computed live from stored obligations).
pub const PUBLIC_TTL: Duration = Duration::from_secs(60);

impl Dashboard {
    /// `figures_ttl`: how long the overview's, promises' and surveys' figures are reused (they summarise
    /// weeks; a page load need not rescan them). `queue_ttl`: the same for the list of invisible customers.
    /// Zero computes on every request.
    pub fn new(
        directory: Arc<Directory>,
        settings: DashboardSettings,
        figures_ttl: Duration,
        queue_ttl: Duration,
    ) -> Dashboard {
        Dashboard {
            times: time::Times::new(settings.timezone),
            public: settings.public.map(Arc::from),
            public_figures: FigureCache::new(PUBLIC_TTL),
            directory,
            overview: FigureCache::new(figures_ttl),
            promises: FigureCache::new(figures_ttl),
            surveys: FigureCache::new(figures_ttl),
            retention: FigureCache::new(figures_ttl),
            journeys: FigureCache::new(figures_ttl),
            cohorts: Arc::default(),
            queue: FigureCache::new(queue_ttl),
            login: throttle::LoginThrottle::default(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }

    /// Where customers reach this server (`[actions] public_url`).
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.to_string();
        self
    }

    /// Fills the caches for the default period (`App::build` runs it in the background at start).
    pub async fn warm(self: Arc<Self>, service: Service) {
        // Not a cache: the journeys' kept progress, which every report would otherwise bring up to date.
        if let Err(e) = service.catch_up_journeys().await {
            tracing::warn!(error = %e, "bringing the journeys' progress up to date");
        }
        if !self.overview.ttl.is_zero() || !self.queue.ttl.is_zero() {
            reports::warm(self.clone(), service.clone()).await;
        }
        if !self.retention.ttl.is_zero() {
            retention::warm(self.clone(), service.clone()).await;
        }
        if !self.journeys.ttl.is_zero() {
            journeys::warm(self, service).await;
        }
    }

    /// How retention cohorts are cut (the business's zone, `[churn] purchase_types`).
    pub fn with_cohorts(mut self, cohorts: Arc<crate::service::cohorts::CohortSettings>) -> Self {
        self.cohorts = cohorts;
        self
    }

    /// Retention cohorts for a question (cached).
    async fn retention_figures(
        &self,
        service: &Service,
        settings: Arc<crate::service::cohorts::CohortSettings>,
        query: crate::service::cohorts::RetentionQuery,
    ) -> Result<Arc<crate::service::cohorts::Retention>, PageError> {
        use crate::service::cohorts::RetentionError;
        let service = service.clone();
        self.retention
            .get(query.clone(), move || async move {
                service
                    .retention(&settings, &query, jiff::Timestamp::now())
                    .await
            })
            .await
            .map_err(|e| match e {
                RetentionError::Invalid(e) => PageError::BadRequest(e.to_string()),
                RetentionError::Store(e) => PageError::Store(e),
            })
    }

    /// One journey's report, weekly times and paths for a period (cached).
    async fn journey_figures(
        &self,
        service: &Service,
        name: &str,
        days: journeys::Days,
    ) -> Result<Arc<crate::service::journeys::JourneyOverview>, PageError> {
        let (service, zone) = (service.clone(), self.times.zone().clone());
        let key = (name.to_string(), days.clone());
        let name = name.to_string();
        self.journeys
            .get(key, move || journeys::compute(service, zone, name, days))
            .await
            .map_err(PageError::from)
    }

    /// One journey's figures for a period if the cache holds them (of any age); when they are missing or
    /// expired, one background task computes them. Never waits.
    fn cached_journey_figures(
        &self,
        service: &Service,
        name: &str,
        days: journeys::Days,
    ) -> Option<Arc<crate::service::journeys::JourneyOverview>> {
        let (service, zone) = (service.clone(), self.times.zone().clone());
        let key = (name.to_string(), days.clone());
        let name = name.to_string();
        self.journeys
            .peek(key, move || journeys::compute(service, zone, name, days))
    }

    /// The overview's figures for a period (cached).
    async fn overview_figures(
        &self,
        service: &Service,
        days: u32,
        w: Window,
    ) -> Result<Arc<crate::service::insights::Overview>, StoreError> {
        let service = service.clone();
        self.overview
            .get(days, move || async move { service.overview(w).await })
            .await
    }

    /// The promises page's figures for a period (cached).
    async fn promise_figures(
        &self,
        service: &Service,
        days: u32,
        w: Window,
    ) -> Result<Arc<crate::service::insights::Promises>, StoreError> {
        let (service, directory) = (service.clone(), self.directory.clone());
        self.promises
            .get(days, move || {
                reports::promise_figures(service, directory, w)
            })
            .await
    }

    /// The surveys page's figures for a period (cached).
    async fn survey_figures(
        &self,
        service: &Service,
        days: u32,
        w: Window,
    ) -> Result<Arc<reports::SurveyFigures>, StoreError> {
        let (service, times) = (service.clone(), self.times.clone());
        self.surveys
            .get(days, move || reports::survey_figures(service, times, w))
            .await
    }

    /// This month's public promise figures (cached for `PUBLIC_TTL`); `None` when not published.
    async fn public_figures(
        &self,
        service: &Service,
    ) -> Option<Result<Arc<crate::service::public::PublicFigures>, StoreError>> {
        let published = self.public.clone()?;
        let (service, zone) = (service.clone(), self.times.zone().clone());
        Some(
            self.public_figures
                .get((), move || async move {
                    service
                        .public_figures(&published, &zone, jiff::Timestamp::now())
                        .await
                })
                .await,
        )
    }

    /// Who is invisible now and why (cached for `queue_ttl`).
    async fn invisible_now(
        &self,
        service: &Service,
    ) -> Result<Arc<Vec<crate::domain::report::Invisible>>, StoreError> {
        let service = service.clone();
        self.queue
            .get((), move || async move {
                service.invisible_reasons(jiff::Timestamp::now()).await
            })
            .await
    }

    /// Something changed what the queue shows (a dashboard action recorded an event): recompute it on the
    /// next request.
    pub fn queue_changed(&self) {
        self.queue.clear();
    }
}

/// Computed figures, reused for `ttl`. After that they are still served while one background task
/// recomputes them (stale-while-revalidate), so a page view never waits for a rescan once the figures
/// exist; figures older than `STALE_LIMIT` × `ttl` (an idle server) are recomputed in the request.
struct FigureCache<K, T> {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<K, Entry<T>>>>,
    /// Bumped by `clear`: figures computed before it are not kept.
    generation: Arc<AtomicU64>,
    /// Keys `peek` is computing in the background for the first time (so a burst starts one task).
    computing: Arc<Mutex<std::collections::HashSet<K>>>,
}

struct Entry<T> {
    at: Instant,
    value: Arc<T>,
    refreshing: bool,
}

const STALE_LIMIT: u32 = 10;

impl<K, T> FigureCache<K, T>
where
    K: std::hash::Hash + Eq + Clone + Send + 'static,
    T: Send + Sync + 'static,
{
    fn new(ttl: Duration) -> Self {
        FigureCache {
            ttl,
            entries: Arc::new(Mutex::new(HashMap::new())),
            generation: Arc::new(AtomicU64::new(0)),
            computing: Arc::new(Mutex::new(std::collections::HashSet::new())),
        }
    }

    fn clear(&self) {
        // Under the lock, so that a computation finishing now sees either the old generation and an
        // emptied map after it, or the new one.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
        drop(entries);
    }

    /// Runs `future` in a background task and keeps its figures under `key`, unless `clear` came in between;
    /// a failure is logged and lets the next request try again (the entry's `refreshing` is reset).
    fn compute_in_background<Fut, E>(&self, key: K, future: Fut)
    where
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let generation = self.generation.load(Ordering::SeqCst);
        let (entries, current, computing) = (
            self.entries.clone(),
            self.generation.clone(),
            self.computing.clone(),
        );
        tokio::spawn(async move {
            let outcome = future.await;
            computing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
            if current.load(Ordering::SeqCst) != generation {
                return;
            }
            match outcome {
                Ok(fresh) => {
                    entries.insert(
                        key,
                        Entry {
                            at: Instant::now(),
                            value: Arc::new(fresh),
                            refreshing: false,
                        },
                    );
                }
                Err(err) => {
                    tracing::warn!("refreshing dashboard figures failed: {err}");
                    if let Some(entry) = entries.get_mut(&key) {
                        entry.refreshing = false;
                    }
                }
            }
        });
    }

    /// The figures for `key` if any are held (of any age), without waiting: when they are missing or
    /// expired and nobody is computing them, `compute` runs in the background and fills the entry. With a
    /// zero `ttl` (no cache) nothing is held and nothing is computed.
    fn peek<F, Fut, E>(&self, key: K, compute: F) -> Option<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let held = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&key) {
                Some(entry) if entry.at.elapsed() < self.ttl || entry.refreshing => {
                    return Some(entry.value.clone())
                }
                Some(entry) => {
                    entry.refreshing = true;
                    Some(entry.value.clone())
                }
                None => {
                    let mut computing = self.computing.lock().unwrap_or_else(|e| e.into_inner());
                    if computing.contains(&key) {
                        return None;
                    }
                    computing.insert(key.clone());
                    None
                }
            }
        };
        self.compute_in_background(key, compute());
        held
    }

    /// The figures for `key`: fresh ones, else stale ones while `compute` runs in the background, else
    /// computed now.
    async fn get<F, Fut, E>(&self, key: K, compute: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.ttl.is_zero() {
            return compute().await.map(Arc::new);
        }
        let stale = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&key) {
                Some(entry) if entry.at.elapsed() < self.ttl => return Ok(entry.value.clone()),
                Some(entry) if entry.at.elapsed() < self.ttl * STALE_LIMIT => {
                    if entry.refreshing {
                        return Ok(entry.value.clone());
                    }
                    entry.refreshing = true;
                    Some(entry.value.clone())
                }
                _ => None,
            }
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let future = compute();
        match stale {
            Some(value) => {
                self.compute_in_background(key, future);
                Ok(value)
            }
            None => {
                let value = Arc::new(future.await?);
                let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                if self.generation.load(Ordering::SeqCst) != generation {
                    return Ok(value);
                }
                entries.insert(
                    key,
                    Entry {
                        at: Instant::now(),
                        value: value.clone(),
                        refreshing: false,
                    },
                );
                Ok(value)
            }
        }
    }
}

/// Why a dashboard request failed; rendered as a small page (internal causes go to the log only).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not for your role")]
    Forbidden,
    #[error("missing or wrong CSRF token: reload the page and try again")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl axum::response::IntoResponse for PageError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        match self {
            PageError::Forbidden => pages::forbidden(),
            PageError::Csrf => (StatusCode::FORBIDDEN, self.to_string()).into_response(),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, what).into_response(),
            PageError::BadRequest(what) => (StatusCode::BAD_REQUEST, what).into_response(),
            PageError::Store(err) => crate::app::error::ApiError::from(err).into_response(),
        }
    }
}

/// What a dashboard handler returns.
pub type PageResult = Result<axum::response::Response, PageError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// A computation that counts its runs and returns the run number.
    fn counter() -> Arc<AtomicU32> {
        Arc::new(AtomicU32::new(0))
    }

    async fn value(cache: &FigureCache<(), u32>, runs: &Arc<AtomicU32>) -> u32 {
        let runs = runs.clone();
        *cache
            .get((), move || async move {
                Ok::<u32, String>(runs.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn figures_are_reused_then_served_stale_while_one_refresh_runs() {
        let cache = FigureCache::new(Duration::from_millis(200));
        let runs = counter();
        assert_eq!(value(&cache, &runs).await, 1);
        assert_eq!(value(&cache, &runs).await, 1, "fresh: reused");
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Expired: the old figures at once, and one background refresh however many ask.
        assert_eq!(value(&cache, &runs).await, 1);
        assert_eq!(value(&cache, &runs).await, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(value(&cache, &runs).await, 2, "the refreshed figures");
        // Cleared: computed in the request.
        cache.clear();
        assert_eq!(value(&cache, &runs).await, 3);
    }

    #[tokio::test]
    async fn a_refresh_started_before_a_clear_is_not_kept() {
        let cache: FigureCache<(), u32> = FigureCache::new(Duration::from_millis(100));
        let runs = counter();
        assert_eq!(value(&cache, &runs).await, 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A slow refresh starts, then something clears the cache before it ends.
        let slow = runs.clone();
        let stale = cache
            .get((), move || async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<u32, String>(slow.fetch_add(1, Ordering::SeqCst) + 100)
            })
            .await
            .unwrap();
        assert_eq!(*stale, 1);
        cache.clear();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The refresh finished (run 101) but belongs to the old generation: a fresh computation runs.
        assert_eq!(value(&cache, &runs).await, 3);
    }

    #[tokio::test]
    async fn peek_never_waits_and_computes_missing_or_expired_figures_once_in_the_background() {
        let cache: FigureCache<(), u32> = FigureCache::new(Duration::from_millis(200));
        let runs = counter();
        let peek = |cache: &FigureCache<(), u32>| {
            let runs = runs.clone();
            cache.peek((), move || async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<u32, String>(runs.fetch_add(1, Ordering::SeqCst) + 1)
            })
        };
        // Missing: nothing now, one background computation however many ask.
        assert_eq!(peek(&cache), None);
        assert_eq!(peek(&cache), None);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(peek(&cache).as_deref(), Some(&1));
        // Expired: the old figures now, one refresh behind them.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(peek(&cache).as_deref(), Some(&1));
        assert_eq!(peek(&cache).as_deref(), Some(&1));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(peek(&cache).as_deref(), Some(&2));
        // No cache: nothing held, nothing computed.
        let off: FigureCache<(), u32> = FigureCache::new(Duration::ZERO);
        assert_eq!(peek(&off), None);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn zero_ttl_computes_every_time_and_very_old_figures_are_recomputed() {
        let off = FigureCache::new(Duration::ZERO);
        let runs = counter();
        assert_eq!(value(&off, &runs).await, 1);
        assert_eq!(value(&off, &runs).await, 2);
        let cache = FigureCache::new(Duration::from_millis(10));
        let runs = counter();
        assert_eq!(value(&cache, &runs).await, 1);
        tokio::time::sleep(Duration::from_millis(10 * u64::from(STALE_LIMIT) + 50)).await;
        assert_eq!(
            value(&cache, &runs).await,
            2,
            "too old to serve: computed now"
        );
    }
}
