//! Status codes for malformed server function requests.
//!
//! Leptos responds with 500 to a form body that does not decode into the
//! function's arguments, as if the server had failed. The request was at
//! fault, so this layer changes those responses to 400 and keeps their JSON
//! error body.

use app::error::AppError;
use axum::{
    body::Body,
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::error::ServerFnErrorErr;

/// Largest error body read back; server function errors are a few hundred
/// bytes.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

pub async fn server_fn_input_errors_are_400(request: Request, next: Next) -> Response {
    let is_server_fn = request.uri().path().starts_with("/fn/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }

    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let caused_by_input = matches!(
        serde_json::from_slice::<AppError>(&bytes),
        Ok(AppError::ServerFn(
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_)
        ))
    );
    if caused_by_input {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}
