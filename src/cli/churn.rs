//! `seen churn`: fit the buy-till-you-die model on the purchase events (and flag buyers who went quiet),
//! list the buyers most at risk, show the stored model.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::{print_json, when, Format};
use super::Cli;
use crate::jobs::churn::{parse_kind, parse_period, refit, ChurnSettings};

#[derive(Debug, clap::Subcommand)]
pub enum ChurnCommand {
    /// Fit the model on every purchase so far, store each buyer's score, and make buyers who went quiet
    /// invisible (unless [churn] flag_gone_quiet = false).
    Fit(FitArgs),
    /// Buyers most at risk of having quietly left, by value at risk (from the last fit).
    AtRisk(AtRiskArgs),
    /// The stored model: parameters, log-likelihood, settings.
    Model,
}

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// pareto (Pareto/NBD) or bgnbd (BG/NBD); default from [churn] model.
    #[arg(long)]
    model: Option<String>,
    /// The period unit: day, week or month; default from [churn] unit.
    #[arg(long)]
    unit: Option<String>,
    /// Fit as of this time (RFC 3339; default now): purchases after it are ignored.
    #[arg(long, value_parser = super::parse_as_of)]
    as_of: Option<Timestamp>,
    /// Store the scores only; record no gone-quiet events.
    #[arg(long)]
    no_flag: bool,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AtRiskArgs {
    /// How many buyers.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Every scored buyer, not only those flagged as gone quiet.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(cli: &Cli, command: &ChurnCommand) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
    match command {
        ChurnCommand::Fit(args) => {
            let mut settings = ChurnSettings::parse(&config.file.churn)?;
            if let Some(model) = &args.model {
                settings.kind = parse_kind(model)?;
            }
            if let Some(unit) = &args.unit {
                settings.period = parse_period(unit)?;
            }
            if args.no_flag {
                settings.flag_gone_quiet = false;
            }
            let outcome = refit(
                &service,
                &settings,
                args.as_of.unwrap_or_else(Timestamp::now),
            )
            .await
            .context("fitting the churn model")?;
            if args.json {
                print_json(&outcome)?;
                return Ok(ExitCode::SUCCESS);
            }
            let model = &outcome.model["model"];
            println!(
                "fitted {} on {} purchases of {} buyers in {:.2} s (fit {:.2} s)",
                model["kind"].as_str().unwrap_or("?"),
                outcome.purchases,
                outcome.customers,
                outcome.total_seconds,
                outcome.fit_seconds
            );
            println!("unit: {}", model["period"].as_str().unwrap_or("?"));
            if let Some(params) = model["params"].as_object() {
                let values = params
                    .iter()
                    .map(|(k, v)| format!("{k} = {:.4}", v.as_f64().unwrap_or(f64::NAN)))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!("parameters: {values}");
            }
            println!(
                "log-likelihood: {:.3}  (converged: {}, iterations: {})",
                model["log_likelihood"].as_f64().unwrap_or(f64::NAN),
                model["converged"],
                model["iterations"]
            );
            if let Some(spend) = outcome.model["spend"].as_object() {
                println!(
                    "spend (Gamma-Gamma): p = {:.4}, q = {:.4}, v = {:.4}",
                    spend.get("p").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
                    spend.get("q").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
                    spend.get("v").and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
                );
            } else {
                println!("spend: no Gamma-Gamma model (no repeat buyers with amounts); own mean spend used");
            }
            if outcome.usable {
                println!(
                    "gone quiet: {} buyers ({} newly flagged)",
                    outcome.gone_quiet, outcome.newly_flagged
                );
            } else {
                println!("gone quiet: nobody flagged; this fit is not used, because:");
                for reason in &outcome.unusable_because {
                    println!("  - {reason}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChurnCommand::AtRisk(args) => {
            let scores = service
                .store()
                .churn_scores(!args.all, args.top)
                .await
                .context("reading churn scores")?;
            match args.format {
                Format::Json => print_json(&scores)?,
                Format::Jsonl => {
                    for s in &scores {
                        println!("{}", serde_json::to_string(s)?);
                    }
                }
                Format::Table => {
                    if service.store().churn_model().await?.is_none() {
                        println!("no churn model yet: run `seen churn fit`");
                        return Ok(ExitCode::SUCCESS);
                    }
                    println!(
                        "{:<24} {:>8} {:>10} {:>12} {:>12} {:>10}  LAST PURCHASE",
                        "CUSTOMER", "P(ALIVE)", "PURCHASES", "VALUE/ORDER", "AT RISK", "REPEATS"
                    );
                    for s in &scores {
                        let money = |v: Option<f64>| {
                            v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
                        };
                        println!(
                            "{:<24} {:>8.3} {:>10.2} {:>12} {:>12} {:>10}  {}",
                            s.customer,
                            s.p_alive,
                            s.expected_purchases,
                            money(s.average_value),
                            money(s.value_at_risk),
                            s.frequency,
                            when(s.last_purchase_at)
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChurnCommand::Model => match service.store().churn_model().await? {
            Some(stored) => {
                print_json(&serde_json::json!({
                    "fitted_at": stored.fitted_at,
                    "model": stored.model,
                }))?;
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("no churn model yet: run `seen churn fit`");
                Ok(ExitCode::from(1))
            }
        },
    }
}
