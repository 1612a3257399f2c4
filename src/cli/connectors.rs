//! `seen connectors`: the connectors in `seen.toml` (list), each one's state on the running server
//! (status), a dry run that connects (or verifies) and prints what a connector would ingest, writing nothing
//! (test), and `replay`, which runs the current mapping of a webhook connector over the deliveries it kept
//! (`[connectors] keep_raw`), after a mapping fix.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::Cli;
use crate::connectors::hooks::{self, Hook};
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
    /// Check a connector and print what it would ingest, writing nothing: a mailbox's latest mails, a
    /// NATS consumer's next messages, or what a webhook delivery given with --body would become.
    Test {
        name: String,
        /// How many of the latest mails per folder (IMAP) or of the next messages (NATS).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Webhooks: a delivery's body as the provider sends it (a file; `-` reads stdin).
        #[arg(long)]
        body: Option<std::path::PathBuf>,
        /// Webhooks: a header the provider sends with it, `Name: value` (repeat for each; the signature
        /// header makes the test check the signature with the connector's secret).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
    },
    /// Run a webhook connector's current mapping again over its kept deliveries (idempotent: what was
    /// stored before is a duplicate).
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The connector's name (`[[connectors.hooks]] name`).
    pub name: String,
    /// Deliveries received at or after this time (RFC 3339, e.g. 2026-05-01T00:00:00Z).
    #[arg(long, value_parser = parse_since)]
    pub since: jiff::Timestamp,
}

fn parse_since(text: &str) -> Result<jiff::Timestamp, String> {
    crate::domain::event::parse_timestamp("--since", text).map_err(|e| e.reason)
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
        ConnectorsCommand::Test {
            name,
            limit,
            body,
            headers,
        } => {
            let lines = if let Some(c) = connectors.imap.iter().find(|c| &c.name == name) {
                let mailbox = imap::Mailbox::from_config(c).map_err(anyhow::Error::msg)?;
                imap::dry_run(&mailbox, *limit).await?
            } else if let Some(c) = connectors.nats.iter().find(|c| &c.name == name) {
                crate::connectors::nats::dry_run(c, *limit).await?
            } else if let Some(c) = connectors.hook(name) {
                test_hook(&config, c, body.as_deref(), headers)?
            } else {
                bail!("no connector named {name:?} in the configuration");
            };
            for line in lines {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectorsCommand::Replay(args) => replay(cli, &config, args).await,
    }
}

/// A webhook connector's dry run: its secret must be set (as `seen serve` needs it); the delivery, when
/// given, is verified and mapped.
fn test_hook(
    config: &crate::config::Config,
    c: &crate::config::connectors::HookConfig,
    body: Option<&std::path::Path>,
    header_args: &[String],
) -> Result<Vec<String>> {
    let env: hooks::Env = &|name: &str| std::env::var(name).ok();
    let hook =
        Hook::new(c, &config.file.actions.public_url, Some(env)).map_err(anyhow::Error::msg)?;
    let url = hooks::url_of(c, &config.file.actions.public_url);
    let mut headers = hooks::map::Headers::new();
    for arg in header_args {
        let Some((name, value)) = arg.split_once(':') else {
            bail!("--header {arg:?}: expected `Name: value`");
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let body = match body {
        None => return Ok(hooks::dry_run(&hook, &url, None)),
        Some(path) if path.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .context("reading stdin")?;
            bytes
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    };
    let incoming = hooks::map::Incoming {
        headers: &headers,
        body: &body,
        received_at: jiff::Timestamp::now(),
    };
    Ok(hooks::dry_run(&hook, &url, Some(&incoming)))
}

async fn replay(cli: &Cli, config: &crate::config::Config, args: &ReplayArgs) -> Result<ExitCode> {
    let Some(hook_config) = config.file.connectors.hook(&args.name) else {
        let known: Vec<&str> = config
            .file
            .connectors
            .hooks
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        bail!(
            "no webhook connector named {:?} in the configuration (known: {})",
            args.name,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    // Kept deliveries were verified when they arrived: the replay needs no secret.
    let hook = Hook::new(hook_config, &config.file.actions.public_url, None)
        .map_err(anyhow::Error::msg)?;
    let service = super::open_with(&cli.db_or("./seen.db"), config).await?;
    let report = hooks::replay(&service, &hook, args.since)
        .await
        .context("replaying kept deliveries")?;
    println!(
        "replayed {} deliveries of {:?}: {} events accepted, {} duplicates, {} conflicts, {} ignored, {} refused",
        report.deliveries,
        args.name,
        report.accepted,
        report.duplicates,
        report.conflicts,
        report.ignored,
        report.refused.len()
    );
    for (id, why) in &report.refused {
        eprintln!("refused {id}: {why}");
    }
    Ok(ExitCode::SUCCESS)
}
