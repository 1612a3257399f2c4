//! `seen retention`: customers by the month they joined (first purchase, first visit or first event of a
//! type) and the share still active in each later month, beside the churn model's mean P(alive).
//! `seen retention run`: apply `[retention]` (and `[connectors] keep_raw`) now (`seen serve` also does it
//! daily).

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::{print_json, Format};
use super::Cli;
use crate::jobs::retention::{run_once, RetentionSettings};
use crate::service::cohorts::{CohortSettings, Retention, RetentionQuery};

/// Bare `seen retention [flags]` shows cohorts; `seen retention run` takes no flags (`Command::Retention`
/// sets `args_conflicts_with_subcommands`).
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    #[command(subcommand)]
    command: Option<RetentionCommand>,
    #[command(flatten)]
    cohorts: CohortArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Clear what is older than `[retention]` allows, now.
    Run,
}

#[derive(Debug, clap::Args)]
pub struct CohortArgs {
    /// What puts a customer in a month's cohort: their first `purchase` ([churn] purchase_types), first
    /// `visit` (visit.arrived), or first event of this TYPE.
    #[arg(long, default_value = "purchase")]
    by: String,
    /// Cohorts from this month (2026-01, a day, or an RFC 3339 time; default: the last twelve months).
    #[arg(long)]
    from: Option<String>,
    /// Cohorts of the months starting before this (default: now).
    #[arg(long)]
    to: Option<String>,
    /// Event types that count as activity, comma-separated (default: every event but the ones the
    /// business sends or does to the customer: messages and surveys sent, order confirmations…).
    #[arg(long, value_name = "TYPE[,TYPE]")]
    active: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(cli: &Cli, args: &RetentionArgs) -> Result<ExitCode> {
    match &args.command {
        Some(RetentionCommand::Run) => apply(cli).await,
        None => cohorts(cli, &args.cohorts).await,
    }
}

async fn cohorts(cli: &Cli, args: &CohortArgs) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let settings = CohortSettings {
        zone: config
            .file
            .business_timezone()
            .map_err(anyhow::Error::msg)?,
        purchase_types: config.file.churn.purchase_types.clone(),
    };
    let now = Timestamp::now();
    let query = RetentionQuery::parse(
        &settings.zone,
        Some(&args.by),
        args.from.as_deref(),
        args.to.as_deref(),
        args.active.as_deref(),
        now,
    )
    .map_err(|e| anyhow::anyhow!("--{e}"))?;
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
    let report = service
        .retention(&settings, &query, now)
        .await
        .context("reading retention cohorts")?;
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Jsonl => {
            for cohort in &report.cohorts {
                println!("{}", serde_json::to_string(cohort)?);
            }
        }
        Format::Table => print_table(&report),
    }
    Ok(ExitCode::SUCCESS)
}

fn percent(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.0}%", s * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn print_table(report: &Retention) {
    println!(
        "cohorts: customers by the month of their first {} ({}), months in {}",
        report.by,
        report.joined_by.join(", "),
        report.timezone
    );
    match &report.active {
        Some(types) => println!("active: an event of {}", types.join(", ")),
        None => println!("active: any event except {}", report.not_active.join(", ")),
    }
    let longest = report.average.len();
    let mut head = format!("{:<8} {:>9} {:>8}", "COHORT", "CUSTOMERS", "P(ALIVE)");
    for k in 0..longest {
        head.push_str(&format!(" {:>5}", format!("M{k}")));
    }
    println!("{head}");
    let mut partial = false;
    for c in &report.cohorts {
        let mut line = format!(
            "{:<8} {:>9} {:>8}",
            c.month,
            c.customers,
            c.p_alive
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into())
        );
        for m in &c.months {
            let mark = if m.complete { "" } else { "*" };
            partial |= !m.complete && c.customers > 0;
            line.push_str(&format!(" {:>5}", format!("{}{mark}", percent(m.share))));
        }
        println!("{line}");
    }
    let mut all = format!(
        "{:<8} {:>9} {:>8}",
        "ALL",
        report.cohorts.iter().map(|c| c.customers).sum::<u64>(),
        ""
    );
    for a in &report.average {
        all.push_str(&format!(" {:>5}", percent(*a)));
    }
    println!("{all}");
    if partial {
        println!("* this month so far");
    }
    match report.churn_fitted_at {
        Some(at) => println!(
            "P(ALIVE): the churn model's mean probability that the cohort's scored buyers are still active (fit of {})",
            super::output::when(at)
        ),
        None => println!("P(ALIVE): no churn model yet (seen churn fit)"),
    }
}

async fn apply(cli: &Cli) -> Result<ExitCode> {
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
