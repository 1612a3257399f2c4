//! The storage seam. Only this module knows SQL. `Store` is implemented by `sqlite::SqliteStore` (the
//! embedded default); everything above it (CLI, HTTP, scheduler) speaks to `dyn Store`.

pub mod accounts;
pub mod admin;
pub mod churn;
pub mod gauges;
pub(crate) mod group;
pub mod hot;
pub mod insights;
pub mod outbox;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::domain::{Engine, Event, Obligation};

pub use accounts::{Accounts, Role, Session, User, WorkEntry};
pub use admin::{Admin, AuditEntry, ForgetReport, NewAudit, RetentionCutoffs, RetentionReport};
pub use churn::{Churn, ChurnScore, StoredChurnModel};
pub use gauges::{GaugeCounts, Gauges, PoolUsage};
pub use insights::{Attribution, BucketCustomers, Insights, PromiseCounts, UnseenSpan};
pub use outbox::{
    Outbox, OutboxFilter, OutboxItem, OutboxRow, OutboxStatus, OutboxUpdate, Suppression,
};

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

/// What happened to one event of an ingested batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Accepted,
    /// The id is already stored for this customer (a retry): nothing changed.
    Duplicate,
    /// The id is already stored for *another* customer: nothing was stored or created.
    Conflict,
}

/// A customer's profile and activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerRecord {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen: Option<Timestamp>,
    pub events: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ObligationFilter {
    pub policy: Option<String>,
    pub customer: Option<String>,
    /// Resume after this position (from a previous page); `None` starts at the beginning.
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKey {
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreCounts {
    pub customers: u64,
    pub events: u64,
    pub obligations: u64,
}

/// One page of histories for a replay: customers with their events (sorted), in a stable order.
pub struct HistoryPage {
    pub histories: Vec<(CustomerRecord, Vec<Event>)>,
    /// Pass as `after` for the next page; `None` when this was the last.
    pub next: Option<i64>,
}

#[async_trait]
pub trait Store:
    outbox::Outbox
    + accounts::Accounts
    + insights::Insights
    + churn::Churn
    + admin::Admin
    + gauges::Gauges
    + Send
    + Sync
    + 'static
{
    /// How many batches of *different* customers are worth storing at once (bulk import splits its input
    /// into this many lanes by customer). SQLite has one writer: 1.
    fn parallel_writers(&self) -> usize {
        1
    }

    /// Stores new events (a repeated id is a no-op reported as `Duplicate`, or `Conflict` when the stored
    /// event belongs to another customer) and brings the obligations of the customers they touch up to date,
    /// all in one transaction: when it returns, it is durable. A customer is created only with an event.
    async fn ingest(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError>;

    /// Like `ingest`, for bulk import: the caller already sends large batches of disjoint customers in
    /// parallel (see `parallel_writers`), so the batch goes straight to its own transaction instead of being
    /// merged with concurrent callers' (group commit would serialise the lanes again).
    async fn ingest_bulk(&self, events: Vec<Event>) -> Result<Vec<Ingested>, StoreError> {
        self.ingest(events).await
    }

    /// The latest `at` of any stored event: stored obligations answer any "as of" at or after it.
    async fn latest_event_at(&self) -> Result<Option<Timestamp>, StoreError>;

    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError>;
    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError>;
    /// The customer's events sorted by (at, id).
    async fn customer_events(&self, id: &str) -> Result<Vec<Event>, StoreError>;
    async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError>;

    /// Obligations not closed whose breach time is before `before`: the invisible customers' reasons.
    async fn unclosed_breached(&self, before: Timestamp) -> Result<Vec<Obligation>, StoreError>;
    /// Stored obligations, in a stable order, with the position to resume after.
    async fn obligations(
        &self,
        filter: ObligationFilter,
    ) -> Result<Vec<(i64, Obligation)>, StoreError>;
    /// Histories for replays as of an earlier time.
    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError>;

    /// Recomputes every obligation from the events (after a policy change). Returns how many customers.
    async fn recompute_all(&self) -> Result<u64, StoreError>;

    /// The earliest breach time of an unclosed obligation the scheduler has not yet noticed.
    async fn next_unnoticed_breach(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Marks every unclosed obligation that breached before `now` as noticed, returning them.
    async fn notice_breaches(&self, now: Timestamp) -> Result<Vec<Obligation>, StoreError>;

    async fn create_api_key(&self, name: &str, hash: &str) -> Result<(), StoreError>;
    /// The key's name if a live (not revoked) key has this hash.
    async fn find_api_key(&self, hash: &str) -> Result<Option<String>, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    async fn revoke_api_key(&self, name: &str) -> Result<bool, StoreError>;

    async fn counts(&self) -> Result<StoreCounts, StoreError>;
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

/// The positions of a batch's events sorted by (customer, at, id): each customer's events are contiguous and
/// in fold order, and customers come in the order both stores lock them in.
pub(crate) fn customer_order(events: &[Event]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&events[a], &events[b]);
        a.customer
            .cmp(&b.customer)
            .then_with(|| a.sort_key().cmp(&b.sort_key()))
    });
    order
}

/// Replays one customer's history (the oracle path), pairing each obligation with the `noticed_at` the
/// scheduler recorded for it under the same (policy, trigger event) — kept only while it stays unclosed.
pub(crate) fn replay_history(
    engine: &Engine,
    events: &[Event],
    noticed: impl Fn(&Obligation) -> Option<i64>,
) -> Vec<(Obligation, Option<i64>)> {
    let relevant: Vec<&Event> = events
        .iter()
        .filter(|e| engine.is_relevant(&e.kind))
        .collect();
    engine
        .evaluate(&relevant)
        .into_iter()
        .map(|obligation| {
            let noticed_at = noticed(&obligation).filter(|_| !obligation.is_closed());
            (obligation, noticed_at)
        })
        .collect()
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
