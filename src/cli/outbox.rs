//! `seen outbox`: what Seen sent, will send, or did not send, and why.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::output::{print_json, when, Format};
use super::Cli;
use crate::store::{OutboxFilter, OutboxStatus};

#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// Only this customer's messages.
    #[arg(long)]
    customer: Option<String>,
    /// Only messages in this state: pending, sending, sent, skipped, suppressed, capped, failed, dead.
    #[arg(long, value_parser = parse_status)]
    status: Option<OutboxStatus>,
    /// At most this many.
    #[arg(long, default_value_t = 1_000)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn parse_status(text: &str) -> Result<OutboxStatus, String> {
    OutboxStatus::parse(text).ok_or_else(|| {
        format!(
            "expected one of {}",
            OutboxStatus::ALL.map(OutboxStatus::as_str).join(", ")
        )
    })
}

pub async fn run(cli: &Cli, args: &OutboxArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let rows = service
        .store()
        .outbox(OutboxFilter {
            customer: args.customer.clone(),
            status: args.status,
            after: None,
            limit: Some(args.limit),
        })
        .await
        .context("reading the outbox")?;
    match args.format {
        Format::Json => print_json(&rows)?,
        Format::Jsonl => {
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
        }
        Format::Table => {
            let counts = service.store().outbox_counts().await.context("counting")?;
            let summary: Vec<String> = counts
                .iter()
                .map(|(status, n)| format!("{n} {}", status.as_str()))
                .collect();
            println!(
                "Outbox: {}",
                if summary.is_empty() {
                    "empty".to_string()
                } else {
                    summary.join(", ")
                }
            );
            println!(
                "{:<17} {:<10} {:<12} {:<9} {:<20} {:<28} {:<10} DETAIL",
                "DUE", "CUSTOMER", "POLICY", "ACTION", "TEMPLATE", "TO", "STATUS"
            );
            for r in &rows {
                let i = &r.item;
                let to = if i.to_customer() {
                    format!("customer ({})", i.channel)
                } else {
                    i.recipient.clone()
                };
                let detail = match (r.status, r.sent_at) {
                    (OutboxStatus::Sent, Some(at)) => {
                        format!("at {}; {}", when(at), r.detail.as_deref().unwrap_or(""))
                    }
                    _ => r.detail.clone().unwrap_or_default(),
                };
                println!(
                    "{:<17} {:<10} {:<12} {:<9} {:<20} {:<28} {:<10} {}",
                    when(i.due_at).trim_end_matches(" UTC"),
                    i.customer,
                    i.policy,
                    format!(
                        "{}{}",
                        i.action.as_str(),
                        if i.step > 0 {
                            format!("#{}", i.step + 1)
                        } else {
                            String::new()
                        }
                    ),
                    i.template,
                    to,
                    r.status.as_str(),
                    detail
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
