//! Last-resort error pages for failures outside the Leptos app.

use std::any::Any;

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

/// Turns a panic in a handler into a plain 500 page instead of a dropped
/// connection. The panic message goes to the log, never to the client.
pub fn panic_page(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-text panic payload");
    tracing::error!(panic = message, "request handler panicked");

    let body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · Latchkey</title></head>\
                <body><h1>Something went wrong</h1><p>Something went wrong on our side. Please try again in a moment.</p>\
                <p><a href=\"/\">Go to the start page</a></p></body></html>";
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
