//! `seen backup FILE` and `seen restore FILE`: a consistent copy of the SQLite database while `seen serve`
//! keeps writing, and putting one back. PostgreSQL has its own tools (`pg_dump`, `pg_restore`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::audit::cli_actor;
use super::Cli;
use crate::store::sqlite::backup::{self, BackupInfo};
use crate::store::NewAudit;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist yet).
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file written by `seen backup`.
    file: PathBuf,
    /// Replace an existing database (never one in use: stop `seen serve` first).
    #[arg(long)]
    force: bool,
}

const POSTGRES_ADVICE: &str = "seen backup and seen restore work on the SQLite file. For PostgreSQL use its own tools, e.g.\n  \
     pg_dump --format=custom --file=seen.dump \"$SEEN_DATABASE_URL\"\n  \
     pg_restore --clean --if-exists --no-owner --dbname=\"$SEEN_DATABASE_URL\" seen.dump\n\
     (pg_dump takes a consistent snapshot while seen serve keeps writing; see README, \"Backup and restore\").";

/// The SQLite file a `--db` value names, or `None` for PostgreSQL.
fn sqlite_path(db: &str) -> Option<PathBuf> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        return None;
    }
    Some(PathBuf::from(db.strip_prefix("sqlite://").unwrap_or(db)))
}

fn describe(info: &BackupInfo) -> String {
    format!(
        "schema {}, {} customers, {} events, {} obligations, {} bytes",
        info.schema_version, info.customers, info.events, info.obligations, info.bytes
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .context("the backup task failed")??)
}

pub async fn backup(cli: &Cli, args: &BackupArgs) -> Result<ExitCode> {
    let db = cli.db_or("./seen.db");
    let Some(path) = sqlite_path(&db) else {
        eprintln!("{POSTGRES_ADVICE}");
        return Ok(ExitCode::from(2));
    };
    if !path.is_file() {
        bail!("no database at {}", path.display());
    }
    // Opening brings the schema up to date first, so the copy is of the current version.
    let service = super::open(cli, "./seen.db").await?;
    let (source, dest) = (path.clone(), args.file.clone());
    let info = blocking(move || backup::backup(&source, &dest))
        .await
        .with_context(|| format!("backing up to {}", args.file.display()))?;
    service
        .store()
        .record_audit(
            NewAudit::new(cli_actor(), "backup", Some(args.file.display().to_string()))
                .with_detail(describe(&info)),
        )
        .await
        .context("recording the backup in the audit log")?;
    println!("backed up to {} ({})", args.file.display(), describe(&info));
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(cli: &Cli, args: &RestoreArgs) -> Result<ExitCode> {
    let db = cli.db_or("./seen.db");
    let Some(target) = sqlite_path(&db) else {
        eprintln!("{POSTGRES_ADVICE}");
        return Ok(ExitCode::from(2));
    };
    let (file, dest, force) = (args.file.clone(), target.clone(), args.force);
    let info = blocking(move || backup::restore(&file, &dest, force))
        .await
        .with_context(|| {
            format!(
                "restoring {} into {}",
                args.file.display(),
                target.display()
            )
        })?;
    // Opening upgrades an older schema and recomputes obligations if the policies changed since.
    let service = super::open(cli, "./seen.db").await?;
    service
        .store()
        .record_audit(
            NewAudit::new(
                cli_actor(),
                "restore",
                Some(args.file.display().to_string()),
            )
            .with_detail(describe(&info)),
        )
        .await
        .context("recording the restore in the audit log")?;
    println!(
        "restored {} into {} ({})",
        args.file.display(),
        target.display(),
        describe(&info)
    );
    Ok(ExitCode::SUCCESS)
}
