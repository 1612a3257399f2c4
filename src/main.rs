//! The `seen` binary: parse the CLI, set up logging (`SEEN_LOG`, `SEEN_LOG_FORMAT`), start tokio, print errors.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    seen::jobs::limit_malloc_arenas();
    let cli = seen::cli::Cli::parse();
    let json = match std::env::var("SEEN_LOG_FORMAT") {
        Ok(format) if format.eq_ignore_ascii_case("json") => true,
        Ok(format) if format.eq_ignore_ascii_case("text") || format.is_empty() => false,
        Ok(other) => {
            eprintln!("error: SEEN_LOG_FORMAT={other:?}: expected \"text\" or \"json\"");
            return ExitCode::FAILURE;
        }
        Err(_) => false,
    };
    let filter = EnvFilter::try_from_env("SEEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // One JSON object per line, with the fields of the current span (the request id, the API key).
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        // Colour only for a person at a terminal: piped or captured logs stay plain text.
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        logs.with_ansi(colour).init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            fail(json, &format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(seen::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            fail(json, &format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// The final error: a plain line for a person, or a JSON log line when logs are JSON.
fn fail(json: bool, message: &str) {
    if json {
        tracing::error!(error = message, "seen failed");
    } else {
        eprintln!("error: {message}");
    }
}
