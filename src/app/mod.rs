//! The app, assembled in one place: `App::build` binds the listeners, composes the edges' routers (the
//! API and the dashboard, each with its own state) under the layers every route shares, and prepares the
//! background jobs; `App::run_until_stopped` serves, runs the jobs, and on the stop signal stops the
//! server (in-flight requests finish) and then the jobs, and waits for them. `seen serve`,
//! `seen demo --serve` and the in-process test server all build the app here.
//!
//! `error` is the one error type the edges answer with; it imports no edge.

pub mod error;
mod jobs;
pub mod live;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{DefaultBodyLimit, Request};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use jobs::{JobRunner, Jobs};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::connectors::hooks::HooksState;
use crate::dashboard::{self, Dashboard, DashboardState};
use crate::jobs::actions::Actor;
use crate::jobs::churn::ChurnSettings;
use crate::jobs::retention::RetentionSettings;
use crate::jobs::Wake;
use crate::metrics::Exporter;
use crate::service::Service;
use crate::store::Store;
use error::ApiError;
use jobs::OnStop;

/// `/metrics`'s own listener, its address and what it serves.
type Metrics = Option<(TcpListener, SocketAddr, Arc<Exporter>)>;

/// A built app: listeners bound, routers composed, jobs ready to start.
pub struct App {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
    /// `/metrics` on a listener of its own, when `[metrics] listen` asks for one.
    metrics: Metrics,
    service: Service,
    wake: Wake,
    jobs: Jobs,
    runner: JobRunner,
    churn: ChurnSettings,
    retention: RetentionSettings,
    dashboard: Arc<Dashboard>,
    connectors: crate::connectors::Health,
    mailboxes: Vec<crate::connectors::imap::Mailbox>,
    nats: Vec<crate::config::connectors::NatsConfig>,
}

impl App {
    /// Builds the app over an opened store: binds `listen` (port 0 picks a free port), prepares the
    /// actions (when `[actions] enabled`), the metrics (when `[metrics] enabled`) and the `jobs` chosen.
    pub async fn build(
        config: &Config,
        store: Arc<dyn Store>,
        listen: SocketAddr,
        jobs: Jobs,
    ) -> Result<App> {
        let service = Service::for_config(store.clone(), config);
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let actor = if config.file.actions.enabled {
            let actor = Actor::new(store.clone(), config)
                .await
                .context("starting actions")?;
            Some(Arc::new(actor))
        } else {
            None
        };
        let churn = ChurnSettings::parse(&config.file.churn).context("reading [churn]")?;
        let retention =
            RetentionSettings::for_config(&config.file).context("reading [retention]")?;
        let exporter = match config.file.metrics.settings().map_err(anyhow::Error::msg)? {
            Some(settings) => Some(
                Exporter::start(
                    &settings,
                    store.clone(),
                    churn.refit_every.map(|every| every.unsigned_abs()),
                )
                .map_err(anyhow::Error::msg)?,
            ),
            None => None,
        };
        let wake = Wake::default();
        let connectors = crate::connectors::Health::default();
        for (kind, name) in config.file.connectors.names() {
            connectors.register(name, kind);
        }
        let mailboxes = config
            .file
            .connectors
            .imap
            .iter()
            .map(crate::connectors::imap::Mailbox::from_config)
            .collect::<Result<Vec<_>, String>>()
            .map_err(anyhow::Error::msg)?;
        let cohorts = Arc::new(crate::service::cohorts::CohortSettings {
            zone: config
                .file
                .business_timezone()
                .map_err(anyhow::Error::msg)?,
            purchase_types: config.file.churn.purchase_types.clone(),
        });
        let dashboard = Arc::new(
            Dashboard::new(
                config.directory.clone(),
                config
                    .file
                    .dashboard_settings(&config.engine)
                    .map_err(anyhow::Error::msg)?,
                Duration::from_secs(config.file.server.figures_cache_secs),
                Duration::from_secs(config.file.server.queue_cache_secs),
            )
            .with_cohorts(cohorts.clone())
            .with_public_url(&config.file.actions.public_url),
        );
        let api = ApiState {
            service: service.clone(),
            server: Arc::new(config.file.server.clone()),
            ingested: wake.clone(),
            link_secret: actor.as_ref().map(|a| Arc::<str>::from(a.secret.as_str())),
            surveys: config.surveys.clone(),
            connectors: connectors.clone(),
            pages: Arc::new(api::status::PageSettings {
                business: config.action_settings.business_name.clone(),
                zone: crate::words::zone_name(&config.action_settings.timezone),
                customer_page: config.customer_page.clone(),
            }),
            cohorts: cohorts.clone(),
        };
        let pages = DashboardState {
            service: service.clone(),
            server: api.server.clone(),
            ingested: wake.clone(),
            dashboard: dashboard.clone(),
            connectors: connectors.clone(),
        };
        let hooks = HooksState::new(config, service.clone(), connectors.clone(), wake.clone())
            .context("starting [[connectors.hooks]]")?;
        let router = compose(api, pages, hooks, config.file.server.max_body_bytes);
        let (router, metrics) = with_metrics(router, exporter).await?;
        let runner = JobRunner {
            store,
            actor,
            service: service.clone(),
        };
        Ok(App {
            listener,
            address,
            router,
            metrics,
            service,
            wake,
            jobs,
            runner,
            churn,
            retention,
            dashboard,
            connectors,
            mailboxes,
            nats: config.file.connectors.nats.clone(),
        })
    }

    /// Where the app listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` listens, when on a listener of its own.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, address, _)| *address)
    }

    /// The service the edges answer from.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Each connector's state on this node.
    pub fn connector_health(&self) -> &crate::connectors::Health {
        &self.connectors
    }

    /// Runs pending background work on demand (see `JobRunner`).
    pub fn job_runner(&self) -> JobRunner {
        self.runner.clone()
    }

    /// Serves and runs the jobs until `stop` completes; then stops accepting, lets in-flight requests
    /// finish, stops the jobs and waits for them.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let running = self.start_jobs();
        let metrics_stop = Arc::new(tokio::sync::Notify::new());
        let metrics = self.metrics.map(|(listener, _, exporter)| {
            let stop = metrics_stop.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, api::metrics::router(exporter))
                    .with_graceful_shutdown(async move { stop.notified().await })
                    .await;
                if let Err(err) = served {
                    tracing::warn!(error = %err, "metrics listener stopped");
                }
            })
        });
        // With each connection's peer address: the dashboard's login throttle counts failures per address.
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(stop)
            .await
            .context("serving HTTP");
        metrics_stop.notify_one();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        running.stop().await;
        served
    }

    fn start_jobs(&self) -> jobs::Running {
        let mut running = jobs::Running::default();
        let store = self.runner.store.clone();
        if self.jobs.scheduler {
            let (store, wake) = (store.clone(), self.wake.scheduler.clone());
            running.spawn("scheduler", OnStop::Finish, move |stop| {
                crate::jobs::scheduler::run(store, wake, stop)
            });
        }
        if let Some(actor) = self.runner.actor.clone().filter(|_| self.jobs.actions) {
            let wake = self.wake.actions.clone();
            running.spawn("actions", OnStop::Finish, move |stop| actor.run(wake, stop));
            let (service, wake) = (self.service.clone(), self.wake.actions.clone());
            running.spawn("front desk", OnStop::Finish, move |stop| {
                crate::jobs::visits::run(service, wake, stop)
            });
        }
        if self.jobs.churn {
            let (service, settings, wake) =
                (self.service.clone(), self.churn.clone(), self.wake.clone());
            running.spawn("churn", OnStop::Abandon, move |stop| {
                crate::jobs::churn::run(service, settings, wake, stop)
            });
        }
        if self.jobs.retention {
            let settings = self.retention;
            running.spawn("retention", OnStop::Abandon, move |stop| {
                crate::jobs::retention::run(store, settings, stop)
            });
        }
        if self.jobs.connectors {
            for mailbox in &self.mailboxes {
                let reader = crate::connectors::imap::Reader::new(
                    mailbox.clone(),
                    self.service.clone(),
                    self.connectors.clone(),
                    self.wake.clone(),
                );
                running.spawn("imap", OnStop::Finish, move |stop| reader.run(stop));
            }
            for config in &self.nats {
                let connector = crate::connectors::nats::NatsConnector::new(
                    config.clone(),
                    self.service.clone(),
                    self.wake.clone(),
                    self.connectors.clone(),
                );
                match connector {
                    Ok(connector) => {
                        running.spawn("nats", OnStop::Finish, move |stop| connector.run(stop))
                    }
                    Err(err) => {
                        self.connectors.failed(&config.name, "nats", &err);
                        tracing::error!(connector = %config.name, error = %err, "nats connector not started");
                    }
                }
            }
        }
        if self.jobs.warm_up {
            let (dashboard, service) = (self.dashboard.clone(), self.service.clone());
            running.spawn("warm-up", OnStop::Abandon, move |_| dashboard.warm(service));
        }
        running
    }
}

/// `/metrics` merged into the public router (behind its token, outside the shared layers as before),
/// or bound on a listener of its own.
async fn with_metrics(
    router: Router,
    exporter: Option<Arc<Exporter>>,
) -> Result<(Router, Metrics)> {
    let Some(exporter) = exporter else {
        return Ok((router, None));
    };
    let Some(listen) = exporter.listen else {
        return Ok((router.merge(api::metrics::router(exporter)), None));
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening for metrics on {listen}"))?;
    let address = listener
        .local_addr()
        .context("reading the metrics address")?;
    Ok((router, Some((listener, address, exporter))))
}

/// The API's, the dashboard's and the inbound webhooks' routers under the layers every route shares: request
/// ids, tracing, metrics, panics as 500s, the body limit, and JSON answers for unknown routes and methods.
fn compose(
    api: ApiState,
    dashboard: DashboardState,
    hooks: HooksState,
    max_body_bytes: usize,
) -> Router {
    Router::new()
        .merge(api::router(api))
        .merge(dashboard::router(dashboard))
        .merge(crate::connectors::hooks::router(hooks))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn(api::metrics::track))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            ))
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id, key = tracing::field::Empty)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `src/DIR`, with its text.
    fn sources(dir: &str) -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir),
            &mut out,
        );
        assert!(!out.is_empty(), "no sources under src/{dir}");
        out
    }

    /// Files of `dir` that mention any of `words`.
    fn mentions(dir: &str, words: &[&str]) -> Vec<String> {
        sources(dir)
            .into_iter()
            .filter(|(_, text)| words.iter().any(|w| text.contains(w)))
            .map(|(path, _)| path)
            .collect()
    }

    #[test]
    fn edges_do_not_know_each_other() {
        assert_eq!(
            mentions("api", &["crate::dashboard", "crate::cli"]),
            Vec::<String>::new()
        );
        assert_eq!(
            mentions("dashboard", &["crate::api", "crate::cli"]),
            Vec::<String>::new()
        );
        assert_eq!(
            mentions("cli", &["crate::api", "crate::dashboard"]),
            Vec::<String>::new()
        );
        assert_eq!(
            mentions(
                "connectors",
                &["crate::api", "crate::dashboard", "crate::cli"]
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn edges_ask_the_service() {
        for edge in ["api", "dashboard", "connectors"] {
            assert_eq!(
                mentions(edge, &[".store()", "dyn Store"]),
                Vec::<String>::new()
            );
        }
    }
}
