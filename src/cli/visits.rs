//! `seen visits report`: the front desk's figures for a period — waits and service times (p50/p90), the
//! share over each type's target, walk-outs, no-shows, transfers, visits per hour, per staff member the
//! visits served and the time serving — grouped by visit type, location, staff member or hour, with the
//! quoted estimates' accuracy.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};

use super::output::{print_json, seconds, ReportFormat};
use super::Cli;
use crate::service::visits::{group_by, VisitsReport};

#[derive(Debug, clap::Subcommand)]
pub enum VisitsCommand {
    /// Figures of the visits queued in [--from, --to), by type, location, staff or hour.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// type (default), location, staff or hour.
    #[arg(long, default_value = "type")]
    by: String,
    /// Visits queued at or after this time (RFC 3339; default: 30 days before --to).
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// Visits queued before this time (RFC 3339; default: now).
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    crate::domain::event::parse_timestamp("time", text).map_err(|e| e.reason)
}

pub async fn run(cli: &Cli, command: &VisitsCommand) -> Result<ExitCode> {
    let VisitsCommand::Report(args) = command;
    let by = group_by(Some(&args.by)).map_err(anyhow::Error::msg)?;
    let service = super::open(cli, "./seen.db").await?;
    if !service.desk().visits.is_on() {
        anyhow::bail!("the front desk is off: add [[visit_types]] to seen.toml (see the README, \"On the premises\")");
    }
    let now = Timestamp::now();
    let to = args.to.unwrap_or(now);
    let from = args
        .from
        .unwrap_or_else(|| to - SignedDuration::from_hours(24 * 30));
    if from >= to {
        anyhow::bail!("--from must be before --to");
    }
    let report = service
        .visits_report(by, from, to, now)
        .await
        .context("reading the visits")?;
    match args.format {
        ReportFormat::Json => print_json(&report)?,
        ReportFormat::Table => print_table(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}%"))
        .unwrap_or_else(|| "-".into())
}

fn print_table(report: &VisitsReport) {
    println!(
        "Visits queued {} – {}, by {:?}",
        report.from, report.to, report.by
    );
    println!(
        "{:<18} {:>7} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>6} {:>7} {:>7} {:>9}",
        "group",
        "visits",
        "wait50",
        "wait90",
        "serv50",
        "serv90",
        "over",
        "walked",
        "no-show",
        "xfer",
        "per h",
        "served",
        "serving"
    );
    for f in report.rows.iter().chain(std::iter::once(&report.totals)) {
        println!(
            "{:<18} {:>7} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>6} {:>7} {:>7} {:>9}",
            f.group,
            f.visits,
            seconds(f.waits_p50_s),
            seconds(f.waits_p90_s),
            seconds(f.service_p50_s),
            seconds(f.service_p90_s),
            pct(f.over_target_share),
            format!("{} ({})", f.abandoned, pct(f.abandoned_share)),
            f.no_shows,
            f.transfers,
            f.visits_per_hour
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "-".into()),
            f.served,
            seconds(Some(f.serving_s)),
        );
    }
    let a = &report.accuracy;
    println!(
        "Estimates: {} quoted, median error {}, {} within the quoted range{}",
        a.quoted,
        seconds(a.median_abs_error_s),
        pct(a.within_share),
        if a.trusted {
            ""
        } else {
            " (not enough evidence to trust them yet)"
        }
    );
}
