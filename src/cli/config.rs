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
    println!("# effective configuration (from {})", config.origin);
    print!(
        "{}",
        toml::to_string_pretty(&config.file).context("printing the configuration")?
    );
    Ok(ExitCode::SUCCESS)
}
