//! `seen templates`: list the message templates, or preview one rendered for an event.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Cli;
use crate::templates::{sample_context, Templates};

#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// The templates there are (built-in, and from `[actions] templates`).
    List,
    /// Render one template, for an event from a JSON file (default: a sample booking).
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The template's name, e.g. booking-confirmation.
    name: String,
    /// A JSON file with one event (as posted to /v1/events) to render the message for.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Show this action ("open", "due", "warn", "breach", "escalate").
    #[arg(long, default_value = "open")]
    action: String,
}

pub fn run(cli: &Cli, command: &TemplatesCommand) -> Result<ExitCode> {
    let config = super::load_config(cli)?;
    let dir = config
        .file
        .actions
        .templates
        .as_deref()
        .map(std::path::Path::new);
    let templates = Templates::load(dir).context("loading templates")?;
    match command {
        TemplatesCommand::List => {
            for name in templates.names() {
                println!("{name}");
            }
        }
        TemplatesCommand::Render(args) => {
            let mut context = sample_context();
            context.business.name = config.action_settings.business_name.clone();
            context.action = args.action.clone();
            if let Some(path) = &args.event {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let input = crate::domain::event::parse_event_json(text.trim())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let event = input
                    .validate(jiff::Timestamp::now(), &mut crate::ingest::new_event_id)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let zone = event
                    .profile
                    .timezone
                    .clone()
                    .or_else(|| {
                        config
                            .action_settings
                            .timezone
                            .iana_name()
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "UTC".into());
                context.customer.id = event.customer.clone();
                context.customer.name = event.profile.name.clone();
                context.customer.email = event.profile.email.clone();
                context.customer.phone = event.profile.phone.clone();
                context.customer.timezone = event.profile.timezone.clone();
                context.timezone = zone;
                context.event.id = event.id.clone();
                context.event.kind = event.kind.clone();
                context.event.at = event.at.to_string();
                context.event.channel = event.channel.clone();
                context.event.reference = event.reference.clone();
                context.event.properties = event.properties_value();
                context.obligation.reference = event.reference.clone();
                context.recipient.name = event.profile.name.clone();
                context.recipient.email = event.profile.email.clone();
            }
            let rendered = templates
                .render(&args.name, &context)
                .with_context(|| format!("rendering {}", args.name))?;
            println!("Subject: {}\n", rendered.subject);
            println!("{}", rendered.text.trim_end());
            if let Some(html) = rendered.html {
                println!("\n--- body.html ---\n{}", html.trim_end());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
