//! `seen connectors`: the connectors in `seen.toml` (list), each one's state on the running server
//! (status), and a dry run that connects and prints what a connector would ingest, writing nothing (test).

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Cli;
use crate::connectors::imap;

#[derive(Debug, clap::Subcommand)]
pub enum ConnectorsCommand {
    /// The configured connectors: kind, name and where they read.
    List,
    /// Each connector's state as the running `seen serve` reports it on /healthz: connected, last
    /// event, last error, events brought today.
    Status {
        /// The running server (the address `seen serve` listens on).
        #[arg(long, env = "SEEN_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Connect and print what the connector would ingest from the latest mails, writing nothing.
    Test {
        name: String,
        /// How many of the latest mails per folder.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

pub async fn run(cli: &Cli, command: &ConnectorsCommand) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let connectors = &config.file.connectors;
    match command {
        ConnectorsCommand::List => {
            if connectors.names().is_empty() {
                println!("no connectors configured (see README, \"Connectors\")");
            }
            for c in &connectors.imap {
                println!(
                    "imap\t{}\t{}@{}:{} ({}), folders {:?} / sent {:?}",
                    c.name, c.username, c.host, c.port, c.tls, c.folders.inbox, c.folders.sent
                );
            }
            for c in &connectors.hooks {
                println!("hook\t{}\tPOST /hooks/{}/{}", c.name, c.source, c.name);
            }
            for c in &connectors.nats {
                println!(
                    "nats\t{}\t{} stream {} durable {}",
                    c.name, c.url, c.stream, c.durable
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectorsCommand::Status { url } => {
            let base = url.trim_end_matches('/').to_string();
            let health: serde_json::Value = reqwest::get(format!("{base}/healthz"))
                .await
                .with_context(|| format!("asking {base}/healthz (is `seen serve` running?)"))?
                .json()
                .await
                .context("reading /healthz")?;
            let Some(map) = health.get("connectors").and_then(|c| c.as_object()) else {
                println!("the server at {base} runs no connectors");
                return Ok(ExitCode::SUCCESS);
            };
            let mut failing = false;
            for (name, h) in map {
                let text = |key: &str| {
                    h.get(key)
                        .and_then(|v| v.as_str())
                        .unwrap_or("-")
                        .to_string()
                };
                let state = text("state");
                failing |= state == "retrying";
                println!(
                    "{name}\t{}\t{state}\tlast event {}\t{} today ({} ignored)\tlast error {} {}",
                    text("kind"),
                    text("last_event_at"),
                    h.get("events_today").and_then(|v| v.as_u64()).unwrap_or(0),
                    h.get("ignored_today").and_then(|v| v.as_u64()).unwrap_or(0),
                    text("last_error_at"),
                    text("last_error"),
                );
            }
            Ok(if failing {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ConnectorsCommand::Test { name, limit } => {
            let Some(c) = connectors.imap.iter().find(|c| &c.name == name) else {
                if connectors.names().iter().any(|(_, n)| n == name) {
                    anyhow::bail!(
                        "`seen connectors test` reads mailboxes; {name:?} is not an IMAP connector"
                    );
                }
                anyhow::bail!("no connector named {name:?} in the configuration");
            };
            let mailbox = imap::Mailbox::from_config(c).map_err(anyhow::Error::msg)?;
            for line in imap::dry_run(&mailbox, *limit).await? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
