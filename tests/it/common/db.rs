//! Fresh databases for tests (a SQLite file or a new PostgreSQL database), and the turns that keep the tests
//! which stop, restart or saturate the shared PostgreSQL server away from the tests that use it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{prerequisites, Backend};

/// The PostgreSQL server the tests use: `SEEN_TEST_POSTGRES_URL`, default the local one.
pub fn admin_url() -> String {
    std::env::var("SEEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database: a SQLite file in a temp dir, or a new PostgreSQL database (from
/// `SEEN_TEST_POSTGRES_URL`, default the local server) dropped when this is dropped. A PostgreSQL one holds a
/// shared turn on the server for as long as it lives (see [`PostgresTurn`]).
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
    // Declared last: released only after `drop` has dropped the database.
    _turn: Option<PostgresTurn>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => {
                let turn = PostgresTurn::shared().await;
                TestDb::postgres(Some(turn)).await
            }
        }
    }

    /// A PostgreSQL database for a test that holds the server exclusively (it already has its turn).
    pub async fn postgres_during(_exclusive: &PostgresTurn) -> TestDb {
        TestDb::postgres(None).await
    }

    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir
            .path()
            .join("seen.db")
            .to_str()
            .expect("utf-8 path")
            .to_string();
        TestDb {
            url,
            _dir: Some(dir),
            postgres: None,
            _turn: None,
        }
    }

    async fn postgres(turn: Option<PostgresTurn>) -> TestDb {
        use sqlx::Connection;
        let admin = admin_url();
        prerequisites::postgres(&admin).await;
        let name = format!("seen_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect to PostgreSQL (set SEEN_TEST_POSTGRES_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        TestDb {
            url: format!("{base}/{name}"),
            _dir: None,
            postgres: Some((admin, name)),
            _turn: turn,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop on a thread of its own: this may run inside a test's async runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A turn on the shared PostgreSQL server. All integration tests run in one process: a test that stops or
/// restarts the server (`pg_restart`) or loads it with three nodes (`cluster`) takes it exclusively, every
/// other PostgreSQL user shares it ([`TestDb`] takes a shared turn by itself). Shared turns are let in
/// whenever no exclusive one is held, even while one waits, so a test holding two databases at once cannot
/// deadlock against a waiting exclusive test; that one gets in at the first moment no PostgreSQL test runs.
pub struct PostgresTurn {
    exclusive: bool,
}

struct Turns {
    shared: usize,
    exclusive: bool,
}

static TURNS: Mutex<Turns> = Mutex::new(Turns {
    shared: 0,
    exclusive: false,
});
static TURN_RELEASED: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn turns() -> MutexGuard<'static, Turns> {
    // Nothing panics while holding it; recover anyway rather than fail every later test.
    TURNS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PostgresTurn {
    /// Waits until no test holds PostgreSQL exclusively.
    pub async fn shared() -> PostgresTurn {
        PostgresTurn::take(false).await
    }

    /// Waits until no other test uses PostgreSQL, and keeps them out until dropped.
    pub async fn exclusive() -> PostgresTurn {
        PostgresTurn::take(true).await
    }

    async fn take(exclusive: bool) -> PostgresTurn {
        loop {
            // Registered before looking, so that a release between the look and the wait is not missed.
            let released = TURN_RELEASED.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut turns = turns();
                let free = !turns.exclusive && (!exclusive || turns.shared == 0);
                if free {
                    if exclusive {
                        turns.exclusive = true;
                    } else {
                        turns.shared += 1;
                    }
                    return PostgresTurn { exclusive };
                }
            }
            released.await;
        }
    }
}

impl Drop for PostgresTurn {
    fn drop(&mut self) {
        {
            let mut turns = turns();
            if self.exclusive {
                turns.exclusive = false;
            } else {
                turns.shared -= 1;
            }
        }
        TURN_RELEASED.notify_waiters();
    }
}
