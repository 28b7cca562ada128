//! Request timing for the latency histogram, and the `/metrics` endpoint,
//! which is served on its own listener so that it is not public by default.

use std::time::Instant;

use axum::{
    extract::Request,
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use latchkey_core::metrics::METRICS;

/// Times every request into the latency histogram.
pub async fn time_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    METRICS.request(started.elapsed());
    response
}

/// Builds the app of the metrics listener.
pub fn router() -> Router {
    Router::new().route("/metrics", get(render))
}

async fn render() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        METRICS.render(),
    )
        .into_response()
}
