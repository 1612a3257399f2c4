//! `seen surveys`: CSAT, NPS, felt-invisible rate and response rate, per group.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::print_json;
use super::Cli;
use crate::service::SurveyGroup;

#[derive(Debug, clap::Args)]
pub struct SurveysArgs {
    /// Group by this.
    #[arg(long, value_enum, default_value = "all")]
    by: SurveyGroup,
    /// Only surveys sent and answered since this time (RFC 3339).
    #[arg(long, value_parser = super::parse_as_of)]
    since: Option<Timestamp>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn percent(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}%"))
        .unwrap_or_else(|| "-".into())
}

pub async fn run(cli: &Cli, args: &SurveysArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let groups = service
        .survey_summary(args.by, args.since)
        .await
        .context("reading survey events")?;
    if args.json {
        print_json(&groups)?;
        return Ok(ExitCode::SUCCESS);
    }
    if groups.is_empty() {
        println!("no surveys sent or answered yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:>6} {:>8} {:>9} {:>7} {:>7} {:>14} {:>8} {:>8}",
        "GROUP",
        "SENT",
        "ANSWERED",
        "RESPONSE",
        "CSAT",
        "NPS",
        "FELT INVISIBLE",
        "UNHAPPY",
        "IGNORED"
    );
    for (group, s) in &groups {
        println!(
            "{:<24} {:>6} {:>8} {:>9} {:>7} {:>7} {:>14} {:>8} {:>8}",
            group,
            s.sent,
            s.answered,
            percent(s.response_rate),
            percent(s.csat),
            s.nps
                .map(|v| format!("{v:+.0}"))
                .unwrap_or_else(|| "-".into()),
            percent(s.felt_invisible_rate),
            s.unhappy,
            s.feels_ignored
        );
    }
    Ok(ExitCode::SUCCESS)
}
