//! `seen users`: dashboard accounts.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::audit::cli_actor;
use super::Cli;
use crate::secrets::{hash_password, random_token, MIN_PASSWORD};
use crate::store::{NewAudit, Role};

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user. Prints a generated password unless one comes on stdin (--password-stdin).
    Add {
        email: String,
        #[arg(long, value_parser = parse_role, default_value = "agent")]
        role: Role,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Remove a user (their sessions end at once).
    Remove { email: String },
    /// Change a user's role (their sessions end: they log in again).
    Role {
        email: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "expected agent, manager or admin".to_string())
}

pub async fn run(cli: &Cli, command: &UsersCommand) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    match command {
        UsersCommand::Add {
            email,
            role,
            name,
            password_stdin,
        } => {
            let email = email.trim();
            if !email.contains('@') || email.len() > 254 {
                bail!("{email:?} is not an email address");
            }
            let (password, generated) = if *password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password")?;
                (text.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (random_token()[..20].to_string(), true)
            };
            if password.chars().count() < MIN_PASSWORD {
                bail!("the password must have at least {MIN_PASSWORD} characters");
            }
            let name = name
                .clone()
                .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
            let hash = hash_password(&password).context("hashing the password")?;
            let user = service
                .create_user(email, &name, *role, &hash)
                .await
                .context("adding the user")?;
            service
                .record_audit(
                    NewAudit::new(cli_actor(), "user.added", Some(user.email.clone()))
                        .with_detail(user.role.as_str()),
                )
                .await
                .context("recording the new user in the audit log")?;
            if generated {
                println!(
                    "added {} ({}); password: {password}",
                    user.email,
                    user.role.as_str()
                );
            } else {
                println!("added {} ({})", user.email, user.role.as_str());
            }
        }
        UsersCommand::Remove { email } => {
            let audit = NewAudit::new(cli_actor(), "user.removed", Some(email.to_lowercase()));
            if !service
                .remove_user(email, audit)
                .await
                .context("removing the user")?
            {
                eprintln!("no user {email:?}");
                return Ok(ExitCode::from(1));
            }
            println!("removed {email}");
        }
        UsersCommand::Role { email, role } => {
            let audit = NewAudit::new(cli_actor(), "user.role", Some(email.to_lowercase()))
                .with_detail(role.as_str());
            if !service
                .set_user_role(email, *role, audit)
                .await
                .context("changing the role")?
            {
                eprintln!("no user {email:?}");
                return Ok(ExitCode::from(1));
            }
            println!("{email} is now {}", role.as_str());
        }
        UsersCommand::List => {
            for u in service.users().await.context("listing users")? {
                println!("{:<32} {:<8} {}", u.email, u.role.as_str(), u.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
