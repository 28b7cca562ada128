//! `/api/auth/sessions`: the user's logins, browser sessions and API token
//! families alike, and their revocation.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use latchkey_core::{
    accounts::{AccountError, Channel, Login},
    store::family_key,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Bearer, Client},
    ApiState,
};

/// Maximum length of an id in a path. Real ids have 64 characters.
const SESSION_ID_MAX_CHARS: usize = 128;

/// One login of the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    /// Names the login for `DELETE /api/auth/sessions/{id}`.
    pub id: String,
    /// `browser` or `api`.
    #[schema(example = "browser")]
    pub kind: String,
    /// Browser and system in words, from the user agent.
    #[schema(example = "Firefox on Windows")]
    pub device: String,
    pub ip: Option<String>,
    /// Unix seconds.
    pub signed_in_at: i64,
    /// Unix seconds.
    pub last_active_at: i64,
    /// Whether this is the login of the access token making the request.
    pub current: bool,
}

impl From<Login> for SessionBody {
    fn from(login: Login) -> Self {
        Self {
            id: login.id,
            kind: login.kind.as_str().to_owned(),
            device: login.device,
            ip: login.ip,
            signed_in_at: login.signed_in_at.unix_timestamp(),
            last_active_at: login.last_active_at.unix_timestamp(),
            current: login.current,
        }
    }
}

/// Lists the user's live logins, most recently active first.
#[utoipa::path(
    get, path = "/api/auth/sessions", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's logins", body = [SessionBody]),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<ApiState>, bearer: Bearer) -> ApiResult<Json<Vec<SessionBody>>> {
    let principal = bearer.0;
    let current = family_key(&principal.claims.sid);
    let logins = state.accounts.logins(&principal.user_id, Some(&current)).await?;
    Ok(Json(logins.into_iter().map(SessionBody::from).collect()))
}

/// Ends one login of the user. Its cookie, refresh token and access tokens
/// are rejected from the next request on.
#[utoipa::path(
    delete, path = "/api/auth/sessions/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The `id` from the list of sessions", max_length = 128)),
    responses(
        (status = 204, description = "The login has ended"),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 404, description = "No login of this user has this id", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if id.chars().count() > SESSION_ID_MAX_CHARS {
        return Err(ApiError::NotFound("Session"));
    }
    match state
        .accounts
        .revoke_login(&bearer.0.user_id, &id, &client, Channel::Api)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(AccountError::NotFound) => Err(ApiError::NotFound("Session")),
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedBody {
    /// How many logins ended.
    pub revoked: u64,
}

/// Ends every login of the user except the one of this access token.
#[utoipa::path(
    post, path = "/api/auth/sessions/revoke-others", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every other login has ended", body = RevokedBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
    )
)]
pub async fn revoke_others(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
) -> ApiResult<Json<RevokedBody>> {
    let principal = bearer.0;
    let keep = family_key(&principal.claims.sid);
    let revoked = state
        .accounts
        .revoke_other_logins(&principal.user_id, Some(&keep), &client, Channel::Api)
        .await?;
    Ok(Json(RevokedBody { revoked }))
}
