//! `/api/auth/password/*`: a reset through a mailed link, and a change with
//! the current password.

use axum::{extract::State, http::StatusCode, response::IntoResponse, response::Response, Json};
use latchkey_core::{accounts::Channel, store::family_key, validate::EMAIL_MAX_CHARS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    auth::{check_length, LOGIN_PASSWORD_MAX_CHARS, TOKEN_MAX_CHARS},
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, Bearer, Client},
    ApiState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(example = "ann@example.com", max_length = 254)]
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedBody {
    /// Text for people.
    pub message: String,
}

/// Mails a password reset link if the address has an account.
///
/// The response is the same whether or not it has one.
#[utoipa::path(
    post, path = "/api/auth/password/forgot", tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted; a link is on its way if the address has an account", body = AcceptedBody),
        (status = 400, description = "Malformed email or input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: over the rate limit of the client address or the email", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn forgot(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<Response> {
    check_length("email", &body.email, EMAIL_MAX_CHARS)?;
    state.accounts.request_password_reset(&body.email, &client).await?;
    let body = AcceptedBody {
        message: "If this address has an account, a password reset link is on its way.".to_owned(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The `token` parameter of the mailed link.
    #[schema(max_length = 512)]
    pub token: String,
    /// The new password, under the same rules as at registration.
    #[schema(example = "correct horse battery staple", min_length = 8, max_length = 128)]
    pub password: String,
}

/// Sets a new password with a reset token, and ends every login of the
/// account: its browser sessions, refresh tokens and access tokens.
#[utoipa::path(
    post, path = "/api/auth/password/reset", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every login of the account has ended"),
        (status = 400, description = "`invalid_token`, `expired_token`, a password the rules reject, or malformed input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn reset(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    check_length("token", &body.token, TOKEN_MAX_CHARS)?;
    check_length("password", &body.password, LOGIN_PASSWORD_MAX_CHARS)?;
    state
        .accounts
        .reset_password(&body.token, &body.password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(max_length = 512)]
    pub current_password: String,
    /// The new password, under the same rules as at registration.
    #[schema(example = "correct horse battery staple", min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Replaces the password of the token's account, given the current one.
/// Every other login ends, and the login of this token stays.
#[utoipa::path(
    post, path = "/api/auth/password/change", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; every other login has ended"),
        (status = 400, description = "Wrong current password, a new password the rules reject, or malformed input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`account_locked`: too many wrong passwords; a password reset unlocks", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: the account must wait after wrong passwords", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn change(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    check_length("current_password", &body.current_password, LOGIN_PASSWORD_MAX_CHARS)?;
    check_length("new_password", &body.new_password, LOGIN_PASSWORD_MAX_CHARS)?;
    let principal = bearer.0;
    let keep = family_key(&principal.claims.sid);
    state
        .accounts
        .change_password(
            &principal.user_id,
            &body.current_password,
            &body.new_password,
            Some(&keep),
            &client,
            Channel::Api,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
