//! The `seen` command line: one file per subcommand. Errors are `anyhow` here, with context.

mod audit;
mod backup;
mod churn;
mod config;
mod connectors;
mod demo;
mod explain;
mod forget;
mod import;
mod journeys;
mod keys;
mod obligations;
mod outbox;
mod output;
mod report;
mod retention;
mod serve;
mod surveys;
mod templates;
mod users;
mod visits;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jiff::Timestamp;

use crate::config::Config;
use crate::service::Service;

#[derive(Debug, Parser)]
#[command(
    name = "seen",
    version,
    about = "Seen: no customer of a business should ever go unseen"
)]
pub struct Cli {
    /// Database: a SQLite file path (default ./seen.db; `seen demo` uses ./seen-demo.db).
    #[arg(long, global = true, env = "SEEN_DATABASE_URL")]
    pub db: Option<String>,
    /// Configuration file (default ./seen.toml if present, else the built-in defaults).
    #[arg(long, global = true, env = "SEEN_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a believable demo business, run Seen on it, print who is invisible and why.
    Demo(demo::DemoArgs),
    /// Import events from JSONL or CSV files (or - for stdin).
    Import(import::ImportArgs),
    /// Invisible customers, with reasons, longest wait first.
    Report(report::ReportArgs),
    /// One customer's timeline: events, obligations, what was kept, missed, and why.
    Explain(explain::ExplainArgs),
    /// Every obligation with its status.
    Obligations(obligations::ObligationsArgs),
    /// Run the HTTP API, the breach scheduler and the actions (confirmations, reminders, alerts).
    Serve(serve::ServeArgs),
    /// Messages Seen sent, will send, or did not send — and why.
    Outbox(outbox::OutboxArgs),
    /// Survey metrics: CSAT, NPS, felt-invisible rate, response rate.
    Surveys(surveys::SurveysArgs),
    /// Journeys: the steps customers go through, where time goes, where they drop off or get stuck.
    #[command(subcommand)]
    Journeys(journeys::JourneysCommand),
    /// The front desk: waits, service times, walk-outs and estimates per visit type, location, staff or hour.
    #[command(subcommand)]
    Visits(visits::VisitsCommand),
    /// Customers who quietly stopped buying: fit the churn model, list who is at risk.
    #[command(subcommand)]
    Churn(churn::ChurnCommand),
    /// Message templates: list them, or preview one.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Dashboard accounts: add (agent, manager or admin), list, remove, change a role.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Mailboxes, webhooks and event buses Seen listens to: list, status, test, replay.
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// Print the effective configuration, or the built-in defaults.
    Config(config::ConfigArgs),
    /// Write a consistent copy of the SQLite database to FILE (safe while `seen serve` runs).
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup (checked first; never one in use).
    Restore(backup::RestoreArgs),
    /// Erase one customer (an erasure request); anonymous counts stay.
    Forget(forget::ForgetArgs),
    /// Customers by the month they joined, and the share still active each month since (cohorts), beside
    /// the churn model's P(alive); `seen retention run` applies `[retention]` now.
    #[command(args_conflicts_with_subcommands = true)]
    Retention(retention::RetentionArgs),
    /// The log of admin actions, newest first.
    Audit(audit::AuditArgs),
    /// Recompute every obligation from the stored events (after changing policies this happens by itself).
    Recompute,
    /// Create or upgrade the database schema (also done on every start, under a lock).
    Migrate,
}

impl Cli {
    pub fn db_or(&self, default: &str) -> String {
        self.db.clone().unwrap_or_else(|| default.to_string())
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Config(args) => config::run(&cli, args),
        Command::Demo(args) => demo::run(&cli, args).await,
        Command::Import(args) => import::run(&cli, args).await,
        Command::Report(args) => report::run(&cli, args).await,
        Command::Explain(args) => explain::run(&cli, args).await,
        Command::Obligations(args) => obligations::run(&cli, args).await,
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Outbox(args) => outbox::run(&cli, args).await,
        Command::Surveys(args) => surveys::run(&cli, args).await,
        Command::Churn(args) => churn::run(&cli, args).await,
        Command::Journeys(args) => journeys::run(&cli, args).await,
        Command::Visits(args) => visits::run(&cli, args).await,
        Command::Templates(args) => templates::run(&cli, args),
        Command::Keys(args) => keys::run(&cli, args).await,
        Command::Connectors(args) => connectors::run(&cli, args).await,
        Command::Users(args) => users::run(&cli, args).await,
        Command::Backup(args) => backup::backup(&cli, args).await,
        Command::Restore(args) => backup::restore(&cli, args).await,
        Command::Forget(args) => forget::run(&cli, args).await,
        Command::Retention(args) => retention::run(&cli, args).await,
        Command::Audit(args) => audit::run(&cli, args).await,
        Command::Migrate => {
            open(&cli, "./seen.db").await?;
            println!("the database schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Recompute => {
            let service = open(&cli, "./seen.db").await?;
            let n = service
                .store()
                .recompute_all()
                .await
                .context("recomputing obligations")?;
            println!("recomputed the obligations of {n} customers");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn load_config(cli: &Cli) -> Result<Config> {
    Config::load(cli.config.as_deref()).context("loading the configuration")
}

/// Opens the store and the service over it.
pub async fn open(cli: &Cli, default_db: &str) -> Result<Service> {
    let config = load_config(cli)?;
    open_with(&cli.db_or(default_db), &config).await
}

pub async fn open_with(db: &str, config: &Config) -> Result<Service> {
    let store = open_store(db, config).await?;
    Ok(Service::for_config(store, config))
}

/// Opens the store (creating or upgrading its schema) with `[storage]`'s options.
pub async fn open_store(db: &str, config: &Config) -> Result<Arc<dyn crate::store::Store>> {
    let options = config.file.storage.options().context("reading [storage]")?;
    crate::store::open(db, config.engine.clone(), &options)
        .await
        .with_context(|| format!("opening the database {}", crate::store::redact_url(db)))
}

/// `--as-of`: RFC 3339 with offset, or "now" (the default).
pub fn parse_as_of(text: &str) -> Result<Timestamp, String> {
    if text == "now" {
        return Ok(Timestamp::now());
    }
    crate::domain::event::parse_timestamp("--as-of", text).map_err(|e| e.reason)
}
