use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::{when, Format};
use super::Cli;
use crate::domain::Status;
use crate::store::ObligationFilter;

#[derive(Debug, clap::Args)]
pub struct ObligationsArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[arg(long, value_parser = super::parse_as_of, default_value = "now")]
    as_of: Timestamp,
    /// Only this status: open, kept, kept_late, cancelled, breached.
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    #[arg(long)]
    policy: Option<String>,
    #[arg(long)]
    customer: Option<String>,
}

fn parse_status(text: &str) -> Result<Status, String> {
    Status::parse(text)
        .ok_or_else(|| "expected open, kept, kept_late, cancelled or breached".to_string())
}

pub async fn run(cli: &Cli, args: &ObligationsArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let filter = ObligationFilter {
        policy: args.policy.clone(),
        customer: args.customer.clone(),
        ..Default::default()
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failure = None;
    let format = args.format;
    let mut all = Vec::new();
    service
        .for_each_obligation(filter, args.status, args.as_of, |o| {
            let written = match format {
                Format::Jsonl => serde_json::to_string(&o)
                    .map_err(std::io::Error::other)
                    .and_then(|line| writeln!(out, "{line}")),
                Format::Json => {
                    all.push(o);
                    Ok(())
                }
                Format::Table => writeln!(
                    out,
                    "{:<12} {:<18} {:<14} {:<10} opened {}  due {}  nudges {}{}",
                    o.customer,
                    o.policy,
                    o.reference.as_deref().unwrap_or("-"),
                    o.status.as_str(),
                    when(o.opened_at),
                    o.due_text(when),
                    o.nudges,
                    match (o.paused_since, o.closure) {
                        (Some(since), _) => format!("  paused since {}", when(since)),
                        (None, Some(crate::domain::Closure::Rescheduled)) => "  rescheduled".into(),
                        _ => String::new(),
                    }
                ),
            };
            // A closed pipe (e.g. `| head`) ends the listing quietly.
            match written {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })
        .await
        .context("listing obligations")?;
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
    }
    match failure {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to stdout")
        }
        _ => {
            let _ = out.flush();
            Ok(ExitCode::SUCCESS)
        }
    }
}
