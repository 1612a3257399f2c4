//! `seen config`: the effective configuration (secrets hidden), or the commented built-in defaults.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Cli;
use crate::config::DEFAULT_CONFIG;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Print the built-in defaults (a commented seen.toml to start from).
    #[arg(long)]
    defaults: bool,
}

pub fn run(cli: &Cli, args: &ConfigArgs) -> Result<ExitCode> {
    if args.defaults {
        print!("{DEFAULT_CONFIG}");
        return Ok(ExitCode::SUCCESS);
    }
    let config = super::load_config(cli)?;
    let mut table = toml::Table::try_from(&config.file).context("printing the configuration")?;
    hide_secrets(&mut table);
    println!("# effective configuration (from {})", config.origin);
    println!("# secrets (passwords, tokens, keys) are shown as \"{HIDDEN}\"");
    print!(
        "{}",
        toml::to_string_pretty(&table).context("printing the configuration")?
    );
    Ok(ExitCode::SUCCESS)
}

const HIDDEN: &str = "********";

/// A key that names a secret: an SMTP password, a webhook's signing secret, the metrics token, an API key.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "api_key", "apikey"]
        .iter()
        .any(|word| key.contains(word))
}

/// Replaces every non-empty string (or array of strings) under a secret-naming key, at any depth.
fn hide_secrets(table: &mut toml::Table) {
    for (key, value) in table.iter_mut() {
        if is_secret(key) {
            hide_value(value);
        } else {
            hide_nested(value);
        }
    }
}

fn hide_value(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) if !s.is_empty() => *s = HIDDEN.to_string(),
        toml::Value::Array(items) => items.iter_mut().for_each(hide_value),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| hide_value(v)),
        _ => {}
    }
}

fn hide_nested(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => hide_secrets(table),
        toml::Value::Array(items) => items.iter_mut().for_each(hide_nested),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_at_any_depth_and_the_rest_is_kept() {
        let mut table: toml::Table = toml::from_str(
            r#"
            [channels.smtp]
            host = "mail.example.com"
            password = "hunter2"
            [[webhooks]]
            url = "https://example.com/hook"
            secret = "s3cret"
            [metrics]
            token = "abc"
            empty_token = ""
            "#,
        )
        .expect("toml");
        hide_secrets(&mut table);
        let text = toml::to_string(&table).expect("print");
        for secret in ["hunter2", "s3cret", "\"abc\""] {
            assert!(!text.contains(secret), "{secret} printed in {text}");
        }
        assert!(text.contains("mail.example.com"), "{text}");
        assert!(text.contains("https://example.com/hook"), "{text}");
        assert_eq!(table["channels"]["smtp"]["password"].as_str(), Some(HIDDEN));
        assert_eq!(table["metrics"]["empty_token"].as_str(), Some(""));
    }
}
