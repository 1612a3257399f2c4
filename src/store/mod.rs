//! The storage seam; only this module knows SQL. `Store` is the sum of narrow traits, each saying one thing
//! (ingestion, events, customers, obligations, the outbox, accounts, secrets, insights, churn, admin,
//! gauges, kept webhook deliveries), implemented by `sqlite::SqliteStore` (the embedded default) and
//! `postgres::PostgresStore` (several nodes sharing one database). Everything above (service, jobs, edges,
//! CLI) holds an `Arc<dyn Store>`. What is not I/O is written once above the backends: the ingestion fold
//! and obligation diff (`fold`), group commit (`group`), the migration list's shape (`migrations`), the hot
//! statements' index guard (`hot`).

pub mod accounts;
pub mod admin;
pub mod churn;
pub mod cohorts;
pub mod customers;
pub mod deliveries;
pub mod events;
pub(crate) mod fold;
pub mod gauges;
pub(crate) mod group;
pub mod hot;
pub mod ingestion;
pub mod insights;
pub mod mailboxes;
pub(crate) mod migrations;
pub mod obligations;
pub mod outbox;
pub mod postgres;
pub mod secrets;
pub mod sqlite;

use std::sync::Arc;

use jiff::Timestamp;

use crate::domain::Engine;

pub use accounts::{Accounts, Role, Session, User, WorkEntry};
pub use admin::{Admin, AuditEntry, ForgetReport, NewAudit, RetentionCutoffs, RetentionReport};
pub use churn::{Churn, ChurnScore, StoredChurnModel};
pub use cohorts::{Activity, CohortScan, Cohorts};
pub use customers::{
    CustomerHit, CustomerRecord, CustomerSearch, CustomerSearchResult, Customers, HistoryPage,
};
pub use deliveries::{Deliveries, Delivery, Link};
pub use events::Events;
pub use gauges::{GaugeCounts, Gauges, PoolUsage, StoreCounts};
pub use ingestion::{Ingested, Ingestion};
pub use insights::{Attribution, BucketCustomers, Insights, PromiseCounts, UnseenSpan};
pub use mailboxes::{MailCursor, MailThread, Mailboxes};
pub use obligations::{ObligationFilter, Obligations};
pub use outbox::{
    Outbox, OutboxFilter, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, Suppression,
};
pub use secrets::{ApiKey, LinkKey, Secrets};

/// 256 random bits as hex: a secret for signing links.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A short stable digest of a text (hex, 128 bits): message ids, recorded-event ids.
pub fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("cannot open the database at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("background task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Conflict(String),
    /// Another waiter's copy of an error that made storage unavailable (see `is_unavailable`).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The database is busy, down or restarting: nothing was committed, and the same call may succeed
    /// shortly (the API answers 503 with Retry-After; PostgreSQL ingestion retries by itself first).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                )
            }
            StoreError::Postgres(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_) => true,
                // Connection exceptions, admin shutdown / crash / cannot connect now, too many connections,
                // serialization failure, deadlock.
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "53300"
                        || code == "40001"
                        || code == "40P01"
                }),
                _ => false,
            },
            _ => false,
        }
    }

    /// Storage cannot take writes now but may shortly: busy, down, restarting, its disk full or failing
    /// (SQLite `SQLITE_FULL`/`SQLITE_IOERR`, PostgreSQL class 53 `insufficient_resources` such as `53100
    /// disk_full`), or no connection to be had. Nothing was committed; reads may still work. The API answers
    /// 503 with `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        if self.is_transient() {
            return true;
        }
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ),
            StoreError::Postgres(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|code| code.starts_with("53"))
            }
            _ => false,
        }
    }

    /// The same error for another waiter of a shared (group) transaction.
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
            }
            other if other.is_unavailable() => StoreError::Unavailable(other.to_string()),
            other => StoreError::Task(other.to_string()),
        }
    }
}

/// Everything a backend stores, as one object: the narrow traits together. Callers hold `Arc<dyn Store>`
/// and call any of their methods; a backend implements each trait and gets this one for free.
pub trait Store:
    Ingestion
    + Events
    + Customers
    + Obligations
    + Outbox
    + Accounts
    + Secrets
    + Insights
    + Churn
    + Cohorts
    + Admin
    + Gauges
    + Mailboxes
    + Deliveries
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Ingestion
        + Events
        + Customers
        + Obligations
        + Outbox
        + Accounts
        + Secrets
        + Insights
        + Churn
        + Cohorts
        + Admin
        + Gauges
        + Mailboxes
        + Deliveries
        + Send
        + Sync
        + 'static
{
}

/// How to open a store (from `[storage]` in the configuration).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// SQLite: fsync every commit (survives power loss, not only a killed process).
    pub synchronous_full: bool,
    /// PostgreSQL: connections per node.
    pub pool_size: u32,
    /// PostgreSQL: a statement running longer is cancelled.
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL: how long a request waits for a connection before answering 503.
    pub acquire_timeout: std::time::Duration,
    /// PostgreSQL: how often a batch that failed transiently is retried before the error is returned.
    pub retries: u32,
    /// PostgreSQL: the first retry's delay; each further one doubles it (with jitter).
    pub retry_backoff: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous_full: false,
            pool_size: 10,
            statement_timeout: std::time::Duration::from_secs(30),
            acquire_timeout: std::time::Duration::from_secs(5),
            retries: 3,
            retry_backoff: std::time::Duration::from_millis(50),
        }
    }
}

/// Opens the store a `--db` value names: `postgres://…`, a file path, or `sqlite://PATH`. Migrations run on
/// open (under a lock on PostgreSQL, so nodes starting together never race).
pub async fn open(
    url: &str,
    engine: Arc<Engine>,
    options: &StoreOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PostgresStore::open(url, engine, options).await?;
        return Ok(Arc::new(store));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let store = sqlite::SqliteStore::open(path, engine, options.synchronous_full).await?;
    Ok(Arc::new(store))
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(db: &str) -> String {
    let Some(scheme) = db.find("://").map(|i| i + 3) else {
        return db.to_string();
    };
    match (
        db.rfind('@'),
        db[scheme..].find(':').map(|i| i + scheme + 1),
    ) {
        (Some(at), Some(colon)) if colon < at => format!("{}***{}", &db[..colon], &db[at..]),
        _ => db.to_string(),
    }
}

/// Nanoseconds since the epoch; events are validated to 1970-2200, far-future deadlines saturate.
pub(crate) fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t.as_nanosecond() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A span in nanoseconds (an obligation's paused time), saturating.
pub(crate) fn duration_nanos(d: jiff::SignedDuration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(if d.is_negative() { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_nanos(n: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(n)).unwrap_or(Timestamp::MAX)
}

/// An event's profile fields as stored JSON (`None` when it carries none).
pub(crate) fn profile_json(p: &crate::domain::ProfileUpdate) -> Option<String> {
    if p.is_empty() {
        return None;
    }
    let mut map = serde_json::Map::new();
    for (key, value) in [
        ("email", &p.email),
        ("name", &p.name),
        ("phone", &p.phone),
        ("timezone", &p.timezone),
    ] {
        if let Some(v) = value {
            map.insert(key.to_string(), serde_json::Value::String(v.clone()));
        }
    }
    Some(serde_json::Value::Object(map).to_string())
}

pub(crate) fn parse_profile(text: Option<String>) -> crate::domain::ProfileUpdate {
    let Some(map) = text
        .and_then(|t| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&t).ok())
    else {
        return crate::domain::ProfileUpdate::default();
    };
    let get = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
    crate::domain::ProfileUpdate {
        email: get("email"),
        name: get("name"),
        phone: get("phone"),
        timezone: get("timezone"),
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    fn sqlite(code: std::os::raw::c_int) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn a_full_or_failing_disk_and_a_busy_database_are_unavailable() {
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_IOERR_WRITE,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            assert!(sqlite(code).is_unavailable(), "{code}");
            assert!(sqlite(code).duplicate().is_unavailable(), "{code}");
        }
        assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).is_unavailable());
        assert!(!sqlite(rusqlite::ffi::SQLITE_FULL).is_transient());
        assert!(StoreError::Postgres(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Postgres(sqlx::Error::PoolTimedOut)
            .duplicate()
            .is_unavailable());
        assert!(!StoreError::Corrupt {
            table: "events",
            reason: "x".into()
        }
        .is_unavailable());
    }
}
