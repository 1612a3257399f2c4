//! Shared test set-up: the app in-process on port 0 (`spawn_app`) over a fresh database of either backend,
//! the tests that run once per backend (`on_both_backends!`), event builders; and, in their own files, fresh
//! databases (`db`), the real `seen serve` as a child (`server`), dashboard logins (`dashboard`), SMTP and
//! webhook peers (`sinks`) and the machine's prerequisites (`prerequisites`).

pub mod dashboard;
pub mod db;
pub mod prerequisites;
pub mod server;
pub mod sinks;

pub use db::{admin_url, TestDb};
pub use server::Server;

use std::sync::Arc;

use seen::config::Config;
use seen::http::{self, AppState};
use seen::service::Service;
use serde_json::{json, Value};

pub struct TestApp {
    pub address: String,
    pub key: String,
    pub client: reqwest::Client,
    pub service: Service,
    pub db: TestDb,
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
    Service::new(store, config.engine.clone())
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Config::defaults().expect("defaults load")).await
}

pub async fn spawn_app_with(backend: Backend, config: Config) -> TestApp {
    spawn(backend, config, false).await
}

/// Like `spawn_app_with`, and the actions run too (planner and sender, woken by ingestion).
pub async fn spawn_app_acting(backend: Backend, config: Config) -> TestApp {
    spawn(backend, config, true).await
}

async fn spawn(backend: Backend, config: Config, acting: bool) -> TestApp {
    let db = TestDb::new(backend).await;
    let store = seen::store::open(
        &db.url,
        config.engine.clone(),
        &seen::store::StoreOptions::default(),
    )
    .await
    .expect("open store");
    let service = Service::new(store, config.engine.clone());
    let key = seen::http::auth::new_key();
    service
        .store
        .create_api_key("test", &seen::http::auth::hash_key(&key))
        .await
        .expect("create key");
    let wake = seen::jobs::Wake::default();
    let mut link_secret = None;
    if acting {
        let actor = Arc::new(
            seen::jobs::actions::Actor::new(service.store.clone(), &config)
                .await
                .expect("start actions"),
        );
        link_secret = Some(Arc::<str>::from(actor.secret.as_str()));
        let shutdown = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(actor.run(wake.actions.clone(), shutdown));
    }
    let state = AppState {
        service: service.clone(),
        server: Arc::new(config.file.server.clone()),
        ingested: wake,
        link_secret,
        surveys: config.surveys.clone(),
        dashboard: Arc::new(seen::web::Dashboard::new(
            config.directory.clone(),
            std::time::Duration::from_secs(config.file.server.figures_cache_secs),
            std::time::Duration::from_secs(config.file.server.queue_cache_secs),
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    // As `seen serve` does: with peer addresses (the dashboard's login throttle counts per address).
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestApp {
        address,
        key,
        client: reqwest::Client::new(),
        service,
        db,
    }
}

impl TestApp {
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
