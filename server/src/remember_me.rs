//! Keeps the persistent cookie of a "Remember me" login on every response.

use axum::{extract::Request, middleware::Next, response::Response};
use tower_sessions::Session;

/// Sets the expiry of a remembered login's cookie before the session
/// layer writes it. A request without a session passes unchanged.
pub async fn keep_remembered_cookie(request: Request, next: Next) -> Response {
    if let Some(session) = request.extensions().get::<Session>().cloned() {
        if let Err(error) = latchkey_core::session::keep_remembered_expiry(&session).await {
            tracing::warn!(%error, "reading the session for its cookie expiry failed");
        }
    }
    next.run(request).await
}
