//! Shared test set-up: the app in-process on port 0 (`spawn_app`) over a fresh database of either backend,
//! the tests that run once per backend (`on_both_backends!`), event builders; and, in their own files, fresh
//! databases (`db`), the real `seen serve` as a child (`server`), dashboard logins (`dashboard`), SMTP and
//! webhook peers (`sinks`) and the machine's prerequisites (`prerequisites`).

pub mod dashboard;
pub mod db;
pub mod dovecot;
pub mod prerequisites;
pub mod server;
pub mod sinks;

pub use db::{admin_url, TestDb};
pub use server::Server;

use seen::app::{App, JobRunner, Jobs};
use seen::config::Config;
use seen::service::Service;
use serde_json::{json, Value};

pub struct TestApp {
    pub address: String,
    pub key: String,
    pub client: reqwest::Client,
    pub service: Service,
    jobs: JobRunner,
    pub db: TestDb,
    /// Stops the app gracefully when sent (or dropped); `running` ends then.
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The storage backends every shared test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn NAME(backend: Backend)` once per backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

pub async fn open_store(url: &str, config: &Config) -> Service {
    let store = seen::store::open(
        url,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .expect("open store");
    Service::for_config(store, config)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Config::defaults().expect("defaults load")).await
}

/// The app with actions off (as with `[actions] enabled = false`): nothing is sent or recorded by itself.
pub async fn spawn_app_with(backend: Backend, mut config: Config) -> TestApp {
    config.file.actions.enabled = false;
    spawn(backend, config, Jobs::FOR_TESTS).await
}

/// Like `spawn_app_with`, and the actions run too (planner and sender, woken by ingestion).
pub async fn spawn_app_acting(backend: Backend, config: Config) -> TestApp {
    spawn(backend, config, Jobs::FOR_TESTS).await
}

/// The app with actions on but no job running by itself: the test calls `run_pending_jobs` when the
/// scheduler, planner and sender should act, so there is no waiting and polling.
pub async fn spawn_app_stepped(backend: Backend, config: Config) -> TestApp {
    spawn(backend, config, Jobs::NONE).await
}

/// A real server on port 0 over a fresh database, built by `App::build` as `seen serve` builds it.
async fn spawn(backend: Backend, config: Config, jobs: Jobs) -> TestApp {
    spawn_on(TestDb::new(backend).await, config, jobs).await
}

/// Like `spawn`, over a database of an earlier app (after `TestApp::stop`): a restart.
pub async fn spawn_on(db: TestDb, config: Config, jobs: Jobs) -> TestApp {
    let store = seen::store::open(
        &db.url,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .expect("open store");
    let local = "127.0.0.1:0".parse().expect("address");
    let app = App::build(&config, store, local, jobs)
        .await
        .expect("build the app");
    let service = app.service().clone();
    // "test" on a fresh database; a restart's app adds a key of its own.
    let mut key = service.create_api_key("test").await;
    for n in 2.. {
        match key {
            Err(seen::store::StoreError::Conflict(_)) => {
                key = service.create_api_key(&format!("test-{n}")).await
            }
            _ => break,
        }
    }
    let key = key.expect("create key");
    let address = format!("http://{}", app.address());
    let jobs = app.job_runner();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        key,
        client: reqwest::Client::new(),
        service,
        jobs,
        db,
        stop,
        running,
    }
}

impl TestApp {
    /// Stops the app as `seen serve` stops on SIGTERM (jobs finish their turn) and hands back its
    /// database, for `spawn_on`.
    pub async fn stop(self) -> TestDb {
        let _ = self.stop.send(());
        self.running
            .await
            .expect("the app's task")
            .expect("the app stopped cleanly");
        self.db
    }

    /// One pass of what the background jobs would do now: the scheduler, then the planner and the sender
    /// until nothing more is recorded (see `seen::app::JobRunner`).
    pub async fn run_pending_jobs(&self) {
        self.jobs
            .run_pending_jobs()
            .await
            .expect("run pending jobs");
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.key)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.key)
    }

    pub async fn post_events(&self, body: &Value) -> (u16, Value) {
        let response = self
            .post("/v1/events")
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }
}

pub fn event(id: &str, kind: &str, customer: &str, at: &str, reference: Option<&str>) -> Value {
    let mut e = json!({ "id": id, "type": kind, "customer": customer, "at": at });
    if let Some(r) = reference {
        e["ref"] = json!(r);
    }
    e
}
