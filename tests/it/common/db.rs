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

    /// The same database for a second app (another node), owning nothing: drop it before the original.
    pub fn alias(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            _dir: None,
            postgres: None,
            _turn: None,
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
    turns: &'static Turns,
    exclusive: bool,
}

/// Who holds the server now.
struct Turns {
    held: Mutex<Held>,
    released: tokio::sync::Notify,
}

struct Held {
    shared: usize,
    exclusive: bool,
}

static POSTGRES: Turns = Turns::new();

impl Turns {
    const fn new() -> Turns {
        Turns {
            held: Mutex::new(Held {
                shared: 0,
                exclusive: false,
            }),
            released: tokio::sync::Notify::const_new(),
        }
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // Nothing panics while holding it; recover anyway rather than fail every later test.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn take(&'static self, exclusive: bool) -> PostgresTurn {
        loop {
            // Registered before looking, so that a release between the look and the wait is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut held = self.held();
                if !held.exclusive && (!exclusive || held.shared == 0) {
                    if exclusive {
                        held.exclusive = true;
                    } else {
                        held.shared += 1;
                    }
                    return PostgresTurn {
                        turns: self,
                        exclusive,
                    };
                }
            }
            released.await;
        }
    }
}

impl PostgresTurn {
    /// Waits until no test holds PostgreSQL exclusively.
    pub async fn shared() -> PostgresTurn {
        POSTGRES.take(false).await
    }

    /// Waits until no other test uses PostgreSQL, and keeps them out until dropped.
    pub async fn exclusive() -> PostgresTurn {
        POSTGRES.take(true).await
    }
}

impl Drop for PostgresTurn {
    fn drop(&mut self) {
        {
            let mut held = self.turns.held();
            if self.exclusive {
                held.exclusive = false;
            } else {
                held.shared -= 1;
            }
        }
        self.turns.released.notify_waiters();
    }
}

/// The turns on a server of their own (not the real one's, which the other tests are using).
mod tests {
    use super::Turns;
    use std::time::Duration;

    /// Whether `turn` is granted within a moment.
    async fn granted<T>(turn: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout(Duration::from_millis(200), turn)
            .await
            .ok()
    }

    #[tokio::test]
    async fn exclusive_waits_for_every_shared_turn_and_keeps_new_ones_out() {
        static TURNS: Turns = Turns::new();
        let first = TURNS.take(false).await;
        let exclusive = tokio::spawn(TURNS.take(true));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !exclusive.is_finished(),
            "exclusive while a shared turn is held"
        );
        // A second shared turn while the exclusive one waits: let in (a test holding two databases).
        let second = granted(TURNS.take(false))
            .await
            .expect("second shared turn");
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !exclusive.is_finished(),
            "exclusive while the second shared turn is held"
        );
        drop(second);
        let exclusive = granted(exclusive).await.expect("exclusive turn").unwrap();
        assert!(
            granted(TURNS.take(false)).await.is_none(),
            "shared during exclusive"
        );
        assert!(
            granted(TURNS.take(true)).await.is_none(),
            "two exclusive turns"
        );
        drop(exclusive);
        assert!(granted(TURNS.take(false)).await.is_some());
    }
}
