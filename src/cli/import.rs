use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use super::Cli;
use crate::domain::Event;
use crate::ingest::{self, Batch, Format};
use crate::service::{IngestCounts, Service};
use crate::store::Ingested;

/// Exit code when some rows were rejected (the rest were imported).
pub const EXIT_REJECTED: u8 = 2;
const SHOW_REJECTIONS: u64 = 100;
/// The lane of a customer: a stable hash, so a customer's events always take the same lane, in order.
fn lane_of(customer: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    customer.hash(&mut hasher);
    (hasher.finish() % lanes.max(1) as u64) as usize
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files to import (JSONL, or CSV by the .csv extension); - reads stdin.
    #[arg(required = true)]
    files: Vec<String>,
    /// Override the format detected from the file name.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Events per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch_size: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Keep every index up to date while importing. By default an import about twice as large as what is
    /// stored (or larger) sets aside the indexes only readers use and builds them at the end (faster; a server reading
    /// the same SQLite file meanwhile finds them missing).
    #[arg(long)]
    keep_indexes: bool,
}

/// About how many bytes one event's line takes in each format (a JSON line of the demo takes ~200, one of
/// CDNOW's ~40): a file's size over this estimates its events.
fn bytes_per_event(format: Format) -> u64 {
    match format {
        Format::Jsonl => 160,
        Format::Csv => 64,
        Format::Cdnow => 32,
    }
}

#[derive(Debug, Default)]
pub struct ImportTotals {
    pub counts: IngestCounts,
    pub rejected: u64,
}

pub async fn run(cli: &Cli, args: &ImportArgs) -> Result<ExitCode> {
    let service = super::open(cli, "./seen.db").await?;
    let started = Instant::now();
    let mut totals = ImportTotals::default();
    let deferred = !args.keep_indexes
        && service
            .begin_bulk(expected_events(&args.files, args.format))
            .await?;
    let mut imported = Ok(());
    for file in &args.files {
        let format = args.format.unwrap_or_else(|| Format::detect(file));
        imported = import_file(
            &service,
            file,
            format,
            args.batch_size.max(1),
            args.quiet,
            &mut totals,
        )
        .await;
        if imported.is_err() {
            break;
        }
    }
    if deferred {
        let indexing = Instant::now();
        let built = service
            .end_bulk()
            .await
            .context("building the indexes the import set aside")?;
        if !args.quiet {
            eprintln!(
                "built {built} indexes in {:.2} s",
                indexing.elapsed().as_secs_f64()
            );
        }
    }
    imported?;
    let elapsed = started.elapsed().as_secs_f64();
    let total = totals.counts.accepted + totals.counts.duplicates;
    eprintln!(
        "imported {} events ({} duplicates, {} rejected) in {:.2} s ({:.0} events/s)",
        totals.counts.accepted,
        totals.counts.duplicates,
        totals.rejected,
        elapsed,
        total as f64 / elapsed.max(1e-9)
    );
    Ok(if totals.rejected > 0 {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// About how many events `files` hold, from their sizes; `None` when one is stdin or unreadable.
fn expected_events(files: &[String], format: Option<Format>) -> Option<u64> {
    files.iter().try_fold(0u64, |sum, file| {
        let len = std::fs::metadata(file).ok().filter(|m| m.is_file())?.len();
        let format = format.unwrap_or_else(|| Format::detect(file));
        Some(sum + len / bytes_per_event(format))
    })
}

pub async fn import_file(
    service: &Service,
    file: &str,
    format: Format,
    batch_size: usize,
    quiet: bool,
    totals: &mut ImportTotals,
) -> Result<()> {
    let (source, len) = ingest::open_source(file)?;
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        }
    };
    progress.set_message(file.to_string());
    // Parse in a thread of its own while this task writes: the two overlap.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(4);
    let name = file.to_string();
    let visits = service.desk().visits.clone();
    let parser = std::thread::spawn(move || {
        ingest::parse_checked(
            &name,
            source,
            format,
            batch_size,
            Timestamp::now(),
            &|event| visits.check(event),
            |batch| sender.blocking_send(batch).is_ok(),
        )
    });
    // Lanes by customer: each lane batches and stores its own customers, in order, while the others do the
    // same. Lanes never touch the same customer, so on PostgreSQL they run in parallel without waiting on
    // each other's row locks (SQLite's group commit merges them).
    let (done_sender, mut done) =
        tokio::sync::mpsc::unbounded_channel::<Result<(Vec<Ingested>, u64)>>();
    let lane_count = service.parallel_writers().max(1);
    let mut lanes = Vec::with_capacity(lane_count);
    let mut workers = Vec::with_capacity(lane_count);
    for _ in 0..lane_count {
        let (lane, mut inbox) = tokio::sync::mpsc::channel::<(Vec<Event>, u64)>(2);
        let (service, done_sender, name) = (service.clone(), done_sender.clone(), file.to_string());
        lanes.push(lane);
        workers.push(tokio::spawn(async move {
            let mut buffer: Vec<Event> = Vec::with_capacity(batch_size);
            let mut bytes = 0;
            loop {
                let next = inbox.recv().await;
                let closed = next.is_none();
                if let Some((events, read)) = next {
                    buffer.extend(events);
                    bytes = read;
                }
                if buffer.len() >= batch_size || (closed && !buffer.is_empty()) {
                    let stored = service
                        .ingest_bulk(std::mem::take(&mut buffer))
                        .await
                        .with_context(|| format!("storing events from {name}"));
                    let failed = stored.is_err();
                    let _ = done_sender.send(stored.map(|results| (results, bytes)));
                    if failed {
                        return;
                    }
                }
                if closed {
                    return;
                }
            }
        }));
    }
    drop(done_sender);
    let finish = |done: Result<(Vec<Ingested>, u64)>, totals: &mut ImportTotals| -> Result<()> {
        let (results, bytes) = done?;
        for result in results {
            match result {
                Ingested::Accepted => totals.counts.accepted += 1,
                // An id already stored (for this or, as a conflict, another customer): nothing stored.
                Ingested::Duplicate | Ingested::Conflict => totals.counts.duplicates += 1,
            }
        }
        progress.set_position(progress.position().max(bytes));
        Ok(())
    };
    while let Some(batch) = receiver.recv().await {
        for rejection in &batch.rejections {
            totals.rejected += 1;
            if totals.rejected <= SHOW_REJECTIONS {
                progress.suspend(|| {
                    eprintln!("{file}:{}: rejected: {}", rejection.line, rejection.error)
                });
            }
        }
        if totals.rejected > SHOW_REJECTIONS
            && totals.rejected - batch.rejections.len() as u64 <= SHOW_REJECTIONS
        {
            progress.suspend(|| eprintln!("(further rejections are counted, not shown)"));
        }
        let mut split: Vec<Vec<Event>> = (0..lane_count).map(|_| Vec::new()).collect();
        if lane_count == 1 {
            split[0] = batch.events;
        } else {
            for event in batch.events {
                split[lane_of(&event.customer, lane_count)].push(event);
            }
        }
        for (lane, events) in lanes.iter().zip(split) {
            // A lane that stopped has reported why; the error surfaces below.
            let _ = lane.send((events, batch.bytes_read)).await;
        }
        while let Ok(stored) = done.try_recv() {
            finish(stored, totals)?;
        }
    }
    drop(lanes);
    while let Some(stored) = done.recv().await {
        finish(stored, totals)?;
    }
    for worker in workers {
        worker.await?;
    }
    progress.finish_and_clear();
    parser
        .join()
        .map_err(|_| anyhow::anyhow!("the parser thread for {file} panicked"))?
        .with_context(|| format!("reading {file}"))?;
    Ok(())
}
