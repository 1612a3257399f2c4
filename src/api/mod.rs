//! The HTTP API (`/v1/…`, `/healthz`, `/openapi.json`) and the pages customers reach from a message
//! (unsubscribe and survey links). It owns its router and its state and imports no other edge; `app`
//! composes it with the dashboard. Handlers stay thin: parse, call the service, answer.

pub mod auth;
mod churn;
pub mod events;
mod journeys;
pub mod metrics;
mod outbox;
mod queries;
mod retention;
pub mod schema;
pub mod status;
mod surveys;
mod visits;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::error;
use crate::config::ServerConfig;
use crate::service::Service;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub service: Service,
    pub server: Arc<ServerConfig>,
    /// Woken after every ingestion: the scheduler may have an earlier deadline to wait for.
    pub ingested: crate::jobs::Wake,
    /// Signs unsubscribe links (`None`: actions are off, and such links are refused).
    pub link_secret: Option<Arc<str>>,
    /// The surveys whose answer links this server takes.
    pub surveys: Arc<std::collections::BTreeMap<String, crate::domain::survey::Survey>>,
    /// Each connector's state on this node, for `/healthz`.
    pub connectors: crate::connectors::Health,
    /// What the customer's status page needs (`status::PageSettings`).
    pub pages: Arc<status::PageSettings>,
    /// The time zone and purchase types retention cohorts are cut by.
    pub cohorts: Arc<crate::service::cohorts::CohortSettings>,
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
        retention::retention,
        journeys::list,
        journeys::report,
        visits::summary,
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

/// The API's routes, with their state. The layers every route shares (request ids, tracing, metrics,
/// the body limit, the JSON fallback) are added by `app`, around this router and the dashboard's.
pub fn router(state: ApiState) -> Router {
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
        .route("/v1/retention", get(retention::retention))
        .route("/v1/journeys", get(journeys::list))
        .route("/v1/journeys/{name}", get(journeys::report))
        .route("/v1/visits/summary", get(visits::summary))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route(
            "/u/{token}",
            get(outbox::unsubscribe_page).post(outbox::unsubscribe),
        )
        .route("/s/{token}/comment", post(surveys::comment))
        .route(
            "/s/{token}/{score}",
            get(surveys::confirm).post(surveys::answer),
        )
        .route("/c/status.css", get(status::stylesheet))
        .route("/c/{token}", get(status::page))
        .route(
            "/c/{token}/ignored",
            get(status::confirm_ignored).post(status::record_ignored),
        )
        .route("/c/{token}/comment", post(status::comment))
        .route("/c/{token}/visit/{reference}", get(visits::visit_page))
        .route(
            "/c/{token}/visit/{reference}/events",
            get(visits::visit_events),
        )
        .route("/v/{token}", get(visits::own_visit_page))
        .route("/v/{token}/events", get(visits::own_visit_events))
        .route("/visit/live.js", get(visits::script))
        .route(
            "/visit/{location}",
            get(visits::kiosk).post(visits::check_in),
        )
        .route("/visit/{location}/display", get(visits::display))
        .route(
            "/visit/{location}/display/events",
            get(visits::display_events),
        )
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// Liveness and readiness: answers 200 when the database answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Healthy"), (status = 503, description = "Database unavailable", body = error::ErrorBody)))]
async fn healthz(
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> Result<Json<serde_json::Value>, error::ApiError> {
    let counts = tokio::time::timeout(Duration::from_secs(5), state.service.counts())
        .await
        .map_err(|_| {
            error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database timed out",
            )
        })??;
    let connectors = state.connectors.snapshot();
    if connectors.is_empty() {
        return Ok(Json(
            serde_json::json!({ "status": "ok", "events": counts.events }),
        ));
    }
    Ok(Json(
        serde_json::json!({ "status": "ok", "events": counts.events, "connectors": connectors }),
    ))
}

async fn openapi() -> Json<serde_json::Value> {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(schema::document).clone())
}
