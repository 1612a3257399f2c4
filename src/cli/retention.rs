//! `seen retention run`: apply `[retention]` (and `[connectors] keep_raw`) now (`seen serve` also does it
//! daily).

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::Cli;
use crate::jobs::retention::{run_once, RetentionSettings};

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Clear what is older than `[retention]` allows, now.
    Run,
}

pub async fn run(cli: &Cli, command: &RetentionCommand) -> Result<ExitCode> {
    let RetentionCommand::Run = command;
    let config = super::load_config(cli)?;
    let settings = RetentionSettings::for_config(&config.file).context("reading [retention]")?;
    if settings.is_off() {
        println!("[retention] keeps everything: nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
    let report = run_once(service.store().as_ref(), &settings, Timestamp::now())
        .await
        .context("applying retention")?;
    println!(
        "cleared the properties of {} events and the personal fields of {} finished messages; \
         removed {} kept webhook deliveries",
        report.events_cleared, report.messages_cleared, report.deliveries_pruned
    );
    Ok(ExitCode::SUCCESS)
}
