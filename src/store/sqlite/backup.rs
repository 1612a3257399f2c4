//! Backup and restore of the SQLite file: `VACUUM INTO` writes a consistent snapshot (one read transaction)
//! while `seen serve` keeps writing; a restore checks the file and refuses to replace a database in use.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::migrate::SCHEMA_VERSION;
use crate::store::StoreError;

/// What a backup file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    pub schema_version: i64,
    pub customers: u64,
    pub events: u64,
    pub obligations: u64,
    pub bytes: u64,
}

fn open_err(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Opens an existing file without creating it.
fn open_existing(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(open_err(path, "no such file"));
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open_err(path, e.to_string()))?;
    Ok(conn)
}

/// Checks that `path` is an intact Seen database of a schema version this binary knows, and counts it.
pub fn inspect(path: &Path) -> Result<BackupInfo, StoreError> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let not_seen = |reason: String| open_err(path, format!("not a Seen database: {reason}"));
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_seen(e.to_string()))?;
    if version < 1 {
        return Err(not_seen("no Seen schema version".into()));
    }
    if version > SCHEMA_VERSION {
        return Err(open_err(
            path,
            format!("schema version {version} is newer than this seen knows ({SCHEMA_VERSION}): use a newer seen"),
        ));
    }
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| not_seen(e.to_string()))?;
    if integrity != "ok" {
        return Err(open_err(path, format!("damaged: {integrity}")));
    }
    let count = |table: &str| -> Result<u64, StoreError> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(|e| not_seen(e.to_string()))
    };
    Ok(BackupInfo {
        schema_version: version,
        customers: count("customers")?,
        events: count("events")?,
        obligations: count("obligations")?,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    })
}

/// Writes a consistent copy of the database at `db` to `dest` (which must not exist yet) and checks it.
pub fn backup(db: &Path, dest: &Path) -> Result<BackupInfo, StoreError> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists: choose a new file name",
            dest.display()
        )));
    }
    let conn = open_existing(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = dest
        .to_str()
        .ok_or_else(|| open_err(dest, "the path is not UTF-8"))?;
    // One read transaction: the copy is the database as of one commit, whatever is written meanwhile.
    conn.execute("VACUUM INTO ?1", [target])?;
    drop(conn);
    inspect(dest)
}

/// Replaces the database at `target` with the backup at `backup` (checked first). Refuses if `target`
/// exists and `force` is false, and always if another process has it open.
pub fn restore(backup: &Path, target: &Path, force: bool) -> Result<BackupInfo, StoreError> {
    let info = inspect(backup)?;
    if target.exists() {
        if !force {
            return Err(StoreError::Conflict(format!(
                "{} exists: pass --force to replace it",
                target.display()
            )));
        }
        ensure_not_in_use(target)?;
    }
    let tmp = sibling(target, ".restoring");
    std::fs::copy(backup, &tmp).map_err(|e| open_err(&tmp, e.to_string()))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| open_err(&tmp, e.to_string()))?;
    for stale in [sibling(target, "-wal"), sibling(target, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(&stale, e.to_string())),
        }
    }
    std::fs::rename(&tmp, target).map_err(|e| open_err(target, e.to_string()))?;
    Ok(info)
}

/// A WAL database can only leave WAL mode when no other connection has it open: that is the test.
fn ensure_not_in_use(target: &Path) -> Result<(), StoreError> {
    let conn = open_existing(target, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    match conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    }) {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => Ok(()),
        Ok(_) | Err(rusqlite::Error::SqliteFailure(_, _)) => Err(StoreError::Conflict(format!(
            "{} is in use by another process (stop seen serve first)",
            target.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
