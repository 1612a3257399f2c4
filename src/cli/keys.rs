//! `seen keys`: API keys (created, listed, revoked) and the keys of customers' status links (listed,
//! rotated, retired; a customer's links revoked; one printed). Each change is in the audit log.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Cli;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and only its hash is stored.
    Create { name: String },
    /// List API keys (names and dates, never the keys).
    List,
    /// Revoke an API key.
    Revoke { name: String },
    /// The keys that sign customers' status links (/c/{token}), and the links themselves.
    #[command(subcommand)]
    Links(LinksCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum LinksCommand {
    /// List the signing keys (ids and dates, never the secrets).
    List,
    /// Start signing with a new key; links signed by older live keys keep working.
    Rotate,
    /// Retire a key: every link it signed stops working (not the only live key).
    Retire { kid: i64 },
    /// Stop every status link of one customer issued until now (new messages carry new ones).
    Revoke { customer: String },
    /// Print a fresh status link for one customer (under `[actions] public_url`).
    Url { customer: String },
}

pub async fn run(cli: &Cli, command: &KeysCommand) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    match command {
        KeysCommand::Create { name } => {
            let key = service
                .create_api_key(name)
                .await
                .context("storing the key")?;
            audit(&service, "key.created", name).await?;
            println!("{key}");
            eprintln!("API key {name:?} created. It is shown only this once: store it now.");
        }
        KeysCommand::List => {
            for key in service.api_keys().await.context("listing keys")? {
                println!("{}\tcreated {}", key.name, key.created_at);
            }
        }
        KeysCommand::Revoke { name } => {
            if !service
                .revoke_api_key(name)
                .await
                .context("revoking the key")?
            {
                eprintln!("no API key named {name:?}");
                return Ok(ExitCode::from(1));
            }
            audit(&service, "key.revoked", name).await?;
            println!("revoked {name:?}");
        }
        KeysCommand::Links(command) => return links(cli, &service, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn links(
    cli: &Cli,
    service: &crate::service::Service,
    command: &LinksCommand,
) -> Result<ExitCode> {
    match command {
        LinksCommand::List => {
            for key in service.link_keys().await.context("listing link keys")? {
                let state = match key.retired_at {
                    Some(at) => format!("retired {at}"),
                    None => "live".to_string(),
                };
                println!("{}\tcreated {}\t{state}", key.kid, key.created_at);
            }
        }
        LinksCommand::Rotate => {
            let key = service.rotate_link_key().await.context("rotating")?;
            audit(service, "link_key.rotated", &key.kid.to_string()).await?;
            println!("signing status links with key {} from now on", key.kid);
        }
        LinksCommand::Retire { kid } => {
            if !service
                .retire_link_key(*kid)
                .await
                .context("retiring the key")?
            {
                eprintln!("no live link key {kid}");
                return Ok(ExitCode::from(1));
            }
            audit(service, "link_key.retired", &kid.to_string()).await?;
            println!("retired key {kid}: the links it signed no longer work");
        }
        LinksCommand::Revoke { customer } => {
            service
                .revoke_status_links(customer, jiff::Timestamp::now())
                .await
                .context("revoking")?;
            audit(service, "links.revoked", customer).await?;
            println!("revoked every status link of {customer:?} issued until now");
        }
        LinksCommand::Url { customer } => {
            let config = super::load_config(cli)?;
            let token = service
                .mint_status_token(
                    customer,
                    config.customer_page.expires,
                    jiff::Timestamp::now(),
                )
                .await
                .context("signing the link")?;
            println!("{}/c/{token}", config.action_settings.public_url);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(service: &crate::service::Service, action: &str, name: &str) -> Result<()> {
    service
        .record_audit(crate::store::NewAudit::new(
            super::audit::cli_actor(),
            action,
            Some(name.to_string()),
        ))
        .await
        .context("recording the key change in the audit log")
}
