//! `seen forget CUSTOMER`: an erasure request. The customer's events, profile, messages' personal fields,
//! survey comments, work-log notes and churn score go; anonymous counts stay (see README, "Erasure").

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::audit::cli_actor;
use super::output::print_json;
use super::Cli;
use crate::store::admin::{customer_digest, new_tombstone};
use crate::store::NewAudit;

#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// The customer id (as sent in events).
    customer: String,
    /// Print what changed as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cli: &Cli, args: &ForgetArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let tombstone = new_tombstone();
    let audit = NewAudit::new(
        cli_actor(),
        "customer.forgotten",
        Some(customer_digest(&args.customer)),
    )
    .with_detail(format!("now {tombstone}"));
    let report = service
        .forget_customer(&args.customer, &tombstone, audit)
        .await
        .context("forgetting the customer")?;
    if !report.touched_anything() {
        eprintln!("no customer {:?}: nothing to forget", args.customer);
        return Ok(ExitCode::from(1));
    }
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "forgot {:?}: {} events deleted, {} survey events, {} obligations, {} outbox rows and {} work entries kept anonymously as {}; {} open obligations closed, {} churn scores and {} suppressions deleted",
            args.customer,
            report.events_deleted,
            report.events_anonymised,
            report.obligations_anonymised,
            report.outbox_anonymised,
            report.work_anonymised,
            report.tombstone,
            report.obligations_closed,
            report.churn_scores_deleted,
            report.suppressions_deleted
        );
    }
    Ok(ExitCode::SUCCESS)
}
