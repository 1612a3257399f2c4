use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::Timestamp;

use super::output::{print_json, when};
use super::Cli;
use crate::domain::span::format_span;
use crate::domain::{Closure, Status};
use crate::store::{OutboxFilter, OutboxRow, OutboxStatus};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The customer's id.
    customer: String,
    #[arg(long, value_parser = super::parse_as_of, default_value = "now")]
    as_of: Timestamp,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(cli: &Cli, args: &ExplainArgs) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let service = super::open_with(&cli.db_or("./seen.db"), &config).await?;
    let Some(view) = service
        .customer(&args.customer, args.as_of)
        .await
        .context("reading the customer")?
    else {
        eprintln!("no customer {:?} in this database", args.customer);
        return Ok(ExitCode::from(1));
    };
    if args.json {
        print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let p = &view.profile;
    println!("Customer {}", p.id);
    for (label, value) in [
        ("name", &p.name),
        ("email", &p.email),
        ("phone", &p.phone),
        ("time zone", &p.timezone),
    ] {
        if let Some(value) = value {
            println!("  {label:<10} {value}");
        }
    }
    println!("  {:<10} {} events", "history", view.events.len());
    let broken: Vec<_> = view
        .obligations
        .iter()
        .filter(|o| o.status == Status::Breached && o.closed_at.is_none())
        .collect();
    println!();
    if view.invisible {
        println!(
            "As of {}: INVISIBLE — {} broken promise{} still open.",
            when(args.as_of),
            broken.len(),
            if broken.len() == 1 { "" } else { "s" }
        );
        for o in &broken {
            println!(
                "  {} {}: due {}, overdue {}, waiting {}{}",
                o.policy,
                o.reference.as_deref().unwrap_or("(no ref)"),
                o.due_text(when),
                format_span(args.as_of.duration_since(o.breach_at.unwrap_or(args.as_of))),
                format_span(args.as_of.duration_since(o.opened_at)),
                match o.nudges {
                    0 => String::new(),
                    n => format!(", chased us {n} more time{}", if n == 1 { "" } else { "s" }),
                }
            );
        }
    } else {
        println!(
            "As of {}: seen — no broken promise is open.",
            when(args.as_of)
        );
    }
    for told in view
        .events
        .iter()
        .filter(|e| e.kind == crate::service::status::FEELS_IGNORED)
    {
        let via = told.properties["via"].as_str().unwrap_or("a link");
        println!(
            "  URGENT: told us nobody got back to them on {} (via {}).",
            when(told.at),
            via.replace('_', " ")
        );
    }

    println!("\nTimeline");
    for event in &view.events {
        let mut notes = Vec::new();
        for o in &view.obligations {
            if o.trigger_event == event.id {
                notes.push(format!("opens {} (due {})", o.policy, o.due_text(when)));
            }
            if o.closed_by.as_deref() == Some(event.id.as_str()) {
                let how = match o.status {
                    Status::Kept => "keeps".to_string(),
                    Status::KeptLate => format!(
                        "keeps {} late:",
                        format_span(event.at.duration_since(o.breach_at.unwrap_or(event.at)))
                    ),
                    Status::Cancelled if o.closure == Some(Closure::Rescheduled) => {
                        "moves".to_string()
                    }
                    Status::Cancelled => "cancels".to_string(),
                    _ => "closes, too late,".to_string(),
                };
                notes.push(format!("{how} {}", o.policy));
            }
        }
        println!(
            "  {}  {:<18} {:<12} {:<8} {}",
            when(event.at),
            event.kind,
            event.reference.as_deref().unwrap_or("-"),
            event.channel.as_deref().unwrap_or("-"),
            notes.join("; ")
        );
    }

    println!("\nObligations");
    if view.obligations.is_empty() {
        println!("  none: no policy applies to this customer's events");
    }
    for o in &view.obligations {
        let due = o.due_text(when);
        let state = match (o.status, o.closed_at) {
            // The pause note says it all.
            (Status::Paused, _) => None,
            (Status::Open, _) => Some(format!("due {due}")),
            (Status::Breached, None) => Some(format!("due {due}, missed, still open")),
            (Status::Breached, Some(c)) => Some(format!(
                "due {due}, missed; closed {} by a {}",
                when(c),
                if o.closure == Some(Closure::Rescheduled) {
                    "reschedule"
                } else {
                    "cancel"
                }
            )),
            (_, Some(c)) if o.closure == Some(Closure::Rescheduled) => {
                Some(format!("due {due}, moved {} (a new one follows)", when(c)))
            }
            (_, Some(c)) => Some(format!("due {due}, closed {}", when(c))),
            (_, None) => Some(format!("due {due}")),
        };
        let detail = [state, o.pause_note(args.as_of, &config.engine)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "  {:<18} {:<12} {:<10} {}{}",
            o.policy,
            o.reference.as_deref().unwrap_or("-"),
            o.status.as_str(),
            detail,
            if o.nudges > 0 {
                format!(" ({} nudges)", o.nudges)
            } else {
                String::new()
            }
        );
    }
    let messages = service
        .store()
        .outbox(OutboxFilter {
            customer: Some(args.customer.clone()),
            limit: Some(10_000),
            ..OutboxFilter::default()
        })
        .await
        .context("reading the outbox")?;
    print_messages(&config, &view.obligations, messages);
    Ok(ExitCode::SUCCESS)
}

/// Why the customer did or did not get each message.
fn print_messages(
    config: &crate::config::Config,
    obligations: &[crate::service::ObligationView],
    mut messages: Vec<OutboxRow>,
) {
    println!("\nMessages");
    messages.sort_by_key(|m| (m.item.due_at, m.item.key.clone()));
    for m in &messages {
        let i = &m.item;
        let to = match (i.role.as_str(), &i.recipient_name) {
            ("customer", _) => "the customer".to_string(),
            (role, Some(name)) => format!("{name} ({role}, {})", i.recipient),
            (role, None) => format!("{role} ({})", i.recipient),
        };
        let what = match m.status {
            OutboxStatus::Sent => format!("sent at {}", m.sent_at.map(when).unwrap_or_default()),
            OutboxStatus::Pending if m.attempts == 0 && m.detail.is_none() => {
                format!("will be sent at {}", when(m.next_at))
            }
            OutboxStatus::Pending => format!("waiting until {}", when(m.next_at)),
            OutboxStatus::Sending => "being sent now".to_string(),
            other => format!("NOT sent: {}", other.as_str()),
        };
        println!(
            "  {}  {:<8} {:<20} {:<12} to {to}: {what}{}",
            when(i.due_at),
            i.action.as_str(),
            i.template,
            i.reference.as_deref().unwrap_or("-"),
            m.detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    // Obligations without any message: say why.
    for o in obligations {
        if messages
            .iter()
            .any(|m| m.item.trigger_event == o.trigger_event && m.item.policy == o.policy)
        {
            continue;
        }
        let actions = config.actions.for_policy(&o.policy);
        let why = if actions.is_empty() {
            "no message: the policy has no actions".to_string()
        } else if o.closed_at.is_some() {
            "no message: closed before any action was queued".to_string()
        } else if actions.iter().all(|a| !a.to_customer()) && config.file.people.is_empty() {
            "no message: its actions go to staff, and no [people] are configured".to_string()
        } else {
            "no message yet: actions are queued by `seen serve` (or were due before Seen saw this obligation)"
                .to_string()
        };
        println!(
            "  {:<18} {:<12} {why}",
            o.policy,
            o.reference.as_deref().unwrap_or("-")
        );
    }
}
