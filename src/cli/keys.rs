//! `seen keys`: API keys (created, listed, revoked; each change is in the audit log).

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
