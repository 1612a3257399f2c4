//! The HTTP API. Only this module knows axum. Handlers stay thin: parse, call the service, answer.

pub mod auth;
mod churn;
pub mod error;
mod events;
pub mod metrics;
mod outbox;
mod queries;
pub mod schema;
mod surveys;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::config::ServerConfig;
use crate::service::Service;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub server: Arc<ServerConfig>,
    /// Woken after every ingestion: the scheduler may have an earlier deadline to wait for.
    pub ingested: crate::jobs::Wake,
    /// Signs unsubscribe links (`None`: actions are off, and such links are refused).
    pub link_secret: Option<Arc<str>>,
    /// The surveys whose answer links this server takes.
    pub surveys: Arc<std::collections::BTreeMap<String, crate::domain::survey::Survey>>,
    /// The dashboard's configuration and figure caches.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Seen", description = "No customer of a business should ever go unseen."),
    paths(
        events::post_events,
        queries::invisible,
        queries::customer,
        queries::obligations,
        queries::summary,
        outbox::outbox,
        surveys::summary,
        churn::at_risk,
        churn::model,
        healthz
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.server.max_body_bytes;
    let api = Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/v1/invisible", get(queries::invisible))
        .route("/v1/customers/{id}", get(queries::customer))
        .route("/v1/obligations", get(queries::obligations))
        .route("/v1/summary", get(queries::summary))
        .route("/v1/outbox", get(outbox::outbox))
        .route("/v1/surveys/summary", get(surveys::summary))
        .route("/v1/churn/at-risk", get(churn::at_risk))
        .route("/v1/churn/model", get(churn::model))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .merge(api)
        .merge(crate::dashboard::router())
        .route("/healthz", get(healthz))
        .route("/u/{token}", get(outbox::unsubscribe_page).post(outbox::unsubscribe))
        .route("/s/{token}/comment", post(surveys::comment))
        .route(
            "/s/{token}/{score}",
            get(surveys::confirm).post(surveys::answer),
        )
        .route("/openapi.json", get(openapi))
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            ))
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id, key = tracing::field::Empty)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Liveness and readiness: answers 200 when the database answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Healthy"), (status = 503, description = "Database unavailable", body = error::ErrorBody)))]
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<serde_json::Value>, error::ApiError> {
    let counts = tokio::time::timeout(Duration::from_secs(5), state.service.store.counts())
        .await
        .map_err(|_| {
            error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database timed out",
            )
        })??;
    Ok(Json(
        serde_json::json!({ "status": "ok", "events": counts.events }),
    ))
}

async fn openapi() -> Json<serde_json::Value> {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(schema::document).clone())
}
