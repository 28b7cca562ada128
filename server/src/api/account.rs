//! `/api/auth/account/delete`: an account deleted by its owner.

use axum::{extract::State, http::StatusCode};
use latchkey_core::accounts::Channel;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    auth::{check_length, LOGIN_PASSWORD_MAX_CHARS},
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, Bearer, Client},
    ApiState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The account's current password, to confirm.
    #[schema(max_length = 512)]
    pub password: String,
}

/// Deletes the token's account with every login, token and record of it,
/// and mails a confirmation. The address can register again afterwards.
#[utoipa::path(
    post, path = "/api/auth/account/delete", tag = "auth",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 400, description = "Wrong password or malformed input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`account_locked`: too many wrong passwords; a password reset unlocks", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: the account must wait after wrong passwords", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn delete(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> ApiResult<StatusCode> {
    check_length("password", &body.password, LOGIN_PASSWORD_MAX_CHARS)?;
    state
        .accounts
        .delete_account(&bearer.0.user_id, &body.password, &client, Channel::Api)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
