//! `/api/auth/*`: registration, verification, login, refresh, logout and the
//! current user, for client applications.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use latchkey_core::{
    store::User,
    validate::{EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, Bearer, Client},
    ApiState,
};

/// Name of the cookie that carries the refresh token for browser clients
/// that ask for it, over plain HTTP. It is sent only to the token endpoints.
pub const REFRESH_COOKIE: &str = "latchkey_refresh";
/// Name of the cookie over HTTPS. The `__Secure-` prefix makes browsers
/// refuse it from plain HTTP pages; `__Host-` would need `Path=/`.
pub const SECURE_REFRESH_COOKIE: &str = "__Secure-latchkey_refresh";
const REFRESH_COOKIE_PATH: &str = "/api/auth";

/// Maximum password length at login, in characters: longer than any
/// password registration allows, so no real password is cut off.
pub(super) const LOGIN_PASSWORD_MAX_CHARS: usize = 4 * PASSWORD_MAX_CHARS;

/// Maximum token length accepted; real tokens have 43 characters.
pub(super) const TOKEN_MAX_CHARS: usize = 512;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ann@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 128 characters, used exactly as typed.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
    /// Display name, 1 to 100 characters.
    #[schema(example = "Ann Lee", min_length = 1, max_length = 100)]
    pub name: String,
}

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.display_name.clone(),
            email_verified: user.is_verified(),
        }
    }
}

/// Creates an account and mails its verification link.
///
/// An email that already has an account gets the same response, with a
/// fresh id that belongs to no account, and its owner is mailed instead, so
/// the response never reveals which addresses are registered.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; a verification mail is on its way", body = UserBody),
        (status = 400, description = "Invalid or malformed input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: over a rate limit", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn register(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    let registered = state
        .accounts
        .register(&body.email, &body.name, &body.password, &client)
        .await?;
    let user = match registered {
        Some(user) => UserBody::from(&user),
        None => UserBody {
            id: uuid::Uuid::new_v4().to_string(),
            email: latchkey_core::validate::normalize_email(&body.email).unwrap_or_default(),
            name: body.name.trim().to_owned(),
            email_verified: false,
        },
    };
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The `token` parameter of the mailed link.
    #[schema(max_length = 512)]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedBody {
    pub email_verified: bool,
}

/// Spends a verification token and marks the account verified.
#[utoipa::path(
    post, path = "/api/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Email verified", body = VerifiedBody),
        (status = 400, description = "`invalid_token`, `expired_token` or malformed input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn verify_email(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<VerifiedBody>> {
    check_length("token", &body.token, TOKEN_MAX_CHARS)?;
    state.accounts.verify_email(&body.token, &client).await?;
    Ok(Json(VerifiedBody { email_verified: true }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ann@example.com", max_length = 254)]
    pub email: String,
    #[schema(max_length = 512)]
    pub password: String,
    /// Space-separated scopes; omitted, the token gets every scope the
    /// account's roles grant.
    #[schema(example = "contacts.read")]
    pub scope: Option<String>,
    /// Set the refresh token in an HttpOnly cookie instead of the body.
    #[serde(default)]
    pub refresh_token_cookie: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Absent when the refresh token was set as a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    #[schema(example = "Bearer")]
    pub token_type: String,
    pub scope: String,
}

/// Checks the credentials and returns an access token and a refresh token.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "`invalid_scope` or malformed input", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: wrong email or password", body = ErrorBody),
        (status = 403, description = "`email_not_verified`, or `account_locked` after too many failed logins", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: over the address's rate limit, or the account must wait after failed logins", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn login(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    check_length("email", &body.email, EMAIL_MAX_CHARS)?;
    check_length("password", &body.password, LOGIN_PASSWORD_MAX_CHARS)?;
    let (_, pair) = state
        .auth
        .log_in(&body.email, &body.password, body.scope.as_deref(), &client)
        .await?;
    Ok(token_response(&state, pair, body.refresh_token_cookie))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The current refresh token; may be omitted when it travels in the
    /// refresh cookie.
    #[schema(max_length = 512)]
    pub refresh_token: Option<String>,
}

/// Spends a refresh token and returns a new access token and refresh token.
///
/// A refresh token works once. Presenting a spent one revokes its whole
/// login, including the newest refresh token and live access tokens.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "`invalid_grant` or malformed input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: over a rate limit", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn refresh(
    State(state): State<ApiState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let from_cookie = cookie_value(&headers, state.refresh_cookie);
    let (presented, via_cookie) = match (body.refresh_token, from_cookie) {
        (Some(token), _) => (token, false),
        (None, Some(token)) => (token, true),
        (None, None) => {
            return Err(ApiError::invalid(
                "Send refresh_token in the body or the refresh cookie.",
            ))
        }
    };
    check_length("refresh_token", &presented, TOKEN_MAX_CHARS)?;
    let pair = state.auth.refresh(&presented, &client).await?;
    Ok(token_response(&state, pair, via_cookie))
}

/// Ends the login of the access token: its refresh token stops working and
/// its access tokens are rejected from now on.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
    )
)]
pub async fn logout(State(state): State<ApiState>, Client(client): Client, bearer: Bearer) -> ApiResult<Response> {
    state.auth.log_out(&bearer.0, &client).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{}=; HttpOnly; Secure; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age=0",
        state.refresh_cookie
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    /// Current roles of the account.
    pub roles: Vec<String>,
    /// Scopes granted to this access token.
    pub scopes: Vec<String>,
}

/// Returns the user the access token belongs to, with roles and scopes.
#[utoipa::path(
    get, path = "/api/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = MeResponse),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
    )
)]
pub async fn me(State(state): State<ApiState>, bearer: Bearer) -> ApiResult<Json<MeResponse>> {
    let (user, roles) = state
        .accounts
        .store()
        .user_with_roles(&bearer.0.user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    Ok(Json(MeResponse {
        id: user.id.to_string(),
        email: user.email,
        name: user.display_name,
        email_verified: user.email_verified_at.is_some(),
        roles: roles.iter().map(|role| role.as_str().to_owned()).collect(),
        scopes: bearer
            .0
            .claims
            .scope
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
    }))
}

fn token_response(state: &ApiState, pair: latchkey_core::api_auth::TokenPair, as_cookie: bool) -> Response {
    let refresh_token = pair.refresh_token.expose().to_owned();
    let body = TokenResponse {
        access_token: pair.access_token,
        refresh_token: (!as_cookie).then(|| refresh_token.clone()),
        expires_in: pair.expires_in,
        token_type: "Bearer".to_owned(),
        scope: pair.scope,
    };
    let mut response = Json(body).into_response();
    // Token responses must not be cached (RFC 6749, section 5.1).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if as_cookie {
        let max_age = state.refresh_cookie_max_age.as_secs();
        let cookie = format!(
            "{}={refresh_token}; HttpOnly; Secure; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age={max_age}",
            state.refresh_cookie
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

pub(super) fn check_length(field: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    if value.chars().count() > max_chars {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(field.to_owned(), format!("At most {max_chars} characters."));
        return Err(ApiError::InvalidRequest {
            message: format!("Invalid field(s): {field}."),
            fields: Some(fields),
        });
    }
    Ok(())
}

/// Returns the value of cookie `name` from the `Cookie` headers.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
