//! Operational metrics: counters and histograms recorded through the `metrics` facade by one-line hooks
//! (ingestion, HTTP, jobs, sends), gauges read from the store at most every `refresh`, rendered in the
//! Prometheus text format by `api::metrics`. Nothing is recorded until `[metrics]` turns it on: the hooks
//! are then no-ops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::MetricsSettings;
use crate::store::Store;

/// Seconds; from 1 ms to 10 s, the range between a cached page and a timed-out request.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Histograms keep raw samples until drained; with no scrape, this bounds how many pile up.
const UPKEEP: Duration = Duration::from_secs(5);
/// A gauge refresh that takes longer is abandoned (the previous figures stay).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Whether a recorder is installed (hooks skip their work otherwise).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// `POST /v1/events` and other ingestion: how each item ended.
pub fn events_ingested(accepted: u64, duplicates: u64, rejected: u64) {
    metrics::counter!("seen_events_total", "outcome" => "accepted").increment(accepted);
    metrics::counter!("seen_events_total", "outcome" => "duplicate").increment(duplicates);
    metrics::counter!("seen_events_total", "outcome" => "rejected").increment(rejected);
}

/// The sender finished an outbox row with this status (`sent`, `failed`, `skipped`, `pending` for a retry…).
pub fn outbox_finished(status: &'static str) {
    metrics::counter!("seen_outbox_sends_total", "status" => status).increment(1);
}

/// A background job finished one turn that began at `started`.
pub fn job_ran(job: &'static str, started: Instant) {
    metrics::histogram!("seen_job_run_seconds", "job" => job)
        .record(started.elapsed().as_secs_f64());
    metrics::gauge!("seen_job_last_run_timestamp_seconds", "job" => job)
        .set(Timestamp::now().as_millisecond() as f64 / 1000.0);
}

/// One HTTP request: `route` is the matched route template (`/v1/customers/{id}`), never the raw path.
pub fn request_done(method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    metrics::histogram!(
        "seen_http_request_duration_seconds",
        "method" => method,
        "route" => route.unwrap_or("unmatched").to_string(),
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
}

/// Installs the process-wide recorder once (later calls reuse it) and returns its handle.
fn install() -> Result<PrometheusHandle, String> {
    let mut slot = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP);
            upkeep.run_upkeep();
        })
        .map_err(|e| format!("starting the metrics upkeep thread: {e}"))?;
    describe();
    // Zero series, so that a scrape shows every counter from the start (rates need a first sample).
    events_ingested(0, 0, 0);
    *slot = Some(handle.clone());
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(
        "seen_events_total",
        "Events received, by outcome: accepted (stored), duplicate (id already stored), rejected (invalid)"
    );
    metrics::describe_counter!(
        "seen_outbox_sends_total",
        "Outbox rows the sender finished, by the status it left them in"
    );
    metrics::describe_histogram!(
        "seen_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method, route template and status"
    );
    metrics::describe_histogram!(
        "seen_job_run_seconds",
        Unit::Seconds,
        "Duration of one turn of a background job"
    );
    metrics::describe_gauge!(
        "seen_job_last_run_timestamp_seconds",
        "When a background job last finished a turn (Unix seconds)"
    );
    metrics::describe_gauge!(
        "seen_job_lag_seconds",
        Unit::Seconds,
        "How late a job's oldest due work is: scheduler (unnoticed breach), sender (due outbox row), churn (refit)"
    );
    metrics::describe_gauge!(
        "seen_obligations",
        "Unclosed obligations: open (not yet due to breach) or breached"
    );
    metrics::describe_gauge!(
        "seen_outbox_due",
        "Outbox rows due now and not yet finished (the sender's backlog)"
    );
    metrics::describe_gauge!(
        "seen_db_connections",
        "Database connections of this process: in_use, idle, max"
    );
    metrics::describe_gauge!(
        "seen_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process (VmRSS)"
    );
    metrics::describe_counter!(
        "seen_metrics_refresh_errors_total",
        "Gauge refreshes that failed or timed out (the previous figures were kept)"
    );
}

/// What `GET /metrics` needs: the handle to render, the store for the gauges, and who may scrape.
pub struct Exporter {
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
    token_hash: Option<[u8; 32]>,
    /// Where `/metrics` is served: its own address, or the public port (then `token_hash` is set).
    pub listen: Option<std::net::SocketAddr>,
    refresh: Duration,
    /// `[churn] refit_every`, for the churn job's lag (`None`: refits are off).
    churn_every: Option<Duration>,
    started: Timestamp,
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

impl Exporter {
    /// Installs the recorder (once per process: later servers in the same process share it).
    pub fn start(
        settings: &MetricsSettings,
        store: Arc<dyn Store>,
        churn_every: Option<Duration>,
    ) -> Result<Arc<Exporter>, String> {
        let handle = install()?;
        Ok(Arc::new(Exporter {
            handle,
            store,
            token_hash: settings.token.as_deref().map(crate::secrets::sha256),
            listen: settings.listen,
            refresh: settings.refresh,
            churn_every,
            started: Timestamp::now(),
            refreshed: tokio::sync::Mutex::new(None),
        }))
    }

    /// Whether this `Authorization` header may scrape: the token when one is set; anyone on a listener of
    /// its own without one.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(expected) = &self.token_hash else {
            return self.listen.is_some();
        };
        let given = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        // Comparing digests: the time taken says nothing about the token.
        given.is_some_and(|token| crate::secrets::sha256(token) == *expected)
    }

    /// The Prometheus text: gauges refreshed if older than `refresh`, then every series.
    pub async fn render(&self) -> String {
        self.refresh_gauges().await;
        self.handle.render()
    }

    async fn refresh_gauges(&self) {
        // One refresh at a time; concurrent scrapes wait for it and then reuse its figures.
        let mut refreshed = self.refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < self.refresh) {
            return;
        }
        match tokio::time::timeout(REFRESH_TIMEOUT, self.read_gauges()).await {
            Ok(Ok(())) => *refreshed = Some(Instant::now()),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "metrics: cannot read the gauges");
                metrics::counter!("seen_metrics_refresh_errors_total").increment(1);
            }
            Err(_) => {
                tracing::warn!("metrics: reading the gauges timed out");
                metrics::counter!("seen_metrics_refresh_errors_total").increment(1);
            }
        }
        let pool = self.store.pool_usage();
        metrics::gauge!("seen_db_connections", "state" => "in_use").set(pool.in_use as f64);
        metrics::gauge!("seen_db_connections", "state" => "idle").set(pool.idle as f64);
        metrics::gauge!("seen_db_connections", "state" => "max").set(pool.max as f64);
        if let Some(bytes) = resident_bytes() {
            metrics::gauge!("seen_process_resident_memory_bytes").set(bytes as f64);
        }
    }

    async fn read_gauges(&self) -> Result<(), crate::store::StoreError> {
        let now = Timestamp::now();
        let counts = self.store.gauge_counts(now).await?;
        metrics::gauge!("seen_obligations", "state" => "open").set(counts.obligations_open as f64);
        metrics::gauge!("seen_obligations", "state" => "breached")
            .set(counts.obligations_breached as f64);
        metrics::gauge!("seen_outbox_due").set(counts.outbox_due as f64);
        let late = |due: Option<Timestamp>| {
            due.map_or(0.0, |due| {
                (now.as_millisecond() - due.as_millisecond()).max(0) as f64 / 1000.0
            })
        };
        let scheduler = late(self.store.next_unnoticed_breach().await?);
        metrics::gauge!("seen_job_lag_seconds", "job" => "scheduler").set(scheduler);
        let sender = late(self.store.next_outbox_at().await?);
        metrics::gauge!("seen_job_lag_seconds", "job" => "sender").set(sender);
        if let Some(every) = self.churn_every {
            let last = self
                .store
                .churn_model()
                .await?
                .map_or(self.started, |m| m.fitted_at);
            let due = last
                .checked_add(
                    jiff::SignedDuration::try_from(every).unwrap_or(jiff::SignedDuration::MAX),
                )
                .ok();
            metrics::gauge!("seen_job_lag_seconds", "job" => "churn").set(late(due));
        }
        Ok(())
    }
}

/// VmRSS of this process, from `/proc/self/status` (Linux; `None` elsewhere).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
