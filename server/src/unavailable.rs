//! A 503 with `Retry-After`, in place of a 500, while the database is
//! unreachable.
//!
//! Any request that needs the database fails while it is down: the session
//! layer cannot load a session, the API cannot check a password. Each of
//! those returns 500 where it fails. This layer sees every 500, asks the
//! database whether it answers, and if not replaces the response with a
//! 503 that tells clients when to retry and says nothing about the cause.
//! The pool reconnects by itself once the database is back.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use latchkey_core::store::Store;
use serde_json::json;

/// How long the check may take; a database this slow is as good as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Seconds the `Retry-After` header asks clients to wait.
const RETRY_AFTER_SECONDS: &str = "5";

pub async fn database_unavailable_is_503(State(store): State<Store>, request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || store.answers_within(CHECK_TIMEOUT).await {
        return response;
    }

    tracing::warn!("the database is unreachable; responding with 503");
    let mut unavailable = if is_api {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "error": "service_unavailable",
                "message": "The service is briefly unavailable. Retry after the time in Retry-After.",
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unavailable · Latchkey</title>\
             </head><body><h1>Briefly unavailable</h1><p>Latchkey cannot serve this page right now. \
             Please try again in a few seconds.</p></body></html>",
        )
            .into_response()
    };
    unavailable
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    unavailable
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    unavailable
}
