//! Shared output helpers for the CLI.

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
}

/// A report's formats (one object: no JSON lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

pub use crate::domain::span::format_when as when;

/// Seconds as a span ("1h 5m"), or "-" for none.
pub fn seconds(value: Option<i64>) -> String {
    value
        .map(|s| crate::domain::span::format_span(jiff::SignedDuration::from_secs(s)))
        .unwrap_or_else(|| "-".into())
}

/// Pretty JSON to stdout, streamed (no intermediate string or value tree).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
