//! Shared test harness: the app (`seen::app::App`, as `seen serve` builds it) on port 0 over a fresh
//! database on either backend, the real binary as a child process, and event builders.
#![allow(dead_code)]

pub mod sinks;

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
}

/// The storage backends every shared test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn NAME(backend: Backend)` once per backend, as `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A fresh, empty database: a SQLite file in a temp dir, or a new PostgreSQL database (from
/// `SEEN_TEST_POSTGRES_URL`, default the local server) dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

pub fn admin_url() -> String {
    std::env::var("SEEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
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
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = admin_url();
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
                }
            }
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

pub async fn open_store(url: &str, config: &Config) -> Service {
    let store = seen::store::open(
        url,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .expect("open store");
    Service::new(store, config.engine.clone())
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
    let db = TestDb::new(backend).await;
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
    let key = service.create_api_key("test").await.expect("create key");
    let address = format!("http://{}", app.address());
    let jobs = app.job_runner();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address,
        key,
        client: reqwest::Client::new(),
        service,
        jobs,
        db,
    }
}

impl TestApp {
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

/// A `seen serve` child process that is killed when dropped, so a failing test leaves no server behind.
pub struct Server {
    pub child: std::process::Child,
    pub address: String,
}

impl Server {
    /// Starts the real binary on port 0 and reads the address it prints.
    pub fn start(db: &str, stderr: std::process::Stdio) -> Server {
        Server::start_with(db, stderr, None)
    }

    /// Like `start`, with a configuration file.
    pub fn start_with(
        db: &str,
        stderr: std::process::Stdio,
        config: Option<&std::path::Path>,
    ) -> Server {
        use std::io::BufRead;
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"));
        command.env_remove("SEEN_CONFIG");
        if let Some(config) = config {
            command.env("SEEN_CONFIG", config);
        }
        // Files the server writes beside itself (the dry-run outbox) stay in the test's folder.
        if let Some(folder) = std::path::Path::new(db).parent().filter(|p| p.is_dir()) {
            command.current_dir(folder);
        }
        let mut child = command
            .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
            .env("SEEN_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start seen serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address line");
        let address = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        let server = Server { child, address };
        assert!(
            server.address.starts_with("http://127.0.0.1:"),
            "unexpected first line: {line:?}"
        );
        server
    }

    /// `kill -9`, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
