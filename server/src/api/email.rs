//! `/api/auth/email/*`: changing the address of an account.

use axum::{extract::State, http::StatusCode, response::IntoResponse, response::Response, Json};
use latchkey_core::{accounts::Channel, validate::EMAIL_MAX_CHARS};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    auth::{check_length, UserBody, LOGIN_PASSWORD_MAX_CHARS, TOKEN_MAX_CHARS},
    error::{ApiResult, ErrorBody},
    extract::{ApiJson, Bearer, Client},
    password::AcceptedBody,
    ApiState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(example = "ann.lee@example.com", max_length = 254)]
    pub new_email: String,
    /// The account's current password, to confirm.
    #[schema(max_length = 512)]
    pub password: String,
}

/// Mails a confirmation link to the new address and a notice to the
/// current one, which stays in use until the link is opened.
///
/// An address that belongs to another account gets the same response, and
/// that address a notice instead.
#[utoipa::path(
    post, path = "/api/auth/email/change", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Accepted; a confirmation link is on its way to the new address", body = AcceptedBody),
        (status = 400, description = "Wrong password, an invalid or unchanged address, or malformed input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`account_locked`: too many wrong passwords; a password reset unlocks", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: over a rate limit, or the account must wait after wrong passwords", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn change(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    ApiJson(body): ApiJson<ChangeEmailRequest>,
) -> ApiResult<Response> {
    check_length("new_email", &body.new_email, EMAIL_MAX_CHARS)?;
    check_length("password", &body.password, LOGIN_PASSWORD_MAX_CHARS)?;
    state
        .accounts
        .request_email_change(
            &bearer.0.user_id,
            &body.new_email,
            &body.password,
            &client,
            Channel::Api,
        )
        .await?;
    let body = AcceptedBody {
        message: "A confirmation link is on its way to the new address.".to_owned(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmEmailRequest {
    /// The `token` parameter of the link mailed to the new address.
    #[schema(max_length = 512)]
    pub token: String,
}

/// Spends the link mailed to the new address: the account takes it.
#[utoipa::path(
    post, path = "/api/auth/email/confirm", tag = "auth",
    request_body = ConfirmEmailRequest,
    responses(
        (status = 200, description = "The account now has the new address", body = UserBody),
        (status = 400, description = "`invalid_token`, `expired_token` or malformed input", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn confirm(
    State(state): State<ApiState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ConfirmEmailRequest>,
) -> ApiResult<Json<UserBody>> {
    check_length("token", &body.token, TOKEN_MAX_CHARS)?;
    let user = state.accounts.confirm_email_change(&body.token, &client).await?;
    Ok(Json(UserBody::from(&user)))
}
