//! Probes for orchestrators and load balancers: `/healthz` reports that the
//! process serves requests, `/readyz` that its database does too.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use latchkey_core::store::Store;
use serde_json::json;

/// Seconds a load balancer should wait before probing a server that is
/// not ready again.
const RETRY_AFTER_SECONDS: &str = "5";

/// Routes of the two probes. They carry no session and read nothing that
/// belongs to a user, so they sit outside the session and CSRF layers.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(store)
}

async fn healthz() -> Response {
    no_store(StatusCode::OK, json!({"status": "alive"}))
}

async fn readyz(State(store): State<Store>) -> Response {
    match store.readiness().await {
        Ok(()) => no_store(StatusCode::OK, json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            let mut response = no_store(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "not_ready"}));
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            response
        }
    }
}

/// Builds a probe response that no cache keeps, since it is only true at the
/// moment of the request.
fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}
