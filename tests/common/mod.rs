//! Shared test harness: a real server on port 0 over a temp SQLite file, and event builders.
#![allow(dead_code)]

use std::sync::Arc;

use seen::config::Config;
use seen::http::{self, AppState};
use seen::service::Service;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub struct TestApp {
    pub address: String,
    pub key: String,
    pub client: reqwest::Client,
    pub service: Service,
    pub dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::defaults().expect("defaults load")).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("seen.db");
    let store = seen::store::open(
        db.to_str().expect("utf-8 path"),
        config.engine.clone(),
        false,
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
    let state = AppState {
        service: service.clone(),
        server: Arc::new(config.file.server.clone()),
        ingested: Arc::new(Notify::new()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, http::router(state)).await });
    TestApp {
        address,
        key,
        client: reqwest::Client::new(),
        service,
        dir,
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
