//! `seen serve`: the API, the dashboard and the background jobs (`App::build`) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use super::Cli;
use crate::app::{App, Jobs};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the real address is printed).
    #[arg(long, env = "SEEN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let store = super::open_store(&cli.db_or("./seen.db"), &config).await?;
    serve(&config, store, args.listen, |_, _| ()).await
}

/// Serves the API and the dashboard, and runs the jobs, until a shutdown signal. `started` is told the
/// bound address.
pub async fn serve(
    config: &Config,
    store: Arc<dyn Store>,
    listen: SocketAddr,
    started: impl FnOnce(SocketAddr, &crate::service::Service),
) -> Result<ExitCode> {
    let app = App::build(config, store, listen, Jobs::ALL).await?;
    let address = app.address();
    let stop = shutdown_signal();
    // Tests and scripts read this line to find the port (and the metrics line after it, if any).
    println!("seen listening on http://{address}");
    if let Some(metrics_address) = app.metrics_address() {
        println!("seen metrics on http://{metrics_address}/metrics");
    }
    started(address, app.service());
    tracing::info!(%address, config = %config.origin, "serving");
    app.run_until_stopped(stop).await?;
    Ok(ExitCode::SUCCESS)
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
