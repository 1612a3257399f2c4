//! PostgreSQL, for when one machine is not enough: several `seen` nodes share one database.
//!
//! Ingestion is set-based (a fixed number of statements per batch, arrays through `UNNEST`), and customers
//! touched by a batch are row-locked in id order, so nodes ingesting the same customer serialise while the
//! rest proceed in parallel (`ingest.rs`). The scheduler claims breaches with `FOR UPDATE SKIP LOCKED`.
//! This file opens the pool, runs the migrations and checks the policies' fingerprint; each store trait is
//! implemented in the file of its name.

use std::sync::Arc;

use sqlx::migrate::{Migration as SqlxMigration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::group::GroupCommit;
use super::migrations::Migration;
use super::{StoreError, StoreOptions};
use crate::domain::Engine;

mod accounts;
mod admin;
mod churn;
mod cohorts;
mod customers;
mod deliveries;
mod events;
pub mod gauges;
pub mod hot;
mod ingest;
mod insights;
mod mailboxes;
mod obligations;
mod outbox;
mod rows;
mod secrets;

/// Each brings the schema to its version from the one before (the layout of `store::migrations`).
pub(crate) const MIGRATIONS: [Migration; 13] = [
    Migration::new(1, "init", include_str!("migrations/0001_init.sql")),
    Migration::new(2, "outbox", include_str!("migrations/0002_outbox.sql")),
    Migration::new(
        3,
        "dashboard",
        include_str!("migrations/0003_dashboard.sql"),
    ),
    Migration::new(4, "churn", include_str!("migrations/0004_churn.sql")),
    Migration::new(5, "admin", include_str!("migrations/0005_admin.sql")),
    Migration::new(
        6,
        "mailboxes",
        include_str!("migrations/0006_mailboxes.sql"),
    ),
    Migration::new(
        7,
        "deliveries",
        include_str!("migrations/0007_deliveries.sql"),
    ),
    Migration::new(8, "pauses", include_str!("migrations/0008_pauses.sql")),
    Migration::new(
        9,
        "status_links",
        include_str!("migrations/0009_status_links.sql"),
    ),
    Migration::new(
        10,
        "customer_search",
        include_str!("migrations/0010_customer_search.sql"),
    ),
    Migration::new(11, "journeys", include_str!("migrations/0011_journeys.sql")),
    Migration::new(
        12,
        "journey_keys",
        include_str!("migrations/0012_journey_keys.sql"),
    ),
    Migration::new(13, "visits", include_str!("migrations/0013_visits.sql")),
];

/// `MIGRATIONS` as sqlx's migrator reads them (it records each applied one with its checksum).
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<SqlxMigration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|m| {
                    SqlxMigration::new(
                        m.version,
                        m.name.into(),
                        MigrationType::Simple,
                        m.sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Serialises policy-change recomputes across nodes starting together.
const RECOMPUTE_LOCK: i64 = 0x5EE4_0001;

/// A handle on the shared state (cheap to clone into the group-commit leader task).
pub struct PostgresStore {
    shared: Arc<PgShared>,
}

pub struct PgShared {
    pool: PgPool,
    engine: Arc<Engine>,
    retries: u32,
    retry_backoff: std::time::Duration,
    group: GroupCommit,
}

impl std::ops::Deref for PostgresStore {
    type Target = PgShared;
    fn deref(&self) -> &PgShared {
        &self.shared
    }
}

impl PostgresStore {
    pub async fn open(
        url: &str,
        engine: Arc<Engine>,
        options: &StoreOptions,
    ) -> Result<PostgresStore, StoreError> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = url
            .parse::<PgConnectOptions>()
            .map_err(|e| StoreError::Open {
                path: super::redact_url(url),
                reason: e.to_string(),
            })?
            .options([("statement_timeout", timeout_ms.as_str())])
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Open {
                path: super::redact_url(url),
                reason: e.to_string(),
            })?;
        let store = PostgresStore {
            shared: Arc::new(PgShared {
                pool,
                engine,
                retries: options.retries,
                retry_backoff: options.retry_backoff,
                group: GroupCommit::default(),
            }),
        };
        store.migrate().await?;
        store.check_fingerprint().await?;
        Ok(store)
    }
}

impl PgShared {
    /// Applies pending migrations under sqlx's advisory lock: nodes starting together never race.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = Migrator::new(Embedded)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    async fn check_fingerprint(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(RECOMPUTE_LOCK)
            .execute(&mut *conn)
            .await?;
        let result = async {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'fingerprint'")
                    .fetch_optional(&mut *conn)
                    .await?;
            if stored.as_deref() == Some(self.engine.fingerprint()) {
                return Ok(());
            }
            if let Some(old) = &stored {
                tracing::info!("policies changed since the last run: recomputing every obligation");
                let customers = self.recompute().await?;
                admin::insert_audit(
                    &mut conn,
                    &super::admin::policies_changed(old, self.engine.fingerprint(), customers),
                )
                .await?;
            }
            self.set_fingerprint().await
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RECOMPUTE_LOCK)
            .execute(&mut *conn)
            .await?;
        result
    }

    async fn set_fingerprint(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('fingerprint', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(self.engine.fingerprint())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
