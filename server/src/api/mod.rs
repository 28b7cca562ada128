//! The JSON API for client applications, under `/api`, with its OpenAPI
//! document and the JWKS.

mod account;
mod admin;
mod auth;
mod contacts;
mod email;
pub mod error;
mod extract;
mod password;
mod sessions;

use std::time::Duration;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderValue, Method},
    response::IntoResponse,
    routing::{delete, get, post, put},
    Json, Router,
};
use latchkey_core::{accounts::Accounts, api_auth::ApiAuth};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

pub use auth::{REFRESH_COOKIE, SECURE_REFRESH_COOKIE};

/// Largest accepted request body. Every API request is a small JSON object.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub accounts: Accounts,
    pub auth: ApiAuth,
    pub refresh_cookie_max_age: Duration,
    /// [`REFRESH_COOKIE`] or, over HTTPS, [`SECURE_REFRESH_COOKIE`].
    pub refresh_cookie: &'static str,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Latchkey API", description = "Authentication for client applications: access tokens, rotating refresh tokens, scopes and roles."),
    paths(
        auth::register, auth::verify_email, auth::login, auth::refresh, auth::logout, auth::me,
        password::forgot, password::reset, password::change,
        sessions::list, sessions::revoke, sessions::revoke_others, account::delete,
        email::change, email::confirm,
        contacts::list, contacts::create, admin::set_roles, admin::revoke_sessions,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "contacts", description = "A sample resource protected by scopes"),
        (name = "admin", description = "Account administration"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Builds the OpenAPI 3.1 document from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> impl IntoResponse {
    Json(openapi_document())
}

/// Returns the OpenAPI document as served, with links from a response to
/// the requests it enables. Clients and schemathesis's stateful phase
/// follow them to chain calls: log in, then refresh with the refresh
/// token, then refresh again with the next one.
///
/// NOTE: the links are added to the JSON rather than through utoipa,
/// because utoipa 5.5 serialises `Link` fields in snake case
/// (`operation_id`), which OpenAPI readers ignore.
pub fn openapi_document() -> serde_json::Value {
    let mut document = serde_json::to_value(openapi()).unwrap_or_default();
    let refresh_with_new_token = serde_json::json!({
        "operationId": "refresh",
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Spends the refresh token of this response.",
    });
    let links = [
        ("/api/auth/login", "200", "Refresh", refresh_with_new_token.clone()),
        ("/api/auth/refresh", "200", "RefreshAgain", refresh_with_new_token),
        (
            "/api/auth/register",
            "201",
            "SetRoles",
            serde_json::json!({
                "operationId": "set_roles",
                "parameters": {"id": "$response.body#/id"},
                "description": "Changes the roles of the new account (needs `users.admin`).",
            }),
        ),
    ];
    for (path, status, name, link) in links {
        match document
            .pointer_mut(&format!("/paths/{}/post/responses/{status}", path.replace('/', "~1")))
            .and_then(serde_json::Value::as_object_mut)
        {
            Some(response) => {
                let all = response.entry("links").or_insert_with(|| serde_json::json!({}));
                all[name] = link;
            }
            // Only a change to the annotations can get here, and the
            // OpenAPI test then fails on the missing link.
            None => tracing::error!(path, status, "OpenAPI link target missing"),
        }
    }
    document
}

async fn jwks(State(state): State<ApiState>) -> impl IntoResponse {
    let mut response = Json(state.auth.keys().jwks()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("API endpoint")
}

/// Routes of the API and the JWKS, with CORS for `allowed_origins` only.
pub fn router(state: ApiState, allowed_origins: &[String]) -> Router {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600));

    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/verify-email", post(auth::verify_email))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/password/forgot", post(password::forgot))
        .route("/auth/password/reset", post(password::reset))
        .route("/auth/password/change", post(password::change))
        .route("/auth/sessions", get(sessions::list))
        .route("/auth/sessions/{id}", delete(sessions::revoke))
        .route("/auth/sessions/revoke-others", post(sessions::revoke_others))
        .route("/auth/account/delete", post(account::delete))
        .route("/auth/email/change", post(email::change))
        .route("/auth/email/confirm", post(email::confirm))
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/admin/users/{id}/roles", put(admin::set_roles))
        .route("/admin/users/{id}/sessions", delete(admin::revoke_sessions))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors.clone())
        .with_state(state.clone());

    Router::new()
        .nest("/api", api)
        .route("/.well-known/jwks.json", get(jwks).layer(cors))
        .with_state(state)
}
