use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::Notify;

use super::Cli;
use crate::http::{self, AppState};

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
        churn_settings,
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
    let state = AppState {
        service,
        server: Arc::new(config.file.server.clone()),
        ingested: wake,
        link_secret,
        surveys: config.surveys.clone(),
        dashboard: Arc::new(crate::web::Dashboard::new(
            config.directory.clone(),
            std::time::Duration::from_secs(config.file.server.figures_cache_secs),
            std::time::Duration::from_secs(config.file.server.queue_cache_secs),
        )),
    };
    state.dashboard.warm(state.service.clone());
    // Tests and scripts read this line to find the port.
    println!("seen listening on http://{address}");
    started(address);
    tracing::info!(%address, config = %config.origin, "serving");
    // With each connection's peer address: the dashboard's login throttle counts failures per address.
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    shutdown.notify_waiters();
    // A refit holds nothing that needs finishing (its scores are saved in one transaction).
    churn.abort();
    retention.abort();
    let _ = scheduler.await;
    if let Some(actor) = actor {
        let _ = actor.await;
    }
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
