//! `seen journeys`: the journey definitions, a journey's report per step (reached, conversion, time, which
//! slow steps lose customers, frustration, who is stuck), and its most frequent paths.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::{print_json, seconds, when, ReportFormat};
use super::Cli;
use crate::domain::journey::{Per, Report};
use crate::domain::span::format_span;
use crate::service::journeys::{PathsReport, Period};

#[derive(Debug, clap::Subcommand)]
pub enum JourneysCommand {
    /// The journeys defined ([[journeys]] in seen.toml, or the built-in ones) and their steps.
    List,
    /// One journey, step by step, over the journeys entered in [--from, --to).
    Report(ReportArgs),
    /// The most frequent sequences of event types the journeys took.
    Paths(PathsArgs),
}

#[derive(Debug, clap::Args)]
pub struct PeriodArgs {
    /// The journey's name (`seen journeys list`).
    name: String,
    /// Journeys entered at or after this time (RFC 3339; default: the first one).
    #[arg(long, value_parser = parse_time_from)]
    from: Option<Timestamp>,
    /// Journeys entered before this time (RFC 3339; default: --as-of).
    #[arg(long, value_parser = parse_time_to)]
    to: Option<Timestamp>,
    /// See the events up to this time (RFC 3339 or "now", the default).
    #[arg(long, value_parser = super::parse_as_of)]
    as_of: Option<Timestamp>,
}

impl PeriodArgs {
    fn period(&self) -> Period {
        Period {
            from: self.from,
            to: self.to,
            as_of: self.as_of.unwrap_or_else(Timestamp::now),
        }
    }
}

fn parse_time_from(text: &str) -> Result<Timestamp, String> {
    crate::domain::event::parse_timestamp("--from", text).map_err(|e| e.reason)
}

fn parse_time_to(text: &str) -> Result<Timestamp, String> {
    crate::domain::event::parse_timestamp("--to", text).map_err(|e| e.reason)
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    period: PeriodArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct PathsArgs {
    #[command(flatten)]
    period: PeriodArgs,
    /// How many paths.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub async fn run(cli: &Cli, command: &JourneysCommand) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    match command {
        JourneysCommand::List => {
            for j in service.journeys() {
                let per = match j.per {
                    Per::Ref => "ref",
                    Per::Customer => "customer",
                };
                println!("{} (per {per}, window {})", j.name, format_span(j.window));
                for (k, s) in j.steps.iter().enumerate() {
                    let lane = if s.customer_sees { "sees" } else { "backstage" };
                    println!(
                        "  {}. {:<16} {:<9} {}",
                        k + 1,
                        s.name,
                        lane,
                        s.events.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JourneysCommand::Report(args) => {
            let report = service
                .journey_report(&args.period.name, args.period.period())
                .await
                .with_context(|| format!("reporting journey {:?}", args.period.name))?;
            match args.format {
                ReportFormat::Json => print_json(&report)?,
                ReportFormat::Table => print_report(&report),
            }
            Ok(ExitCode::SUCCESS)
        }
        JourneysCommand::Paths(args) => {
            let paths = service
                .journey_paths(&args.period.name, args.period.period(), args.top)
                .await
                .with_context(|| format!("reading the paths of journey {:?}", args.period.name))?;
            match args.format {
                ReportFormat::Json => print_json(&paths)?,
                ReportFormat::Table => print_paths(&paths),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn share(value: Option<f64>) -> String {
    value
        .map(|v| format!("{:.1}%", 100.0 * v))
        .unwrap_or_else(|| "-".into())
}

fn print_report(r: &Report) {
    println!(
        "journey {}: {} entered in [{}, {}), {} completed (as of {})",
        r.journey,
        r.entered,
        when(r.from),
        when(r.to),
        r.completed,
        when(r.as_of)
    );
    println!(
        "{:<14} {:<9} {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7}",
        "STEP",
        "LANE",
        "REACHED",
        "CONV",
        "FROM1",
        "DROP",
        "P50",
        "P90",
        "SHARE",
        "SLOW→",
        "FAST→",
        "BREACHES",
        "NUDGES",
        "UNHAPPY"
    );
    for s in &r.steps {
        println!(
            "{:<14} {:<9} {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7}",
            s.name,
            if s.customer_sees { "sees" } else { "backstage" },
            s.reached,
            share(s.conversion_from_previous),
            share(s.conversion_from_entry),
            s.drop_off,
            seconds(s.median_seconds_from_previous),
            seconds(s.p90_seconds_from_previous),
            share(s.time_share),
            share(s.completion_if_slow),
            share(s.completion_if_fast),
            s.breaches,
            s.nudges,
            s.unhappy
        );
    }
    println!("stuck: {}", r.stuck.len());
    for s in r.stuck.iter().take(20) {
        println!(
            "  {} {} at {} since {}",
            s.customer,
            s.reference.as_deref().unwrap_or("-"),
            s.step,
            when(s.since)
        );
    }
    if r.stuck.len() > 20 {
        println!(
            "  … and {} more (--format json lists them all)",
            r.stuck.len() - 20
        );
    }
}

fn print_paths(p: &PathsReport) {
    println!(
        "journey {}: {} entered in [{}, {})",
        p.journey,
        p.entered,
        when(p.from),
        when(p.to)
    );
    for path in &p.paths {
        println!(
            "{:>8} {:>8} done  {}",
            path.journeys,
            path.completed,
            path.path.join(" → ")
        );
    }
}
