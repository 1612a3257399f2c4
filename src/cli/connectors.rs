//! `seen connectors`: what Seen listens to by itself (`[connectors]`). `replay` runs the current mapping of a
//! webhook connector over the deliveries it kept (`[connectors] keep_raw`), after a mapping fix.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::Cli;
use crate::connectors::hooks::{self, Hook};

#[derive(Debug, clap::Subcommand)]
pub enum ConnectorsCommand {
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
    let ConnectorsCommand::Replay(args) = command;
    let config = super::load_config(cli)?;
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
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
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
