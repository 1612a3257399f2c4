//! `seen audit`: the log of admin actions (users, API keys, erasures, backups and restores), newest first.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::output::{print_json, when, Format};
use super::Cli;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// How many of the latest entries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Who runs a CLI command, for the audit log: `cli:` and the operating-system user.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub async fn run(cli: &Cli, args: &AuditArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let entries = service
        .store()
        .audit_log(args.limit)
        .await
        .context("reading the audit log")?;
    match args.format {
        Format::Json => print_json(&entries)?,
        Format::Jsonl => {
            for entry in &entries {
                println!("{}", serde_json::to_string(entry)?);
            }
        }
        Format::Table => {
            for e in &entries {
                println!(
                    "{}  {:<28} {:<20} {} {}",
                    when(e.at),
                    e.actor,
                    e.action,
                    e.subject.as_deref().unwrap_or("-"),
                    e.detail.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
