use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::Notify;

use super::Cli;
use crate::api::{self, AppState};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the real address is printed).
    #[arg(long, env = "SEEN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
    serve(&config, service, args.listen, |_| ()).await
}

/// Serves the API and the dashboard until a shutdown signal. `started` is told the bound address.
pub async fn serve(
    config: &crate::config::Config,
    service: crate::service::Service,
    listen: SocketAddr,
    started: impl FnOnce(SocketAddr),
) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let wake = crate::jobs::Wake::default();
    let shutdown = Arc::new(Notify::new());
    let scheduler = tokio::spawn(crate::jobs::scheduler::run(
        service.store.clone(),
        wake.scheduler.clone(),
        shutdown.clone(),
    ));
    let mut link_secret = None;
    let actor = if config.file.actions.enabled {
        let actor = Arc::new(
            crate::jobs::actions::Actor::new(service.store.clone(), config)
                .await
                .context("starting actions")?,
        );
        link_secret = Some(Arc::<str>::from(actor.secret.as_str()));
        Some(tokio::spawn(
            actor.run(wake.actions.clone(), shutdown.clone()),
        ))
    } else {
        None
    };
    let churn_settings =
        crate::jobs::churn::ChurnSettings::parse(&config.file.churn).context("reading [churn]")?;
    let churn = tokio::spawn(crate::jobs::churn::run(
        service.clone(),
        churn_settings.clone(),
        wake.clone(),
        shutdown.clone(),
    ));
    let retention = crate::jobs::retention::RetentionSettings::parse(&config.file.retention)
        .context("reading [retention]")?;
    let retention = tokio::spawn(crate::jobs::retention::run(
        service.store.clone(),
        retention,
        shutdown.clone(),
    ));
    let exporter = match config.file.metrics.settings().map_err(anyhow::Error::msg)? {
        Some(settings) => Some(
            crate::metrics::Exporter::start(
                &settings,
                service.store.clone(),
                churn_settings.refit_every.map(|every| every.unsigned_abs()),
            )
            .map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    let state = AppState {
        service,
        server: Arc::new(config.file.server.clone()),
        ingested: wake,
        link_secret,
        surveys: config.surveys.clone(),
        dashboard: Arc::new(crate::dashboard::Dashboard::new(
            config.directory.clone(),
            std::time::Duration::from_secs(config.file.server.figures_cache_secs),
            std::time::Duration::from_secs(config.file.server.queue_cache_secs),
        )),
    };
    state.dashboard.warm(state.service.clone());
    let (app, metrics_server) = with_metrics(api::router(state), exporter).await?;
    let stop = shutdown_signal();
    // Tests and scripts read this line to find the port (and the metrics line after it, if any).
    println!("seen listening on http://{address}");
    if let Some((metrics_address, _)) = &metrics_server {
        println!("seen metrics on http://{metrics_address}/metrics");
    }
    started(address);
    tracing::info!(%address, config = %config.origin, "serving");
    // With each connection's peer address: the dashboard's login throttle counts failures per address.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .context("serving HTTP")?;
    shutdown.notify_waiters();
    if let Some((_, server)) = metrics_server {
        server.abort();
    }
    // A refit holds nothing that needs finishing (its scores are saved in one transaction).
    churn.abort();
    retention.abort();
    let _ = scheduler.await;
    if let Some(actor) = actor {
        let _ = actor.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `/metrics` on the public router (behind its token), or on a listener of its own, served by a task.
async fn with_metrics(
    app: axum::Router,
    exporter: Option<Arc<crate::metrics::Exporter>>,
) -> Result<(
    axum::Router,
    Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
)> {
    let Some(exporter) = exporter else {
        return Ok((app, None));
    };
    let Some(listen) = exporter.listen else {
        return Ok((app.merge(api::metrics::router(exporter)), None));
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening for metrics on {listen}"))?;
    let address = listener
        .local_addr()
        .context("reading the metrics address")?;
    let server = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, api::metrics::router(exporter)).await {
            tracing::warn!(error = %err, "metrics listener stopped");
        }
    });
    Ok((app, Some((address, server))))
}

/// Waits for Ctrl-C or SIGTERM. The handlers are installed when this is called (before the address is
/// printed), so a signal sent as soon as the server says it listens still shuts it down gracefully.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = signals;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {}
                _ = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }
}
